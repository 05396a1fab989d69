"""Storage: training and scoring throughput with S3 roots against local roots, in the same run.

    .venv/bin/python -m benchmarks.storage [--days 16] [--repeat 2]

Starts moto's standalone S3 server (`moto_server`, a subprocess on a free loopback port: a real
HTTP S3 API, not an in-process mock), lands the sample groups web-01 and db-01 in a local folder
and in a bucket, then for each repeat trains and scores every group on local roots and on S3 roots
(fresh roots each time, so every group really trains and scores everything). Timed: `train_group`
and `score_group` per stage, summed over the groups; the figures are the best of the repeats.
moto keeps objects in memory on the same machine, so the S3 figures measure the protocol's round
trips and the object-store code path, not a network to a remote region.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

MODEL = {"units": 16, "bottleneck": 4, "epochs": 4, "batch_size": 64, "patience": 10, "seed": 7}


def start_s3() -> subprocess.Popen:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(AWS_ACCESS_KEY_ID="benchmark", AWS_SECRET_ACCESS_KEY="benchmark",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint)
    return proc


def land(root: str, days: int) -> None:
    from pipeline import io
    from pipeline.sample_data import landing_files

    files, _ = landing_files(days=days, end="2026-11-20")
    for rel, frame in files.items():
        if "web-01" in rel or "db-01" in rel:
            io.write_parquet_atomic(frame, io.location(root) / "landing" / rel)


def timed(data_root: str, models_root: str) -> dict[str, float]:
    """Seconds to train and to score every group on these roots, and the steps scored."""
    from pipeline.catalog import discover, groups
    from pipeline.config import parse_settings
    from pipeline.scoring import score_group
    from pipeline.train import train_group

    settings = parse_settings({"storage": {"data_root": data_root, "models_root": models_root},
                               "defaults": {"window": 16, "stride": 4, "train_stride": 2, "model": MODEL},
                               "groups": [{"name": "web-01", "metrics": ["web-01/*"]},
                                          {"name": "db-01", "metrics": ["db-01.*"]}]}, "benchmark")
    catalog = discover(settings.storage.landing)
    resolved = groups(settings, catalog)
    started = time.perf_counter()
    for group in resolved:
        train_group(settings, group, catalog, "bench", emit=lambda _: None)
    trained = time.perf_counter()
    steps = sum(score_group(settings, group, catalog, "bench", emit=lambda _: None)["scored"] for group in resolved)
    return {"train": trained - started, "score": time.perf_counter() - trained, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    server = start_s3()
    try:
        import s3fs

        results: dict[str, list[dict]] = {"local": [], "s3": []}
        with tempfile.TemporaryDirectory(prefix="nightwatch-storage-") as tmp:
            for run in range(args.repeat):
                local = Path(tmp) / f"run{run}"
                bucket = f"nightwatch-bench-{uuid.uuid4().hex[:8]}"
                s3fs.S3FileSystem().mkdir(bucket)
                land(str(local / "data"), args.days)
                land(f"s3://{bucket}/data", args.days)
                results["local"].append(timed(str(local / "data"), str(local / "models")))
                results["s3"].append(timed(f"s3://{bucket}/data", f"s3://{bucket}/models"))
        best = {kind: {stage: min(r[stage] for r in runs) for stage in ("train", "score")} | {"steps": runs[0]["steps"]}
                for kind, runs in results.items()}
        print(f"2 groups, {args.days} days at 5 min, best of {args.repeat}")
        print(f"{'roots':<6} {'train s':>8} {'score s':>8} {'steps scored/s':>15}")
        for kind, figures in best.items():
            print(f"{kind:<6} {figures['train']:8.2f} {figures['score']:8.2f} {figures['steps'] / figures['score']:15.0f}")
        print(f"S3 / local: train {best['s3']['train'] / best['local']['train']:.2f}x, "
              f"score {best['s3']['score'] / best['local']['score']:.2f}x")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
