#!/usr/bin/env bash
# Check scratchnet's CuPy path on this machine's GPU: the tests on cupy, bench_devices.py and
# a short run of every example, in under 8 minutes. See benchmarks/gpu_check.py.
#
#   bash benchmarks/gpu_check.sh OUTDIR [--data MNIST_DIR] [--budget SECONDS] [--help]
#
# Runs from the clone as it is (PYTHONPATH, no install), with the Python that has CuPy and
# PyTorch: $PYTHON if set, else python3. Exit status: 0 all passed, 1 a step failed,
# 2 bad arguments or no MNIST, 3 no GPU on this machine.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" "$here/gpu_check.py" "$@"
