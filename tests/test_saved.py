import dataclasses

import numpy as np
import pytest

from pipeline.model import build_autoencoder, reconstruct
from pipeline.saved import _TEMPLATES, ModelFileError, load_autoencoder
from tests.test_model import BIDIRECTIONAL, CFG, sine_windows


@pytest.mark.parametrize("cfg", [CFG, BIDIRECTIONAL], ids=["lstm", "bidirectional"])
def test_save_and_safe_load_give_identical_reconstructions(tmp_path, cfg):
    """The first file of an architecture is loaded by Keras; later ones (other weights, other
    generated layer names) only have their arrays read, and run exactly as Keras loads them."""
    import keras

    view, starts = sine_windows()
    first = build_autoencoder(12, 2, cfg)
    first.save(tmp_path / "first.keras")
    build_autoencoder(5, 1, cfg)  # moves the generated names of the next model's layers
    second = build_autoencoder(12, 2, cfg)
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
    wider = build_autoencoder(12, 2, dataclasses.replace(cfg, units=cfg.units + 2))
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


def test_an_architecture_whose_trained_weights_cannot_be_located_is_refused(tmp_path, monkeypatch):
    from pipeline import io

    model = build_autoencoder(12, 2, dataclasses.replace(CFG, units=CFG.units + 4))  # an architecture not loaded yet
    model.save(tmp_path / "model.keras")
    real = io.saved_weight_arrays
    monkeypatch.setattr(io, "saved_weight_arrays", lambda m: dict(list(real(m).items())[1:]))
    with pytest.raises(ModelFileError, match=r"model.keras: refused to load model .*trainable weights .* not found"):
        load_autoencoder(str(tmp_path / "model.keras"))
