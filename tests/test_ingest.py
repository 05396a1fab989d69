import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.ingest import InputError, detect_layout, numeric_values, parse_timestamps, to_long


def test_detect_layout():
    assert detect_layout(["timestamp", "metric", "value"], "f") == "long"
    assert detect_layout(["timestamp", "cpu", "mem"], "f") == "wide"
    with pytest.raises(InputError, match="f: column 'timestamp': missing column"):
        detect_layout(["time", "cpu"], "f")
    with pytest.raises(InputError, match="column 'value': missing column for the long layout"):
        detect_layout(["timestamp", "metric"], "f")
    assert detect_layout(["timestamp", "value"], "f") == "wide"
    with pytest.raises(InputError, match="wide layout needs at least one metric column"):
        detect_layout(["timestamp", "__index_level_0__"], "f")  # pandas' stored index is no metric


def test_the_index_pandas_stores_beside_a_wide_frame_is_no_metric():
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"]), "cpu": [1.0, 2.0],
                          "__index_level_0__": [7, 9], "__index_level_1__": [0, 1]})
    assert to_long(frame, "f")["series"].tolist() == ["cpu", "cpu"]


def test_long_with_group_column_names_series_group_slash_metric():
    frame = pd.DataFrame({"timestamp": ["2026-01-01T00:00:00Z"] * 2, "group": ["a", "b"],
                          "metric": ["cpu", "cpu"], "value": [1.0, 2.0]})
    out = to_long(frame, "f.parquet")
    assert out["series"].tolist() == ["a/cpu", "b/cpu"]
    assert to_long(frame, "f.parquet", wanted={"b/cpu"})["value"].tolist() == [2.0]


@pytest.mark.parametrize("missing", [None, "", "  "])
def test_rows_without_a_group_in_a_file_with_a_group_column_are_refused(missing):
    # as bare `cpu` they would be one series of every unlabelled host's rows, aggregated together
    frame = pd.DataFrame({"timestamp": ["2026-01-01T00:00:00Z"] * 3, "group": ["a", missing, missing],
                          "metric": ["cpu"] * 3, "value": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"f.parquet: column 'group': 2 rows without a group value in a file with "
                                         r"a group column"):
        to_long(frame, "f.parquet")


def test_hive_group_applies_when_file_has_no_group_column():
    frame = pd.DataFrame({"timestamp": ["2026-01-01"], "metric": ["depth"], "value": [3]})
    assert to_long(frame, "f", source_group="q")["series"].tolist() == ["q/depth"]


def test_wide_layout_keeps_only_wanted_metrics_and_inf_is_missing():
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                          "cpu": [1.0, np.inf], "mem": [3, 4]})
    out = to_long(frame, "f", wanted={"cpu"})
    assert out["series"].tolist() == ["cpu", "cpu"]
    assert out["value"].iloc[0] == 1.0 and np.isnan(out["value"].iloc[1])
    both = to_long(frame, "f")
    assert both["series"].tolist() == ["cpu", "cpu", "mem", "mem"]
    assert both["value"].tolist()[2:] == [3.0, 4.0]
    assert both["timestamp"].tolist() == [pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-02", tz="UTC")] * 2


def test_naive_timestamps_are_utc_and_aware_ones_converted():
    naive = parse_timestamps(pd.Series(pd.to_datetime(["2026-01-01 12:00"])), "f")
    aware = parse_timestamps(pd.Series(pd.to_datetime(["2026-01-01 13:00"]).tz_localize("Europe/Paris")), "f")
    assert naive.iloc[0] == aware.iloc[0] == pd.Timestamp("2026-01-01 12:00", tz="UTC")
    seconds = parse_timestamps(pd.Series(pd.to_datetime(["2026-01-01"]).as_unit("s")), "f")
    assert str(seconds.dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize("values, message", [
    (["2026-01-01", "not a time"], "1 unparseable timestamps, e.g. 'not a time'"),
    ([1, 2], "numeric timestamps are ambiguous"),
    (["2026-01-01", None], "1 missing timestamps"),
    (["2026-11-03 00:00", "05/11/2026 00:00"], "1 unparseable timestamps, e.g. '05/11/2026 00:00' (ISO 8601 expected"),
])
def test_bad_timestamps_are_rejected_with_the_file_and_column(values, message):
    with pytest.raises(InputError) as err:
        parse_timestamps(pd.Series(values), "landing/x.parquet")
    assert str(err.value).startswith("landing/x.parquet: column 'timestamp': ") and message in str(err.value)


def test_iso_strings_with_a_space_offsets_or_a_date_alone_are_read():
    parsed = parse_timestamps(pd.Series(["2026-11-18 00:05:00", "2026-11-18T01:10:00+01:00", "2026-11-18"]), "f")
    assert parsed.tolist() == [pd.Timestamp(t, tz="UTC") for t in ("2026-11-18 00:05", "2026-11-18 00:10",
                                                                    "2026-11-18")]


def test_a_column_with_no_value_at_all_is_missing_not_non_numeric():
    """A later file where a metric is entirely null (a null-typed or all-None column) is a gap."""
    null_typed = pa.table({"cpu": pa.nulls(2)}).to_pandas()["cpu"]  # as parquet gives a column of nulls
    for column in (null_typed, pd.Series([None, None], dtype=object)):
        assert np.isnan(numeric_values(column, "f.parquet", "cpu")).all()


def test_non_numeric_values_are_rejected():
    frame = pd.DataFrame({"timestamp": ["2026-01-01"], "metric": ["cpu"], "value": ["high"]})
    with pytest.raises(InputError, match=r"f.parquet: column 'value': non-numeric values .*'high'"):
        to_long(frame, "f.parquet")
    wide = pd.DataFrame({"timestamp": ["2026-01-01"], "cpu": [True]})
    with pytest.raises(InputError, match="column 'cpu': non-numeric"):
        to_long(wide, "w.parquet")


def test_decimal_values_as_databases_and_spark_export_them_are_numbers():
    table = pa.table({"timestamp": pa.array(["2026-01-01", "2026-01-02", "2026-01-03"]),
                      "cpu": pa.array([decimal.Decimal("50.564"), None, decimal.Decimal("-0.125")], pa.decimal128(10, 3))})
    out = to_long(table.to_pandas(), "d.parquet")
    assert out["value"].tolist()[::2] == [50.564, -0.125] and np.isnan(out["value"].iloc[1])
    mixed = pd.DataFrame({"timestamp": ["2026-01-01", "2026-01-02"], "cpu": [decimal.Decimal("1.5"), "high"]})
    with pytest.raises(InputError, match="column 'cpu': non-numeric"):
        to_long(mixed, "m.parquet")


def test_input_error_names_group_when_given():
    assert str(InputError("f", "bad", "value", "web")) == "f: group 'web': column 'value': bad"


def test_values_whose_squares_overflow_are_refused_naming_the_column_or_series():
    wide = pd.DataFrame({"timestamp": ["2026-01-01", "2026-01-02"], "cpu": [1.0, 2.0], "mem": [1e308, -1e31]})
    with pytest.raises(InputError, match=r"w.parquet: column 'mem': 2 values beyond ±1e\+30, .* e.g. 1e\+308$"):
        to_long(wide, "w.parquet")
    long = pd.DataFrame({"timestamp": ["2026-01-01"] * 2, "group": "web", "metric": ["cpu", "mem"],
                         "value": [1e30, 5e300]})  # 1e30 itself is accepted
    with pytest.raises(InputError, match=r"column 'value': 1 values beyond .* e.g. 5e\+300 \(series 'web/mem'\)"):
        to_long(long, "l.parquet")
