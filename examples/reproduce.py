"""Every reference figure in one run: each system the README lists, trained with several seeds.

    python examples/reproduce.py                      # 7 systems x seeds 0, 1, 2, one at a time
    python examples/reproduce.py --jobs 2             # two runs side by side (joblib)
    python examples/reproduce.py --scheduler tcp://HOST:8786 --results repro.jsonl   # on Dask
    python examples/reproduce.py --quick              # a smoke run for CI: claims no figure

Each run is an example script with its own default recipe and ``--seed S`` (the recipes live in
the scripts; this one only names them), run by ``scratchnet.sweep.run_example``: a process of its
own that loads MNIST itself ($SCRATCHNET_DATA or the cache, on whichever machine runs it).

It prints a markdown table, one row per system: the reference figure and where it comes from,
the test accuracy's mean ± sd over the seeds (sd: the sample standard deviation, n - 1), the
worst seed, the epochs and training seconds of a run (mean over the seeds), and the verdict,
which compares the *mean* with the reference: one lucky seed does not reproduce a figure. The
last line is ``reproduced: K / N at or above the reference``; the exit status is 0 only when
K = N. The figures are the same however the runs were spread (each run is a deterministic
function of its script and seed); only the seconds change.

``--quick`` trains every system for 1 epoch on the first 500 images of each split, seed 0: it
checks that everything runs, prints the table marked as such, and claims no figure (its exit
status says only whether every run ran). ``--results FILE.jsonl`` keeps each finished run; the
same command run again with the same file skips them (an interrupted run resumes).
"""
import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import json
import statistics
import sys
import time

from common import Parser, add_sweep_flags, count
from scratchnet.sweep import SweepError, read_results, run_example, run_name, sweep

# The reference systems: (script, its flags, what it is, the reference test accuracy, where
# that figure comes from). The flags choose a system, never its recipe: that is the script's.
SYSTEMS = [
    ("nielsen.py", [], "Nielsen's [784, 30, 10], sigmoid, quadratic cost", 0.9542,
     "Nielsen, ch. 1: the best of 30 epochs"),
    ("deep_perceptron.py", [], "the [784, 150, 50, 100, 10] perceptron, L2", 0.983,
     "reference documents (issue 3)"),
    ("adam_perceptron.py", [], "[784, 128, 10], log-softmax + NLL, Adam in two phases", 0.975,
     "reference documents (issue 5): at least 97.5%"),
    ("is_three.py", [], "\"is it a 3?\" CNN, sigmoid + binary cross-entropy", 0.998,
     "reference documents (issue 5): at least 99.8% (99.9% after 50 epochs)"),
    ("convnet.py", [], "Nielsen ch. 6 style convolutional network", 0.990,
     "reference documents (issue 5); Nielsen ch. 6: 99.23% in 60 epochs"),
    ("tiny_cnn.py", [], "the 9,956-parameter CNN, batch-norm, reduce-on-plateau", 0.9804,
     "reference documents (issue 5): 150 epochs at batch 64"),
    ("tiny_cnn.py", ["--design", "better"], "99% with under 10,000 parameters (8,890)", 0.990,
     "reference documents (issue 5): 99% in ≤ 10,000 parameters"),
]
QUICK_FLAGS = ["--epochs", "1", "--limit", "500"]
RUN = run_name(run_example)       # how the results file names our runs
TOLERANCE = 1e-9     # accuracies are k / 10,000: a mean equal to the reference may round below it


def command(system):
    """The system's command line, as a reader types it: "tiny_cnn.py --design better"."""
    script, flags = system[0], system[1]
    return " ".join([script, *flags])


def configs(systems, seeds, quick):
    """The sweep's run configurations: every system with every seed, system by system."""
    extra = QUICK_FLAGS if quick else []
    return [{"script": system[0], "flags": [*system[1], *extra], "seed": seed}
            for system in systems for seed in seeds]


