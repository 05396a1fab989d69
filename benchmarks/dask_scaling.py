"""Dask scale-out: time `train_flow` on N small metric groups with 1 and with 2 Dask workers.

    .venv/bin/python benchmarks/dask_scaling.py [--groups 8] [--workers 1 2] [--tf-threads 1]

It starts `prefect server start` (temporary PREFECT_HOME, free port: Dask needs a real server),
then for each worker count a `distributed.LocalCluster` (one single-threaded process per worker),
imports TensorFlow and the flows on every worker, and runs `train_flow` in a subprocess with
NIGHTWATCH_DASK_ADDRESS set (the task runner is chosen at import), on a fresh model registry so
every group really trains. Timed: the flow call only. Prints each time and the speed-up.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
MODEL = {"units": 16, "bottleneck": 4, "epochs": 4, "batch_size": 64, "patience": 10}
DRIVER = """
import json, sys, time
from flows.nightly import train_flow
started = time.perf_counter()
result = train_flow(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started, "failed": result["failed"],
                  "workers": sorted({t["worker"] for t in result["trained"].values()}),
                  "trained": len(result["trained"])}))
"""


def write_groups(root: Path, groups: int, days: int, seed: int = 0) -> list[dict]:
    """`groups` wide parquet files of three daily-seasonal metrics each, 5-minute steps."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(end="2026-11-20", periods=days * 288, freq="5min", tz="UTC")
    phase = 2 * np.pi * np.arange(len(index)) / 288
    declared = []
    for g in range(groups):
        name = f"bench-{g:02d}"
        frame = pd.DataFrame({"timestamp": index})
        for k, metric in enumerate(("cpu", "memory", "latency")):
            frame[f"{name}.{metric}"] = 50 + 10 * np.sin(phase + g + k) + rng.normal(0, 1, len(index))
        path = root / "data" / "landing" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path)
        declared.append({"name": name, "metrics": [f"{name}.*"]})
    return declared


@contextlib.contextmanager
def prefect_server(home: Path):
    """`prefect server start` on a free port; yields the environment that points at it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTWATCH_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_API_URL=f"http://127.0.0.1:{port}/api", DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2")
    with open(home / "server.log", "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host",
                                 "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_once(workers: int, config: Path, tf_threads: int | None, server_env: dict[str, str]) -> dict:
    from distributed import Client, LocalCluster

    worker_env = {k: server_env[k] for k in ("PREFECT_HOME", "PREFECT_API_URL", "TF_CPP_MIN_LOG_LEVEL")}
    if tf_threads:
        worker_env.update(TF_NUM_INTRAOP_THREADS=str(tf_threads), TF_NUM_INTEROP_THREADS=str(tf_threads))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", env=worker_env) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("flows.tasks") and None)  # TensorFlow, Keras, the pipeline: on every worker
        env = {**server_env, "NIGHTWATCH_DASK_ADDRESS": cluster.scheduler_address}
        out = subprocess.run([sys.executable, "-c", DRIVER, str(config)], env=env, cwd=REPO, text=True,
                             capture_output=True, timeout=1800)
        if out.returncode != 0:
            raise SystemExit(f"train_flow failed with {workers} worker(s):\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tf-threads", type=int, default=None,
                        help="TF_NUM_INTRAOP/INTEROP_THREADS on the workers (default: TensorFlow's own choice)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nightwatch-bench-") as tmp, \
            prefect_server(Path(tempfile.mkdtemp(prefix="prefect-", dir=tmp))) as server_env:
        root = Path(tmp)
        groups = write_groups(root, args.groups, args.days)
        times = {}
        for workers in args.workers:
            config = root / f"nightwatch-{workers}.yaml"  # a fresh registry per run: every group trains
            config.write_text(yaml.safe_dump({
                "storage": {"data_root": str(root / "data"), "models_root": str(root / f"models-{workers}")},
                "defaults": {"window": 32, "lookback": "28D", "model": MODEL}, "groups": groups}))
            result = run_once(workers, config, args.tf_threads, server_env)
            assert result["trained"] == args.groups and not result["failed"], result
            times[workers] = result["seconds"]
            print(f"{args.groups} groups, {workers} Dask worker(s): {result['seconds']:.1f} s "
                  f"(trained on {len(result['workers'])} process(es))", flush=True)
    base = times[args.workers[0]]
    for workers in args.workers[1:]:
        print(f"speed-up {args.workers[0]} -> {workers} workers: {base / times[workers]:.2f}x "
              f"({os.cpu_count()} CPUs here, TF threads per worker: {args.tf_threads or 'default'})")


if __name__ == "__main__":
    main()
