import numpy as np

from pipeline import io
from pipeline.config import ModelConfig
from pipeline.inference import run_model, scaled_input
from pipeline.model import train_autoencoder
from pipeline.saved import load_autoencoder
from pipeline.scale import Scaler, fit_scaler
from pipeline.window import window_starts, window_view


def test_scaled_input_fills_missing_cells_with_the_metric_mean():
    scaler = Scaler(("a", "b"), center=(1.0, 10.0), scale=(2.0, 5.0))
    values = np.array([[3.0, np.nan], [np.nan, 0.0]])
    np.testing.assert_array_equal(scaled_input(values, scaler), [[1.0, 0.0], [0.0, -2.0]])


def test_saved_version_scores_identically_to_the_trained_model(tmp_path):
    values = np.sin(np.arange(300)[:, None] / 10 + np.arange(2)).astype(float)
    scaler = fit_scaler(values, ("a", "b"))
    scaled = scaled_input(values, scaler)
    starts = window_starts(300, 12, 1)
    result = train_autoencoder(window_view(scaled, 12), starts[:200], starts[200:],
                               ModelConfig(units=4, bottleneck=2, epochs=1), emit=lambda _: None)
    io.save_model_version(str(tmp_path), "g", "v1", result.model, {"version": "v1"})
    loaded = load_autoencoder(io.model_path(str(tmp_path), "g", "v1"))
    a, b = run_model(result.model, scaled, 12, 1), run_model(loaded, scaled, 12, 1)
    np.testing.assert_array_equal(a.metric_errors, b.metric_errors)
    np.testing.assert_array_equal(a.codes, b.codes)
