import numpy as np
import pandas as pd
import pytest

from pipeline.time_inputs import TimeInputs, model_input, time_features, width


def test_sin_and_cos_of_the_phase_of_day_and_week_counted_from_the_epoch():
    index = pd.DatetimeIndex(["1970-01-01 00:00", "1970-01-01 06:00", "2026-12-06 12:00", "2026-12-06 21:00"],
                             tz="UTC")
    got = time_features(index, TimeInputs(periods=("1D", "7D")))
    day = np.array([0.0, 0.25, 0.5, 0.875])  # of the day
    # 2026-12-06 is 20793 days after 1970-01-01 (a Thursday): 20793 % 7 = 3 days into the week
    week = np.array([0.0, 0.25 / 7, (3 + 0.5) / 7, (3 + 0.875) / 7])
    expected = np.stack([np.sin(2 * np.pi * day), np.cos(2 * np.pi * day),
                         np.sin(2 * np.pi * week), np.cos(2 * np.pi * week)], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(got[1, :2], [1.0, 0.0], atol=1e-12)  # 06:00: a quarter of the day
    np.testing.assert_allclose(got[2, :2], [0.0, -1.0], atol=1e-12)  # noon


def test_a_step_gets_the_same_inputs_whichever_step_a_read_starts_at():
    index = pd.date_range("2026-11-01 00:00", periods=3 * 288, freq="5min", tz="UTC")
    cfg = TimeInputs()
    whole = time_features(index, cfg)
    for first in (1, 7, 100, 288 + 35):
        np.testing.assert_array_equal(time_features(index[first:], cfg), whole[first:])
    np.testing.assert_array_equal(whole[:288], whole[288:576])  # one day later: the same time of day
    other_zone = index.tz_convert("America/New_York")
    np.testing.assert_array_equal(time_features(other_zone, cfg), whole)


def test_the_model_reads_the_scaled_metrics_then_the_time_features_and_only_them_when_off():
    index = pd.date_range("2026-11-01", periods=5, freq="5min", tz="UTC")
    scaled = np.arange(10, dtype=np.float32).reshape(5, 2)
    assert model_input(scaled, index, None) is scaled and width(None) == 0
    both = model_input(scaled, index, TimeInputs(("1D", "7D")))
    assert both.shape == (5, 2 + width(TimeInputs(("1D", "7D")))) == (5, 6) and both.dtype == np.float32
    np.testing.assert_array_equal(both[:, :2], scaled)
    np.testing.assert_allclose(both[:, 2:], time_features(index, TimeInputs(("1D", "7D"))), atol=1e-7)


@pytest.mark.parametrize("periods, message", [
    (("soon",), "periods: must be durations like '1D' or '7D', above 0, got 'soon'"),
    (("0D",), "periods: must be durations like '1D' or '7D', above 0, got '0D'"),
    (("1D", "24h"), "periods: '24h' is listed twice"),
])
def test_bad_periods_are_refused(periods, message):
    with pytest.raises(ValueError, match=message):
        TimeInputs(periods=periods).check()
