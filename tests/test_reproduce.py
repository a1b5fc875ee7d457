"""examples/reproduce.py: the verdict (the mean over seeds against the reference), the table,
the `reproduced: K / N` line and the exit status, on made-up results with the sweep replaced
(no MNIST needed); then `reproduce.py --quick` for real (needs $SCRATCHNET_DATA)."""
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnet.sweep import SweepError, read_results

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

import reproduce  # noqa: E402

N = len(reproduce.SYSTEMS)
ROW = re.compile(r"^\| `(?P<command>[^`]+)`: .* \| (?P<verdict>[^|]+) \|$")


def figures(accuracy, epochs=3, seconds=12.5):
    return {"test_accuracy": accuracy, "epochs": epochs, "seconds": seconds}


# ---- summarise: the mean decides -------------------------------------------------------------

def test_a_lucky_seed_does_not_reproduce_a_figure():
    s = reproduce.summarise(0.98, {0: figures(0.99), 1: figures(0.974), 2: figures(0.975)})
    assert s["mean"] == pytest.approx(0.9796667) and s["reproduced"] is False
    assert s["worst"] == (0.974, 1)


def test_a_mean_above_the_reference_reproduces_it_even_with_a_seed_below():
    s = reproduce.summarise(0.9804, {0: figures(0.9803), 1: figures(0.9810), 2: figures(0.9812)})
    assert s["reproduced"] is True and s["worst"] == (0.9803, 0)


@pytest.mark.parametrize("reference, accuracies, reproduced", [
    (0.9804, (0.9803, 0.9804, 0.9805), True),
    (0.998, (0.9979, 0.998, 0.9981), True),     # in floats this mean is 0.99799999...
    (0.99, (0.9899, 0.99, 0.9901), True),       # and this one 0.98999999...
    (0.9804, (0.9804, 0.9804, 0.9804), True),
    (0.9804, (0.9803, 0.9804, 0.9804), False),  # one image short on one seed
    (0.998, (0.9979, 0.998, 0.998), False),
])
def test_the_mean_at_the_reference_counts_and_one_image_short_does_not(reference, accuracies,
                                                                      reproduced):
    s = reproduce.summarise(reference, {seed: figures(a) for seed, a in enumerate(accuracies)})
    assert s["reproduced"] is reproduced


def test_sd_is_the_sample_standard_deviation_and_the_other_columns_are_means():
    s = reproduce.summarise(0.5, {0: figures(0.97, 10, 30.0), 1: figures(0.98, 20, 40.0),
                                  2: figures(0.99, 30, 50.0)})
    assert s["sd"] == pytest.approx(0.01)                 # n - 1: the population sd is 0.0082
    assert (s["n"], s["epochs"], s["seconds"]) == (3, 20, 40.0)


def test_one_seed_has_no_sd_and_no_seed_no_verdict():
    assert reproduce.summarise(0.5, {4: figures(0.9)})["sd"] is None
    assert reproduce.summarise(0.5, {4: figures(0.9)})["worst"] == (0.9, 4)
    assert reproduce.summarise(0.5, {})["reproduced"] is None


def test_the_worst_seed_is_the_first_of_equals():
    s = reproduce.summarise(0.5, {2: figures(0.9), 0: figures(0.9), 1: figures(0.95)})
    assert s["worst"] == (0.9, 0)


# ---- the table, the last line and the exit status --------------------------------------------

def summaries(accuracies_per_system, reference_shift=0.0):
    return [reproduce.summarise(system[3] + reference_shift,
                                {seed: figures(a) for seed, a in enumerate(accuracies)})
            for system, accuracies in zip(reproduce.SYSTEMS, accuracies_per_system)]


def at(offset, seeds=3):
    """Accuracies ``offset`` above each system's reference, for every seed."""
    return [[system[3] + offset] * seeds for system in reproduce.SYSTEMS]


def test_every_mean_at_or_above_its_reference_is_n_of_n_and_status_0():
    lines, status = reproduce.report(reproduce.SYSTEMS, summaries(at(0.001)), 3, quick=False)
    assert lines[-1] == f"reproduced: {N} / {N} at or above the reference" and status == 0


def test_one_mean_below_is_k_of_n_and_status_1():
    accuracies = at(0.001)
    accuracies[5] = [0.9810, 0.9801, 0.9799]           # tiny CNN: mean 0.98033 < 0.9804
    rows = summaries(accuracies)
    lines, status = reproduce.report(reproduce.SYSTEMS, rows, 3, quick=False)
    assert lines[-1] == f"reproduced: {N - 1} / {N} at or above the reference" and status == 1
    verdicts = [ROW.match(line)["verdict"] for line in
                reproduce.table(reproduce.SYSTEMS, rows, 3, quick=False)[2:]]
    assert verdicts == ["**reproduced**"] * 5 + ["below the reference", "**reproduced**"]


