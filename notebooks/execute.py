"""Run notebooks top to bottom in a fresh kernel, and save them with their outputs.

    python notebooks/execute.py                          # all of them, full mode (~10 min)
    python notebooks/execute.py notebooks/ch2_backprop.ipynb
    SCRATCHNET_QUICK=1 python notebooks/execute.py --check    # quick mode, write nothing

The notebooks are committed *with* the outputs of a full-mode run, so that GitHub shows
their figures. ``strip`` removes what changes from run to run without meaning anything —
execution counts, timings, the versions of Python and of the kernel — so that after a
re-run a diff shows only real changes. The tests (tests/test_notebooks.py) execute the
notebooks in quick mode and check that the committed files are stripped.
"""
import argparse
import copy
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from scratchnet.files import atomic_write

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "jupyter")


def notebooks():
    """Every notebook in this folder, in chapter order."""
    return sorted(HERE.glob("*.ipynb"))


def strip(nb):
    """A copy of ``nb`` without the metadata that changes from run to run; the kernel
    pinned to "python3" (any Python 3 with ipykernel installed runs it)."""
    nb = copy.deepcopy(nb)
    nb.metadata = nbformat.from_dict({"kernelspec": dict(KERNEL),
                                      "language_info": {"name": "python"}})
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.execution_count = None
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = None
    return nb


def execute(path, cwd=None, timeout=1800):
    """Run the notebook at ``path`` in a fresh "python3" kernel (working directory ``cwd``,
    default the notebook's folder); returns it with its outputs. A cell that raises stops
    the run with ``nbclient.exceptions.CellExecutionError``, naming the cell."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, startup_timeout=120,
                            kernel_name=KERNEL["name"], coalesce_streams=True,
                            resources={"metadata": {"path": str(cwd or Path(path).parent)}})
    client.execute()
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="run them, but do not write the outputs back")
    args = parser.parse_args(argv)
    mode = "quick" if os.environ.get("SCRATCHNET_QUICK", "0") != "0" else "full"
    if mode == "quick" and not args.check:
        parser.exit(2, "error: quick-mode outputs are not for committing: unset "
                       "SCRATCHNET_QUICK, or add --check\n")
    for path in args.paths or notebooks():
        print(f"{path}: running in {mode} mode", flush=True)
        nb = strip(execute(path))
        if not args.check:
            data = (nbformat.writes(nb) + "\n").encode()
            atomic_write(path, lambda f, data=data: f.write(data))
            print(f"{path}: written ({len(data) // 1024} KiB)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
