import dataclasses

import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.model import (_COMPILED, _TEMPLATES, _TRAIN_STEPS, ModelFileError, _train_steps, build_autoencoder,
                            load_autoencoder, reconstruct, train_autoencoder)
from pipeline.window import window_starts, window_view

CFG = ModelConfig(units=8, bottleneck=3, epochs=3, batch_size=32, patience=2)


def sine_windows(n=400, features=2, window=12, phase=0.0):
    t = np.arange(n)
    values = np.stack([np.sin(2 * np.pi * t / 24 + k + phase) for k in range(features)], axis=1).astype(np.float32)
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
import numpy as np
from tests.test_model import CFG, sine_windows
from pipeline.model import train_autoencoder
view, starts = sine_windows()
if {other_first}:  # a busy process: another group of the same architecture trained first
    other_view, other_starts = sine_windows(n=300, phase=1.0)
    train_autoencoder(other_view, other_starts[:200], other_starts[200:], CFG, emit=lambda _: None)
result = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None)
print(result.val_loss, float(np.sum([np.sum(w) for w in result.model.get_weights()])))
"""


def test_training_is_seeded_and_independent_of_what_the_process_trained_before():
    """Each nightly run is a new process, and groups share compiled steps: the same data and
    config give the same model, whether or not another group was trained first."""
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    outputs = [subprocess.run([sys.executable, "-c", SEEDED_RUN.format(root=root, other_first=first)],
                              capture_output=True, text=True, check=True).stdout.split()[-2:]
               for first in (False, True)]
    assert outputs[0] == outputs[1]


def test_train_step_is_keras_adam_on_mean_squared_error():
    """The compiled step is the update Keras's own `fit` makes (Adam defaults, mse loss)."""
    import keras

    view, starts = sine_windows()
    ours, reference = build_autoencoder(12, 2, CFG), build_autoencoder(12, 2, CFG)
    reference.compile(optimizer=keras.optimizers.Adam(CFG.learning_rate), loss="mse")
    batches = [np.ascontiguousarray(view[starts[i:i + 32]]) for i in (0, 32, 64)]
    train_step, _ = _train_steps(ours, 32)
    weights = [v.value for v in ours.trainable_variables]
    state = [v.value for v in ours.non_trainable_variables]
    adam = (np.float32(0), [np.zeros(w.shape, np.float32) for w in weights],
            [np.zeros(w.shape, np.float32) for w in weights])
    for x in batches:
        weights, state, adam, loss = train_step(weights, state, adam, np.float32(CFG.learning_rate), x,
                                                np.ones(32, np.float32))
        expected = reference.train_on_batch(x, x)
        assert float(loss) == pytest.approx(expected, rel=1e-5)
    for got, want in zip(weights, reference.trainable_weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_training_learns_keeps_the_best_epoch_and_shares_its_compiled_step():
    view, starts = sine_windows()
    lines = []
    first = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lines.append)
    untrained = build_autoencoder(12, 2, CFG)
    _, x, recon, _ = next(reconstruct(untrained, view, starts[300:]))
    assert first.val_loss < np.mean(np.square(recon - x))
    _, x, recon, _ = next(reconstruct(first.model, view, starts[300:]))
    assert np.mean(np.square(recon - x)) == pytest.approx(first.val_loss, rel=1e-5)  # the kept weights
    val_losses = [float(line.rsplit("=", 1)[1]) for line in lines]
    assert len(val_losses) == first.epochs and min(val_losses) == pytest.approx(first.val_loss, abs=1e-5)
    traces = sorted(f.experimental_get_tracing_count() for pair in _TRAIN_STEPS.values() for f in pair)
    train_autoencoder(view, starts[50:350], starts[350:], CFG, emit=lambda _: None)
    assert sorted(f.experimental_get_tracing_count() for pair in _TRAIN_STEPS.values() for f in pair) == traces


def test_save_and_safe_load_give_identical_reconstructions(tmp_path):
    """The first file of an architecture is loaded by Keras; later ones (other weights, other
    generated layer names) only have their arrays read, and run exactly as Keras loads them."""
    import keras

    view, starts = sine_windows()
    first = build_autoencoder(12, 2, CFG)
    first.save(tmp_path / "first.keras")
    build_autoencoder(5, 1, CFG)  # moves the generated names of the next model's layers
    second = build_autoencoder(12, 2, CFG)
    second.set_weights([w * 1.5 + 0.01 * i for i, w in enumerate(first.get_weights())])
    second.save(tmp_path / "second.keras")
    templates = []
    for model, path in ((first, "first.keras"), (second, "second.keras")):
        loaded = load_autoencoder(str(tmp_path / path))
        templates.append(len(_TEMPLATES))
        by_keras = keras.saving.load_model(tmp_path / path, compile=False, safe_mode=True)
        (_, _, rec_a, code_a), = list(reconstruct(model, view, starts[:50]))
        (_, _, rec_b, code_b), = list(reconstruct(loaded, view, starts[:50]))
        (_, _, rec_c, code_c), = list(reconstruct(by_keras, view, starts[:50]))
        np.testing.assert_array_equal(rec_a, rec_b)
        np.testing.assert_array_equal(code_a, code_b)
        np.testing.assert_array_equal(rec_b, rec_c)
    assert templates[0] == templates[1]  # the second file ran on the first one's architecture
    wider = build_autoencoder(12, 2, dataclasses.replace(CFG, units=CFG.units + 2))
    wider.save(tmp_path / "wider.keras")
    (_, _, rec_w, _), = list(reconstruct(load_autoencoder(str(tmp_path / "wider.keras")), view, starts[:50]))
    (_, _, rec_k, _), = list(reconstruct(wider, view, starts[:50]))
    np.testing.assert_array_equal(rec_w, rec_k)


def test_model_file_with_wrong_weights_is_refused_naming_it(tmp_path):
    import zipfile

    import h5py

    model = build_autoencoder(12, 2, CFG)
    model.save(tmp_path / "good.keras")
    load_autoencoder(str(tmp_path / "good.keras"))  # its architecture is known from here on
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    (tmp_path / "w.h5").write_bytes(members["model.weights.h5"])
    with h5py.File(tmp_path / "w.h5", "r+") as store:
        kernels = []
        store.visititems(lambda name, node: kernels.append(name) if isinstance(node, h5py.Dataset) else None)
        del store[kernels[0]]
        store[kernels[0]] = np.zeros((3, 3), np.float32)
    members["model.weights.h5"] = (tmp_path / "w.h5").read_bytes()
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match=r"bad.keras: refused to load model .*has shape \(3, 3\)"):
        load_autoencoder(str(tmp_path / "bad.keras"))


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
