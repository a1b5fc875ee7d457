"""Sweeps: many independent training runs, on local processes or a Dask cluster.

    results = sweep(run_example, configs, jobs=2, results="search.jsonl")

A *run* is a top-level function of an importable module, ``run(config) -> dict``: a
configuration in (a JSON object with a whole-number ``"seed"``), its figures out (a JSON
object), and the same configuration gives the same figures wherever it runs. That is what lets
the runs go anywhere and still come back as if run one after another: ``sweep`` returns one
result per configuration, in the configurations' order, whether they ran here one by one
(``jobs=1``), on ``jobs`` local processes (joblib) or on a Dask cluster
(``scheduler="tcp://HOST:8786"``). A task carries the run's name and the configuration as JSON
text, never arrays: each worker loads its own data (its ``$SCRATCHNET_DATA`` or cache).

The results file (``results=PATH``) is JSON lines, one finished run a line, appended in the
order the runs finish::

    {"run": "scratchnet.sweep:run_example", "config": {...}, "result": {...}}

A line goes to disk in one write followed by fsync, so a crash can tear only the last line;
the next sweep on the file cuts that line off and runs it again. A sweep started again with
the same file skips the runs already there (same run, same configuration, compared as
canonical JSON: sorted keys, so ``1`` and ``1.0`` differ) and runs only the rest.

When a worker dies mid-run, Dask's scheduler re-runs its tasks on the other workers (a task
that has killed more workers than ``distributed.scheduler.allowed-failures``, 3 by default,
fails the sweep). joblib's process pool cannot: the sweep starts a fresh pool for the
unfinished runs, up to ``retries`` times. A run that raises fails the sweep at once, the runs
finished so far being in the file: an outcome a run expects, such as divergence, belongs in
its result.

joblib and dask are optional extras (``pip install "scratchnet[sweep]"``,
``"scratchnet[dask]"``), imported only when asked for. They move tasks with pickle; ours are
strings only (the run's name, the configuration and the result as JSON text).
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .files import MAX_BYTES


class SweepError(RuntimeError):
    """A run failed, or the machinery under the sweep (worker processes, the cluster) did."""


def sweep(run, configs, *, jobs=1, scheduler=None, results=None, retries=2, timeout=30.0,
          on_result=None):
    """Run ``run(config)`` for every configuration; return the results in ``configs``' order.

    run:       a top-level function of an importable module, or its name "module:function".
    configs:   JSON-able dicts, each with a whole-number "seed" >= 0. The same configuration
               twice is run once.
    jobs:      local worker processes (joblib); 1 runs them here, one after another.
    scheduler: a Dask scheduler's address ("tcp://HOST:8786"); replaces ``jobs``.
    results:   a JSON-lines file: finished runs are appended as they finish, and runs already
               in it are not run again.
    retries:   how many fresh process pools to start when a joblib worker dies.
    timeout:   seconds to wait for the Dask scheduler to answer.
    on_result: called here as ``on_result(config, result)`` after each run that was run now.
    """
    name = run_name(run)
    texts = [_canonical(config, f"configs[{i}]") for i, config in enumerate(configs)]
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if scheduler is not None and jobs != 1:
        raise ValueError(f"give jobs (local processes) or scheduler (Dask), not both: "
                         f"jobs={jobs}, scheduler={scheduler!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")
    journal = _Journal(results, name) if results is not None else None
    done = journal.done if journal else {}

    def finished(text, result_text):
        done[text] = json.loads(result_text)
        if journal:
            journal.append(text, result_text)
        if on_result:
            on_result(json.loads(text), done[text])

    todo = [text for text in dict.fromkeys(texts) if text not in done]
    if todo and scheduler is not None:
        _on_dask(name, todo, finished, scheduler, timeout)
    elif todo and jobs > 1:
        _on_joblib(name, todo, finished, jobs, retries)
    else:
        for text in todo:
            finished(text, _run_one(name, text))
    return [done[text] for text in texts]


def run_name(run):
    """"module:function" for a run given as a function or by that name, checked to be
    importable here: workers find the run by this name."""
    if isinstance(run, str):
        name = run
    else:
        module, qualname = getattr(run, "__module__", None), getattr(run, "__qualname__", "")
        name = f"{module}:{qualname}"
        if module == "__main__" or "." in qualname or "<" in qualname:
            raise ValueError(f"run: {module}.{qualname} is not a top-level function of an "
                             "importable module, which is how workers find it (define it at "
                             "the top of a module, or use scratchnet.sweep.run_example)")
    try:
        found = _resolve(name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"run: cannot import {name!r} ({e})") from None
    if not isinstance(run, str) and found is not run:
        raise ValueError(f"run: {name} names another object than the function given")
    return name


def _resolve(name):
    module, colon, function = name.partition(":")
    if not colon or not module or not function.isidentifier():
        raise ValueError("expected 'module:function'")
    return getattr(importlib.import_module(module), function)


def _canonical(config, what):
    """The configuration as canonical JSON text: its identity in the results file and what a
    task carries."""
    if not isinstance(config, dict):
        raise ValueError(f"{what}: expected a dict, got {type(config).__name__}")
    seed = config.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{what}: needs a \"seed\", a whole number >= 0, got {seed!r}")
    try:
        text = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: not JSON-able: {e}") from None
    # Through JSON and back first, so that a tuple and a list (or 1 and 1.0 keys) agree.
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def _run_one(name, text):
    """What a worker does: run ``name`` on the configuration ``text``; the result as JSON
    text. Any failure is a SweepError naming the configuration."""
    try:
        result = _resolve(name)(json.loads(text))
        if not isinstance(result, dict):
            raise TypeError(f"returned a {type(result).__name__}, expected a dict")
        try:
            return json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"result is not JSON ({e}; a figure that is missing is None)") \
                from None
    except Exception as e:
        raise SweepError(f"{name} failed on {text}: {type(e).__name__}: {e}") from e


def _run_indexed(i, name, text):
    return i, _run_one(name, text)


def _optional(module, extra, what):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs {module}: pip install \"scratchnet[{extra}]\" "
                          f"(in a clone: pip install -e \".[{extra}]\")") from None


def _on_joblib(name, todo, finished, jobs, retries):
    joblib = _optional("joblib", "sweep", f"jobs={jobs}")
    from joblib.externals.loky.process_executor import TerminatedWorkerError
    pending = list(todo)
    for _ in range(retries + 1):
        ran = set()
        tasks = (joblib.delayed(_run_indexed)(i, name, text) for i, text in enumerate(pending))
        try:
            # batch_size=1: each result comes back, and is written, as soon as its run ends.
            for i, result_text in joblib.Parallel(n_jobs=jobs, batch_size=1,
                                                  return_as="generator_unordered")(tasks):
                finished(pending[i], result_text)
                ran.add(i)
            return
        except TerminatedWorkerError as e:
            crash = e
            pending = [text for i, text in enumerate(pending) if i not in ran]
            if not pending:
                return
    raise SweepError(f"a worker process died {retries + 1} times (killed, or out of memory?); "
                     f"{len(pending)} runs unfinished, the first {pending[0]}: "
                     f"{str(crash).splitlines()[0]}")


def _on_dask(name, todo, finished, scheduler, timeout):
    distributed = _optional("distributed", "dask", "scheduler=")
    try:
        client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from None
    with client:
        futures = {client.submit(_run_one, name, text, pure=False): text for text in todo}
        try:
            for future in distributed.as_completed(futures, loop=client.loop):
                try:
                    result_text = future.result()
                except SweepError:
                    raise
                except Exception as e:        # KilledWorker: it took too many workers with it
                    raise SweepError(f"{name} failed on {futures[future]}: "
                                     f"{type(e).__name__}: {e}") from e
                finished(futures[future], result_text)
        finally:
            client.cancel(list(futures))     # nothing left to do after a failure


class _Journal:
    """The results file: the runs of ``name`` already in it, and appending new ones."""

    def __init__(self, path, name):
        self.path, self.name = Path(path), name
        records, complete = _read(self.path) if self.path.exists() else ([], 0)
        self.done = {_canonical(r["config"], f"{path}: a config"): r["result"]
                     for r in records if r["run"] == name}
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o666)   # fails now, not after a run
        try:
            os.ftruncate(fd, complete)    # a torn last line would spoil the next one appended
        finally:
            os.close(fd)

    def append(self, text, result_text):
        line = f'{{"run": {json.dumps(self.name)}, "config": {text}, "result": {result_text}}}\n'
        data = line.encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            while data:                   # one write in practice; a short one is finished here
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)


def read_results(path):
    """The records of a results file, in the file's order: dicts with "run" ("module:function"),
    "config" and "result". A torn last line (no newline: a crash while it was written) is left
    out; any other line that is not a record is a ValueError naming the file and the line."""
    return _read(Path(path))[0]


def _read(path):
    """(records, length of the complete lines in bytes)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than a results file should be "
                         f"({MAX_BYTES}); is it one?")
    lines = path.read_bytes().split(b"\n")
    records, complete = [], 0
    for number, line in enumerate(lines[:-1], 1):     # lines[-1]: b"" or a torn line
        complete += len(line) + 1
        try:
            record = json.loads(line.decode())
        except (UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"{path} line {number}: not a JSON line ({e})") from None
        if not (isinstance(record, dict) and isinstance(record.get("run"), str)
                and isinstance(record.get("config"), dict)
                and isinstance(record.get("result"), dict)):
            raise ValueError(f"{path} line {number}: expected an object with \"run\", "
                             "\"config\" and \"result\"")
        records.append(record)
    return records, complete