def test_a_system_short_of_seeds_is_not_reproduced():
    accuracies = at(0.01)
    accuracies[0] = accuracies[0][:2]                  # seed 2 of nielsen.py did not finish
    rows = summaries(accuracies)
    lines, status = reproduce.report(reproduce.SYSTEMS, rows, 3, quick=False)
    assert lines[-1] == f"reproduced: {N - 1} / {N} at or above the reference" and status == 1
    assert "only 2 of 3 ran" in reproduce.table(reproduce.SYSTEMS, rows, 3, quick=False)[2]


def test_a_quick_run_claims_nothing_and_its_status_says_only_whether_all_ran():
    rows = summaries(at(-0.5, seeds=1))                # far below every reference
    lines, status = reproduce.report(reproduce.SYSTEMS, rows, 1, quick=True)
    assert status == 0 and not lines[-1].startswith("reproduced")
    assert lines[-1].startswith(f"quick: {N} / {N} systems ran") and "not claim" in lines[-1]
    table = reproduce.table(reproduce.SYSTEMS, rows, 1, quick=True)
    assert all(ROW.match(line)["verdict"] == "ran (not claimed)" for line in table[2:])
    rows[3] = reproduce.summarise(0.998, {})
    assert reproduce.report(reproduce.SYSTEMS, rows, 1, quick=True)[1] == 1


def test_the_table_is_markdown_with_a_row_per_system():
    table = reproduce.table(reproduce.SYSTEMS, summaries(at(0.001)), 3, quick=False)
    assert len({line.count("|") for line in table}) == 1 and len(table) == N + 2
    assert [ROW.match(line)["command"] for line in table[2:]] == \
        [reproduce.command(system) for system in reproduce.SYSTEMS]
    assert "mean ± sd (3 seeds)" in table[0]


# ---- main, with the sweep replaced ------------------------------------------------------------

class FakeSweep:
    """Stands in for scratchnet.sweep.sweep: each run's accuracy is ``accuracy(config)``; the
    run whose config ``fail`` names raises SweepError after the earlier ones finished."""

    def __init__(self, accuracy, fail=None):
        self.accuracy, self.fail, self.calls = accuracy, fail, []

    def __call__(self, run, configs, *, jobs=1, scheduler=None, results=None, on_result=None):
        self.calls.append({"run": run, "configs": configs, "jobs": jobs,
                           "scheduler": scheduler, "results": results})
        out = []
        for config in configs:
            if self.fail and self.fail(config):
                raise SweepError(f"{config['script']} exited with status 1: boom")
            out.append(figures(self.accuracy(config)))
            on_result(config, out[-1])
        return out


REFERENCE = {(system[0], tuple(system[1])): system[3] for system in reproduce.SYSTEMS}


def reference(config):
    return REFERENCE[config["script"], tuple(config["flags"])]


def run_main(monkeypatch, capsys, fake, *argv):
    monkeypatch.setattr(reproduce, "sweep", fake)
    status = reproduce.main(list(argv))
    out, err = capsys.readouterr()
    return status, out.rstrip("\n").splitlines(), err


def test_main_reproduces_n_of_n_and_passes_jobs_and_the_results_file(monkeypatch, capsys):
    fake = FakeSweep(lambda config: reference(config) + 0.0005 * config["seed"])
    status, out, err = run_main(monkeypatch, capsys, fake, "--jobs", "2", "--results", "r.jsonl")
    assert status == 0 and out[-1] == f"reproduced: {N} / {N} at or above the reference"
    (call,) = fake.calls
    assert (call["jobs"], call["scheduler"], call["results"]) == (2, None, "r.jsonl")
    assert call["run"] is reproduce.run_example
    assert sorted({c["seed"] for c in call["configs"]}) == [0, 1, 2] and \
        len(call["configs"]) == 3 * N
    # The recipes stay in the scripts: a full run passes the system's own flags, nothing else.
    assert {(c["script"], tuple(c["flags"])) for c in call["configs"]} == \
        {(system[0], tuple(system[1])) for system in reproduce.SYSTEMS}
    assert len(err.splitlines()) == 3 * N              # a progress line per finished run


def test_main_with_a_mean_below_exits_1(monkeypatch, capsys):
    fake = FakeSweep(lambda config: reference(config) - (0.0002 if config["script"] ==
                                                         "convnet.py" else -0.001))
    status, out, _ = run_main(monkeypatch, capsys, fake, "--scheduler", "tcp://h:8786")
    assert status == 1 and out[-1] == f"reproduced: {N - 1} / {N} at or above the reference"
    assert fake.calls[0]["scheduler"] == "tcp://h:8786" and fake.calls[0]["jobs"] == 1


