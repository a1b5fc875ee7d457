"""scratchnet.sweep: the same results serially, on joblib processes and on a real local Dask
cluster (a scheduler and two workers started here, on 127.0.0.1); a worker killed mid-sweep;
resuming from the results file; its torn last line; the extras' one-line errors."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

import sweep_runs
from scratchnet.sweep import SweepError, read_results, run_example, run_name, sweep

TESTS = Path(__file__).resolve().parent
needs_joblib = pytest.mark.skipif(find_spec("joblib") is None,
                                  reason="needs joblib: pip install -e '.[sweep]'")
needs_dask = pytest.mark.skipif(find_spec("distributed") is None,
                                reason="needs dask.distributed: pip install -e '.[dask]'")


def configs(n, marker_dir=None, **extra):
    """n configs that differ by seed and rate; the first runs longest when "sleep" is given,
    so that runs finish out of order wherever two run at once."""
    out = []
    for seed in range(n):
        config = {"seed": seed, "lr": 0.1 + 0.05 * seed, **extra}
        if "sleep" in extra:
            config["sleep"] = extra["sleep"] * (n - seed) / n
        if marker_dir is not None:
            config["marker_dir"] = str(marker_dir)
        out.append(config)
    return out


def serial(configs_, run=sweep_runs.fit):
    """The run function applied to each config in turn, here: what every sweep must return.
    Without "marker_dir" and "sleep", which change when and where, not the result."""
    return [run({k: v for k, v in config.items() if k not in ("marker_dir", "sleep")})
            for config in configs_]


def within(seconds, condition, what):
    """Wait (bounded) until condition() is true."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(0.02)


# ---- the runner, here in this process ------------------------------------------------------

def test_results_come_in_the_configs_order_and_equal_the_runs_own(tmp_path):
    cs = configs(4)
    assert sweep(sweep_runs.fit, cs) == serial(cs)
    assert sweep("sweep_runs:fit", list(reversed(cs))) == serial(reversed(cs))
    assert sweep(sweep_runs.fit, []) == []


def test_a_config_given_twice_runs_once(tmp_path):
    cs = configs(2, tmp_path)
    assert sweep(sweep_runs.fit, [cs[0], cs[1], dict(cs[0])]) == serial([cs[0], cs[1], cs[0]])
    assert {seed: len(pids) for seed, pids in sweep_runs.calls(tmp_path).items()} == {0: 1, 1: 1}


@pytest.mark.parametrize("bad, message", [
    ([{"lr": 0.1}], r"configs\[0\]: needs a \"seed\""),
    ([{"seed": -1}], r"configs\[0\]: needs a \"seed\", a whole number >= 0, got -1"),
    ([{"seed": True}], r"configs\[0\]: needs a \"seed\""),
    ([{"seed": 0}, [1, 2]], r"configs\[1\]: expected a dict, got list"),
    ([{"seed": 0, "x": object()}], r"configs\[0\]: not JSON-able"),
    ([{"seed": 0, "lr": float("nan")}], r"configs\[0\]: not JSON-able"),
])
def test_bad_configs_get_one_line_naming_them(bad, message):
    with pytest.raises(ValueError, match=message):
        sweep(sweep_runs.fit, bad)


def test_a_run_must_be_importable_by_name():
    def local(config):
        return {}
    with pytest.raises(ValueError, match="not a top-level function of an importable module"):
        sweep(local, configs(1))
    with pytest.raises(ValueError, match="not a top-level function"):
        sweep(lambda config: {}, configs(1))
    with pytest.raises(ValueError, match="cannot import 'sweep_runs:nothing'"):
        sweep("sweep_runs:nothing", configs(1))
    with pytest.raises(ValueError, match="cannot import 'sweep_runs.fit'.*module:function"):
        sweep("sweep_runs.fit", configs(1))
    assert run_name(run_example) == "scratchnet.sweep:run_example"


