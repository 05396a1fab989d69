import numpy as np
import pandas as pd
import pytest

from pipeline.config import ConfigError, parse_settings
from pipeline.seasonal import (Seasonal, deseasonalised, explained_share, fit_profile, removed_from, rules_input,
                               slot_count, slots)

HOUR = pd.Timedelta("1h")


def hours(n: int, start: str = "2026-11-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="1h", tz="UTC")


def test_slots_count_steps_from_the_epoch_so_a_time_of_day_is_one_slot_whichever_step_a_read_starts_at():
    index = pd.DatetimeIndex(["2026-11-01 00:00", "2026-11-01 00:05", "2026-11-01 23:55", "2026-11-02 00:05"],
                             tz="UTC")
    np.testing.assert_array_equal(slots(index, pd.Timedelta("5min"), 288), [0, 1, 287, 1])
    np.testing.assert_array_equal(slots(hours(3, "2026-11-01 22:00").tz_convert("Europe/Berlin"), HOUR, 24),
                                  [22, 23, 0])  # UTC whatever the index's zone
    assert slot_count(Seasonal(period="7D"), pd.Timedelta("5min")) == 2016


def test_each_slot_is_the_median_of_its_time_over_the_periods_missing_values_ignored():
    # a 4-hour period at 1 h: slots 0..3, three periods; slot 1 has an outlier, slot 2 a missing value
    values = np.array([[1.0], [2.0], [3.0], [4.0],
                       [1.0], [90.0], [np.nan], [4.0],
                       [1.0], [2.0], [5.0], [4.0]])
    profile = fit_profile(values, hours(12), Seasonal(period="4h", tolerance="0min", min_share=None), HOUR)
    # slot 2 has two values (3, 5) of the three periods it needs: the metric's overall median (3) instead
    np.testing.assert_allclose(profile[:, 0], [1.0, 2.0, 3.0, 4.0])


def test_a_slot_reads_its_neighbours_within_the_tolerance():
    values = np.tile([[0.0, 10.0], [6.0, 10.0], [3.0, 10.0], [9.0, 10.0]], (3, 1))  # 3 periods of 4 slots
    profile = fit_profile(values, hours(12), Seasonal(period="4h", tolerance="1h", min_share=None), HOUR)
    # slot 0 reads slots 3, 0, 1 (9, 0, 6) three times each: median 6; slot 2 reads 6, 3, 9: 6
    np.testing.assert_allclose(profile[:, 0], [6.0, 3.0, 6.0, 3.0])
    np.testing.assert_allclose(profile[:, 1], [10.0] * 4)


def test_a_range_shorter_than_the_periods_a_slot_needs_removes_the_overall_median_only():
    values = np.array([[1.0], [5.0], [2.0], [8.0]])
    profile = fit_profile(values, hours(4), Seasonal(period="2h", tolerance="0min", min_share=None), HOUR)
    np.testing.assert_allclose(profile[:, 0], [3.5, 3.5])


def test_the_profile_is_taken_out_at_each_steps_slot_and_nothing_without_one():
    profile = np.array([[1.0, 10.0], [2.0, 20.0]])  # 2 slots of a 2-hour period
    values = np.array([[5.0, 50.0], [5.0, 50.0], [np.nan, 50.0]])
    out = deseasonalised(values, hours(3, "2026-11-01 01:00"), profile, HOUR)  # slots 1, 0, 1
    np.testing.assert_allclose(out, [[3.0, 30.0], [4.0, 40.0], [np.nan, 30.0]])
    assert deseasonalised(values, hours(3), None, HOUR) is values


def test_the_gate_takes_the_baseline_out_only_of_the_metrics_it_explains_enough_of():
    # 4-hour period at 1 h, 3 periods: metric 0 repeats its day exactly, metric 1 is one day's step
    values = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 0.0], [4.0, 0.0],
                       [0.0, 5.0], [4.0, 5.0], [0.0, 5.0], [4.0, 5.0],
                       [0.0, 0.0], [4.0, 0.0], [0.0, 0.0], [4.0, 0.0]])
    ungated = fit_profile(values, hours(12), Seasonal(period="4h", tolerance="0min", min_share=None), HOUR)
    np.testing.assert_allclose(ungated, [[0.0, 0.0], [4.0, 0.0], [0.0, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(explained_share(values, ungated[slots(hours(12), HOUR, 4)]), [1.0, 0.0])
    gated = fit_profile(values, hours(12), Seasonal(period="4h", tolerance="0min", min_share=0.8), HOUR)
    np.testing.assert_array_equal(gated[:, 1], 0.0)  # the step is left to the model: values - 0, to the bit
    np.testing.assert_allclose(gated[:, 0], [0.0, 4.0, 0.0, 4.0])
    assert removed_from(gated, ("a", "b")) == ("a",) and removed_from(None, ("a", "b")) == ()
    steady = np.tile(np.array([[2.0], [2.0], [2.0], [2.5]]), (3, 1))  # its day is all of its variance
    assert fit_profile(steady, hours(12), Seasonal(period="4h", tolerance="0min"), HOUR) is not None
    assert fit_profile(values[:, 1:], hours(12), Seasonal(period="4h", tolerance="0min"), HOUR) is None  # nothing out


def test_the_gate_fits_nothing_on_too_few_periods_a_period_off_the_grid_or_too_many_slots():
    values = np.tile(np.array([[0.0], [4.0], [0.0], [4.0]]), (3, 1))
    assert fit_profile(values[:8], hours(8), Seasonal(period="4h", tolerance="0min"), HOUR) is None  # 2 periods
    assert fit_profile(values, hours(12), Seasonal(period="270min", tolerance="0min"), HOUR) is None  # 4.5 steps
    minute = pd.Timedelta("1min")
    for slots_a_period, fitted in ((2016, True), (2017, False)):  # MAX_GATED_SLOTS: a week at 5 minutes
        cycle = np.tile(np.arange(slots_a_period, dtype=float)[:, None], (3, 1))  # 3 periods, all of the variance
        index = pd.date_range("2026-11-01", periods=len(cycle), freq="1min", tz="UTC")
        profile = fit_profile(cycle, index, Seasonal(period=f"{slots_a_period}min", tolerance="0min"), minute)
        assert (profile is not None) == fitted


def test_the_setting_is_on_gated_by_default_and_checked_against_the_interval_without_the_gate():
    def model(raw: dict | None):
        defaults = {"interval": "7min", **({"model": {"seasonal": raw}} if raw is not None else {})}
        return parse_settings({"defaults": defaults}, "cfg").defaults.model

    assert model(None).seasonal == Seasonal() == Seasonal(period="1D", rules_read="values", min_share=0.7)
    assert parse_settings({"defaults": {"model": {"seasonal": None}}}, "cfg").defaults.model.seasonal is None
    assert model({"period": "1D"}).seasonal == Seasonal()  # off the 7-minute grid: the gate fits nothing
    with pytest.raises(ConfigError, match=r"cfg: defaults.model.seasonal.period: '1D' is not a whole number of "
                                          r"intervals \(7min\)"):
        model({"period": "1D", "min_share": None})
    with pytest.raises(ConfigError, match=r"defaults.model.seasonal.min_share: must be above 0 and below 1"):
        model({"period": "7h", "min_share": 1.5})
    with pytest.raises(ConfigError, match=r"defaults.model.seasonal.period: must be a duration"):
        model({"period": "daily"})
    with pytest.raises(ConfigError, match=r"defaults.model.seasonal.tolerance: must be a duration"):
        model({"period": "7h", "tolerance": "-5min"})
    with pytest.raises(ConfigError, match=r"defaults.model.seasonal.rules_read: 'raw' is not one of"):
        model({"period": "7h", "rules_read": "raw"})


def test_the_rules_read_the_values_unless_told_to_read_the_residual():
    values, residual = np.array([[5.0]]), np.array([[1.0]])
    assert rules_input(values, residual, Seasonal(rules_read="residual")) is residual
    assert rules_input(values, residual, Seasonal()) is values
    assert rules_input(values, values, None) is values  # no baseline: they are the same
