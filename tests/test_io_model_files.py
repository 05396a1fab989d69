import zipfile
from io import BytesIO

import h5py
import numpy as np
import pytest

from pipeline import io


def weights_file(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = BytesIO()
    with h5py.File(buffer, "w") as store:
        for name, array in arrays.items():
            store[name] = array
    return buffer.getvalue()


def test_a_saved_models_config_and_weights_come_from_one_archive(tmp_path):
    weights = weights_file({"layers/dense/vars/0": np.arange(6, dtype=np.float32).reshape(2, 3)})
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "Functional", "config": {"name": "m"}}')
        archive.writestr("model.weights.h5", weights)
    config, read = io.read_model_files(str(tmp_path / "model.keras"))
    assert config == {"class_name": "Functional", "config": {"name": "m"}}
    assert read == weights


def test_weight_arrays_are_read_by_path_and_a_missing_one_is_a_key_error():
    kernel, bias = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([0.5, -1.0, 2.0], np.float32)
    weights = weights_file({"layers/dense/vars/0": kernel, "layers/dense/vars/1": bias,
                            "layers/lstm/cell/vars/0": np.ones((1, 4), np.float32)})
    arrays = io.weight_arrays(weights, ["layers/dense/vars/1", "layers/dense/vars/0"])
    assert list(arrays) == ["layers/dense/vars/1", "layers/dense/vars/0"]  # only those asked for
    np.testing.assert_array_equal(arrays["layers/dense/vars/0"], kernel)
    np.testing.assert_array_equal(arrays["layers/dense/vars/1"], bias)
    assert arrays["layers/dense/vars/0"].dtype == np.float32
    with pytest.raises(KeyError):  # load_autoencoder refuses such a file, naming it
        io.weight_arrays(weights, ["layers/dense/vars/2"])
