import dataclasses
import logging

import numpy as np
import pytest

from pipeline.config import Composite, ModelConfig
from pipeline.model import (_COMPILED, _TRAIN_STEPS, _architecture, _train_steps, build_autoencoder, current_values,
                            epoch_order, reconstruct, train_autoencoder)
from pipeline.robust import Robust
from pipeline.time_inputs import TimeInputs
from pipeline.window import window_starts, window_view

CFG = ModelConfig(units=8, bottleneck=3, epochs=3, batch_size=32, patience=2)
BIDIRECTIONAL = dataclasses.replace(CFG, encoder="bidirectional")
COMPOSITE = dataclasses.replace(CFG, composite=Composite(horizon=4))


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


def test_bidirectional_encoder_reads_each_window_both_ways_with_units_per_direction():
    model = build_autoencoder(12, 3, BIDIRECTIONAL)
    encoder = model.get_layer("encoder")
    assert model.output_shape == (None, 12, 3) and encoder.output_shape == (None, 3)
    both = encoder.get_layer("encoder_lstm")
    assert type(both).__name__ == "Bidirectional" and tuple(both.output.shape) == (None, 2 * BIDIRECTIONAL.units)
    assert both.backward_layer.go_backwards and not both.forward_layer.go_backwards
    default = build_autoencoder(12, 3, CFG).get_layer("encoder").get_layer("encoder_lstm")
    assert type(default).__name__ == "LSTM"  # the default's saved architecture is unchanged


def test_bidirectional_model_trains_and_runs_its_own_trace_shared_by_every_model_of_it():
    """The same compiled train step and `_inference` path as the default; the default's traces are
    not reused (other weight shapes), and a second bidirectional model adds none."""
    view, starts = sine_windows()
    untrained = build_autoencoder(12, 2, BIDIRECTIONAL)
    _, x, recon, _ = next(reconstruct(untrained, view, starts[300:]))
    first = train_autoencoder(view, starts[:300], starts[300:], BIDIRECTIONAL, emit=lambda _: None)
    assert first.val_loss < np.mean(np.square(recon - x))
    assert _architecture(first.model) != _architecture(build_autoencoder(12, 2, CFG))
    second = build_autoencoder(12, 2, BIDIRECTIONAL)
    second.set_weights([w * 1.5 for w in first.model.get_weights()])
    traces = []
    for model in (first.model, second):
        got = list(reconstruct(model, view, starts))
        recon, codes = np.concatenate([r for *_, r, _ in got]), np.concatenate([c for *_, c in got])
        windows = np.ascontiguousarray(view[starts])
        np.testing.assert_allclose(recon, model.predict(windows, verbose=0), atol=1e-4)
        np.testing.assert_allclose(codes, model.get_layer("encoder").predict(windows, verbose=0), atol=1e-4)
        traces.append(sorted(f.experimental_get_tracing_count() for f in _COMPILED.values()))
    assert traces[0] == traces[1]


def test_a_composite_decoder_reconstructs_the_window_then_predicts_the_next_steps():
    model = build_autoencoder(12, 3, COMPOSITE)
    assert model.input_shape == (None, 12, 3) and model.output_shape == (None, 16, 3)
    decoder = [type(layer).__name__ for layer in model.get_layer("decoder").layers]
    assert decoder.count("RepeatVector") == 2 and decoder.count("LSTM") == 2 and decoder[-1] == "Concatenate"
    other_horizon = build_autoencoder(12, 3, dataclasses.replace(CFG, composite=Composite(horizon=6)))
    assert [w.shape for w in other_horizon.weights] == [w.shape for w in model.weights]
    assert _architecture(other_horizon) != _architecture(model)  # no trace shared across horizons


