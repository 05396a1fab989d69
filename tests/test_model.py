import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.model import build_autoencoder, load_autoencoder, reconstruct, train_autoencoder
from pipeline.window import window_starts, window_view

CFG = ModelConfig(units=8, bottleneck=3, epochs=3, batch_size=32, patience=2)


def sine_windows(n=400, features=2, window=12):
    t = np.arange(n)
    values = np.stack([np.sin(2 * np.pi * t / 24 + k) for k in range(features)], axis=1).astype(np.float32)
    return window_view(values, window), window_starts(n, window, 1)


def test_architecture_has_named_encoder_and_decoder():
    model = build_autoencoder(12, 3, CFG)
    assert model.output_shape == (None, 12, 3)
    assert model.get_layer("encoder").output_shape == (None, 3)
    layer_types = [type(layer).__name__ for layer in model.get_layer("decoder").layers]
    assert layer_types == ["InputLayer", "RepeatVector", "LSTM", "TimeDistributed"]


def test_training_is_seeded_and_learns():
    view, starts = sine_windows()
    first = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None)
    second = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None)
    assert first.val_loss == pytest.approx(second.val_loss, rel=1e-5)
    untrained = build_autoencoder(12, 2, CFG)
    _, x, recon, _ = next(reconstruct(untrained, view, starts[300:]))
    base = np.mean(np.square(recon - x))
    assert first.val_loss < base


def test_save_and_safe_load_give_identical_reconstructions(tmp_path):
    view, starts = sine_windows()
    model = build_autoencoder(12, 2, CFG)
    model.save(tmp_path / "model.keras")
    loaded = load_autoencoder(str(tmp_path / "model.keras"))
    (_, _, rec_a, code_a), = list(reconstruct(model, view, starts[:50]))
    (_, _, rec_b, code_b), = list(reconstruct(loaded, view, starts[:50]))
    np.testing.assert_array_equal(rec_a, rec_b)
    np.testing.assert_array_equal(code_a, code_b)


def test_model_file_with_code_is_refused(tmp_path):
    import keras

    inputs = keras.Input((4, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "evil.keras")
    with pytest.raises(ValueError, match="(?i)lambda|safe_mode"):
        load_autoencoder(str(tmp_path / "evil.keras"))
