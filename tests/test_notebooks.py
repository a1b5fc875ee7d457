"""The notebooks in notebooks/: each runs top to bottom in a fresh kernel, in quick mode, and
the committed files are clean (outputs of a full-mode run, no volatile metadata, small).

Quick mode (SCRATCHNET_QUICK=1) is set here, so `python -m pytest` runs the whole set quickly
(about 15 s on two busy cores). The notebooks' own asserts (e.g. "the regularised network
beats the unregularised one") make a run fail when the library stops learning, not only when
a cell raises.
Needs nbclient, nbformat, ipykernel and matplotlib (pip install -e ".[notebooks]"): skipped
without them, except under CI, where missing them is a failure. Notebooks that load MNIST are
skipped, saying why, when it is not on this machine (they never download it in a test).
"""
import importlib.util
import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
MAX_BYTES = 500 * 1024          # figures at modest dpi keep a notebook well under this

MISSING = [name for name in ("nbclient", "nbformat", "ipykernel", "matplotlib")
           if importlib.util.find_spec(name) is None]


def needs_notebook_tools():
    if MISSING:
        message = f"{', '.join(MISSING)} not installed: pip install -e '.[notebooks]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def mnist_folder():
    """The folder holding MNIST's four files on this machine, or None. Never downloads."""
    from scratchnet.datasets import MNIST, locate
    from scratchnet.idx import DataNotFoundError
    try:
        files = locate(MNIST, download=False)
    except DataNotFoundError:
        return None
    return str(next(iter(files.values())).parent)


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"])


def test_there_is_a_notebook_per_chapter():
    assert [p.name for p in PATHS] == ["ch1_digits.ipynb", "ch2_backprop.ipynb",
                                       "ch3_improving.ipynb", "ch6_convolutional.ipynb"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    """Saved as execute.py saves it: kernel "python3", stripped, with the outputs of a
    full-mode run (figures included, no errors), and small."""
    needs_notebook_tools()
    import nbformat

    from notebooks.execute import strip
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert strip(nb) == nb, f"{path.name} has volatile metadata: run notebooks/execute.py"
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure saved"
    printed = "".join(o.get("text", "") for o in outputs)
    assert "quick mode" not in printed, "outputs from a quick-mode run: rerun in full mode"
    assert path.stat().st_size < MAX_BYTES


@pytest.fixture(scope="session")
def kernel_home(tmp_path_factory):
    """Where the kernel, IPython, Jupyter and matplotlib may write (shared by the notebooks,
    so that matplotlib builds its font cache once)."""
    return tmp_path_factory.mktemp("kernel-home")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_quick_mode(path, tmp_path, monkeypatch, kernel_home):
    needs_notebook_tools()
    from notebooks.execute import execute
    if any("load_mnist" in source(cell) for cell in read(path)["cells"]):
        folder = mnist_folder()
        if folder is None:
            pytest.skip("MNIST is not on this machine (set SCRATCHNET_DATA to its folder)")
        monkeypatch.setenv("SCRATCHNET_DATA", folder)
    monkeypatch.setenv("SCRATCHNET_QUICK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # Everything the kernel, IPython, Jupyter and matplotlib might write goes to a tmp dir.
    for name in ("XDG_CACHE_HOME", "IPYTHONDIR", "MPLCONFIGDIR", "JUPYTER_RUNTIME_DIR",
                 "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR"):
        monkeypatch.setenv(name, str(kernel_home / name.lower()))
    nb = execute(path, cwd=tmp_path, timeout=600)       # raises on the first failing cell
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure drawn"
    if any("SCRATCHNET_QUICK" in source(cell) for cell in nb.cells if cell.cell_type == "code"):
        printed = "".join(o.get("text", "") for o in outputs)
        assert "quick mode" in printed, "SCRATCHNET_QUICK=1 was not honoured"
