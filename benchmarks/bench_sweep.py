"""Stage 1 of the hyper-parameter search on 1 and on 2 local worker processes.

Runs ``examples/search_hyperparameters.py --stage 1 --jobs N`` (every training a process of its
own that loads MNIST itself, scratchnet.sweep on joblib) with the same reduced grid both ways,
--repeats times, the two alternating so that both see the same load. Prints the wall-clock
seconds (best and median), the speed-up jobs=1 / jobs=2, the load average, and checks that the
printed tables are identical. Ideal on 2 idle cores: a speed-up of 2.

    SCRATCHNET_DATA=../shared/mnist python benchmarks/bench_sweep.py
    python benchmarks/bench_sweep.py --repeats 5 -- --epochs 15 --small-images 10000   # bigger runs
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SEARCH = Path(__file__).resolve().parent.parent / "examples" / "search_hyperparameters.py"
# The whole 64-run grid, each run smaller than the search's (15 epochs on 10,000 images).
REDUCED = ["--epochs", "5", "--small-images", "5000"]


def stage1(jobs, flags):
    """(seconds, stdout) of one stage-1 search on ``jobs`` processes."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(SEARCH), "--stage", "1", "--jobs", str(jobs),
                           *flags], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: search_hyperparameters.py --jobs {jobs} failed: "
                 f"{done.stderr.strip().splitlines()[-1:]}")
    return seconds, done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (default 3)")
    parser.add_argument("flags", nargs="*", help="after --: the search's flags instead of "
                                                 f"the reduced grid ({' '.join(REDUCED)})")
    args = parser.parse_args()
    flags = args.flags or REDUCED
    print(f"stage 1, {' '.join(flags)}; {os.cpu_count()} cores, load average before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    times, tables = {1: [], 2: []}, set()
    for repeat in range(args.repeats):
        for jobs in (1, 2):
            seconds, table = stage1(jobs, flags)
            times[jobs].append(seconds)
            tables.add(table)
            print(f"  repeat {repeat}, jobs={jobs}: {seconds:.1f} s", flush=True)
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| processes | best s | median s |\n|---|---|---|")
    for jobs in (1, 2):
        print(f"| {jobs} | {min(times[jobs]):.1f} | {statistics.median(times[jobs]):.1f} |")
    print(f"speed-up (1 process / 2): best {min(times[1]) / min(times[2]):.2f}, median "
          f"{statistics.median(times[1]) / statistics.median(times[2]):.2f}")
    print(f"tables identical across all {2 * args.repeats} searches: {len(tables) == 1}")
    print(next(iter(tables)) if len(tables) == 1 else "\n---\n".join(sorted(tables)))


if __name__ == "__main__":
    main()
