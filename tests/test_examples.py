"""The training examples, run as a user runs them: short runs on a few hundred images (they need
MNIST and are skipped when $SCRATCHNET_DATA is unset), every flag checked at the boundary (one
line, exit status 2), and no example importing another."""
import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import scratchnet as sn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TRAINING = ["nielsen.py", "deep_perceptron.py", "adam_perceptron.py", "is_three.py",
            "convnet.py", "tiny_cnn.py"]
needs_mnist = pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"),
                                 reason="needs MNIST in $SCRATCHNET_DATA")


def run(script, *args, cwd=None, env=None):
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})})


@needs_mnist
def test_deep_perceptron_one_epoch_saves_plots_and_writes_results(tmp_path):
    model, plot, results = tmp_path / "dp.npz", tmp_path / "dp.png", tmp_path / "dp.json"
    result = run("deep_perceptron.py", "--epochs", 1, "--limit", 500, "--save", model,
                 "--plot", plot, "--results", results)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^Epoch 0: loss \d\.\d{4} val accuracy 0\.\d{4} lr 0\.03 \([\d.]+ s\)$",
                     result.stdout, re.M), result.stdout
    accuracy = float(re.search(r"^test accuracy: (0\.\d{4})$", result.stdout, re.M)[1])
    net = sn.load(model)
    assert net.info["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert json.loads(results.read_text())["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert [layer.n_out for layer in net.layers if isinstance(layer, sn.Dense)] == \
        [150, 50, 100, 10]
    if importlib.util.find_spec("matplotlib") is not None:     # --plot needs it
        with Image.open(plot) as img:
            assert img.format == "PNG"


@needs_mnist
def test_deep_perceptron_augmented_epochs_run():
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
    result = run(script, *args, "--limit", 300, "--results", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^Epoch 0: ", result.stdout, re.M), result.stdout
    assert re.search(extra, result.stdout, re.M), result.stdout
    if script != "nielsen.py":
        assert re.search(r"^test accuracy: [01]\.\d{4}$", result.stdout, re.M), result.stdout
    figures = json.loads((tmp_path / "r.json").read_text())
    assert 0 <= figures["test_accuracy"] <= 1 and figures["epochs"] == int(args[1])


def test_an_offline_machine_without_mnist_gets_a_one_line_error(tmp_path):
    result = run("nielsen.py", "--data", tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(tmp_path) in result.stderr


# ---- flags: one line, `error: --flag: reason`, exit status 2 ------------------------------------

BAD_FLAGS = [
    ("--epochs", "-1"), ("--epochs", "two"), ("--seed", "-3"), ("--limit", "0"),
    ("--eta", "nan"), ("--eta", "inf"), ("--eta", "0"), ("--eta", "-0.1"), ("--eta", "fast"),
    ("--batch-size", "0"), ("--batch-size", "1.5"), ("--device", "gpu"), ("--dtype", "int8"),
]
EXTRA_BAD_FLAGS = {
    "nielsen.py": [("--hidden", "0"), ("--lmbda", "-1"), ("--lmbda", "nan")],
    "deep_perceptron.py": [("--lmbda", "-1"), ("--momentum", "1.0"), ("--momentum", "-0.5")],
    "adam_perceptron.py": [("--hidden", "0")],
    "convnet.py": [("--dropout", "1.0"), ("--final-epochs", "-1"), ("--final-eta", "0")],
    "is_three.py": [("--dropout", "-0.1")],
    "tiny_cnn.py": [("--momentum", "nan")],
}


@pytest.mark.parametrize("script, flag, value", [
    (script, flag, value) for script in TRAINING
    for flag, value in BAD_FLAGS + EXTRA_BAD_FLAGS[script]])
def test_a_bad_flag_is_one_line_naming_it_and_exit_status_2(script, flag, value):
    result = run(script, flag, value)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}: "), result.stderr


@pytest.mark.parametrize("script", TRAINING)
def test_an_unknown_device_in_the_environment_is_named(script):
    result = run(script, env={"SCRATCHNET_DEVICE": "tpu"})
    assert result.returncode == 2
    assert result.stderr.strip() == "error: SCRATCHNET_DEVICE: must be one of cpu, cuda, got 'tpu'"


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy_is_named():
    result = run("nielsen.py", "--device", "cuda")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --device: ") and "CuPy" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@needs_mnist
def test_an_absurd_rate_is_reported_not_hidden():
    result = run("nielsen.py", "--epochs", 2, "--limit", 500, "--eta", "1e30",
                 "--cost", "cross-entropy")
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert (result.returncode == 1 and lines[-1].startswith("error: training diverged")) or \
        (result.returncode == 0 and lines[0].startswith("warning: ")), result.stderr


@needs_mnist
@pytest.mark.parametrize("script, flags", [
    ("nielsen.py", ("--eta", "1e6")),                                  # sigmoid + quadratic
    ("adam_perceptron.py", ("--eta", "1e3")),                          # Adam
])
def test_an_absurd_rate_stuck_at_chance_gets_a_warning(script, flags):
    result = run(script, "--epochs", 2, "--limit", 500, *flags)
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    diverged = [line for line in result.stderr.splitlines() if "diverged" in line]
    assert warnings or diverged, result.stderr


# ---- the examples read like the book: none imports another ------------------------------------

@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_no_example_imports_another(script):
    examples = {p.stem for p in EXAMPLES.glob("*.py")} - {"common", "reader"}
    tree = ast.parse((EXAMPLES / script).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & examples, f"{script} imports {imported & examples}"
