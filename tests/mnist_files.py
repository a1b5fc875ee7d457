"""Helpers for the data tests: tiny IDX files and MNIST-format folders, and a fixture that keeps
every test off the network and out of the real per-user cache."""
import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

from scratchnet import datasets
from scratchnet.idx import write_idx


def idx_bytes(code, dims, payload):
    """An uncompressed IDX file: type `code`, dimensions `dims`, then `payload`."""
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def make_mnist(folder, n_train=12, n_test=5, *, suffix=".gz", seed=0, names=datasets.NAMES):
    """Write a tiny MNIST-format data set; returns {name: array} as written."""
    rng = np.random.default_rng(seed)
    arrays = {
        datasets.TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        datasets.TRAIN_LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
        datasets.TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        datasets.TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, file_name in zip(datasets.NAMES, names):
        write_idx(Path(folder) / (file_name + suffix), arrays[name])
    return arrays


def sha256_table(arrays):
    """{name: SHA-256 of the decompressed IDX file} for arrays as `make_mnist` returns them."""
    return {name: hashlib.sha256(idx_bytes(0x08, a.shape, a.tobytes())).hexdigest()
            for name, a in arrays.items()}


def assert_idx_error(path, call, *args, kind=None):
    """`call` raises `kind` (IDXError) with a one-line message that starts with the path; the
    message."""
    from scratchnet.idx import IDXError
    with pytest.raises(kind or IDXError) as info:
        call(*args)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No host but 127.0.0.1 can be reached, the per-user cache is in tmp_path, and no data
    folder comes from the environment."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise OSError(f"network disabled in tests: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.delenv("SCRATCHNET_FASHION_DATA", raising=False)
