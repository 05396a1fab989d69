"""The fleet memory benchmark: its comparison of sizes on a hand case, and one flow run measured."""
import json

from benchmarks.fleet_memory import growth_lines, land_fleet, run_flow


def test_growth_compares_the_largest_size_with_the_smallest_net_of_the_kept_reads():
    row = lambda peak, end, decoded: {"peak": peak, "end": end, "decoded": decoded, "seconds": 1.0}  # noqa: E731
    rows = {100: {"train": row(1600, 1400, 20), "score": row(1100, 1000, 30)},
            300: {"train": row(1640, 1500, 60), "score": row(1100, 1030, 50)},
            200: {"train": row(9999, 9999, 0), "score": row(9999, 9999, 0)}}  # neither end: not read
    train, score = growth_lines(rows)
    # train: (1500 - 60) - (1400 - 20) = 60 MiB over 200 groups = 0.3 MiB = 307 KiB a group; peak +2.5%
    assert train == ("train_flow: peak 1600 -> 1640 MiB (+2.5%) from 100 to 300 groups; "
                     "RSS at the end less the kept row groups: +307 KiB per group")
    # score: (1030 - 50) - (1000 - 30) = 10 MiB over 200 groups = 51 KiB a group; peak unchanged
    assert score.startswith("score_flow: peak 1100 -> 1100 MiB (+0.0%)") and score.endswith("+51 KiB per group")


def test_a_flow_run_reports_its_time_and_memory_and_scores_every_landed_group(tmp_path, prefect_harness):
    config = land_fleet(tmp_path, groups=2, days=2, epochs=1)
    assert len(list((tmp_path / "landing").rglob("*.parquet"))) == 2 * 2  # a file per group and day
    trained = run_flow("train", config)
    scored = run_flow("score", config)
    for found in (trained, scored):
        assert found["seconds"] > 0 and found["peak"] >= found["end"] > 0 and found["decoded"] >= 0
        json.dumps(found)  # what the child process prints for the parent
    assert sorted(p.stem for p in (tmp_path / "data" / "state").glob("*.json")) == ["g0000", "g0001"]
