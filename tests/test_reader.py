"""Tests for examples/reader.py, the digit reader the front end and the draw page share.

Most use small untrained networks saved in tmp folders (the reader must give *the network's*
answer, whatever it is, and refuse networks that are not digit readers). The tests marked
needs_mnist train a small [784, 100, 10] network on distorted MNIST for a few seconds, and check
that it reads digits drawn with gaps right, and that "confident" means something; one trains the
default model through the real command, cut to one epoch of 500 images.
"""
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from digit_pictures import CENTRE_LINES, dashed, draw, encoded, grey
from scratchnet.imaging import ImageError, to_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import reader  # noqa: E402

needs_mnist = pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"),
                                 reason="needs MNIST in $SCRATCHNET_DATA")


def saved(tmp_path, layers, name="model.npz", loss=None):
    net = sn.Network(layers, loss=loss or sn.CategoricalCrossEntropy(), seed=0)
    path = tmp_path / name
    sn.save(net, path)
    return path


@pytest.fixture
def dense(tmp_path):
    return saved(tmp_path, [sn.Dense(784, 10, init="glorot"), sn.Softmax()], "dense.npz")


@pytest.fixture
def cnn(tmp_path):
    """A convolutional model as the library saves it: Conv2D's input_shape is (1, None, None)."""
    return saved(tmp_path, [sn.Conv2D(1, 4, 3), sn.MaxPool2D(2), sn.ReLU(), sn.Flatten(),
                            sn.Dense(4 * 13 * 13, 10), sn.LogSoftmax()], "cnn.npz", sn.NLL())


# ---------------------------------------------------------------- where the default model lives

def test_default_model_path_is_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert reader.default_model_path() == tmp_path / "scratchnet" / "models" / \
        "deep_perceptron.npz"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")      # not absolute: the XDG rule
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert reader.default_model_path() == tmp_path / "home" / ".cache" / "scratchnet" / \
        "models" / "deep_perceptron.npz"


def test_an_empty_model_path_is_an_error_not_a_training_run(monkeypatch):
    monkeypatch.setattr(reader, "train_default", lambda *a: pytest.fail("trained"))
    for empty in ("", b""):
        with pytest.raises(reader.ReaderError, match="model path is empty"):
            reader.load_reader(empty)


def test_a_missing_model_file_is_named(tmp_path):
    with pytest.raises(sn.io.ModelFileError, match=f"^{tmp_path / 'none.npz'}: "):
        reader.load_reader(tmp_path / "none.npz")


def test_a_model_path_with_a_newline_is_escaped_in_the_error(tmp_path):
    with pytest.raises(ValueError) as info:
        reader.load_reader(tmp_path / "two\nlines.npz")
    assert "\n" not in str(info.value) and "two\\nlines.npz" in str(info.value)


# ---------------------------------------------------------------- which networks read digits

