"""benchmarks/gpu_check.sh without a GPU: the one-line refusal, the CUDA version read from
nvidia-smi and the CuPy wheel chosen from it, steps killed at their limit, the example
table, and the files a run leaves in OUTDIR."""
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import check_steps  # noqa: E402
import gpu_check  # noqa: E402
import gpu_machine  # noqa: E402
from check_steps import Step, run_step  # noqa: E402

H200 = ("NVIDIA H200, 580.159.03\n",
        "| NVIDIA-SMI 580.159.03    Driver Version: 580.159.03    CUDA Version: 13.0     |\n")


def fake_nvidia_smi(folder, query, banner, status=0):
    """An nvidia-smi that prints ``query`` for --query-gpu and ``banner`` otherwise."""
    folder = Path(folder)
    (folder / "query.txt").write_text(query)
    (folder / "banner.txt").write_text(banner)
    path = folder / "nvidia-smi"
    path.write_text(f"#!/bin/sh\nif [ \"$1\" = --query-gpu=name,driver_version ]; then\n"
                    f"  cat '{folder}/query.txt'\nelse\n  cat '{folder}/banner.txt'\nfi\n"
                    f"exit {status}\n")
    path.chmod(0o755)
    return str(path)


def gpu_check_sh(*args):
    return subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("smi", ["missing", "driver down"])
def test_no_gpu_is_one_line_and_a_nonzero_status(tmp_path, smi):
    down = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
            "Make sure that the latest NVIDIA driver is installed and running.\n")
    nvidia_smi = (tmp_path / "no-such-nvidia-smi" if smi == "missing" else
                  fake_nvidia_smi(tmp_path, down, down, status=9))
    out = tmp_path / "out"
    result = gpu_check_sh(out, "--nvidia-smi", nvidia_smi, "--libcuda", "libno-such-cuda.so.1")
    assert result.returncode == 3 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no NVIDIA GPU"), result.stderr
    assert ("not found" if smi == "missing" else "couldn't communicate") in lines[0]
    assert "libno-such-cuda.so.1 not loadable" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("query, banner, gpus, driver, major, wheel", [
    (*H200, ["NVIDIA H200"], "580.159.03", 13, "cupy-cuda13x[ctk]>=14"),
    ("NVIDIA A100-SXM4-80GB, 535.104.05\n", "| Driver Version: 535.104.05   CUDA Version: 12.2 |",
     ["NVIDIA A100-SXM4-80GB"], "535.104.05", 12, "cupy-cuda12x[ctk]>=14"),
    ("Tesla V100-SXM2-16GB, 470.82.01\nTesla V100-SXM2-16GB, 470.82.01\n",
     "| CUDA Version: 11.4 |", ["Tesla V100-SXM2-16GB"] * 2, "470.82.01", 11,
     "cupy-cuda11x>=13"),
    ("NVIDIA L4, 550.54.15\n", "an nvidia-smi that prints no CUDA version", ["NVIDIA L4"],
     "550.54.15", 12, "cupy-cuda12x[ctk]>=14"),                     # from the driver's number
    ("NVIDIA B300, 610.10\n", "| CUDA Version: 14.1 |", ["NVIDIA B300"], "610.10", 14,
     "cupy-cuda13x[ctk]>=14"),                                      # newer than any wheel
    ("Tesla K80, 418.67\n", "| CUDA Version: 10.1 |", ["Tesla K80"], "418.67", 10, None),
])
def test_the_cuda_major_version_and_the_wheel_from_nvidia_smi(tmp_path, query, banner, gpus,
                                                               driver, major, wheel):
    probe = gpu_machine.probe_gpu(fake_nvidia_smi(tmp_path, query, banner),
                                  libcuda="libno-such-cuda.so.1")
    assert probe == {"gpus": gpus, "driver": driver, "cuda_major": major, "why": None}
    assert gpu_machine.cupy_wheel(probe["cuda_major"]) == wheel


def test_no_wheel_without_a_cuda_version():
    assert gpu_machine.cupy_wheel(None) is None
    assert gpu_machine.driver_cuda_major("not a version") is None
    assert gpu_machine.driver_cuda_major("440.33.01") is None


def test_the_registry_checked_is_the_proxy_when_there_is_one(monkeypatch):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://mirror.example:8080/simple")
    assert gpu_machine.index_host() == ("mirror.example", 8080)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert gpu_machine.index_host() == ("proxy.example", 3128)


# ---- steps ---------------------------------------------------------------------------------

def alive(pid):
    """True if the process runs (a zombie, dead but not yet reaped, does not)."""
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_step_past_its_limit_is_killed_with_its_children(tmp_path):
    code = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print('child', child.pid, flush=True)\n"
            "time.sleep(60)\n")
    with open(tmp_path / "log", "w") as log:
        start = time.monotonic()
        o = run_step(Step("sleeper", [sys.executable, "-c", code], timeout=2), log,
                     deadline=time.monotonic() + 100)
    assert o.status == "timed out" and time.monotonic() - start < 15, o
    child = int(o.tail.split()[1])
    for _ in range(50):                    # SIGTERM reached it; give it a moment to go
        if not alive(child):
            break
        time.sleep(0.1)
    assert not alive(child)
    assert "===== sleeper: timed out" in (tmp_path / "log").read_text()


def test_a_failed_step_says_its_status_and_last_line_and_logs_its_output(tmp_path):
    with open(tmp_path / "log", "w") as log:
        o = run_step(Step("boom", [sys.executable, "-c", "print('partial'); print('broken: x');"
                                   "raise SystemExit(4)"], 30), log, time.monotonic() + 100)
    assert o.status == "failed" and o.detail == "exit status 4: broken: x"
    assert "partial\nbroken: x\n" in (tmp_path / "log").read_text()


