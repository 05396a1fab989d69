import numpy as np
import pytest

from pipeline.scale import Scaler, fit_scaler


def test_fit_ignores_nan_and_round_trips_through_json_dict():
    values = np.array([[1.0, 10.0], [3.0, np.nan], [np.nan, 10.0]])
    scaler = fit_scaler(values, ("a", "b"))
    assert scaler.center == (2.0, 10.0)
    assert scaler.scale == (1.0, 1.0)  # a: std 1; b: constant -> 1
    assert Scaler.from_dict(scaler.to_dict()) == scaler
    scaled = scaler.transform(np.array([[4.0, 12.0]]))
    np.testing.assert_allclose(scaled, [[2.0, 2.0]])
    np.testing.assert_allclose(scaler.inverse(scaled), [[4.0, 12.0]])


def test_metric_without_values_is_an_error():
    with pytest.raises(ValueError, match=r"no values in the training range: \['b'\]"):
        fit_scaler(np.array([[1.0, np.nan]]), ("a", "b"))


def test_values_millions_of_stds_out_are_clipped_so_their_squares_stay_finite_in_float32():
    scaler = Scaler(("a",), (10.0,), (0.5,))
    scaled = scaler.transform(np.array([[10.5], [float(2**64)], [np.nan], [-1e30]]))
    np.testing.assert_array_equal(scaled[[0, 1, 3], 0], [1.0, 1e6, -1e6])
    assert np.isnan(scaled[2, 0]) and np.isfinite(np.square(scaled[[0, 1, 3]])).all()