def test_a_composite_model_learns_to_predict_and_reconstructs_from_the_window_alone():
    """Trained on 16-step spans of a sine: the encoder reads the first 12 steps, the loss covers
    all 16, and `reconstruct` gives what Keras predicts from the 12 (the 4 after them foretold)."""
    view, starts = sine_windows(window=16)
    untrained = build_autoencoder(12, 2, COMPOSITE)
    _, x, recon, _ = next(reconstruct(untrained, view, starts[300:]))
    assert x.shape[1:] == recon.shape[1:] == (16, 2)
    longer = dataclasses.replace(COMPOSITE, epochs=20, patience=20)
    trained = train_autoencoder(view, starts[:300], starts[300:], longer, emit=lambda _: None)
    assert trained.val_loss < 0.5 * np.mean(np.square(recon - x))
    got = list(reconstruct(trained.model, view, starts))
    spans = np.ascontiguousarray(view[starts])
    predicted = np.concatenate([r for *_, r, _ in got])
    np.testing.assert_allclose(predicted, trained.model.predict(spans[:, :12], verbose=0), atol=1e-4)
    future_error = np.mean(np.square(predicted[:, 12:] - spans[:, 12:]))
    assert future_error < np.mean(np.square(spans[:, 12:]))  # better than predicting the mean


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
    weights, state = current_values(ours.trainable_variables), current_values(ours.non_trainable_variables)
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
    steps = _TRAIN_STEPS[_architecture(first.model), CFG.batch_size]
    assert [f.experimental_get_tracing_count() for f in steps] == [1, 1]  # not again after a first call's variables
    train_autoencoder(view, starts[50:350], starts[350:], CFG, emit=lambda _: None)
    assert sorted(f.experimental_get_tracing_count() for pair in _TRAIN_STEPS.values() for f in pair) == traces


def test_compiled_reconstruction_matches_keras_predict_for_every_model_of_an_architecture():
    """Full batches (XLA) and short ones, for two models sharing one traced function."""
    view, starts = sine_windows(n=2400)
    first, second = build_autoencoder(12, 2, CFG), build_autoencoder(12, 2, CFG)
    second.set_weights([w * 1.5 for w in first.get_weights()])
    traces = []
    for model in (first, second):
        for subset in (starts[:100], starts):  # one short batch, then full batches and a padded tail
            got = list(reconstruct(model, view, subset, batch_size=1024))
            recon, codes = np.concatenate([r for *_, r, _ in got]), np.concatenate([c for *_, c in got])
            windows = np.ascontiguousarray(view[subset])
            np.testing.assert_allclose(recon, model.predict(windows, verbose=0), atol=1e-4)
            np.testing.assert_allclose(codes, model.get_layer("encoder").predict(windows, verbose=0), atol=1e-4)
            assert [len(c) for c, *_ in got] == [len(b) for b in np.array_split(subset, range(1024, len(subset), 1024))]
        traces.append(sorted(f.experimental_get_tracing_count() for f in _COMPILED.values()))
    assert traces[0] == traces[1]  # the second model ran on the first one's traces


def test_a_window_reconstructs_to_the_same_bits_in_a_short_batch_and_a_full_one():
    """An hourly run (a short batch) and a backfill (full batches) must publish the same scores."""
    view, starts = sine_windows(n=2400)
    model = build_autoencoder(12, 2, CFG)
    full = np.concatenate([r for *_, r, _ in reconstruct(model, view, starts, batch_size=1024)])
    for short in (starts[500:520], starts[500:700]):  # padded to 64 and to 256 windows (32 would differ)
        (_, _, recon, _), = reconstruct(model, view, short)
        np.testing.assert_array_equal(recon, full[500:500 + len(short)])


def test_tensorflows_retracing_notice_for_per_architecture_traces_is_not_logged(caplog):
    logger = logging.getLogger("tensorflow")  # where TensorFlow logs it; the filter sits on it
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 5 calls to <function _inference.<locals>.run> triggered tf.function "
                       "retracing. Tracing is expensive")
        logger.warning("some other warning")
    assert [r.getMessage() for r in caplog.records] == ["some other warning"]