def test_bad_jobs_and_scheduler_are_refused():
    with pytest.raises(ValueError, match="jobs must be a whole number >= 1, got 0"):
        sweep(sweep_runs.fit, configs(1), jobs=0)
    with pytest.raises(ValueError, match="give jobs .* or scheduler .*, not both"):
        sweep(sweep_runs.fit, configs(1), jobs=2, scheduler="tcp://127.0.0.1:8786")


def test_a_failing_run_names_its_config_and_what_went_wrong():
    with pytest.raises(SweepError, match=r'sweep_runs:fail failed on \{.*"fail":true.*"seed":1\}'
                                         r": ValueError: this run fails"):
        sweep(sweep_runs.fail, [{"seed": 0}, {"seed": 1, "fail": True}])
    with pytest.raises(SweepError, match=r"result is not JSON .*a figure that is missing is None"):
        sweep(sweep_runs.not_json, [{"seed": 0}])


# ---- the results file ------------------------------------------------------------------------

def test_the_results_file_has_a_line_per_finished_run(tmp_path):
    path, cs = tmp_path / "r.jsonl", configs(3)
    seen = []
    results = sweep(sweep_runs.fit, cs, results=path,
                    on_result=lambda config, result: seen.append((config, result)))
    assert seen == list(zip(cs, results))
    assert read_results(path) == [{"run": "sweep_runs:fit", "config": c, "result": r}
                                  for c, r in zip(cs, results)]
    assert path.read_bytes().endswith(b"\n")


def test_a_resumed_sweep_runs_only_what_is_not_in_the_file(tmp_path):
    path, cs = tmp_path / "r.jsonl", configs(5, tmp_path / "calls")
    (tmp_path / "calls").mkdir()
    # Interrupted: run 3 fails the sweep after runs 0-2 finished.
    with pytest.raises(SweepError):
        sweep(sweep_runs.fail, cs[:3] + [{**cs[3], "fail": True}] + cs[4:], results=path)
    assert [r["config"]["seed"] for r in read_results(path)] == [0, 1, 2]
    assert sweep(sweep_runs.fail, cs, results=path) == serial(cs)
    calls = {seed: len(pids) for seed, pids in sweep_runs.calls(tmp_path / "calls").items()}
    assert calls == {0: 1, 1: 1, 2: 1, 3: 2, 4: 1}     # 3: once failing, once for real
    # Another run function's records in the same file are kept and not taken for these.
    assert sweep(sweep_runs.fit, cs[:1], results=path) == serial(cs[:1])
    assert [r["run"] for r in read_results(path)] == ["sweep_runs:fail"] * 5 + ["sweep_runs:fit"]


def test_a_torn_last_line_is_ignored_then_replaced(tmp_path):
    path, cs = tmp_path / "r.jsonl", configs(3, tmp_path)
    sweep(sweep_runs.fit, cs[:2], results=path)
    whole = path.read_bytes()
    with open(path, "ab") as f:                    # a crash in the middle of the third line
        f.write(b'{"run": "sweep_runs:fit", "config": {"lr": 0.2, "se')
    assert len(read_results(path)) == 2
    assert sweep(sweep_runs.fit, cs, results=path) == serial(cs)
    assert path.read_bytes().startswith(whole)
    assert [r["config"] for r in read_results(path)] == cs
    assert {seed: len(pids) for seed, pids in sweep_runs.calls(tmp_path).items()} == \
        {0: 1, 1: 1, 2: 1}


@pytest.mark.parametrize("content, message", [
    (b'{"run": "a:b", "config": {"seed": 0}, "result": {}}\nnot json\n', r"line 2: not a JSON"),
    (b'[1, 2]\n', r"line 1: expected an object with \"run\", \"config\" and \"result\""),
    (b'\xff\xfe\n', r"line 1: not a JSON line"),
])
def test_a_damaged_results_file_gets_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"r.jsonl {message}"):
        sweep(sweep_runs.fit, configs(1), results=path)
    assert path.read_bytes() == content               # and it is left alone


