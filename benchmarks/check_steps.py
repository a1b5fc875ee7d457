"""The steps of gpu_check.py: commands run under a time limit, and the report they leave.

A step is a command. ``run_step`` runs it in a process group of its own, appends its output
to the log as it comes, and kills the whole group (the examples and pytest start children)
at the step's limit or at the run's deadline, whichever comes first. Its ``Outcome``:
passed (exit status 0), failed, timed out, or skipped (with the reason). ``write_report``
keeps every outcome and figure in OUTDIR/results.json and the tables in OUTDIR/results.md.
"""
import collections
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import NamedTuple, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from scratchnet.files import atomic_write  # noqa: E402

MIN_SECONDS = 10      # a step starts only if this much of the budget is left
TAIL_LINES = 40       # lines of a step's output kept for the report of a failure


class Step(NamedTuple):
    name: str
    argv: list
    timeout: float                  # seconds; the run's deadline may cut it shorter
    env: Optional[dict] = None      # the whole environment of the command (None: ours)


class Outcome(NamedTuple):
    name: str
    status: str                     # "passed", "failed", "timed out" or "skipped"
    seconds: float
    detail: str = ""                # one line: a figure, or why it failed or was skipped
    tail: str = ""                  # the last TAIL_LINES lines of its output


def skipped(name, why):
    return Outcome(name, "skipped", 0.0, why)


def _kill_group(proc):
    """SIGTERM to the step's process group, SIGKILL to what is left 5 s later."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_step(step, log, deadline, cwd=None):
    """Run ``step`` (its output appended to the text file ``log``), at most until
    ``step.timeout`` seconds have passed or the monotonic clock reaches ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining < MIN_SECONDS:
        return skipped(step.name, "the time budget is spent")
    limit = min(step.timeout, remaining)
    log.write(f"\n===== {step.name}: {shlex.join(map(str, step.argv))}  "
              f"(limit {limit:.0f} s)\n")
    log.flush()
    start = time.monotonic()
    try:
        proc = subprocess.Popen([str(a) for a in step.argv], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=step.env, start_new_session=True)
    except OSError as e:
        return Outcome(step.name, "failed", 0.0, f"cannot start {step.argv[0]}: {e}")
    tail = collections.deque(maxlen=TAIL_LINES)

    def pump():
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            log.write(line)
            tail.append(line)
        log.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        code = None
        _kill_group(proc)
    except BaseException:            # Ctrl-C: no step outlives the check
        _kill_group(proc)
        raise
    reader.join(timeout=5)
    seconds = time.monotonic() - start
    text = "".join(tail)
    if code is None:
        status, detail = "timed out", f"killed after {seconds:.0f} s (limit {limit:.0f} s)"
    elif code == 0:
        status, detail = "passed", ""
    else:
        last = [line for line in text.splitlines() if line.strip()]
        status, detail = "failed", f"exit status {code}: {last[-1].strip() if last else ''}"
    log.write(f"===== {step.name}: {status} in {seconds:.1f} s\n")
    log.flush()
    return Outcome(step.name, status, round(seconds, 1), detail, text)


def summary_table(outcomes):
    """The outcomes as a fixed-width table for the terminal: step, status, seconds."""
    width = max([len(o.name) for o in outcomes] + [4])
    lines = [f"{'step':<{width}}  {'status':<9}  {'seconds':>7}  detail"]
    lines += [f"{o.name:<{width}}  {o.status:<9}  {o.seconds:7.1f}  {o.detail}"[:160]
              for o in outcomes]
    return "\n".join(lines)


def cuda_version(number):
    """CUDA's version integers as text: 13020 -> "13.2" (None stays None)."""
    return None if number is None else f"{number // 1000}.{number % 1000 // 10}"


def _row(*cells):
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def markdown(report):
    """results.md: the machine, the steps, and the figures, as tables to paste into
    benchmarks/RESULTS.md."""
    m = report.get("machine", {})
    lines = [f"# gpu_check, {report.get('started', '')}", "",
             _row("GPU", "driver (CUDA)", "CUDA runtime (CuPy)", "CuPy", "PyTorch (CUDA)",
                  "NumPy", "Python"), _row(*["---"] * 7),
             _row(", ".join(m.get("gpus", [])), f"{m.get('driver')} ({m.get('cuda_major')})",
                  cuda_version(m.get("cuda_runtime")), m.get("cupy"),
                  f"{m.get('torch')} ({m.get('torch_cuda')})", m.get("numpy"), m.get("python")),
             "", "## Steps", "", _row("step", "status", "seconds", "detail"), _row(*["---"] * 4)]
    lines += [_row(o["name"], o["status"], o["seconds"], o["detail"])
              for o in report.get("steps", [])]
    bench = report.get("bench")
    if bench:
        names = list(dict.fromkeys(k for r in bench["rows"] for k in r["seconds"]))
        base = "scratchnet-cuda"
        ratios = [n for n in names if n != base] if base in names else []
        header = ["network", "batch", *names, *[f"{n} / {base}" for n in ratios]]
        lines += ["", f"## bench_devices.py: seconds per epoch of 50,000 images, best of "
                      f"{bench['repeats']}", "", _row(*header), _row(*["---"] * len(header))]
        for r in bench["rows"]:
            s = r["seconds"]
            lines.append(_row(r["sizes"], r["batch"],
                              *[f"{s[n]:.3f}" if n in s else "" for n in names],
                              *[f"{s[n] / s[base]:.2f}" if n in s and s.get(base) else ""
                                for n in ratios]))
    examples = report.get("examples")
    if examples:
        lines += ["", f"## Examples ({report.get('example_args', '')}): test accuracy", "",
                  _row("example", "cuda", "cpu", "cuda - cpu"), _row(*["---"] * 4)]
        for label, runs in examples.items():
            acc = {d: (runs.get(d) or {}).get("test_accuracy") for d in ("cuda", "cpu")}
            diff = (f"{acc['cuda'] - acc['cpu']:+.4f}"
                    if None not in acc.values() else "")
            lines.append(_row(label, *[f"{a:.4f}" if a is not None else "" for a in
                                       acc.values()], diff))
    return "\n".join(lines) + "\n"


def write_report(outdir, report):
    """OUTDIR/results.json (all of ``report``) and OUTDIR/results.md (its tables), each
    written whole or not at all."""
    data = json.dumps(report, indent=1, default=str).encode()
    atomic_write(os.path.join(outdir, "results.json"), lambda f: f.write(data))
    text = markdown(report).encode()
    atomic_write(os.path.join(outdir, "results.md"), lambda f: f.write(text))
