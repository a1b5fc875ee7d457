"""Model files: round trips, what save refuses, and the ordinary ways a file can be wrong.
(Hostile files, fuzzing and the memory bound: test_hostile_io.py.)"""
import hashlib
import io
import json
import os
import zipfile

import numpy
import pytest

import scratchnet as sn
from scratchnet.io import (
    LAYER_TYPES,
    PARAM_SHAPES,
    ModelFileError,
    load,
    load_weights,
    read,
    save,
)


def net(hidden=5, reg=None, seed=0):
    return sn.Network([sn.Dense(4, hidden), sn.Sigmoid(), sn.Dense(hidden, 3), sn.Softmax()],
                      loss=sn.CategoricalCrossEntropy(), regularizer=reg, seed=seed)


X = numpy.random.default_rng(0).standard_normal((6, 4)).astype(numpy.float32)


def test_round_trip_gives_the_same_predictions(tmp_path):
    original = net(reg=sn.L2(2.0))
    path = tmp_path / "model.npz"
    save(original, path, info={"test_accuracy": 0.5})
    loaded = load(path)
    numpy.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    assert loaded.info == {"test_accuracy": 0.5}
    assert isinstance(loaded.regularizer, sn.L2) and loaded.regularizer.lmbda == 2.0
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in original.layers]


# One small instance of every layer a model file may name (the test below fails when a type is
# added to io.LAYER_TYPES without an example here, and so without its PARAM_SHAPES checked).
EXAMPLES = {
    "Dense": sn.Dense(3, 2), "Flatten": sn.Flatten(), "Sigmoid": sn.Sigmoid(), "ReLU": sn.ReLU(),
    "Tanh": sn.Tanh(), "Softmax": sn.Softmax(), "LogSoftmax": sn.LogSoftmax(),
    "Conv2D": sn.Conv2D(2, 3, kernel_size=2, stride=1, padding=1), "MaxPool2D": sn.MaxPool2D(2),
    "Dropout": sn.Dropout(0.25), "BatchNorm": sn.BatchNorm(3),
}


def test_param_shapes_says_which_arrays_each_layer_type_builds():
    assert set(EXAMPLES) == set(LAYER_TYPES)
    for name, layer in EXAMPLES.items():
        built = LAYER_TYPES[name](**layer.config())
        built.build(numpy, numpy.random.default_rng(0), numpy.float32)
        actual = {k: v.shape for k, v in {**built.params, **built.state}.items()}
        assert PARAM_SHAPES.get(name, lambda c: {})(built) == actual, name


def test_a_cnn_with_every_layer_type_round_trips(tmp_path):
    original = sn.Network([sn.Conv2D(1, 3, kernel_size=3, padding=1), sn.BatchNorm(3), sn.ReLU(),
                           sn.MaxPool2D(2), sn.Dropout(0.25), sn.Flatten(), sn.Dense(12, 4),
                           sn.Tanh(), sn.Dense(4, 3), sn.LogSoftmax()], loss=sn.NLL(), seed=3)
    original.layers[1].state["running_mean"][:] = [0.5, -1.0, 2.0]
    save(original, tmp_path / "cnn.npz")
    loaded = load(tmp_path / "cnn.npz", dtype="float64")
    x = numpy.random.default_rng(1).random((2, 1, 4, 4), dtype=numpy.float32)
    assert [repr(a) for a in loaded.layers] == [repr(b) for b in original.layers]
    assert loaded.dtype == numpy.float64
    numpy.testing.assert_allclose(loaded.predict(x), original.predict(x), rtol=1e-5, atol=1e-6)
    numpy.testing.assert_array_equal(loaded.states()["layers.1.running_mean"], [0.5, -1, 2])


def test_file_is_plain_npz_without_pickle(tmp_path):
    save(net(), tmp_path / "m.npz")
    with numpy.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b",
                                  "metadata"}
        meta = json.loads(str(npz["metadata"]))
    assert meta["layers"][0] == {"type": "Dense",
                                 "config": {"n_in": 4, "n_out": 5, "init": "nielsen"}}


