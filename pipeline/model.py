"""The LSTM reconstruction autoencoder: build, train on streamed windows, reconstruct, encode."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.config import ModelConfig  # noqa: E402
from pipeline.window import iter_batches  # noqa: E402

log = logging.getLogger(__name__)


def build_autoencoder(window: int, n_features: int, cfg: ModelConfig) -> keras.Model:
    """encoder LSTM -> bottleneck -> RepeatVector -> decoder LSTM -> TimeDistributed(Dense).

    The encoder and decoder are named sub-models, so the bottleneck can be read directly.
    """
    init = _Initializers(cfg.seed)
    windows = keras.Input((window, n_features), name="windows")
    hidden = keras.layers.LSTM(cfg.units, name="encoder_lstm", **init.lstm())(windows)
    code = keras.layers.Dense(cfg.bottleneck, name="bottleneck", **init.dense())(hidden)
    encoder = keras.Model(windows, code, name="encoder")

    code_in = keras.Input((cfg.bottleneck,), name="code")
    repeated = keras.layers.RepeatVector(window, name="repeat")(code_in)
    decoded = keras.layers.LSTM(cfg.units, return_sequences=True, name="decoder_lstm", **init.lstm())(repeated)
    outputs = keras.layers.TimeDistributed(keras.layers.Dense(n_features, **init.dense()),
                                           name="reconstruction")(decoded)
    decoder = keras.Model(code_in, outputs, name="decoder")

    model = keras.Model(windows, decoder(encoder(windows)), name="autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
    return model


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


class WindowBatches(keras.utils.PyDataset):
    """Batches `(x, x)` copied from a window view on demand, in one seeded shuffled order.

    The order is drawn once: reshuffling in `on_epoch_end` raced with Keras's prefetching
    and made training depend on timing.
    """

    def __init__(self, view: np.ndarray, starts: np.ndarray, batch_size: int, seed: int | None = None):
        super().__init__()
        self.view, self.batch_size = view, batch_size
        self.starts = np.random.default_rng(seed).permutation(starts) if seed is not None else starts

    def __len__(self) -> int:
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(self.view[self.starts[index * self.batch_size:(index + 1) * self.batch_size]])
        return x, x


class EpochLogger(keras.callbacks.Callback):
    """Logs each epoch's losses (Keras progress bars bypass logging)."""

    def __init__(self, emit: Callable[[str], None]):
        super().__init__()
        self.emit = emit

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.emit(f"epoch {epoch + 1}: loss={logs.get('loss', float('nan')):.5f} "
                  f"val_loss={logs.get('val_loss', float('nan')):.5f}")


@dataclass(frozen=True)
class TrainResult:
    model: keras.Model
    val_loss: float
    epochs: int


def train_autoencoder(view: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray, cfg: ModelConfig,
                      emit: Callable[[str], None] = log.info) -> TrainResult:
    """Fit on the training windows with early stopping on the (later-in-time) validation windows.

    Each call builds and traces a fresh model (a few seconds per group).
    """
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()  # same data, same model, even on a busy machine
    model = build_autoencoder(view.shape[1], view.shape[2], cfg)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    history = model.fit(WindowBatches(view, train_starts, cfg.batch_size, seed=cfg.seed),
                        validation_data=WindowBatches(view, val_starts, cfg.batch_size),
                        epochs=cfg.epochs, callbacks=[stop, EpochLogger(emit)], verbose=0)
    val_loss = float(min(history.history["val_loss"]))
    return TrainResult(model=model, val_loss=val_loss, epochs=len(history.history["val_loss"]))


BATCH, SMALL = 2048, 256  # windows per model call: full batches, and the padded size of short ones
_COMPILED: dict[tuple[tuple, bool], Callable] = {}
_COMPILED_LOCK = threading.Lock()


def reconstruct(model: keras.Model, view: np.ndarray, starts: np.ndarray,
                batch_size: int = BATCH) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield `(starts, windows [b, T, F], reconstructions [b, T, F], codes [b, k])` batch by batch.

    Full batches run XLA-compiled; a batch of at most `SMALL` windows runs in a plain graph.
    Batches are zero-padded to one of those two sizes, so nothing is traced twice.
    """
    architecture = _architecture(model)
    weights = [[v.value for v in variables] for part in (model.get_layer("encoder"), model.get_layer("decoder"))
               for variables in (part.trainable_variables, part.non_trainable_variables)]
    for chunk, x in iter_batches(view, starts, batch_size):
        n = len(x)
        size = SMALL if n <= SMALL else batch_size
        padded = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), x.dtype)]) if n < size else x
        recon, code = _inference(model, architecture, jit=size > SMALL)(weights, padded)
        yield chunk, x, recon.numpy()[:n], code.numpy()[:n]


def _architecture(model: keras.Model) -> tuple:
    """What a trace depends on: the input and every weight's shape (one builder makes every model;
    names would not do: models of one shape differ by generated names, e.g. `dense_3`)."""
    return tuple(model.input_shape), tuple(tuple(w.shape) for w in model.weights)


def _inference(model: keras.Model, architecture: tuple, jit: bool) -> Callable:
    """The traced encoder -> decoder pass of an architecture; it runs whatever weights it is given
    (`stateless_call`), so all models of one architecture share one trace (XLA takes seconds)."""
    with _COMPILED_LOCK:
        if (architecture, jit) not in _COMPILED:
            encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")

            @tf.function(jit_compile=jit)
            def run(weights, x):
                code, _ = encoder.stateless_call(weights[0], weights[1], x, training=False)
                recon, _ = decoder.stateless_call(weights[2], weights[3], code, training=False)
                return recon, code

            _COMPILED[architecture, jit] = run
        return _COMPILED[architecture, jit]


class ModelFileError(ValueError):
    """A stored model file that cannot be loaded safely; the message names the file."""


def load_autoencoder(path: str) -> keras.Model:
    """Load a saved model; safe_mode refuses files that carry code (e.g. Lambda layers)."""
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, TypeError, OSError) as exc:
        raise ModelFileError(f"{path}: refused to load model ({type(exc).__name__}: {exc})") from exc
