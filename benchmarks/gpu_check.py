"""Check scratchnet's CuPy path on this machine's GPU in one command, within a time budget.

    bash benchmarks/gpu_check.sh OUTDIR [--data MNIST_DIR] [--budget 470]

from a clone (no build step: the project runs with PYTHONPATH set to the clone). In order:

  1. the GPU: nvidia-smi, else the CUDA driver. Without one: one line, exit status 3.
  2. MNIST: --data DIR, else $SCRATCHNET_DATA, else the user cache; nothing is downloaded
     (a GPU machine may have no network). Missing: one line, exit status 2.
  3. CuPy and PyTorch as this Python has them. Only where CuPy is missing and a package
     registry answers, pip installs the wheel for the driver's CUDA major version.
     CuPy unable to compute on the GPU: every later step is skipped, exit status 1.
  4. the whole test suite, SCRATCHNET_REQUIRE_CUDA=1: each backend-parametrised test runs on
     cupy too, and a cupy backend that cannot run is an error, not a skip (on --jobs
     pytest-xdist workers where it is installed; a test over 120 s fails if pytest-timeout is);
  5. benchmarks/bench_devices.py (scratchnet-cuda, PyTorch CUDA, scratchnet-cpu);
  6. one short run of every example on the GPU (examples/*.py; RUNS below says how each is
     run), then again on the CPU, for their test accuracies side by side.

Each step has a time limit, and the whole run a budget (--budget seconds, default 470: under
8 minutes); a step the budget cannot fit is skipped. At the end: a table (step, status,
seconds) on stdout, and in OUTDIR: gpu_check.log (every step's output), results.json (all
outcomes and figures) and results.md (the tables, for benchmarks/RESULTS.md). Exit status 0
when every step passed, 1 otherwise.
"""
import argparse
import datetime
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_steps  # noqa: E402
import gpu_machine  # noqa: E402
from check_steps import Step, run_step, skipped  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from scratchnet.datasets import MNIST, TRAIN_IMAGES, locate  # noqa: E402
from scratchnet.idx import IDXError  # noqa: E402

SHORT = ("--epochs", "1", "--limit", "2000")      # an example's short run
LIMITS = {"tests": 240, "bench": 150, "example": 60, "install": 300}   # seconds per step
MIN_BUDGET = 60


class Run(NamedTuple):
    """How an example runs: ``args`` ({work}: the run's scratch folder, {repo}: the clone),
    plus --device/--data when ``flags``; ``results`` adds --results FILE (its figures, test
    accuracy among them) and a second run on the CPU to compare with."""
    args: tuple = SHORT
    flags: bool = True
    results: bool = True
    label: str = ""


# Every example in examples/ runs with SHORT and the common flags unless listed here, in
# this order (front_end reads the model deep_perceptron saves).
RUNS = {
    "nielsen.py": [Run()],
    "deep_perceptron.py": [Run(SHORT + ("--save", "{work}/deep_perceptron.npz"))],
    "adam_perceptron.py": [Run()],
    "is_three.py": [Run()],
    "convnet.py": [Run()],
    "tiny_cnn.py": [Run(), Run(SHORT + ("--design", "better"), label="tiny_cnn.py better")],
    "search_hyperparameters.py": [Run(("--stage", "1", "--etas", "0.1", "--lmbdas", "0",
                                       "--batch-sizes", "64", "--epochs", "1",
                                       "--small-images", "2000", "--limit", "2000"),
                                      results=False)],
    # no --device flag: the device comes from $SCRATCHNET_DEVICE, as sn.load reads it
    "front_end.py": [Run(("{repo}/examples/sample.jpg", "--model", "{work}/deep_perceptron.npz"),
                         flags=False, results=False)],
    # every reference system for 1 epoch on 500 images, each a process of its own that finds
    # MNIST and the device in the environment: last, the others have run each of them
    "reproduce.py": [Run(("--quick",), flags=False, results=False)],
}
NOT_RUN = {
    "common.py": "helpers the examples import, not an example",
    "reader.py": "helpers the examples import, not an example",
    "draw.py": "a web server; the reader it serves is front_end.py's, run above",
    "make_sample.py": "draws examples/sample.jpg: no network, nothing on a device",
}


def example_runs(folder):
    """[(label, script, Run)] for every examples/*.py: RUNS' order, then any example RUNS
    does not know yet (with the short default), none for NOT_RUN."""
    scripts = sorted(p.name for p in Path(folder).glob("*.py"))
    ordered = [s for s in RUNS if s in scripts] + [s for s in scripts
                                                   if s not in RUNS and s not in NOT_RUN]
    return [(run.label or script, script, run) for script in ordered
            for run in RUNS.get(script, [Run()])]


def pytest_counts(text):
    """{"passed": n, "failed": n, ...} from pytest's last summary line."""
    lines = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return {kind.rstrip("s"): int(n) for n, kind in
            re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)",
                       lines[-1] if lines else "")}


