"""Model files: round trip, atomic writes, and every way a file can be wrong."""
import json
import os
import zipfile

import numpy
import pytest

import scratchnet as sn
from scratchnet.io import ModelFileError, load, load_weights, read, save


def net(hidden=5, reg=None, seed=0):
    return sn.Network([sn.Dense(4, hidden), sn.Sigmoid(), sn.Dense(hidden, 3), sn.Softmax()],
                      loss=sn.CategoricalCrossEntropy(), regularizer=reg, seed=seed)


def test_round_trip_gives_the_same_predictions(tmp_path):
    original = net(reg=sn.L2(2.0))
    path = tmp_path / "model.npz"
    save(original, path, info={"test_accuracy": 0.5})
    loaded = load(path)
    x = numpy.random.default_rng(0).standard_normal((6, 4)).astype(numpy.float32)
    numpy.testing.assert_array_equal(loaded.predict(x), original.predict(x))
    assert loaded.info == {"test_accuracy": 0.5}
    assert isinstance(loaded.regularizer, sn.L2) and loaded.regularizer.lmbda == 2.0
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in original.layers]


def test_file_is_plain_npz_without_pickle(tmp_path):
    save(net(), tmp_path / "m.npz")
    with numpy.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b", "metadata"}
        meta = json.loads(str(npz["metadata"]))
    assert meta["layers"][0] == {"type": "Dense", "config": {"n_in": 4, "n_out": 5, "init": "nielsen"}}


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


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="nothere.npz: no such model file"):
        load(tmp_path / "nothere.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="m.npz: not a readable .npz"):
        load(path)


def test_not_a_model_at_all(tmp_path):
    path = tmp_path / "m.npz"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="m.npz"):
        load(path)


def rewrite(path, change):
    """Re-save the npz with ``change(contents)`` applied, as a tamperer would."""
    with numpy.load(path, allow_pickle=False) as npz:
        contents = {k: npz[k] for k in npz.files}
    change(contents)
    numpy.savez(path, **contents)


def test_tampered_weights_fail_the_checksum(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    rewrite(path, lambda c: c["layers.0.W"].__setitem__((0, 0), 42.0))
    with pytest.raises(ModelFileError, match="layers.0.W does not match its checksum"):
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
    rewrite(path, lambda c: c.pop("layers.2.b"))
    with pytest.raises(ModelFileError, match="do not match the metadata"):
        load(path)
    save(net(), path)
    rewrite(path, lambda c: c.__setitem__("metadata", numpy.array("{not json")))
    with pytest.raises(ModelFileError, match="metadata"):
        load(path)
    save(net(), path)
    rewrite(path, lambda c: c.pop("metadata"))
    with pytest.raises(ModelFileError, match="metadata"):
        load(path)


def test_other_format_version_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)

    def bump(c):
        meta = json.loads(str(c["metadata"]))
        meta["version"] = 99
        c["metadata"] = numpy.array(json.dumps(meta))
    rewrite(path, bump)
    with pytest.raises(ModelFileError, match="version 99"):
        load(path)


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    save(net(), path)
    rewrite(path, lambda c: c.__setitem__("layers.0.W", numpy.array([{"evil": 1}], dtype=object)))
    with pytest.raises(ModelFileError, match="m.npz"):
        load(path)


def test_weights_for_another_architecture(tmp_path):
    path = tmp_path / "m.npz"
    save(net(hidden=5), path)
    with pytest.raises(ModelFileError, match="another architecture"):
        load_weights(net(hidden=6), path)


def test_read_gives_metadata_and_arrays(tmp_path):
    save(net(), tmp_path / "m.npz")
    meta, arrays = read(tmp_path / "m.npz")
    assert meta["dtype"] == "float32" and arrays["layers.0.W"].shape == (5, 4)
    assert zipfile.is_zipfile(tmp_path / "m.npz")
