import numpy as np
import pandas as pd

from pipeline.publish import SCORES_SCHEMA, anomalies_table, features_table, scores_table
from pipeline.anomalies import INTERVAL_COLUMNS, to_intervals
from pipeline.detect.base import Flags

INDEX = pd.date_range("2026-01-01", periods=2, freq="5min", tz="UTC").as_unit("ns")  # published as µs


def test_scores_table_is_long_per_metric_and_reads_back_with_schema():
    out = scores_table(INDEX, ("cpu", "p99_ms_é"), np.array([[1.0, 2.0], [3.0, 4.0]]),
                       np.array([[False, True], [False, False]]), np.array([[0.1, 0.2], [0.3, 0.4]]),
                       np.array([0.15, 0.35]), 0.3, np.array([0.5, np.inf]), np.array([False, True]), "v1",
                       "run").to_pandas()
    assert {c: str(t) for c, t in out.dtypes.items()} == {c: t for c, t in SCORES_SCHEMA.items() if c != "group"}
    assert out["metric"].tolist() == ["cpu", "p99_ms_é", "cpu", "p99_ms_é"]  # names of other lengths, not ASCII
    assert out["value"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert out["score"].tolist() == [0.15, 0.15, 0.35, 0.35]
    assert out["anomaly_score"].tolist() == [0.5, 0.5, np.inf, np.inf]  # infinite: past a zero threshold
    assert out["is_anomaly"].tolist() == [False, False, True, True]
    assert out["imputed"].tolist() == [False, True, False, False]
    assert out["timestamp"].tolist() == [INDEX[0], INDEX[0], INDEX[1], INDEX[1]]
    assert out[["threshold", "model_version", "run_id"]].drop_duplicates().values.tolist() == [[0.3, "v1", "run"]]


def test_anomalies_and_features_carry_version_and_run():
    scores, raised = np.array([5.0, 0.0]), np.array([True, False])
    intervals = to_intervals(INDEX, scores, np.ones((2, 1)), ("a",), 1.0, 0, {"score": raised},
                             {"score": Flags(raised, scores)})
    assert len(intervals) == 1
    out = anomalies_table(intervals, "v1", "run").to_pandas()
    assert list(out.columns) == [*INTERVAL_COLUMNS, "model_version", "run_id"]
    assert out[["start", "end", "peak_score", "severity", "trigger"]].iloc[0].tolist() == [
        INDEX[0], INDEX[0], 5.0, "high", "score"]
    assert str(out["start"].dtype) == "datetime64[us, UTC]" and str(out["severity"].dtype) == "string"
    assert out["top_metric"].tolist() == ["a"] and out["model_version"].tolist() == ["v1"]
    feats = features_table(INDEX, np.array([[1, 2, 3], [4, 5, 6]], np.float32), "v1", "run").to_pandas()
    assert [list(e) for e in feats["embedding"]] == [[1, 2, 3], [4, 5, 6]]
    assert feats["window_end"].tolist() == INDEX.tolist()
    assert feats[["model_version", "run_id"]].iloc[0].tolist() == ["v1", "run"]


def test_no_interval_and_no_window_keep_their_columns_types():
    """An hour without anomalies or windows gives empty tables of the same schema as any other."""
    none = to_intervals(INDEX, np.zeros(2), np.ones((2, 1)), ("a",), 1.0, 0, {"score": np.zeros(2, bool)},
                        {"score": Flags(np.zeros(2, bool), np.zeros(2))})
    some = to_intervals(INDEX, np.array([5.0, 0.0]), np.ones((2, 1)), ("a",), 1.0, 0,
                        {"score": np.array([True, False])}, {"score": Flags(np.array([True, False]), np.zeros(2))})
    assert anomalies_table(none, "v1", "run").schema == anomalies_table(some, "v1", "run").schema
    empty = features_table(INDEX[:0], np.empty((0, 0), np.float32), "v1", "run")
    assert empty.num_rows == 0
    assert empty.schema == features_table(INDEX, np.ones((2, 3), np.float32), "v1", "run").schema