def fail_line(message, status):
    print(f"gpu_check: {message}", file=sys.stderr)
    return status


def parse_args(argv):
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("outdir", help="folder for gpu_check.log, results.json, results.md")
    p.add_argument("--data", help="MNIST folder (default: $SCRATCHNET_DATA, the user cache)")
    p.add_argument("--no-mnist", action="store_true",
                   help="no MNIST here: run the tests only")
    p.add_argument("--budget", type=float, default=470, help="seconds for the whole run")
    p.add_argument("--skip", action="append", default=[],
                   choices=("tests", "bench", "examples", "cpu"), help="leave out a step")
    p.add_argument("--jobs", type=int, default=4 if importlib.util.find_spec("xdist") else 1,
                   help="pytest-xdist workers for the test suite, each test file in one worker "
                        "(default: 4 where pytest-xdist is installed; 1: serial)")
    p.add_argument("--no-install", action="store_true", help="never pip install CuPy")
    p.add_argument("--nvidia-smi", default="nvidia-smi", help="path of nvidia-smi")
    p.add_argument("--libcuda", default="libcuda.so.1", help="the CUDA driver library")
    p.error = lambda message: p.exit(2, f"gpu_check: error: {message}\n")
    args = p.parse_args(argv)
    if not MIN_BUDGET <= args.budget < float("inf"):
        p.error(f"--budget: at least {MIN_BUDGET} seconds, got {args.budget:g}")
    if args.jobs < 1:
        p.error(f"--jobs: at least 1, got {args.jobs}")
    return args


def find_mnist(args):
    """The folder of the four MNIST files, never downloading; (None, why) if missing."""
    try:
        return locate(MNIST, args.data, download=False)[TRAIN_IMAGES].parent, None
    except (IDXError, OSError) as e:
        return None, str(e)


def check_cupy(report, log, deadline, env, args):
    """Outcomes of finding CuPy (and installing it, only where it is missing and a registry
    answers); True when CuPy computes on the GPU."""
    start = time.monotonic()
    stack = gpu_machine.python_stack(env=env)
    outcomes = []
    wheel = gpu_machine.cupy_wheel(report["machine"]["cuda_major"])
    if stack.get("cupy_missing"):
        why = ("--no-install" if args.no_install else
               f"no CuPy wheel for CUDA {report['machine']['cuda_major']}" if wheel is None else
               "no package registry answers" if not gpu_machine.registry_reachable() else None)
        if why:
            outcomes.append(skipped("install CuPy", f"{why}: install {wheel or 'CuPy'} yourself "
                                                    "(or carry its wheels)"))
        else:
            pip = [sys.executable, "-m", "pip", "install", "--retries", "1", "--timeout", "30"]
            user = [] if sys.prefix != sys.base_prefix else ["--user"]   # not in a venv
            print(f"  CuPy is missing: installing {wheel} for {sys.executable} "
                  f"{'(--user)' if user else f'into {sys.prefix}'}", flush=True)
            outcomes.append(run_step(Step("install CuPy", pip + user + [wheel],
                                          LIMITS["install"], env), log, deadline))
            stack = gpu_machine.python_stack(env=env)
    report["machine"].update(stack)
    ok = "cupy_error" not in stack
    outcomes.append(check_steps.Outcome(
        "CuPy on the GPU", "passed" if ok else "failed", round(time.monotonic() - start, 1),
        f"CuPy {stack.get('cupy')}, PyTorch {stack.get('torch')}" if ok else
        f"{stack['cupy_error']} (the wheel for this driver: {wheel})"))
    return outcomes, ok


def run_examples(report, log, deadline, env, args, work, data):
    """One short run of every example on the GPU, then the CPU runs to compare with."""
    outcomes, figures = [], report.setdefault("examples", {})
    runs = example_runs(REPO / "examples")
    for device in ("cuda", "cpu"):
        if device == "cpu" and "cpu" in args.skip:
            break
        for label, script, run in runs:
            if device == "cpu" and not run.results:
                continue
            argv = [sys.executable, REPO / "examples" / script] + [
                a.format(work=work, repo=REPO) for a in run.args]
            result = Path(work) / f"{label.replace(' ', '-')}.{device}.json"
            if run.flags:
                argv += ["--device", device, "--data", data]
            if run.results:
                argv += ["--results", result]
            name = f"{label} ({device})"
            outcome = run_step(Step(name, argv, LIMITS["example"],
                                    {**env, "SCRATCHNET_DEVICE": device}), log, deadline)
            if run.results and result.is_file():
                figures.setdefault(label, {})[device] = json.loads(result.read_text())
                acc = figures[label][device].get("test_accuracy")
                if not outcome.detail and acc is not None:
                    outcome = outcome._replace(detail=f"test accuracy {acc:.4f}")
            elif outcome.status == "passed":
                last = [line for line in outcome.tail.splitlines() if line.strip()]
                outcome = outcome._replace(detail=last[-1][:100] if last else "")
            outcomes.append(outcome)
    return outcomes


