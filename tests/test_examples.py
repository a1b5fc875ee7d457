"""Tests for the examples people run: the front end's command line, and short runs of the
deep perceptron and the Adam perceptron.

The front end is run as a subprocess, as a user would, on a small model saved in tmp_path, so
these tests need no MNIST. The training scripts need MNIST and are skipped when
$SCRATCHNET_DATA is unset; they run one epoch on a few hundred images (``--limit``).
"""
import importlib.util
import io
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import scratchnet as sn
from scratchnet import imaging

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import common  # noqa: E402
import deep_perceptron  # noqa: E402
import front_end  # noqa: E402

needs_mnist = pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"),
                                 reason="needs MNIST in $SCRATCHNET_DATA")


def run(script, *args, cwd=None):
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def seven(size=(400, 300), ink=30, paper=235):
    """A grey picture of a hand-drawn-looking 7, dark ink on light paper."""
    img = Image.new("L", size, paper)
    ImageDraw.Draw(img).line([(120, 50), (260, 50), (170, 260)], fill=ink, width=16,
                             joint="curve")
    return img


def encoded(img, fmt, **options):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def huge_png(width, height):
    """A tiny PNG file whose header claims width x height pixels (a decompression bomb)."""
    data = bytearray(encoded(Image.new("L", (8, 8), 255), "PNG"))
    data[16:24] = struct.pack(">II", width, height)              # IHDR's width and height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # and its checksum
    return bytes(data)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small [784, 10] softmax network, trained briefly on synthetic data, saved to a file."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 784), dtype=np.float32)
    y = rng.integers(0, 10, 200)
    net = sn.Network([sn.Dense(784, 10, init="glorot"), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), seed=0)
    net.fit((X, y), epochs=1, batch_size=20, optimizer=sn.SGD(lr=0.1))
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    sn.save(net, path)
    return path