def test_main_quick_passes_the_quick_flags_and_one_seed(monkeypatch, capsys):
    fake = FakeSweep(lambda config: 0.1)
    status, out, _ = run_main(monkeypatch, capsys, fake, "--quick")
    assert status == 0 and out[0].startswith("QUICK RUN") and out[-1].startswith("quick: ")
    assert all(c["flags"][-len(reproduce.QUICK_FLAGS):] == reproduce.QUICK_FLAGS and
               c["seed"] == 0 for c in fake.calls[0]["configs"])


def test_a_failed_run_shows_what_finished_and_exits_1_with_one_line(monkeypatch, capsys):
    fake = FakeSweep(lambda config: 0.999, fail=lambda config: config["script"] == "convnet.py")
    status, out, err = run_main(monkeypatch, capsys, fake)
    assert status == 1 and out[-1] == f"reproduced: 4 / {N} at or above the reference"
    assert err.splitlines()[-1] == "error: convnet.py exited with status 1: boom"
    verdicts = [ROW.match(line)["verdict"] for line in out if ROW.match(line)]
    assert verdicts[4:] == ["did not run"] * 3
    assert any(line.startswith(f"12 of {3 * N} runs finished") for line in out)


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "error: --seeds: must be >= 1, got 0"),
    (["--jobs", "two"], "error: --jobs: expected a whole number, got 'two'"),
    (["--jobs", "2", "--scheduler", "tcp://h:8786"], "error: --jobs, --scheduler: give one"),
])
def test_bad_flags_are_one_line_and_status_2(argv, message):
    result = subprocess.run([sys.executable, str(EXAMPLES / "reproduce.py"), *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_system_is_an_example_listed_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Examples\n")
    examples = readme[start:readme.index("\n## ", start + 1)]
    for system in reproduce.SYSTEMS:
        assert (EXAMPLES / system[0]).is_file()
        assert f"`{reproduce.command(system)}`" in examples, reproduce.command(system)


# ---- for real: --quick on MNIST ---------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"), reason="needs MNIST in $SCRATCHNET_DATA")
def test_quick_runs_every_system_and_resumes_from_its_results_file(tmp_path):
    def quick(*flags):
        return subprocess.run(
            [sys.executable, str(EXAMPLES / "reproduce.py"), "--quick", *flags],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})

    results = tmp_path / "quick.jsonl"
    first = quick("--results", results)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[-1].startswith(f"quick: {N} / {N} systems ran") and "Traceback" not in first.stderr
    rows = [ROW.match(line) for line in lines if ROW.match(line)]
    assert [row["command"] for row in rows] == [reproduce.command(s) for s in reproduce.SYSTEMS]
    assert {row["verdict"] for row in rows} == {"ran (not claimed)"}
    records = read_results(results)
    assert len(records) == N and all(r["result"]["epochs"] == 1 for r in records)
    accuracies = [r["result"]["test_accuracy"] for r in records]
    assert all(0 <= a <= 1 for a in accuracies) and statistics.fmean(accuracies) > 0.1

    again = quick("--results", results)                # everything comes from the file
    assert again.returncode == 0 and again.stderr == ""
    assert f"{N} runs ({N} from {results})" in again.stdout
    assert [line for line in again.stdout.splitlines() if ROW.match(line)] == \
        [line for line in lines if ROW.match(line)]
    assert len(read_results(results)) == N
    assert json.loads(results.read_text().splitlines()[0])["run"] == reproduce.RUN


def figures_of(stdout):
    """The table's rows without the seconds column, which is measured."""
    return [re.sub(r"\| [\d.]+ \| (?=[^|]+ \|$)", "| s | ", line)
            for line in stdout.splitlines() if ROW.match(line)]


@pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"), reason="needs MNIST in $SCRATCHNET_DATA")
@pytest.mark.skipif(importlib.util.find_spec("joblib") is None,
                    reason="needs joblib: pip install -e '.[sweep]'")
def test_quick_on_two_processes_prints_the_same_figures(tmp_path):
    def quick(*flags):
        result = subprocess.run([sys.executable, str(EXAMPLES / "reproduce.py"), "--quick",
                                 "--seeds", "2", *flags], capture_output=True, text=True,
                                timeout=600, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        return figures_of(result.stdout)

    serial = quick()
    assert len(serial) == N and all(" ± " in row for row in serial)
    assert quick("--jobs", "2") == serial