def test_a_warm_start_begins_at_the_given_weights_and_refuses_another_shape():
    """With a learning rate too small to move them, training from a saved model's weights ends
    where that model is; a model of other weight shapes is refused (train.py then starts cold)."""
    from pipeline.model import StoredModel, variable_groups

    view, starts = sine_windows()
    trained = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None).model
    saved = StoredModel(trained, [current_values(v) for v in variable_groups(trained)])
    still = dataclasses.replace(CFG, learning_rate=1e-12, epochs=1)
    warm = train_autoencoder(view, starts[:300], starts[300:], still, emit=lambda _: None, initial=saved)
    cold = train_autoencoder(view, starts[:300], starts[300:], still, emit=lambda _: None)
    for got, want, fresh in zip(warm.model.get_weights(), trained.get_weights(), cold.model.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert not np.allclose(got, fresh, atol=1e-3)
    wider = build_autoencoder(12, 2, dataclasses.replace(CFG, units=16))
    other = StoredModel(wider, [current_values(v) for v in variable_groups(wider)])
    with pytest.raises(ValueError, match="shape"):
        train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None, initial=other)


CACHED_RUN = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from tests.test_model import CFG, sine_windows
from pipeline.model import reconstruct, train_autoencoder
view, starts = sine_windows()
result = train_autoencoder(view, starts[:300], starts[300:], CFG, emit=lambda _: None)
_, _, recon, _ = next(reconstruct(result.model, view, starts))
print(np.concatenate([w.ravel() for w in result.model.get_weights()] + [recon.ravel()]).tobytes().hex())
"""


def test_the_persistent_compile_cache_never_changes_results(tmp_path):
    """Trained weights and reconstructions are the same bits without the cache, with an empty one
    (it is filled) and with a filled one (executables loaded from it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    cache = tmp_path / "xla"

    def run(env):
        return subprocess.run([sys.executable, "-c", CACHED_RUN.format(root=root)], capture_output=True, text=True,
                              check=True, env={**os.environ, **env}).stdout.split()[-1]

    plain = run({"NIGHTWATCH_COMPILE_CACHE": ""})
    filling = run({"NIGHTWATCH_COMPILE_CACHE": str(cache)})
    assert any(cache.iterdir())  # compiled executables were written
    assert run({"NIGHTWATCH_COMPILE_CACHE": str(cache)}) == filling == plain


def test_time_inputs_are_read_by_the_encoder_and_not_reconstructed_also_in_robust_training():
    """The encoder reads the metrics then the time features; the loss, the robust cut's window
    errors and reconstruct's errors are over the metrics only (a wrong slice would not broadcast)."""
    n, window = 400, 12
    t = np.arange(n)
    metrics = np.stack([np.sin(2 * np.pi * t / 24 + k) for k in range(2)], axis=1)
    clock = np.stack([np.sin(2 * np.pi * t / 288), np.cos(2 * np.pi * t / 288)], axis=1)
    view = window_view(np.concatenate([metrics, clock], axis=1).astype(np.float32), window)
    starts = window_starts(n, window, 1)
    timed = dataclasses.replace(CFG, time_inputs=TimeInputs(), robust=Robust(warmup=1, trim=0.1))
    result = train_autoencoder(view, starts[:300], starts[300:], timed, emit=lambda _: None)
    assert result.model.input_shape == (None, window, 4) and result.model.output_shape == (None, window, 2)
    assert np.isfinite(result.val_loss)
    _, x, recon, _ = next(reconstruct(result.model, view, starts[300:]))
    assert x.shape[-1] == 4 and recon.shape[-1] == 2


def test_an_epoch_repeats_a_few_windows_reshuffled_until_it_holds_enough():
    starts = np.arange(0, 40, 4)  # 10 windows
    once = epoch_order(starts, np.random.default_rng(7), None)
    assert sorted(once) == list(starts)
    order = epoch_order(starts, np.random.default_rng(7), 25)  # three passes: 30 windows
    assert len(order) == 30 and all(sorted(order[k:k + 10]) == list(starts) for k in (0, 10, 20))
    assert list(order[:10]) == list(once) and list(order[10:20]) != list(order[:10])  # each pass reshuffled
    assert len(epoch_order(starts, np.random.default_rng(7), 10)) == 10  # enough already
    assert len(epoch_order(starts[:0], np.random.default_rng(7), 25)) == 0
