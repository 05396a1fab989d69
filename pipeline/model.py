"""The LSTM reconstruction autoencoder: build, train on streamed windows, reconstruct, encode."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def use_compile_cache(folder: str | None) -> None:
    """Keep XLA's compiled executables in `folder` (`NIGHTWATCH_COMPILE_CACHE`), so a machine pays
    each architecture's compile (seconds) once, not once per process. TensorFlow reads the flag
    at the process's first compile; a cached executable is the one that compile would produce,
    so results are the same bits (tests/test_model.py). TF logs a harmless "Error parsing
    text-format" line per file it loads (it tries the text format before the binary one)."""
    if folder:
        flag = f"--tf_xla_persistent_cache_directory={folder}"
        os.environ["TF_XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("TF_XLA_FLAGS"), flag]))


use_compile_cache(os.environ.get("NIGHTWATCH_COMPILE_CACHE"))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.config import ModelConfig  # noqa: E402
from pipeline.robust import trimmed_mean, window_weights  # noqa: E402
from pipeline.time_inputs import width  # noqa: E402
from pipeline.window import iter_batches  # noqa: E402

log = logging.getLogger(__name__)


class _SharedTraceNotice(logging.Filter):
    """Drops TensorFlow's "calls ... triggered tf.function retracing" warning: every architecture
    gets its own traced function from one `def` (`_inference`, `_train_steps`), which TF's
    heuristic counts as one function retracing. Expected here, and noise in ops logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_SharedTraceNotice())


def build_autoencoder(window: int, n_features: int, cfg: ModelConfig) -> keras.Model:
    """encoder LSTM -> bottleneck -> RepeatVector -> decoder LSTM -> TimeDistributed(Dense).

    The encoder and decoder are named sub-models, so the bottleneck can be read directly. With
    `cfg.encoder == "bidirectional"` the encoder LSTM reads each window both ways (`units` per
    direction), so the code also summarises the window's start as seen from its end. With
    `cfg.composite` the decoder also predicts the next `horizon` steps from the code (a second
    RepeatVector -> LSTM -> Dense branch), after the reconstruction on the time axis. It
    reconstructs `n_features` metrics; with `cfg.time_inputs` the encoder also reads the time
    features after them (pipeline.time_inputs), which the decoder does not reconstruct.
    """
    init = _Initializers(cfg.seed)
    windows = keras.Input((window, n_features + width(cfg.time_inputs)), name="windows")
    if cfg.encoder == "bidirectional":
        forward = keras.layers.LSTM(cfg.units, name="lstm", **init.lstm())  # Keras names it forward_lstm
        backward = keras.layers.LSTM(cfg.units, go_backwards=True, name="backward_lstm", **init.lstm())
        hidden = keras.layers.Bidirectional(forward, backward_layer=backward, name="encoder_lstm")(windows)
    else:
        hidden = keras.layers.LSTM(cfg.units, name="encoder_lstm", **init.lstm())(windows)
    code = keras.layers.Dense(cfg.bottleneck, name="bottleneck", **init.dense())(hidden)
    encoder = keras.Model(windows, code, name="encoder")

    code_in = keras.Input((cfg.bottleneck,), name="code")
    outputs = _decoded(code_in, window, n_features, cfg.units, init, "")
    if cfg.composite is not None:
        future = _decoded(code_in, cfg.composite.horizon, n_features, cfg.units, init, "future_")
        outputs = keras.layers.Concatenate(axis=1, name="reconstruction_then_future")([outputs, future])
    decoder = keras.Model(code_in, outputs, name="decoder")

    return keras.Model(windows, decoder(encoder(windows)), name="autoencoder")


def _decoded(code, steps: int, n_features: int, units: int, init: _Initializers, prefix: str):
    """`steps` steps of `n_features` decoded from the code: RepeatVector -> LSTM -> Dense per step."""
    repeated = keras.layers.RepeatVector(steps, name=f"{prefix}repeat")(code)
    decoded = keras.layers.LSTM(units, return_sequences=True, name=f"{prefix}decoder_lstm", **init.lstm())(repeated)
    return keras.layers.TimeDistributed(keras.layers.Dense(n_features, **init.dense()),
                                        name=f"{prefix}reconstruction")(decoded)


class _Initializers:
    """Explicitly seeded initial weights, so a model never depends on what its process built before."""

    def __init__(self, seed: int):
        self.seed = seed

    def _next(self) -> int:
        self.seed += 1
        return self.seed

    def lstm(self) -> dict:
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=self._next()),
                "recurrent_initializer": keras.initializers.Orthogonal(seed=self._next())}

    def dense(self) -> dict:
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=self._next())}


@dataclass(frozen=True)
class TrainResult:
    model: keras.Model
    val_loss: float
    epochs: int


ADAM = (0.9, 0.999, 1e-7)  # Keras's Adam defaults: beta_1, beta_2, epsilon
_TRAIN_STEPS: dict[tuple[tuple, int], tuple[Callable, Callable]] = {}
_WINDOW_ERRORS: dict[tuple[tuple, int], Callable] = {}
_COMPILED_LOCK = threading.Lock()  # guards the caches of compiled functions


def train_autoencoder(view: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray, cfg: ModelConfig,
                      emit: Callable[[str], None] = log.info, initial: StoredModel | None = None) -> TrainResult:
    """Adam on the training windows, reshuffled each epoch (seeded); early stopping on the
    (later-in-time) validation windows, keeping the best epoch's weights. `initial` (a warm start)
    gives the starting weights, a saved model of the same architecture; otherwise they are seeded.
    With `cfg.robust`, windows whose error stays extreme after the warm-up are left out of each
    later epoch, and early stopping reads the validation windows' trimmed mean (pipeline.robust).

    Weights and optimiser state are plain inputs and outputs of one XLA-compiled step per
    architecture and batch size, so every group of that shape in a process shares one compile
    and no group's training depends on what the process trained before.
    """
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    window = view.shape[1] - (cfg.composite.horizon if cfg.composite else 0)  # the view's spans end in the future
    model = build_autoencoder(window, view.shape[2] - width(cfg.time_inputs), cfg)
    if initial is not None:
        _assign_trainable(model, initial)
    train_step, val_step = _train_steps(model, cfg.batch_size)
    weights, state = current_values(model.trainable_variables), current_values(model.non_trainable_variables)
    adam = (tf.constant(0.0), [tf.zeros_like(w) for w in weights], [tf.zeros_like(w) for w in weights])
    rate, rng = tf.constant(cfg.learning_rate, tf.float32), np.random.default_rng(cfg.seed)
    best, best_epoch, best_weights, epochs = np.inf, 0, weights, 0
    robust = cfg.robust
    for epoch in range(cfg.epochs):
        starts, note = train_starts, ""
        if robust is not None and epoch >= robust.warmup:  # the windows still extreme sit this epoch out
            starts = train_starts[window_weights(
                _window_errors(model, view, train_starts, cfg.batch_size, weights, state), robust, epoch) > 0]
            note = f" left_out={len(train_starts) - len(starts)}"
        total, order = 0.0, epoch_order(starts, rng, cfg.min_epoch_windows)
        for x, mask in _padded_batches(view, order, cfg.batch_size):
            weights, state, adam, loss = train_step(weights, state, adam, rate, x, mask)
            total += float(loss) * float(mask.sum())
        if robust is None:
            val = sum(float(val_step(weights, state, x, mask)) * float(mask.sum())
                      for x, mask in _padded_batches(view, val_starts, cfg.batch_size)) / len(val_starts)
        else:
            val = trimmed_mean(_window_errors(model, view, val_starts, cfg.batch_size, weights, state), robust.trim)
        epochs = epoch + 1
        emit(f"epoch {epochs}: loss={total / len(order):.5f}{note} val_loss={val:.5f}")
        if val < best:
            best, best_epoch, best_weights = val, epoch, weights
        elif epoch - best_epoch >= cfg.patience:
            break
    for variable, value in zip(model.trainable_variables, best_weights):
        variable.assign(value)
    return TrainResult(model=model, val_loss=float(best), epochs=epochs)


def epoch_order(starts: np.ndarray, rng: np.random.Generator, least: int | None) -> np.ndarray:
    """An epoch's training windows: `starts` reshuffled, then (with `least`) more passes over them,
    each reshuffled, until there are at least `least` (`ModelConfig.min_epoch_windows`)."""
    passes = [rng.permutation(starts)]
    while least is not None and len(starts) and len(passes) * len(starts) < least:
        passes.append(rng.permutation(starts))
    return np.concatenate(passes)


def _assign_trainable(model: keras.Model, initial: StoredModel) -> None:
    """Set `model`'s trainable weights to `initial`'s; ValueError when a shape differs."""
    for variables, values in zip(variable_groups(model)[::2], initial.weights[::2]):
        for variable, value in zip(variables, values, strict=True):
            if tuple(variable.shape) != tuple(value.shape):
                raise ValueError(f"{variable.path}: shape {tuple(value.shape)}, the model needs {tuple(variable.shape)}")
            variable.assign(value)


def _padded_batches(view: np.ndarray, starts: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`(windows, mask)` of exactly `batch_size` rows; the last batch is zero-padded, mask 0 there."""
    for _, x in iter_batches(view, starts, batch_size):
        mask = np.zeros(batch_size, np.float32)
        mask[:len(x)] = 1.0
        yield _zero_pad(x, batch_size), mask


def _zero_pad(x: np.ndarray, size: int) -> np.ndarray:
    """`x` with zero rows appended up to `size` rows (a compiled function sees one batch shape)."""
    return np.concatenate([x, np.zeros((size - len(x), *x.shape[1:]), x.dtype)]) if len(x) < size else x


def _train_steps(model: keras.Model, batch_size: int) -> tuple[Callable, Callable]:
    """The compiled Adam step and validation loss of an architecture (`stateless_call`: they run
    whatever weights they are given). The loss is the masked mean squared reconstruction error
    of the metrics (not of any time inputs after them)."""
    with _COMPILED_LOCK:
        key = (_architecture(model), batch_size)
        if key not in _TRAIN_STEPS:
            beta_1, beta_2, epsilon, window = *ADAM, model.input_shape[1]
            metrics, inputs = model.output_shape[-1], model.input_shape[-1]

            def masked_loss(weights, state, x, mask, training):  # x: the window, then any predicted steps
                recon, state = model.stateless_call(weights, state, x[:, :window], training=training)
                target = x if metrics == inputs else x[:, :, :metrics]
                per_window = tf.reduce_mean(tf.square(recon - target), axis=[1, 2])
                return tf.reduce_sum(per_window * mask) / tf.reduce_sum(mask), state

            @tf.function(jit_compile=True)
            def train_step(weights, state, adam, rate, x, mask):
                with tf.GradientTape() as tape:
                    tape.watch(weights)
                    loss, state = masked_loss(weights, state, x, mask, True)
                grads = tape.gradient(loss, weights)
                step, m, v = adam
                step = step + 1.0
                alpha = rate * tf.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
                m = [a + (g - a) * (1.0 - beta_1) for a, g in zip(m, grads)]
                v = [b + (tf.square(g) - b) * (1.0 - beta_2) for b, g in zip(v, grads)]
                weights = [w - alpha * a / (tf.sqrt(b) + epsilon) for w, a, b in zip(weights, m, v)]
                return weights, state, (step, m, v), loss

            @tf.function(jit_compile=True)
            def val_step(weights, state, x, mask):
                return masked_loss(weights, state, x, mask, False)[0]

            _TRAIN_STEPS[key] = train_step, val_step
        return _TRAIN_STEPS[key]


def _window_errors(model: keras.Model, view: np.ndarray, starts: np.ndarray, batch_size: int,
                   weights: list, state: list) -> np.ndarray:
    """Each window's mean squared error under `weights`, as the loss counts it (with a composite
    model, over the window and its predicted steps); the training step's batch size, inference
    mode, compiled once per architecture and batch size."""
    with _COMPILED_LOCK:
        key = (_architecture(model), batch_size)
        if key not in _WINDOW_ERRORS:
            window, metrics, inputs = model.input_shape[1], model.output_shape[-1], model.input_shape[-1]

            @tf.function(jit_compile=True)
            def per_window(weights, state, x):  # x: the window, then any predicted steps
                recon, _ = model.stateless_call(weights, state, x[:, :window], training=False)
                target = x if metrics == inputs else x[:, :, :metrics]  # time inputs are not reconstructed
                return tf.reduce_mean(tf.square(recon - target), axis=[1, 2])

            _WINDOW_ERRORS[key] = per_window
        run = _WINDOW_ERRORS[key]
    return np.concatenate([run(weights, state, x).numpy()[mask > 0]
                           for x, mask in _padded_batches(view, starts, batch_size)])


BATCH = 2048  # windows per model call
SHORT = (64, 256)  # the sizes a shorter batch is padded to: the least that holds it (an hour's ~10 windows: 64)
_COMPILED: dict[tuple, Callable] = {}


@dataclass(frozen=True)
class StoredModel:
    """A saved autoencoder's weights and the loaded model of its architecture that runs them."""

    template: keras.Model
    weights: list[list[tf.Tensor]]  # as `variable_groups(template)`


def reconstruct(model, view: np.ndarray, starts: np.ndarray,
                batch_size: int = BATCH) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield `(starts, windows [b, T, F], reconstructions [b, T, F], codes [b, k])` batch by batch.

    `model` is a trained `keras.Model` or a `StoredModel`. Batches are zero-padded to one of a few
    sizes (`SHORT`, or `batch_size`), so nothing is traced twice, and all run XLA-compiled: a plain
    graph computes the same window a few float32 ulps apart, so an hourly run would publish scores
    other than a backfill of the same steps; compiled, a window gives the same bits in a batch of
    any of these sizes (not below 64 windows: a small model's 32 differ; each size's compile costs
    ~1 s once per process, on first use; a call of 64 windows then takes 3 ms, of 256 8 ms, of
    2048 51 ms: benchmarks/RESULTS.md).
    """
    model, weights = (model.template, model.weights) if isinstance(model, StoredModel) else (
        model, [current_values(variables) for variables in variable_groups(model)])
    architecture = _architecture(model)
    for chunk, x in iter_batches(view, starts, batch_size):
        n = len(x)
        size = next((short for short in SHORT if n <= short < batch_size), batch_size)
        recon, code = _inference(model, architecture)(weights, _zero_pad(x, size))
        yield chunk, x, recon.numpy()[:n], code.numpy()[:n]


def current_values(variables: list) -> list[tf.Tensor]:
    """The variables' current values as tensors. The compiled functions take these: given the
    variables themselves, a function traces (and XLA compiles) once more for them."""
    return [tf.convert_to_tensor(v.value) for v in variables]


def variable_groups(model: keras.Model) -> list[list]:
    """The encoder's trainable and other variables, then the decoder's: what inference runs on."""
    return [variables for part in (model.get_layer("encoder"), model.get_layer("decoder"))
            for variables in (part.trainable_variables, part.non_trainable_variables)]


def _architecture(model: keras.Model) -> tuple:
    """What a trace depends on: the input and every weight's shape (one builder makes every model;
    names would not do: models of one shape differ by generated names, e.g. `dense_3`; the output's
    shape tells composite models of other horizons apart)."""
    return tuple(model.input_shape), tuple(model.output_shape), tuple(tuple(w.shape) for w in model.weights)


def _inference(model: keras.Model, architecture: tuple) -> Callable:
    """The traced encoder -> decoder pass of an architecture; it runs whatever weights it is given
    (`stateless_call`), so all models of one architecture share one trace (XLA takes seconds)."""
    with _COMPILED_LOCK:
        if architecture not in _COMPILED:
            encoder, decoder, window = model.get_layer("encoder"), model.get_layer("decoder"), model.input_shape[1]

            @tf.function(jit_compile=True)
            def run(weights, x):  # x: the window, then any predicted steps
                code, _ = encoder.stateless_call(weights[0], weights[1], x[:, :window], training=False)
                recon, _ = decoder.stateless_call(weights[2], weights[3], code, training=False)
                return recon, code

            _COMPILED[architecture] = run
        return _COMPILED[architecture]