def key(config):
    """A configuration's identity, as the sweep compares them."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def summarise(reference, results):
    """The row's figures from the runs of one system: ``results`` maps seed -> the figures the
    script wrote (a dict with "test_accuracy", "epochs", "seconds"), only the seeds that ran.
    Returns a dict: n, mean, sd (None below 2 seeds), worst (accuracy, seed), epochs,
    seconds (means over the seeds), reproduced (mean >= reference; None if nothing ran)."""
    if not results:
        return {"n": 0, "mean": None, "sd": None, "worst": None, "epochs": None,
                "seconds": None, "reproduced": None}
    accuracies = [results[seed]["test_accuracy"] for seed in sorted(results)]
    mean = statistics.fmean(accuracies)
    worst = min(sorted(results), key=lambda seed: results[seed]["test_accuracy"])
    return {"n": len(accuracies), "mean": mean,
            "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
            "worst": (results[worst]["test_accuracy"], worst),
            "epochs": statistics.fmean(results[seed]["epochs"] for seed in results),
            "seconds": statistics.fmean(results[seed]["seconds"] for seed in results),
            "reproduced": mean >= reference - TOLERANCE}


def verdict(summary, n_seeds, quick):
    """The verdict column: a quick run claims nothing; a system short of seeds did not run."""
    if summary["n"] < n_seeds:
        return "did not run" if summary["n"] == 0 else f"only {summary['n']} of {n_seeds} ran"
    if quick:
        return "ran (not claimed)"
    return "**reproduced**" if summary["reproduced"] else "below the reference"


def table(systems, summaries, n_seeds, quick):
    """The markdown table, one row per system, as lines."""
    lines = [f"| system | reference | from | mean ± sd ({n_seeds} seed{'s' * (n_seeds > 1)}) | "
             "worst seed | epochs | s / run | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for system, s in zip(systems, summaries):
        _, _, what, reference, source = system
        if s["n"]:
            figure = f"{s['mean']:.4f}" + (f" ± {s['sd']:.4f}" if s["sd"] is not None else "")
            worst = f"{s['worst'][0]:.4f} (seed {s['worst'][1]})"
            epochs = f"{s['epochs']:.3g}"
            seconds = f"{s['seconds']:.1f}" if s["seconds"] < 10 else f"{s['seconds']:.0f}"
        else:
            figure = worst = epochs = seconds = "—"
        lines.append(f"| `{command(system)}`: {what} | {reference:.4f} | {source} | {figure} | "
                     f"{worst} | {epochs} | {seconds} | {verdict(s, n_seeds, quick)} |")
    return lines


def report(systems, summaries, n_seeds, quick):
    """The lines after the table and the exit status: (lines, status). The last line says
    how many systems' means are at or above their reference (a quick run: how many ran)."""
    ran = sum(s["n"] == n_seeds for s in summaries)
    if quick:
        return ([f"quick: {ran} / {len(systems)} systems ran ({' '.join(QUICK_FLAGS)}, "
                 f"{n_seeds} seed{'s' * (n_seeds > 1)}): a smoke run, it does not claim the "
                 "reference figures"],
                0 if ran == len(systems) else 1)
    reproduced = sum(s["n"] == n_seeds and s["reproduced"] for s in summaries)
    return ([f"reproduced: {reproduced} / {len(systems)} at or above the reference"],
            0 if reproduced == len(systems) else 1)


def run_all(args, seeds):
    """Run the sweep: ({config key: figures} of the runs finished, how many of them ran now
    rather than came from --results, the sweep's error or None). Each run that finishes now
    gets a line on stderr."""
    todo = configs(SYSTEMS, seeds, args.quick)
    finished = {}

    def progress(config, result):
        finished[key(config)] = result
        print(f"  [{len(finished)}/{len(todo)}] {' '.join([config['script'], *config['flags']])}"
              f" --seed {config['seed']}: test accuracy {result['test_accuracy']:.4f}, "
              f"{result['seconds']:.0f} s", file=sys.stderr, flush=True)

    try:
        results = sweep(run_example, todo, jobs=args.jobs, scheduler=args.scheduler,
                        results=args.results, on_result=progress)
    except (SweepError, ValueError, ImportError, OSError) as e:
        return {**earlier(args.results, todo), **finished}, len(finished), e
    return {key(config): result for config, result in zip(todo, results)}, len(finished), None


def earlier(path, todo):
    """{config key: figures} of the runs of ``todo`` already in the results file ``path`` (to
    show them when the sweep fails; empty if there is no file, or it cannot be read)."""
    wanted = {key(config) for config in todo}
    try:
        records = read_results(path) if path else []
    except (OSError, ValueError):
        return {}
    return {key(r["config"]): r["result"] for r in records
            if r["run"] == RUN and key(r["config"]) in wanted}


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=count(1), default=None, metavar="N",
                        help="seeds 0 .. N-1 for every system (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run ({' '.join(QUICK_FLAGS)}): claims no figure")
    add_sweep_flags(parser)
    parser.add_argument("--results", metavar="FILE.jsonl",
                        help="keep each finished run in this JSON-lines file; skip the runs "
                             "already in it")
    args = parser.parse_args(argv)
    if args.scheduler and args.jobs != 1:
        parser.error("--jobs, --scheduler: give one (local processes or a Dask cluster)")
    seeds = range(args.seeds or (1 if args.quick else 3))

    start = time.perf_counter()
    results, ran_now, error = run_all(args, seeds)
    wall = time.perf_counter() - start
    summaries = []
    for system in SYSTEMS:
        runs = {config["seed"]: results[key(config)]
                for config in configs([system], seeds, args.quick) if key(config) in results}
        summaries.append(summarise(system[3], runs))

    if args.quick:
        print(f"QUICK RUN ({' '.join(QUICK_FLAGS)}): checks that every system runs; its "
              "figures are not the reference figures and claim nothing.")
    print(f"Test accuracy over seeds {', '.join(map(str, seeds))}; the verdict compares the "
          "mean with the reference.\n")
    print("\n".join(table(SYSTEMS, summaries, len(seeds), args.quick)))
    total, before = len(seeds) * len(SYSTEMS), len(results) - ran_now
    how = f"scheduler {args.scheduler}" if args.scheduler else f"--jobs {args.jobs}"
    print(f"\n{len(results)} of {total} runs finished" if len(results) < total else
          f"\n{total} runs", end="")
    print(f" ({before} from {args.results})" if before else "", end="")
    print(f", {wall:.0f} s wall time ({how})")
    lines, status = report(SYSTEMS, summaries, len(seeds), args.quick)
    print("\n".join(lines), flush=True)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