@pytest.fixture
def bad_files(tmp_path):
    """Every kind of bad input, by name: the file to pass and a word its error must contain."""
    jpeg, png = encoded(seven(), "JPEG", quality=90), encoded(seven(), "PNG")
    files = {"text.jpg": b"these are notes, not a picture\n", "empty.png": b"",
             "cut.jpg": jpeg[:len(jpeg) // 2], "cut.png": png[:len(png) // 2],
             "blank.png": encoded(Image.new("L", (300, 200), 255), "PNG"),
             "huge.png": huge_png(8000, 8000)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    words = {"missing.png": "not found", "text.jpg": "not a recognised image",
             "empty.png": "empty", "cut.jpg": "truncated", "cut.png": "truncated",
             "blank.png": "no ink", "huge.png": "too large"}
    return {tmp_path / name: word for name, word in words.items()}


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "seven.jpg"
    seven().convert("RGB").save(path, quality=90)
    return path


ANSWER = re.compile(r"^(?P<image>.+): (?P<digit>\d) \(p=(?P<p>[01]\.\d\d)\)$")


def test_one_line_per_image_in_the_documented_format(model, good, tmp_path):
    png = tmp_path / "seven.png"
    seven(ink=200, paper=20).save(png)                          # light on dark
    result = run("front_end.py", good, png, "--model", model)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [ANSWER.match(line)["image"] for line in lines] == [str(good), str(png)]


def test_the_network_sees_what_imaging_makes(model, good):
    """The digit and probability printed are the model's on ``imaging.load_digit``'s 28x28."""
    p = sn.load(model).predict(imaging.load_digit(good).reshape(1, 784))[0]
    answer = ANSWER.match(run("front_end.py", good, "--model", model).stdout.strip())
    assert int(answer["digit"]) == int(p.argmax())
    assert float(answer["p"]) == pytest.approx(float(p.max()), abs=0.006)


def test_each_bad_input_gets_one_line_naming_it(model, bad_files):
    for path, word in bad_files.items():
        result = run("front_end.py", path, "--model", model)
        assert result.returncode == 1, path
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: {path}: ") and word in line, line


def test_bad_inputs_do_not_stop_the_good_ones(model, bad_files, good):
    result = run("front_end.py", *bad_files, good, *bad_files, "--model", model)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [ANSWER.match(line)["image"] for line in result.stdout.splitlines()] == [str(good)]
    errors = result.stderr.splitlines()
    assert len(errors) == 2 * len(bad_files)
    for line, path in zip(errors, [*bad_files, *bad_files]):
        assert line.startswith(f"error: {path}: ")


def test_show_saves_what_the_network_saw(model, good, tmp_path):
    preview = tmp_path / "seen.png"
    result = run("front_end.py", good, "--model", model, "--show", preview)
    assert result.returncode == 0, result.stderr
    with Image.open(preview) as img:
        assert img.format == "PNG" and img.width > 280


@pytest.mark.parametrize("content", [None, b"not a model", b"PK\x03\x04 cut short"])
def test_a_bad_model_file_is_one_line_error(good, tmp_path, content):
    path = tmp_path / "model.npz"
    if content is not None:
        path.write_bytes(content)
    result = run("front_end.py", good, "--model", path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}: ")


def test_a_model_that_is_not_a_digit_reader_is_refused(good, tmp_path):
    path = tmp_path / "three.npz"
    sn.save(sn.Network([sn.Dense(784, 3), sn.Softmax()], loss=sn.CategoricalCrossEntropy()),
            path)
    result = run("front_end.py", good, "--model", path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == f"error: {path}: the network has 3 outputs, a digit reader " \
                                    "needs 10"


@needs_mnist
def test_missing_default_model_is_trained_saved_and_used(monkeypatch, tmp_path, good, capsys):
    """With no model file, the front end says so, trains (here: one epoch), saves, goes on."""
    path = tmp_path / "models" / "deep_perceptron.npz"
    monkeypatch.setattr(front_end, "MODEL_PATH", str(path))
    real_train, real_load = front_end.train, sn.load_mnist
    monkeypatch.setattr(front_end, "train", lambda data, **kw: real_train(data, epochs=1, **kw))
    monkeypatch.setattr(sn, "load_mnist",
                        lambda *a, **kw: common.subset(real_load(*a, **kw), 1000))
    with pytest.raises(SystemExit) as exit_:
        front_end.main([str(good)])
    assert exit_.value.code == 0
    out, err = capsys.readouterr()
    assert f"no model at {path}" in err and "Epoch 0:" in err
    assert ANSWER.match(out.strip())
    assert sn.load(path).info["augment"] is True


# ---------------------------------------------------------------- the distortions

def test_distort_with_nothing_to_do_is_the_identity():
    X = np.random.default_rng(0).random((7, 784), dtype=np.float32)
    X.reshape(7, 28, 28)[:, [0, -1]] = 0                        # MNIST's border is empty
    X.reshape(7, 28, 28)[:, :, [0, -1]] = 0
    same = deep_perceptron.distort(X, np.random.default_rng(1), angle=0, shear=0, scale=0,
                                   shift=0, thickness=0)
    np.testing.assert_allclose(same, X, atol=1e-6)


def test_distort_moves_ink_but_keeps_its_amount():
    digits = np.zeros((500, 28, 28), np.float32)
    digits[:, 8:20, 12:16] = 1.0                                # a thick bar in the middle
    X = digits.reshape(500, 784)
    out = deep_perceptron.distort(X, np.random.default_rng(2), thickness=0)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert np.mean(np.abs(out - X).sum(axis=1) > 1) > 0.9       # nearly every image changed
    mass = out.sum(axis=1) / X.sum(axis=1)                      # area scales by s², s ≤ 1.1
    assert 0.75 < mass.min() and mass.max() < 1.3


def test_thicken_grows_and_thins_strokes():
    img = np.zeros((2, 28, 28), np.float32)
    img[:, 10:18, 13:15] = 1.0
    out = deep_perceptron._thicken(img, np.array([1.0, -1.0]))
    assert out[0].sum() > img[0].sum() > out[1].sum()


# ---------------------------------------------------------------- the training scripts

@needs_mnist
def test_deep_perceptron_one_epoch_saves_and_plots(tmp_path):
    model, plot = tmp_path / "dp.npz", tmp_path / "dp.png"
    result = run("deep_perceptron.py", "--epochs", 1, "--limit", 500, "--save", model,
                 "--plot", plot)
    assert result.returncode == 0, result.stderr
    lr = re.escape(f"{deep_perceptron.HYPER['eta']:.4g}")
    assert re.search(rf"^Epoch 0: loss \d\.\d{{4}} val accuracy 0\.\d{{4}} lr {lr} \([\d.]+ s\)$",
                     result.stdout, re.M), result.stdout
    accuracy = float(re.search(r"^test accuracy: (0\.\d{4})$", result.stdout, re.M)[1])
    net = sn.load(model)
    assert net.info["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert [layer.n_out for layer in net.layers if isinstance(layer, sn.Dense)] == \
        [150, 50, 100, 10]
    if importlib.util.find_spec("matplotlib") is not None:     # --plot needs it
        with Image.open(plot) as img:
            assert img.format == "PNG"


@needs_mnist
def test_deep_perceptron_augmented_epoch_runs():
    result = run("deep_perceptron.py", "--epochs", 2, "--limit", 300, "--augment")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^Epoch 1: ", result.stdout, re.M)
    assert re.search(r"^test accuracy: 0\.\d{4}$", result.stdout, re.M)


@needs_mnist
def test_adam_perceptron_one_epoch(tmp_path):
    model = tmp_path / "adam.npz"
    result = run("adam_perceptron.py", "--epochs", 1, "--limit", 500, "--save", model)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^Epoch 0: loss \d\.\d{4} val accuracy 0\.\d{4} lr 0\.001 ", result.stdout,
                     re.M), result.stdout
    assert re.search(r"^test accuracy: 0\.\d{4}$", result.stdout, re.M)
    assert type(sn.load(model).layers[-1]).__name__ == "LogSoftmax"


@needs_mnist
@pytest.mark.parametrize("script, args, extra", [
    ("nielsen.py", ("--epochs", 2), r"^best: \d+ / 300$"),
    ("is_three.py", ("--epochs", 1), r"precision"),
    ("convnet.py", ("--epochs", 1), r""),
    ("tiny_cnn.py", ("--epochs", 1), r"parameters: 9,956"),
    ("tiny_cnn.py", ("--epochs", 1, "--design", "better"), r"parameters: "),
])
def test_each_example_runs_on_a_few_images(script, args, extra, tmp_path):
    result = run(script, *args, "--limit", 300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^Epoch 0: ", result.stdout, re.M), result.stdout
    assert re.search(extra, result.stdout, re.M), result.stdout
    if script != "nielsen.py":
        assert re.search(r"^test accuracy: [01]\.\d{4}$", result.stdout, re.M), result.stdout


def test_an_offline_machine_without_mnist_gets_a_one_line_error(tmp_path):
    result = run("nielsen.py", "--data", tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(tmp_path) in result.stderr