def test_a_step_the_budget_cannot_fit_is_skipped_not_started(tmp_path):
    with open(tmp_path / "log", "w") as log:
        o = run_step(Step("late", ["no-such-command"], 60), log, time.monotonic() + 5)
    assert o.status == "skipped" and "budget" in o.detail


def test_pytest_counts_read_the_last_summary_line():
    text = "tests/x.py .F\n= 1 failed, 950 passed, 30 skipped, 2 errors in 201.5s =\n"
    assert gpu_check.pytest_counts(text) == {"failed": 1, "passed": 950, "skipped": 30,
                                             "error": 2}
    assert gpu_check.pytest_counts("ERROR: SCRATCHNET_REQUIRE_CUDA is set, but ...") == {}


# ---- the examples ----------------------------------------------------------------------------

def test_the_example_table_names_only_examples_that_exist():
    scripts = {p.name for p in (BENCHMARKS.parent / "examples").glob("*.py")}
    assert set(gpu_check.RUNS) | set(gpu_check.NOT_RUN) <= scripts
    labels = [label for label, _, _ in gpu_check.example_runs(BENCHMARKS.parent / "examples")]
    assert labels.index("deep_perceptron.py") < labels.index("front_end.py")   # its model
    assert not set(labels) & set(gpu_check.NOT_RUN)


def test_an_example_the_table_does_not_know_gets_the_short_run(tmp_path):
    for name in ("common.py", "nielsen.py", "zebra.py"):
        (tmp_path / name).write_text("")
    runs = gpu_check.example_runs(tmp_path)
    assert [(label, run.args, run.flags) for label, _, run in runs] == [
        ("nielsen.py", gpu_check.SHORT, True), ("zebra.py", gpu_check.SHORT, True)]


# ---- what a run leaves in OUTDIR -------------------------------------------------------------

def test_the_report_keeps_every_figure_and_tabulates_them(tmp_path):
    report = {"started": "2026-12-01T10:00:00", "example_args": "--epochs 1",
              "machine": {"gpus": ["NVIDIA H200"], "driver": "580.159.03", "cuda_major": 13,
                          "cupy": "14.2.0", "torch": "2.11.0+cu130"},
              "steps": [check_steps.Outcome("tests", "passed", 200.0, "950 passed")._asdict()],
              "bench": {"repeats": 2, "rows": [{"sizes": [784, 30, 10], "batch": 10, "seconds": {
                  "scratchnet-cuda": 2.0, "torch-cuda": 5.0, "scratchnet-cpu": 0.5}}]},
              "examples": {"nielsen.py": {"cuda": {"test_accuracy": 0.9}, "cpu": {
                  "test_accuracy": 0.925}}, "convnet.py": {"cuda": {"test_accuracy": 0.97}}}}
    check_steps.write_report(tmp_path, report)
    assert json.loads((tmp_path / "results.json").read_text()) == report
    md = (tmp_path / "results.md").read_text()
    assert "| NVIDIA H200 | 580.159.03 (13) |" in md
    assert "| tests | passed | 200.0 | 950 passed |" in md
    assert "| [784, 30, 10] | 10 | 2.000 | 5.000 | 0.500 | 2.50 | 0.25 |" in md
    assert "| nielsen.py | 0.9000 | 0.9250 | -0.0250 |" in md
    assert "| convnet.py | 0.9700 |  |  |" in md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]
    assert_tables_are_rectangular(md)


def assert_tables_are_rectangular(md):
    """Every row of each markdown table has as many cells as the table's header."""
    for table in md.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("| ")]
        assert len({line.count(" | ") for line in rows}) <= 1, table


def test_a_cpu_only_benchmark_gets_no_ratio_columns():
    md = check_steps.markdown({"bench": {"repeats": 1, "rows": [
        {"sizes": [784, 30, 10], "batch": 10, "seconds": {"scratchnet-cpu": 0.5}}]}})
    assert "| network | batch | scratchnet-cpu |\n" in md and "/ scratchnet-cuda" not in md
    assert_tables_are_rectangular(md)


def test_mnist_missing_on_a_gpu_machine_is_one_line_naming_data(tmp_path):
    result = gpu_check_sh(tmp_path / "out", "--data", tmp_path, "--nvidia-smi",
                          fake_nvidia_smi(tmp_path, *H200))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "--data DIR" in lines[0] and str(tmp_path) in lines[0]


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed: this run would check it for real")
def test_a_gpu_without_cupy_fails_loudly_and_leaves_its_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    status = gpu_check.main([str(out), "--nvidia-smi", fake_nvidia_smi(tmp_path, *H200),
                             "--no-install", "--no-mnist"])
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.log", "results.json",
                                                    "results.md"]
    report = json.loads((out / "results.json").read_text())
    steps = {s["name"]: (s["status"], s["detail"]) for s in report["steps"]}
    assert steps["install CuPy"] == ("skipped", "--no-install: install cupy-cuda13x[ctk]>=14 "
                                                "yourself (or carry its wheels)")
    assert steps["CuPy on the GPU"][0] == "failed" and "cupy" in steps["CuPy on the GPU"][1]
    assert [steps[s][0] for s in ("tests", "bench", "examples")] == ["skipped"] * 3
    assert report["exit_status"] == 1 and report["machine"]["numpy"]
    assert "| CuPy on the GPU | failed |" in (out / "results.md").read_text()
