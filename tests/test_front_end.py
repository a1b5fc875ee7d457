"""Tests for examples/front_end.py, run as a user runs it: answers, errors, flags and file names.

The model is a [784, 10] softmax network with its seeded initial weights, saved in a tmp folder:
the front end must print *the network's* answer, whatever it is, so no MNIST is needed (and its
answers are "not sure").  Names and flags are hostile: undecodable bytes, newlines, terminal
escapes, an empty --model.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scratchnet as sn
from digit_pictures import draw, encoded
from scratchnet import imaging

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import front_end  # noqa: E402

ANSWER = re.compile(r"^(?P<image>.+): (?P<digit>\d) \(p=(?P<p>[01]\.\d\d)(?P<doubt>, not sure)?\)$")


def run(*args, env=None):
    """The front end in a child process; arguments may be bytes (file names that are not UTF-8)."""
    return subprocess.run([sys.executable, str(EXAMPLES / "front_end.py"),
                           *(a if isinstance(a, bytes) else str(a) for a in args)],
                          capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})})


def lines(data):
    return data.decode("utf-8").splitlines()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    net = sn.Network([sn.Dense(784, 10, init="glorot"), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    sn.save(net, path)
    return path


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "seven.jpg"
    draw().convert("RGB").save(path, quality=90)
    return path


@pytest.fixture
def bad_files(tmp_path):
    """Every kind of bad input, by name: the file to pass and a word its error must contain."""
    jpeg, png = encoded(draw(), "JPEG", quality=90), encoded(draw(), "PNG")
    files = {"text.jpg": b"these are notes, not a picture\n", "empty.png": b"",
             "cut.jpg": jpeg[:len(jpeg) // 2], "cut.png": png[:len(png) // 2],
             "blank.png": encoded(Image.new("L", (300, 200), 255), "PNG")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    words = {"missing.png": "not found", "text.jpg": "not a recognised image",
             "empty.png": "empty", "cut.jpg": "truncated", "cut.png": "truncated",
             "blank.png": "no ink"}
    return {tmp_path / name: word for name, word in words.items()}


# ---------------------------------------------------------------- answers

def test_one_line_per_image_in_the_documented_format(model, good, tmp_path):
    png = tmp_path / "seven.png"
    draw(ink=200, paper=20).save(png)                           # light on dark
    result = run(good, png, "--model", model)
    assert result.returncode == 0, result.stderr
    assert [ANSWER.match(line)["image"] for line in lines(result.stdout)] == [str(good), str(png)]


def test_the_network_sees_what_imaging_makes(model, good):
    """The digit and probability printed are the model's on ``imaging.load_digit``'s 28x28; an
    untrained network is not sure, and says so."""
    p = sn.load(model).predict(imaging.load_digit(good).reshape(1, 784))[0]
    answer = ANSWER.match(lines(run(good, "--model", model).stdout)[0])
    assert int(answer["digit"]) == int(p.argmax())
    assert float(answer["p"]) == pytest.approx(float(p.max()), abs=0.006)
    assert answer["doubt"] == ", not sure"


def test_a_convolutional_model_reads_too(good, tmp_path):
    """Once a TypeError: the front end reshaped the image to Conv2D's input_shape (1, None,
    None)."""
    net = sn.Network([sn.Conv2D(1, 4, 3), sn.MaxPool2D(2), sn.ReLU(), sn.Flatten(),
                      sn.Dense(4 * 13 * 13, 10), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), seed=0)
    path = tmp_path / "cnn.npz"
    sn.save(net, path)
    result = run(good, "--model", path)
    assert result.returncode == 0, result.stderr
    assert ANSWER.match(lines(result.stdout)[0])


def test_a_32_bit_integer_tiff_is_read_not_called_blank(model, tmp_path):
    """Its 8-bit values were divided by 65535: "no ink found (blank image)"."""
    path = tmp_path / "seven.tif"
    draw().convert("I").save(path)
    result = run(path, "--model", model)
    assert result.returncode == 0, result.stderr
    assert ANSWER.match(lines(result.stdout)[0])


# ---------------------------------------------------------------- bad images

def test_each_bad_input_gets_one_line_naming_it(model, bad_files):
    for path, word in bad_files.items():
        result = run(path, "--model", model)
        assert result.returncode == 1, path
        assert result.stdout == b""
        [line] = lines(result.stderr)
        assert line.startswith(f"error: {path}: ") and word in line, line


def test_bad_inputs_do_not_stop_the_good_ones(model, bad_files, good):
    result = run(*bad_files, good, *bad_files, "--model", model)
    assert result.returncode == 1
    assert [ANSWER.match(line)["image"] for line in lines(result.stdout)] == [str(good)]
    errors = lines(result.stderr)
    assert len(errors) == 2 * len(bad_files)
    for line, path in zip(errors, [*bad_files, *bad_files]):
        assert line.startswith(f"error: {path}: ")


@pytest.mark.parametrize("raw, shown", [
    (b"latin-\xe9.png", "latin-\\udce9.png"),                      # not valid UTF-8
    (b"two\nlines.png", "two\\nlines.png"),
    (b"clear\x1b[2J\x1b[H.png", "clear\\x1b[2J\\x1b[H.png"),      # terminal escapes
    (b"csi\xc2\x9b31m.png", "csi\\x9b31m.png"),                   # C1 control, valid UTF-8
])
def test_hostile_file_names_are_printed_escaped_and_the_others_still_read(model, good, tmp_path,
                                                                          raw, shown):
    """A name that was not UTF-8 crashed the front end (UnicodeEncodeError, the other images
    unread); a newline or an escape sequence went to the terminal raw."""
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, raw), "wb") as f:
        f.write(good.read_bytes())
    missing = os.path.join(folder, b"missing-" + raw)
    result = run(os.path.join(folder, raw), missing, good, "--model", model)
    assert result.returncode == 1
    out, err = lines(result.stdout), lines(result.stderr)
    assert [ANSWER.match(line)["image"] for line in out] == [f"{tmp_path}/{shown}", str(good)]
    assert err == [f"error: {tmp_path}/missing-{shown}: file not found"]
    assert b"\x1b" not in result.stdout + result.stderr


def test_names_a_terminal_cannot_encode_are_escaped(model, good, tmp_path):
    """With an ASCII terminal a name like "é.png" raised UnicodeEncodeError."""
    path = tmp_path / "\u00e9t\u00e9.png"
    path.write_bytes(good.read_bytes())
    result = run(path, "--model", model, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert ANSWER.match(result.stdout.decode("ascii").strip())["image"] == \
        f"{tmp_path}/\\xe9t\\xe9.png"


# ---------------------------------------------------------------- --show

def test_show_saves_what_the_network_saw(model, good, tmp_path):
    preview = tmp_path / "seen.png"
    result = run(good, "--model", model, "--show", preview)
    assert result.returncode == 0, result.stderr
    with Image.open(preview) as img:
        assert img.format == "PNG" and img.width > 280


def test_show_keeps_thumbnails_not_photos(model, tmp_path, monkeypatch):
    """Every full-size photo was kept until the end for the sheet (a float32 copy each: 36 MB for
    a 3000x3000 photo). What reaches the sheet must be at most 420x280 bytes an image."""
    paths = []
    for i in range(3):
        path = tmp_path / f"big{i}.png"
        draw(size=(1800, 1500), at=(600, 400), height=700, width=60).save(path)
        paths.append(path)
    kept = []
    monkeypatch.setattr(front_end.preview, "save_preview",
                        lambda path, originals, digits, captions: kept.extend(originals))
    with pytest.raises(SystemExit) as exit_:
        front_end.main([*map(str, paths), "--model", str(model), "--show",
                        str(tmp_path / "s.png")])
    assert exit_.value.code == 0
    assert len(kept) == 3
    assert all(np.asarray(o).nbytes <= 420 * 280 for o in kept)


# ---------------------------------------------------------------- flags and models

@pytest.mark.parametrize("flags, words", [
    (["--model", ""], "error: --model: empty path"),
    (["--model", "."], "error: --model: . is a folder, not a model file"),
    (["--show", ""], "error: --show: empty path"),
    (["--show", "nowhere/seen.png"], "error: --show: nowhere/seen.png: folder"),
    (["--data", "no-such-folder"], "error: --data: no-such-folder is not a folder"),
])
def test_bad_flags_are_one_line_and_exit_status_2(good, tmp_path, flags, words):
    """``--model ""`` used to mean the default model: a silent training run of minutes."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SCRATCHNET_DATA": str(tmp_path / "none")}
    result = run(good, *flags, env=env)
    assert result.returncode == 2 and result.stdout == b""
    [line] = lines(result.stderr)
    assert line.startswith(words), line
    assert not (tmp_path / "cache").exists()                     # nothing trained