def test_dense_and_convolutional_models_both_read_digits(dense, cnn):
    """Once, every CNN model the library saves crashed the front end: a TypeError from
    reshaping to its first layer's input_shape, (1, None, None)."""
    picture = encoded(draw(), "PNG")
    for path, shape in ((dense, (784,)), (cnn, (1, 28, 28))):
        digits = reader.load_reader(path)
        assert digits.input_shape == shape
        reading = digits.read(picture)
        net = sn.load(path)
        outputs = net.predict(reading.image.reshape((1,) + shape))[0]
        p = np.exp(outputs) if isinstance(net.layers[-1], sn.LogSoftmax) else outputs
        np.testing.assert_allclose(reading.probabilities, p / p.sum(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("layers, words", [
    ([sn.Dense(784, 3), sn.Softmax()], "has 3 outputs, a digit reader needs 10"),
    ([sn.Dense(100, 10), sn.Softmax()], "cannot read a 28x28 image (784 inputs, or 1 channel "
                                        "of 28x28); its first layer reads 100 inputs"),
    ([sn.Conv2D(3, 2, 3), sn.Flatten(), sn.Dense(2 * 26 * 26, 10)],
     "its first layer reads (3, any, any)"),
    ([sn.Conv2D(1, 2, 3), sn.Flatten(), sn.Dense(2 * 30 * 30, 10)],    # made for 32x32
     "its first layer reads (1, any, any)"),
    ([sn.Conv2D(1, 2, 3), sn.Flatten(), sn.Dense(2 * 26 * 26, 2 * 26 * 26)],
     "has 1352 outputs"),
])
def test_a_network_that_is_not_a_digit_reader_is_one_line_naming_it(tmp_path, layers, words):
    path = saved(tmp_path, layers)
    with pytest.raises(reader.ReaderError) as info:
        reader.load_reader(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and words in message, message


def test_a_network_with_non_finite_weights_is_refused():
    """Its answer would be "0 (p=nan)" for every picture."""
    net = sn.Network([sn.Dense(784, 10), sn.Softmax()], loss=sn.CategoricalCrossEntropy())
    net.layers[0].params["W"][0, 0] = np.nan
    with pytest.raises(reader.ReaderError, match=r"^nan\.npz: the network's outputs are not "
                                                 r"finite"):
        reader.Reader(net, "nan.npz")


# ---------------------------------------------------------------- reading

def test_a_path_bytes_and_a_file_give_the_same_reading(dense, tmp_path):
    digits = reader.load_reader(dense)
    path = tmp_path / "seven.png"
    draw().save(path)
    expected = digits.read(path)
    assert isinstance(expected.digit, int) and 0 <= expected.digit <= 9
    assert expected.probabilities.shape == (10,) and expected.probabilities.dtype == np.float64
    assert expected.probabilities.sum() == pytest.approx(1)
    assert expected.image.shape == (28, 28) and expected.image.dtype == np.float32
    with open(path, "rb") as f:
        for source in (path, str(path), path.read_bytes(), f, io.BytesIO(path.read_bytes())):
            reading = digits.read(source)
            assert reading.digit == expected.digit
            np.testing.assert_array_equal(reading.probabilities, expected.probabilities)
            np.testing.assert_array_equal(reading.image, expected.image)
    grey_reading = digits.read_grey(grey(draw()), "seven")
    np.testing.assert_array_equal(grey_reading.image, expected.image)


def test_pictures_that_are_not_digits_raise_one_line_image_errors(dense):
    digits = reader.load_reader(dense)
    blank = encoded(draw(ink=235), "PNG")
    for source, words in ((b"", "empty"), (b"GIF89a...", "not a recognised image"),
                          (blank, "no ink found")):
        with pytest.raises(ImageError, match=f"^upload: .*{words}"):
            digits.read(source, name="upload")


@pytest.mark.parametrize("last, outputs, expected", [
    (sn.Softmax(), [0.7, 0.2, 0.1], [0.7, 0.2, 0.1]),
    (sn.LogSoftmax(), np.log([0.7, 0.2, 0.1]), [0.7, 0.2, 0.1]),
    (sn.Sigmoid(), [0.9, 0.6, 0.3], [0.5, 1 / 3, 1 / 6]),
    (sn.ReLU(), [1000.0, 0.0, 1000.0], [0.5, 0.0, 0.5]),      # scores: a stable softmax
])
def test_probabilities_from_each_kind_of_output(last, outputs, expected):
    net = sn.Network([sn.Dense(3, 3), last], loss=sn.Quadratic())
    p = reader.probabilities(net, np.array(outputs, dtype=np.float64))
    np.testing.assert_allclose(p, expected, atol=1e-12)


# ---------------------------------------------------------------- "confident"

def scribble():
    """A tangle of strokes filling its box: no digit."""
    rng = np.random.default_rng(3)
    img = draw(ink=235)
    from PIL import ImageDraw
    points = [tuple(p) for p in rng.uniform((120, 40), (300, 260), (40, 2))]
    ImageDraw.Draw(img).line(points, fill=30, width=14, joint="curve")
    return grey(img)


def test_a_scribble_or_a_blob_does_not_look_like_a_digit():
    assert reader.looks_like_a_digit(to_mnist(grey(draw())))
    assert reader.looks_like_a_digit(to_mnist(grey(draw("0"))))
    assert not reader.looks_like_a_digit(to_mnist(scribble()))
    blob = np.ones((300, 300), np.float32)
    blob[60:240, 80:220] = 0.1
    assert not reader.looks_like_a_digit(to_mnist(blob))
    assert not reader.looks_like_a_digit(np.zeros((28, 28), np.float32))


def test_holes_are_counted_as_an_eight_has_two():
    eight = np.zeros((28, 28), bool)
    eight[4:24, 8:20] = True
    eight[6:12, 11:17] = False                     # two 6x6 holes
    eight[15:21, 11:17] = False
    assert reader.holes(eight) == 2
    eight[13, 13] = False                          # one pixel: a speck of paper, not a hole
    assert reader.holes(eight) == 2


def test_confident_needs_a_sure_network_and_a_digit_like_picture():
    seven, mess = to_mnist(grey(draw())), to_mnist(scribble())
    sure, unsure = np.eye(10)[7] * 0.9 + 0.01, np.full(10, 0.1)
    assert reader.Reader.confident(sure, seven)
    assert not reader.Reader.confident(unsure, seven)
    assert not reader.Reader.confident(sure, mess)


# ---------------------------------------------------------------- with a trained network

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """[784, 100, 10] trained 4 epochs on 20,000 distorted MNIST images (about 5 s)."""
    data = sn.load_mnist()
    net = sn.Network([sn.Dense(784, 100, init="he"), sn.ReLU(),
                      sn.Dense(100, 10, init="glorot"), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), seed=0)
    X, y = data.train
    net.fit((X[:20000], y[:20000]), 4, 32, sn.SGD(lr=0.03, momentum=0.9), augment=sn.distort)
    assert net.evaluate(data.test)["accuracy"] > 0.93
    path = tmp_path_factory.mktemp("trained") / "small.npz"
    sn.save(net, path)
    return reader.load_reader(path)


GAPPY = [dict(size=200, pen=0.03, dash=0.12, gap=0.05),       # felt pen
         dict(size=200, pen=0.015, dash=0.1, gap=0.06),       # thin pen
         dict(size=60, pen=0.05, dash=0.15, gap=0.07),        # a small drawing
         dict(size=300, pen=0.02, dash=0.08, gap=0.04)]       # fine dashes


@needs_mnist
@pytest.mark.parametrize("digit", sorted(CENTRE_LINES))
def test_digits_drawn_with_gaps_are_read_right(trained, digit):
    """Once, a 3 drawn with gaps reached the network as one of its dashes and was read as a 4
    (and a dashed 5 as a 1, a 7 as a 1)."""
    for kind in GAPPY:
        reading = trained.read(encoded(dashed(digit, **kind), "PNG"), name=f"{digit} {kind}")
        assert reading.digit == digit, (kind, reading.probabilities.round(2))


@needs_mnist
def test_a_clear_digit_is_confident_and_a_scribble_is_not(trained):
    assert trained.read(encoded(draw(), "PNG")).confident
    assert trained.read(encoded(dashed(3), "PNG")).confident
    assert not trained.read_grey(scribble(), "scribble").confident


@needs_mnist
def test_the_default_model_is_trained_once_when_missing(monkeypatch, tmp_path, capfd):
    """No model in the cache: the deep perceptron example trains it (here cut to one epoch of
    500 images), its progress on stderr, nothing on stdout; the second call just loads it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(reader, "TRAIN_ARGS", reader.TRAIN_ARGS + ("--epochs", "1", "--limit",
                                                                   "500"))
    digits = reader.load_reader()
    path = reader.default_model_path()
    assert path.is_file() and sn.load(path).info["augment"] is True
    out, err = capfd.readouterr()
    assert out == ""
    assert f"no model at {path}" in err and "Epoch 0:" in err and "model saved to" in err
    assert digits.read(encoded(draw(), "PNG")).image.shape == (28, 28)
    monkeypatch.setattr(reader, "train_default", lambda *a: pytest.fail("trained again"))
    reader.load_reader()


def test_a_failed_training_is_one_line_naming_the_model(monkeypatch, tmp_path, capfd):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(reader, "TRAIN_ARGS", ("--epochs", "-1"))       # refused by its parser
    with pytest.raises(reader.ReaderError) as info:
        reader.load_reader()
    assert str(info.value) == f"{reader.default_model_path()}: training the default model " \
                              "failed (deep_perceptron.py exit status 2)"
    assert not reader.default_model_path().exists()
    assert "error: --epochs" in capfd.readouterr().err
