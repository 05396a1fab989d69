"""The fleet benchmark: its generated groups and its one-command run, end to end at a tiny size."""
import re

import numpy as np
import pandas as pd

from benchmarks.fleet import END, fleet_frame
from benchmarks.fleet_profile import Profile, stage_lines


def test_a_group_has_its_metrics_over_any_index_and_every_tenth_an_incident_on_the_new_day():
    short = pd.date_range(end=END + pd.Timedelta(days=1), periods=2 * 288, freq="5min", inclusive="left")
    long = pd.date_range(end=END + pd.Timedelta(days=1), periods=5 * 288, freq="5min", inclusive="left")
    frame, incident = fleet_frame(3, short)
    assert 5 <= frame.shape[1] <= 8 and list(frame.columns) == list(fleet_frame(3, long)[0].columns)
    kind, start, end = incident
    assert kind == "spike" and END <= start < end <= END + pd.Timedelta(days=1)
    assert fleet_frame(4, short)[1] is None
    plain = fleet_frame(3, short[short < start])[0]  # the same group without its incident's rows
    assert np.isfinite(frame.to_numpy()).all() and len(plain) < len(frame)


def test_stages_are_timed_exclusive_of_the_stages_inside_them():
    profile = Profile()
    with profile.timed("outer"):
        with profile.timed("inner"):
            pass
    seconds = profile.take()
    assert set(seconds) == {"outer", "inner"} and min(seconds.values()) >= 0
    assert profile.take() == {}
    lines = stage_lines({"fit": 3.0, "read": 1.0}, groups=2, wall=4.0)
    assert lines[0].split()[:2] == ["fit", "1.500"] and "75.0%" in lines[0]


def test_the_fleet_benchmark_runs_in_one_command_and_ends_with_its_figures(tmp_path):
    import subprocess
    import sys

    # 5 days: night 1's training split holds the 3 days the seasonal gate needs, so both nights' models take the
    # daily baseline out of the same metrics (3 days: night 2 alone has it, so cold), and 20 windows of 48 steps
    # (split_windows), so both nights window alike and night 2 can start warm (4 days: 32 steps, then 48, so cold)
    run = subprocess.run([sys.executable, "-m", "benchmarks.fleet", "--groups", "4", "--days", "5", "--epochs", "1",
                          "--keep", str(tmp_path / "fleet")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout.strip().splitlines()
    last = re.fullmatch(r"nightly: (\d+\.\d\d) s per group; hourly for 1,000 groups: (\d+) s", out[-1])
    assert last and float(last[1]) > 0 and int(last[2]) > 0
    text = "\n".join(out)
    for heading in ("night 1", "baseline (cold)", "warm start", "hourly, one new hour", "where the time goes",
                    "compile", "registry write", "publish", "% of the compiled step", "peak RSS",
                    "orchestration alone", "decoded landing row groups kept"):
        assert heading in text, heading
    warm_row = next(line for line in out if line.strip().startswith("warm start")).split()
    assert warm_row[-5] == "4" and warm_row[-1] == "1"  # every night-2 model started warm; g0003's incident
    baseline_row = next(line for line in out if line.strip().startswith("baseline (cold)")).split()
    assert baseline_row[-5] == "0"

    kept = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    probe = subprocess.run([sys.executable, "-m", "benchmarks.hourly_probe", str(tmp_path / "fleet"), "--hours", "2"],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr[-3000:]
    lines = probe.stdout.strip().splitlines()
    assert [re.fullmatch(r"hour (\d): \d+\.\d ms per group \(4 groups\)", line)[1] for line in lines[:2]] == ["1", "2"]
    assert "inference" in probe.stdout and "publish" in probe.stdout and "read/align" in probe.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == kept  # it worked on a copy

    fleet = subprocess.run([sys.executable, "-m", "benchmarks.hourly_probe", str(tmp_path / "fleet"), "--hours", "1",
                            "--copies", "3", "--flow"], capture_output=True, text=True)
    assert fleet.returncode == 0, fleet.stderr[-3000:]
    lines = fleet.stdout.strip().splitlines()
    assert lines[0] == "12 groups: each of the kept fleet's 3 times"
    assert re.fullmatch(r"hour 1: \d+\.\d s for 12 groups \(\d+\.\d ms per group\); RSS \d+ MiB", lines[1])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == kept


def test_importing_the_benchmark_leaves_the_environment_alone():
    """Its quiet Prefect logging is for its own run: set on import, the test suite's later subprocesses
    (a CLI run, Dask workers) would log nothing below WARNING."""
    import subprocess
    import sys

    code = "import os; before = dict(os.environ); import benchmarks.fleet; print(dict(os.environ) == before)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True"], done.stderr