@pytest.mark.parametrize("content", [None, b"not a model", b"PK\x03\x04 cut short"])
def test_a_bad_model_file_is_one_line_error(good, tmp_path, content):
    path = tmp_path / "model.npz"
    if content is not None:
        path.write_bytes(content)
    result = run(good, "--model", path)
    assert result.returncode == 1 and result.stdout == b""
    [line] = lines(result.stderr)
    assert line.startswith(f"error: {path}: ")


def test_a_model_that_is_not_a_digit_reader_is_refused(good, tmp_path):
    path = tmp_path / "three.npz"
    sn.save(sn.Network([sn.Dense(784, 3), sn.Softmax()], loss=sn.CategoricalCrossEntropy()),
            path)
    result = run(good, "--model", path)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().strip() == \
        f"error: {path}: the network has 3 outputs, a digit reader needs 10"


# ---------------------------------------------------------------- the sample photo

def test_make_sample_writes_the_same_photo_for_the_same_seed(tmp_path):
    command = [sys.executable, str(EXAMPLES / "make_sample.py"), "--digit", "7", "--seed", "5"]
    for name in ("a.jpg", "b.jpg"):
        result = subprocess.run(command + ["--out", str(tmp_path / name)], capture_output=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.jpg", "b.jpg"]       # no temporary left
    with Image.open(tmp_path / "a.jpg") as img:
        assert img.format == "JPEG" and img.size == (400, 300)


@pytest.mark.parametrize("flags, words", [(["--seed", "-1"], "error: --seed: must be >= 0"),
                                          (["--digit", "9"], "error: --digit: invalid choice"),
                                          (["--out", "."], "error: --out: '.' is not a file")])
def test_make_sample_checks_its_flags(flags, words):
    result = subprocess.run([sys.executable, str(EXAMPLES / "make_sample.py"), *flags],
                            capture_output=True, timeout=120)
    assert result.returncode == 2 and lines(result.stderr)[0].startswith(words)