def test_read_gives_metadata_and_arrays(tmp_path):
    save(net(), tmp_path / "m.npz")
    meta, arrays = read(tmp_path / "m.npz")
    assert meta["dtype"] == "float32" and arrays["layers.0.W"].shape == (5, 4)
    assert zipfile.is_zipfile(tmp_path / "m.npz")


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(net(seed=1), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(numpy, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save(net(seed=2), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


# ---------------------------------------------------------------- what save refuses

@pytest.mark.parametrize("value", [numpy.nan, numpy.inf, -numpy.inf])
def test_save_refuses_non_finite_weights_naming_the_parameter(tmp_path, value):
    path = tmp_path / "m.npz"
    save(net(), path)
    before = path.read_bytes()
    diverged = net(seed=1)
    diverged.layers[2].params["b"][1] = value
    with pytest.raises(ValueError, match=r"m.npz: layers.2.b holds NaN or infinite values"):
        save(diverged, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("info, problem", [
    (["not", "a", "dict"], "info must be a dict"),
    ({"accuracy": float("nan")}, "not plain JSON"),
    ({"when": object()}, "not plain JSON"),
])
def test_save_refuses_info_that_would_not_load(tmp_path, info, problem):
    with pytest.raises(ValueError, match=problem):
        save(net(), tmp_path / "m.npz", info=info)
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------- files that are fine

def resave(path, change=None, save=numpy.savez):
    """Re-write the npz with ``change(contents)`` applied, as another tool would."""
    with numpy.load(path, allow_pickle=False) as npz:
        contents = {k: npz[k] for k in npz.files}
    if change:
        change(contents)
    save(path, **contents)


def test_a_compressed_npz_loads(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    resave(path, save=numpy.savez_compressed)
    numpy.testing.assert_array_equal(load(path).predict(X), net().predict(X))


def test_a_zip64_npz_loads(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)   # zipfile then writes zip64 records
    save(net(), path)
    assert b"PK\x06\x06" in path.read_bytes()
    numpy.testing.assert_array_equal(load(path).predict(X), net().predict(X))


def test_big_endian_arrays_load(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)

    def swap(c):
        meta = json.loads(str(c.pop("metadata")))
        for key in list(c):
            c[key] = c[key].astype(">f4")
            meta["arrays"][key]["sha256"] = hashlib.sha256(c[key].tobytes()).hexdigest()
        c["metadata"] = numpy.array(json.dumps(meta))
    resave(path, swap)
    loaded = load(path)
    assert loaded.layers[0].params["W"].dtype == numpy.float32
    numpy.testing.assert_array_equal(loaded.predict(X), net().predict(X))


def test_max_bytes_bounds_the_arrays_and_can_be_raised(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)           # 4·(20 + 5 + 15 + 3) = 172 bytes of arrays
    with pytest.raises(ModelFileError, match=r"m.npz: .*more than the limit max_bytes=171; "
                                             r"pass a larger max_bytes="):
        load(path, max_bytes=171)
    assert load(path, max_bytes=172).n_params == 43
    with pytest.raises(ModelFileError, match="max_bytes=100"):
        load_weights(net(), path, max_bytes=100)
    load_weights(net(), path, max_bytes=172)


# ---------------------------------------------------------------- files that are wrong

def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="nothere.npz: no such model file"):
        load(tmp_path / "nothere.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="m.npz: not a readable .npz"):
        load(path)


def test_corrupted_weights_fail_the_checksum(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    resave(path, lambda c: c["layers.0.W"].__setitem__((0, 0), 42.0))
    with pytest.raises(ModelFileError, match=r"layers.0.W does not match its checksum "
                                             r"\(the file is corrupted\)"):
        load(path)


def test_flipped_byte_is_caught(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="m.npz"):
        load(path)


def test_missing_array_and_bad_metadata(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    resave(path, lambda c: c.pop("layers.2.b"))
    with pytest.raises(ModelFileError, match=r"do not match the metadata's: missing \['layers.2.b"):
        load(path)
    save(net(), path)
    resave(path, lambda c: c.__setitem__("metadata", numpy.array("{not json")))
    with pytest.raises(ModelFileError, match="metadata"):
        load(path)
    save(net(), path)
    resave(path, lambda c: c.pop("metadata"))
    with pytest.raises(ModelFileError, match="metadata"):
        load(path)


def test_other_format_version_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)

    def bump(c):
        meta = json.loads(str(c["metadata"]))
        meta["version"] = 99
        c["metadata"] = numpy.array(json.dumps(meta))
    resave(path, bump)
    with pytest.raises(ModelFileError, match="version 99"):
        load(path)


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("layers.0.W.npy", buffer.getvalue())
    with pytest.raises(ModelFileError, match="m.npz: two zip members share a name"):
        load(path)
    save(net(), path)
    resave(path, lambda c: c.__setitem__("layers.0.W", numpy.array([{"evil": 1}], dtype=object)))
    with pytest.raises(ModelFileError, match="m.npz: layers.0.W holds object values"):
        load(path)


def test_weights_for_another_architecture(tmp_path):
    path = tmp_path / "m.npz"
    save(net(hidden=5), path)
    with pytest.raises(ModelFileError, match="another architecture"):
        load_weights(net(hidden=6), path)


def test_load_weights_copies_into_a_network(tmp_path):
    path = tmp_path / "m.npz"
    save(net(seed=1), path)
    target = net(seed=2)
    load_weights(target, path)
    numpy.testing.assert_array_equal(target.predict(X), net(seed=1).predict(X))