def test_a_results_file_that_cannot_be_written_fails_before_any_run(tmp_path):
    with pytest.raises(OSError):
        sweep(sweep_runs.fit, configs(1, tmp_path), results=tmp_path / "no" / "r.jsonl")
    assert sweep_runs.calls(tmp_path) == {}


# ---- the extras are optional ---------------------------------------------------------------

def test_scratchnet_imports_and_sweeps_without_joblib_or_dask():
    code = ("import sys; sys.modules.update(joblib=None, dask=None, distributed=None)\n"
            "import scratchnet, scratchnet.sweep as s, sweep_runs\n"
            "print(s.sweep(sweep_runs.fit, [{'seed': 0}])[0]['loss'])\n"
            "for kw in ({'jobs': 2}, {'scheduler': 'tcp://127.0.0.1:1'}):\n"
            "    try: s.sweep(sweep_runs.fit, [{'seed': 0}], **kw)\n"
            "    except ImportError as e: print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(TESTS)})
    assert done.returncode == 0, done.stderr
    loss, joblib_error, dask_error = done.stdout.splitlines()
    assert float(loss) == sweep_runs.fit({"seed": 0})["loss"]
    assert joblib_error == ('jobs=2 needs joblib: pip install "scratchnet[sweep]" '
                            '(in a clone: pip install -e ".[sweep]")')
    assert dask_error == ('scheduler= needs distributed: pip install "scratchnet[dask]" '
                          '(in a clone: pip install -e ".[dask]")')


# ---- local processes (joblib) ----------------------------------------------------------------

@needs_joblib
def test_two_processes_give_the_serial_results_in_the_serial_order(tmp_path):
    cs = configs(4, tmp_path, sleep=0.6)
    path = tmp_path / "r.jsonl"
    assert sweep(sweep_runs.fit, cs, jobs=2, results=path) == serial(cs)
    assert sorted(r["config"]["seed"] for r in read_results(path)) == [0, 1, 2, 3]
    assert len({pid for pids in sweep_runs.calls(tmp_path).values() for pid in pids}) == 2


@needs_joblib
def test_a_killed_process_is_replaced_and_its_run_retried(tmp_path):
    cs = configs(3, tmp_path)
    cs[1]["crash"] = True
    assert sweep(sweep_runs.crash_once, cs, jobs=2) == serial(cs)
    assert (tmp_path / "crashed-1").exists()


@needs_joblib
def test_a_run_that_always_kills_its_process_fails_the_sweep_after_the_retries(tmp_path):
    cs = configs(2)
    cs[0]["crash"] = True
    path = tmp_path / "r.jsonl"
    with pytest.raises(SweepError, match=r"^a worker process died 2 times .*runs unfinished, "
                                         r'the first \{"crash":true.*: A worker process[^\n]*$'):
        sweep(sweep_runs.crash_always, cs, jobs=2, retries=1, results=path)
    # The other run may have been lost with the pool each time, or may have finished.
    assert [r["config"]["seed"] for r in read_results(path)] in ([], [1])


# ---- a real Dask cluster on this machine -----------------------------------------------------

def address_in(scheduler_file):
    """The address in the scheduler's file, None until it is there in full (the scheduler
    does not write it atomically)."""
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


@contextlib.contextmanager
def dask_cluster(tmp_path, workers=2):
    """A `dask scheduler` and `workers` single-threaded `dask worker` processes (no nanny, so
    that killing one kills the worker itself) on 127.0.0.1, ports chosen by the system; yields
    (address, worker pids). Everything is stopped and reaped on the way out."""
    import distributed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
           "OMP_NUM_THREADS": "1", "DASK_CONFIG": str(tmp_path / "dask-config"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    scheduler_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    procs, logs = [], []

    def start(*args):
        logs.append(tmp_path / f"dask-{len(procs)}.log")
        with open(logs[-1], "wb") as log:
            procs.append(subprocess.Popen([*dask, *map(str, args)], env=env, cwd=tmp_path,
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", scheduler_file)
        within(60, lambda: address_in(scheduler_file) or procs[0].poll() is not None,
               "the scheduler's file")
        address = address_in(scheduler_file)
        assert address, "the scheduler exited"
        for k in range(workers):
            start("worker", address, "--nthreads", 1, "--no-nanny", "--no-dashboard",
                  "--host", "127.0.0.1", "--local-directory", tmp_path / f"worker-{k}")
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, [p.pid for p in procs[1:]]
    except BaseException:
        for log in logs:
            print(log.name, log.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise
    finally:
        # The workers first, while the scheduler is there to hear them leave; SIGKILL for any
        # that is slow to go.
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@needs_dask
def test_a_dask_cluster_gives_the_serial_results_and_resumes(tmp_path):
    marks = tmp_path / "calls"
    marks.mkdir()
    cs = configs(6, marks, sleep=0.5)
    path = tmp_path / "r.jsonl"
    with dask_cluster(tmp_path) as (address, workers):
        assert sweep(sweep_runs.fit, cs[:4], scheduler=address, results=path) == serial(cs[:4])
        assert sweep(sweep_runs.fit, cs, scheduler=address, results=path) == serial(cs)
    calls = sweep_runs.calls(marks)
    assert {seed: len(pids) for seed, pids in calls.items()} == {k: 1 for k in range(6)}
    assert {pid for pids in calls.values() for pid in pids} == set(workers)    # both worked
    assert sorted(r["config"]["seed"] for r in read_results(path)) == list(range(6))


@needs_dask
def test_a_dask_worker_killed_mid_run_does_not_lose_the_sweep(tmp_path):
    marks = tmp_path / "calls"
    marks.mkdir()
    cs = configs(4, marks, sleep=2.0)
    with dask_cluster(tmp_path) as (address, workers):
        outcome = {}

        def run():
            try:
                outcome["results"] = sweep(sweep_runs.fit, cs, scheduler=address)
            except BaseException as e:
                outcome["error"] = e

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        within(60, lambda: sweep_runs.calls(marks), "a run to start")
        seed, (pid, *_) = next(iter(sweep_runs.calls(marks).items()))
        assert pid in workers                          # never kill what this test did not start
        os.kill(pid, signal.SIGKILL)                   # mid-run: its run sleeps 1-2 s
        thread.join(timeout=120)
        assert not thread.is_alive(), "the sweep did not finish"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["results"] == serial(cs)
    calls = sweep_runs.calls(marks)
    assert len(calls[seed]) == 2 and calls[seed][0] != calls[seed][1]    # re-run elsewhere


@needs_dask
def test_an_unreachable_scheduler_is_one_line():
    with pytest.raises(SweepError, match=r"cannot reach the Dask scheduler at "
                                         r"'tcp://127.0.0.1:1': Timed out"):
        sweep(sweep_runs.fit, configs(1), scheduler="tcp://127.0.0.1:1", timeout=1)


# ---- examples as runs --------------------------------------------------------------------------

FAKE = """import argparse, json, sys
p = argparse.ArgumentParser()
p.add_argument("--eta", type=float); p.add_argument("--seed", type=int)
p.add_argument("--results")
a = p.parse_args()
if a.eta < 0:
    sys.exit("error: --eta: must be positive")
if a.eta > 0:
    json.dump({"accuracy": a.eta * 10 + a.seed}, open(a.results, "w"))
"""


def test_run_example_runs_a_script_with_the_seed_and_reads_its_results(tmp_path):
    (tmp_path / "fake.py").write_text(FAKE)
    config = {"script": "fake.py", "flags": ["--eta", 0.5], "seed": 2, "examples": str(tmp_path)}
    assert run_example(config) == {"accuracy": 7.0}
    assert sweep(run_example, [config, {**config, "seed": 3}]) == [{"accuracy": 7.0},
                                                                    {"accuracy": 8.0}]


@pytest.mark.parametrize("flags, error, message", [
    (["--eta", -1], SweepError, r"fake.py exited with status 1: error: --eta: must be positive"),
    (["--eta", 0], SweepError, r"fake.py wrote no --results file"),
    (["--eta", 1, "--seed", 3], ValueError, r"--seed and --results come from the config"),
    ("--eta 1", ValueError, r"needs \"script\" .* and \"flags\""),
])
def test_run_example_failures_are_one_line(tmp_path, flags, error, message):
    (tmp_path / "fake.py").write_text(FAKE)
    with pytest.raises(error, match=message):
        run_example({"script": "fake.py", "flags": flags, "seed": 0, "examples": str(tmp_path)})


def test_run_example_without_the_script_says_where_it_looked(tmp_path):
    with pytest.raises(SweepError, match=f"no nothing.py in {tmp_path}"):
        run_example({"script": "nothing.py", "seed": 0, "examples": str(tmp_path)})


@pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"), reason="needs MNIST in $SCRATCHNET_DATA")
def test_run_example_runs_a_real_example():
    result = run_example({"script": "nielsen.py", "flags": ["--epochs", 1, "--limit", 200],
                          "seed": 1})
    assert result["seed"] == 1 and result["epochs"] == 1
    assert 0 <= result["test_accuracy"] <= 1


# ---- examples/search_hyperparameters.py on the sweep ------------------------------------------

SEARCH = [sys.executable, str(TESTS.parent / "examples" / "search_hyperparameters.py")]
TINY = ["--etas", "0.03,0.1", "--lmbdas", "0,3", "--batch-sizes", "32", "--epochs", 1,
        "--small-images", 200, "--limit", 300, "--max-epochs", 1]


def search(*args):
    return subprocess.run([*SEARCH, *map(str, TINY), *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("args, message", [
    (["--jobs", 2, "--scheduler", "tcp://127.0.0.1:1"],
     "error: --jobs, --scheduler: give one (local processes or a Dask cluster)"),
    (["--jobs", 0], "error: --jobs: must be >= 1, got 0"),
    (["--etas", "0.1,x"], "error: --etas: expected a number, got 'x'"),
    (["--one"], "error: --one: needs --results PATH"),
])
def test_search_flags_are_checked_in_one_line(args, message):
    done = search(*args)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [message]


@needs_joblib
@pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"), reason="needs MNIST in $SCRATCHNET_DATA")
def test_search_prints_the_same_tables_serially_in_parallel_and_resumed(tmp_path):
    path = tmp_path / "search.jsonl"
    parallel = search("--jobs", 2, "--results", path)
    assert parallel.returncode == 0, parallel.stderr
    assert re.search(r"^   32     3  0\.\d{4}    0\.\d{4}  $", parallel.stdout, re.M), \
        parallel.stdout
    assert re.search(r"^chosen: η=\S+ λ=\S+ batch=32 \(validation accuracy 0\.\d{4}\)$",
                     parallel.stdout, re.M), parallel.stdout
    runs = len(read_results(path))
    assert runs == 4 + 8                  # 2 x 2 in stage 1; 2 η x 2 λ for each of the best two
    resumed = search("--results", path)
    assert (resumed.returncode, resumed.stdout) == (0, parallel.stdout)
    assert "  0 runs in" in resumed.stderr and len(read_results(path)) == runs
    one_by_one = search("--stage", 1)
    assert one_by_one.returncode == 0, one_by_one.stderr
    assert parallel.stdout.startswith(one_by_one.stdout)


@needs_dask
@pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"), reason="needs MNIST in $SCRATCHNET_DATA")
def test_search_on_dask_prints_the_serial_table(tmp_path):
    with dask_cluster(tmp_path) as (address, _):
        on_dask = search("--stage", 1, "--scheduler", address)
    assert on_dask.returncode == 0, on_dask.stderr
    serially = search("--stage", 1)
    assert (on_dask.stdout, "  4 runs in" in on_dask.stderr) == (serially.stdout, True)