def main(argv=None):
    args = parse_args(argv)
    gpu = gpu_machine.probe_gpu(args.nvidia_smi, args.libcuda)
    if gpu["why"]:
        return fail_line(f"no NVIDIA GPU on this machine ({gpu['why']}): nothing checked", 3)
    data, why = (None, None) if args.no_mnist else find_mnist(args)
    if why:
        return fail_line(f"{why}. Nothing is downloaded here: copy the four MNIST files to a "
                         "folder and pass --data DIR (or --no-mnist for the tests alone)", 2)
    outdir = Path(args.outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return fail_line(f"OUTDIR {outdir}: {e.strerror or e}", 2)
    deadline = time.monotonic() + args.budget
    work = tempfile.mkdtemp(prefix="gpu_check-")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_CACHE_HOME": os.path.join(work, "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO)] + [p for p in [os.environ.get(
               "PYTHONPATH")] if p])}
    env.pop("SCRATCHNET_DEVICE", None)     # each step names its device; tests expect none set
    if data:
        env["SCRATCHNET_DATA"] = str(data)
    report = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
              "budget_s": args.budget, "mnist": str(data) if data else None,
              "example_args": " ".join(SHORT),
              "machine": {**gpu, "why": None}, "steps": []}
    print(f"gpu_check: {', '.join(gpu['gpus'])}, driver {gpu['driver']} (CUDA "
          f"{gpu['cuda_major']}); MNIST {data or 'not used'}; budget {args.budget:.0f} s; "
          f"log in {outdir / 'gpu_check.log'}", flush=True)
    try:
        with open(outdir / "gpu_check.log", "w", encoding="utf-8") as log:
            status = run_all(report, log, deadline, env, args, work, data, outdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return status


def run_all(report, log, deadline, env, args, work, data, outdir):
    """Steps 3 to 6, the report written after each; the exit status."""
    outcomes = report["steps"]

    def record(new):
        for o in new:
            outcomes.append(o._asdict())
            print(f"  {o.name}: {o.status} ({o.seconds:.0f} s) {o.detail}"[:200], flush=True)
        check_steps.write_report(outdir, report)

    found, cupy_ok = check_cupy(report, log, deadline, env, args)
    record(found)
    later = ["tests", "bench", "examples"]
    if not cupy_ok:
        record([skipped(s, "CuPy cannot compute on the GPU") for s in later])
    else:
        if "tests" in args.skip:
            record([skipped("tests", "--skip tests")])
        else:
            pytest = [sys.executable, "-m", "pytest", "-q", "-rfE", "--durations=15",
                      "-p", "no:cacheprovider"]
            if args.jobs > 1 and importlib.util.find_spec("xdist"):
                pytest += ["-n", str(args.jobs), "--dist", "loadfile"]
            if importlib.util.find_spec("pytest_timeout"):
                pytest += ["--timeout", "120"]
            o = run_step(Step("tests", pytest + ["tests"], LIMITS["tests"],
                              {**env, "SCRATCHNET_REQUIRE_CUDA": "1"}), log, deadline, REPO)
            counts = pytest_counts(o.tail)
            report["tests"] = counts
            record([o._replace(detail=", ".join(f"{n} {k}" for k, n in counts.items())
                               or o.detail)])
        if "bench" in args.skip or not data:
            record([skipped("bench", "--skip bench" if data else "--no-mnist")])
        else:
            result = Path(work) / "bench.json"
            o = run_step(Step("bench_devices", [sys.executable, REPO / "benchmarks" /
                                                "bench_devices.py", "--data", data, "--json",
                                                result], LIMITS["bench"], env), log, deadline)
            report["bench"] = json.loads(result.read_text()) if result.is_file() else None
            record([o])
        if "examples" in args.skip or not data:
            record([skipped("examples", "--skip examples" if data else "--no-mnist")])
        else:
            record(run_examples(report, log, deadline, env, args, work, data))
    failed = [o for o in outcomes if o["status"] in ("failed", "timed out")
              or o["status"] == "skipped" and "budget" in o["detail"]]
    report["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    report["exit_status"] = 1 if failed or not cupy_ok else 0
    check_steps.write_report(outdir, report)
    print("\n" + check_steps.summary_table([check_steps.Outcome(**o) for o in outcomes]))
    print(f"\ngpu_check: {'FAILED: ' + str(len(failed)) + ' step(s)' if failed else 'all passed'}"
          f"; details in {outdir}/", flush=True)
    return report["exit_status"]


if __name__ == "__main__":
    sys.exit(main())