def run_example(config):
    """A run that is an example script: ``python EXAMPLES/script FLAGS --seed S --results TMP``,
    returning the JSON object the script wrote to TMP (the examples' ``--results`` contract).

    config: {"script": "deep_perceptron.py", "flags": ["--eta", "0.03", ...], "seed": 0,
             "examples": folder (optional: by default the examples/ folder of the clone this
             scratchnet is installed from, on whichever machine runs it)}.
    A script that exits with a non-zero status fails the run (SweepError with its last line
    on stderr); one that can fail as a matter of course (diverge) says so in its results.
    """
    script, flags = config.get("script"), config.get("flags", [])
    if not isinstance(script, str) or not isinstance(flags, list) \
            or not all(isinstance(flag, (str, int, float)) for flag in flags):
        raise ValueError("run_example: config needs \"script\" (a file name) and \"flags\" "
                         f"(a list of strings), got {config!r}")
    if {"--seed", "--results"} & {str(flag).partition("=")[0] for flag in flags}:
        raise ValueError("run_example: --seed and --results come from the config's \"seed\" "
                         "and the sweep, not from \"flags\"")
    folder = Path(config.get("examples") or Path(__file__).resolve().parent.parent / "examples")
    path = folder / script
    if not path.is_file():
        raise SweepError(f"run_example: no {script} in {folder} (give the examples folder "
                         "as config[\"examples\"], or install scratchnet from a clone: "
                         "pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="scratchnet-run-") as tmp:
        out = Path(tmp) / "results.json"
        done = subprocess.run([sys.executable, str(path), *map(str, flags),
                               "--seed", str(config["seed"]), "--results", str(out)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, errors="replace")
        if done.returncode != 0:
            said = [line for line in done.stderr.splitlines() if line.strip()]
            raise SweepError(f"{script} exited with status {done.returncode}: "
                             f"{said[-1] if said else '(nothing on stderr)'}")
        if not out.is_file():
            raise SweepError(f"{script} wrote no --results file (does it take --results?)")
        result = json.loads(out.read_text())
    if not isinstance(result, dict):
        raise SweepError(f"{script} wrote {type(result).__name__} to --results, expected an object")
    return result
