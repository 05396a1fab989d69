import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.model import _COMPILED, build_autoencoder, load_autoencoder, reconstruct, train_autoencoder
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


SEEDED_RUN = """
import sys
sys.path.insert(0, {root!r})
from tests.test_model import CFG, sine_windows
from pipeline.model import build_autoencoder, train_autoencoder
build_autoencoder(12, 5, CFG)  # state a busy process would have: another model built first
view, starts = sine_windows()
print(train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None).val_loss)
"""


def test_training_is_seeded_across_runs():
    """Each nightly run is a new process: the same data and config give the same model."""
    import subprocess
    import sys
    from pathlib import Path

    code = SEEDED_RUN.format(root=str(Path(__file__).resolve().parents[1]))
    losses = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout.split()[-1]) for _ in range(2)]
    assert losses[0] == losses[1]


def test_training_learns():
    view, starts = sine_windows()
    first = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None)
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


def test_compiled_reconstruction_matches_keras_predict_for_every_model_of_an_architecture():
    """Full batches (XLA) and short ones, for two models sharing one traced function."""
    view, starts = sine_windows(n=2400)
    first, second = build_autoencoder(12, 2, CFG), build_autoencoder(12, 2, CFG)
    second.set_weights([w * 1.5 for w in first.get_weights()])
    traces = []
    for model in (first, second):
        for subset in (starts[:100], starts):  # one batch of SMALL, then full batches and a padded tail
            got = list(reconstruct(model, view, subset, batch_size=1024))
            recon, codes = np.concatenate([r for *_, r, _ in got]), np.concatenate([c for *_, c in got])
            windows = np.ascontiguousarray(view[subset])
            np.testing.assert_allclose(recon, model.predict(windows, verbose=0), atol=1e-4)
            np.testing.assert_allclose(codes, model.get_layer("encoder").predict(windows, verbose=0), atol=1e-4)
            assert [len(c) for c, *_ in got] == [len(b) for b in np.array_split(subset, range(1024, len(subset), 1024))]
        traces.append(sorted(f.experimental_get_tracing_count() for f in _COMPILED.values()))
    assert traces[0] == traces[1]  # the second model ran on the first one's traces
