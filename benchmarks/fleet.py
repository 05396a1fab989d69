"""Fleet benchmark (issue 23): many groups through the nightly and hourly deployments' flows.

    python -m benchmarks.fleet [--groups 200] [--days 28] [--workers 2] [--epochs N] [--keep DIR]

`--groups` groups of 5-8 metrics each (the sample generator's behaviours: metrics following a
group's daily/weekly load curve, with their own gain, sign, lag and noise; every tenth group gets
a spike, a level shift or a decoupling on the new day) land `--days` days at 5 minutes, one wide
file per group and day. Night 1 runs train_flow then score_flow (every model trained cold, the
compile paid in this process, the whole range scored). One more day lands; night 2 runs both
flows twice from night 1's registry and published data: the baseline (today's trainer, cold
from random weights) and with `model.warm_start`. One more hour lands and score_flow runs as
the hourly deployment does. Then the trainer's throughput against its compiled step, and the
first group's training in a fresh process without and with the persistent compile cache.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.fleet_profile import Profile, stage_lines, trainer_throughput
from pipeline.io import landing_reads
from pipeline.sample_data import load_curve

END = pd.Timestamp("2026-11-29", tz="UTC")  # night 1's data ends here; night 2's a day later
WARM = {"full_every": 7, "max_drift": 0.5, "epochs": 4, "patience": 1}
INCIDENTS = ("spike", "level_shift", "decoupling")


def fleet_frame(number: int, index: pd.DatetimeIndex) -> tuple[pd.DataFrame, tuple[str, pd.Timestamp,
                                                                                  pd.Timestamp] | None]:
    """Group `number`'s wide frame over `index` and its incident (kind, start, end) on the last day."""
    rng, name = np.random.default_rng(number), group_name(number)
    count = int(rng.integers(5, 9))  # drawn first: a group has its metrics over any index
    load = load_curve(index, rng)
    columns = {}
    for k in range(count):
        gain, base = rng.choice([-1.0, 1.0]) * rng.uniform(5, 100), rng.uniform(10, 500)
        columns[f"{name}.m{k}"] = base + gain * np.roll(load, k) + rng.normal(0, 0.03 * abs(gain), len(index))
    frame = pd.DataFrame(columns, index=index)
    if number % 10 != 3:
        return frame, None
    kind = INCIDENTS[(number // 10) % 3]
    start = END + pd.Timedelta(hours=10 + number % 8)
    end = start + pd.Timedelta(hours={"spike": 0.5, "level_shift": 6, "decoupling": 4}[kind])
    rows, first = (index >= start) & (index <= end), frame.columns[0]
    spread = frame[first].std()
    if kind == "spike":
        frame.loc[rows, first] += 8 * spread
    elif kind == "level_shift":
        frame.loc[rows, first] += 4 * spread
    else:
        frame.loc[rows, first] = frame[first].max() + 2 * spread
    return frame, (kind, start, end)


def group_name(number: int) -> str:
    return f"g{number:04d}"


def land(landing: Path, frames: dict[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp, tag: str) -> None:
    """Each group's rows in [start, end) as a file per group and day, as a collector lands them."""
    for name, frame in frames.items():
        for day, part in frame[(frame.index >= start) & (frame.index < end)].groupby(lambda t: t.date()):
            folder = landing / "fleet" / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            part.rename_axis("timestamp").reset_index().to_parquet(folder / f"{name}{tag}.parquet", index=False)


def write_config(arm: Path, names: list[str], warm: bool, epochs: int | None) -> str:
    model = {**({"epochs": epochs} if epochs else {}), **({"warm_start": WARM} if warm else {})}
    raw = {"storage": {"data_root": str(arm / "data"), "models_root": str(arm / "models")},
           "defaults": {"model": model}, "groups": [{"name": n, "metrics": [f"{n}.*"]} for n in names]}
    path = arm / "nightwatch.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def profiled() -> Profile:
    """The flows' stages, timed through the functions they call."""
    import flows.tasks
    from pipeline import io, model, scoring, train

    profile = Profile()
    profile.wrap_compiled(model, "_train_steps")
    profile.wrap_compiled(model, "_inference")
    profile.wrap(flows.tasks, "discover", "read/align (discover)")
    for module in (train, scoring):
        profile.wrap(module, "load_aligned", "read/align")
    profile.wrap(train, "train_autoencoder", "fit")
    profile.wrap(train, "_warm_start", "warm-start decision+load")
    for name in ("errors_from", "evidence", "fit", "metric_scales", "_heed_false_alarms"):
        profile.wrap(train, name, "calibration")
    profile.wrap(train, "promote", "promotion check")
    for name in ("save_model_version", "set_current_version", "log_decision"):
        profile.wrap(io, name, "registry write")
    profile.wrap(scoring, "read_version", "metadata read")
    profile.wrap(scoring, "load_autoencoder", "model load")
    profile.wrap(scoring, "run_windows", "inference")
    for name in ("upsert_partitions", "write_watermark"):
        profile.wrap(io, name, "publish")
    profile.wrap(flows.tasks, "train_group", "other (in train_group)")
    profile.wrap(flows.tasks, "score_group", "other (in score_group: rules, waits)")
    return profile


def timed_flow(flow, config: str, profile: Profile) -> tuple[float, dict, dict[str, float]]:
    started = time.perf_counter()
    result = flow(config)
    seconds = time.perf_counter() - started
    if result["failed"]:
        raise RuntimeError(f"{flow.name} failed groups: {result['failed']}")
    return seconds, result, profile.take()


def orchestration_seconds(flow, config: str) -> float:
    """Wall seconds of the scoring flow with every group's scoring a no-op: what the orchestration
    alone costs (a task run per group, its states, the progress reports)."""
    import flows.tasks

    real = flows.tasks.score_group
    flows.tasks.score_group = lambda settings, group, *args, **kwargs: {"group": group.name, "warnings": []}
    try:
        started = time.perf_counter()
        flow(config)
        return time.perf_counter() - started
    finally:
        flows.tasks.score_group = real


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def decoded_mib() -> float:
    """What the landing reads keep decoded for their next read (bounded by `DECODED_BUDGET`): part
    of the RSS that grows with the groups read until the bound."""
    return landing_reads._DECODED.held / 2**20


def found(data_root: str, incidents: dict) -> int:
    """Injected incidents overlapped by a published anomaly interval."""
    from pipeline import io

    hits = 0
    for name, (_, start, end) in incidents.items():
        anomalies = io.read_dataset(data_root, "anomalies", name)
        hits += bool(len(anomalies) and ((anomalies["start"] <= end) & (anomalies["end"] >= start)).any())
    return hits


def first_group_seconds(days: int) -> float:
    """Seconds to train group 0's default model in this process (its first: trace and compile)."""
    from pipeline.config import GroupConfig
    from pipeline.model import train_autoencoder

    view, train_starts, val_starts = training_windows(days)
    started = time.perf_counter()
    train_autoencoder(view, train_starts, val_starts, GroupConfig(name="x").model, emit=lambda _: None)
    return time.perf_counter() - started


def training_windows(days: int):
    """Group 0's scaled windows and its training and validation window starts, as training makes them."""
    from pipeline.config import GroupConfig
    from pipeline.scale import fit_scaler
    from pipeline.window import window_starts, window_view

    group = GroupConfig(name="x")
    index = pd.date_range(end=END, periods=days * 288, freq="5min", inclusive="left")
    values = fleet_frame(0, index)[0].to_numpy()
    split = int(len(values) * (1 - group.model.validation_fraction))
    scaled = fit_scaler(values[:split], tuple(range(values.shape[1]))).transform(values)
    return (window_view(scaled, group.window), window_starts(split, group.window, group.train_stride),
            window_starts(len(values), group.window, group.train_stride, first=split))


def compile_per_process(days: int) -> tuple[float, float]:
    """Group 0's first training in fresh processes: without the compile cache, then with a filled one."""
    code = f"from benchmarks.fleet import first_group_seconds; print(first_group_seconds({days}))"
    with tempfile.TemporaryDirectory(prefix="nightwatch-xla-") as cache:
        def run(folder: str) -> float:
            env = {**os.environ, "NIGHTWATCH_COMPILE_CACHE": folder}
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            return float(out.stdout.split()[-1])
        cold = run("")
        run(cache)  # fills it
        return cold, run(cache)


def quiet_environment() -> None:
    """The benchmark's own process settings, set when it runs as a command and not on import: a test
    that imports this module must not pass WARNING-level Prefect logging on to the suite's subprocesses."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="nightwatch-fleet-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # a line per group and epoch otherwise
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--workers", type=int, default=2, help="NIGHTWATCH_WORKERS: groups trained at once")
    parser.add_argument("--epochs", type=int, default=None, help="model.epochs (default: the configuration's)")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temp folder)")
    args = parser.parse_args(argv)
    quiet_environment()
    os.environ["NIGHTWATCH_WORKERS"] = str(args.workers)
    from flows.nightly import score_flow, train_flow
    from pipeline import io
    from pipeline.saved import load_autoencoder

    work = args.keep or Path(tempfile.mkdtemp(prefix="nightwatch-fleet-"))
    n, names = args.groups, [group_name(i) for i in range(args.groups)]
    index = pd.date_range(end=END + pd.Timedelta(days=1, hours=1), periods=(args.days * 24 + 25) * 12, freq="5min",
                          inclusive="left")
    built = {name: fleet_frame(i, index) for i, name in enumerate(names)}
    frames = {name: frame for name, (frame, _) in built.items()}
    incidents = {name: incident for name, (_, incident) in built.items() if incident is not None}
    landing = work / "landing"
    land(landing, frames, index[0], END, "")
    arms = {arm: work / arm for arm in ("baseline", "warm")}
    configs = {}
    for arm, folder in arms.items():
        (folder / "data").mkdir(parents=True, exist_ok=True)
        (folder / "data" / "landing").symlink_to(landing.resolve())
        configs[arm] = write_config(folder, names, arm == "warm", args.epochs)
    metrics = sum(f.shape[1] for f in frames.values())
    print(f"fleet: {n} groups, {metrics} metrics, {args.days} days at 5 min, {len(incidents)} incidents; "
          f"{args.workers} workers on {os.cpu_count()} cores (timings noisy: other jobs share this machine)")
    profile, rss, decoded = profiled(), {"start": rss_mib()}, {"start": decoded_mib()}
    try:
        night1_train, _, stages1 = timed_flow(train_flow, configs["warm"], profile)
        night1_score, _, score1 = timed_flow(score_flow, configs["warm"], profile)
        rss["night 1"], decoded["night 1"] = rss_mib(), decoded_mib()
        for part in ("models", "data/scores", "data/anomalies", "data/features", "data/state"):
            if (arms["warm"] / part).exists():
                shutil.copytree(arms["warm"] / part, arms["baseline"] / part, dirs_exist_ok=True)
        land(landing, frames, END, END + pd.Timedelta(days=1), "")
        night2 = {}
        for arm in ("baseline", "warm"):
            train_s, trained, train_stages = timed_flow(train_flow, configs[arm], profile)
            score_s, _, score_stages = timed_flow(score_flow, configs[arm], profile)
            models = str(arms[arm] / "models")
            warm_runs = sum(io.read_metadata(models, g, r["version"]).get("warm_start", {}).get("from") is not None
                            for g, r in trained["trained"].items())
            night2[arm] = (train_s, score_s, train_stages, score_stages, warm_runs,
                           sum(r["promoted"] for r in trained["trained"].values()),
                           found(str(arms[arm] / "data"), incidents))
            rss[f"night 2 {arm}"], decoded[f"night 2 {arm}"] = rss_mib(), decoded_mib()
        land(landing, frames, END + pd.Timedelta(days=1), index[-1] + pd.Timedelta(minutes=5), "-h00")
        hourly = {arm: timed_flow(score_flow, configs[arm], profile) for arm in ("baseline", "warm")}
        rss["hourly"], decoded["hourly"] = rss_mib(), decoded_mib()
    finally:
        profile.restore()

    print(f"night 1 (every model cold, compile paid in this process): train {night1_train / n:.2f} s/group, "
          f"score {args.days} days {night1_score / n:.2f} s/group")
    print(f"night 2, one new day    {'train':>9}{'score':>9}{'nightly':>9}{'1,000 groups':>14}{'warm':>6}"
          f"{'promoted':>9}{'incidents found':>17}")
    for arm, label in (("baseline", "baseline (cold)"), ("warm", "warm start")):
        train_s, score_s, _, _, warm_runs, promoted, hits = night2[arm]
        nightly = (train_s + score_s) / n
        print(f"  {label:<21}{train_s / n:9.2f}{score_s / n:9.2f}{nightly:9.2f}{nightly * 1000 / 60:10.1f} min"
              f"{warm_runs:6d}{promoted:9d}{hits:>11d} of {len(incidents)}")
    for arm in ("baseline", "warm"):
        seconds = hourly[arm][0]
        print(f"hourly, one new hour ({arm}): {seconds / n:.3f} s/group; 1,000 groups: {seconds / n * 1000:.0f} s")
    orchestration = orchestration_seconds(score_flow, configs["warm"]) / n
    print(f"orchestration alone (the hourly flow, each group's scoring a no-op): {orchestration:.3f} s/group; "
          f"1,000 groups: {orchestration * 1000:.0f} s")
    print("where the time goes (thread-seconds per group, exclusive of the stages inside):")
    for title, seconds, wall in (("night 1 training", stages1, night1_train), ("night 1 scoring", score1, night1_score),
                                 ("night 2 training, baseline", night2["baseline"][2], night2["baseline"][0]),
                                 ("night 2 training, warm", night2["warm"][2], night2["warm"][0]),
                                 ("night 2 scoring, warm", night2["warm"][3], night2["warm"][1]),
                                 ("hourly scoring, warm", hourly["warm"][2], hourly["warm"][0])):
        print(f"  {title}:")
        print("\n".join(stage_lines(seconds, n, wall)))

    from pipeline.config import GroupConfig, ModelConfig

    cfg = GroupConfig(name="x").model
    view, train_starts, val_starts = training_windows(args.days)
    previous = io.current_version(str(arms["warm"] / "models"), names[0])
    initial = load_autoencoder(io.model_path(str(arms["warm"] / "models"), names[0], previous))
    warm_cfg = ModelConfig(**{**cfg.__dict__, "epochs": WARM["epochs"], "patience": WARM["patience"]})
    print("trainer throughput (group 0, default model; its compiled step called back to back in this run):")
    for label, model_cfg, start in (("cold", cfg, None), ("warm", warm_cfg, initial)):
        t = trainer_throughput(view, train_starts, val_starts, model_cfg, start)
        print(f"  {label}: {t['trainer_windows_per_s']:.0f} windows/s over {t['epochs']} epochs "
              f"({t['trainer_seconds']:.2f} s) = {100 * t['share_of_step']:.0f}% of the compiled step's "
              f"{t['step_windows_per_s']:.0f}; {100 * t['trainer_share_of_peak']:.1f}% of matmul peak "
              f"{t['peak_gflops']:.0f} GFLOP/s (step alone {100 * t['step_share_of_peak']:.1f}%)")
    no_cache, cached = compile_per_process(args.days)
    print(f"first group's training in a fresh process: {no_cache:.1f} s without the compile cache, {cached:.1f} s "
          f"with NIGHTWATCH_COMPILE_CACHE filled")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; RSS after each phase: " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    print(f"  of which decoded landing row groups kept for the next read (at most "
          f"{landing_reads.DECODED_BUDGET / 2**20:.0f} MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in decoded.items()))
    train_s, score_s = night2["warm"][:2]
    print(f"nightly: {(train_s + score_s) / n:.2f} s per group; hourly for 1,000 groups: "
          f"{hourly['warm'][0] / n * 1000:.0f} s")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
