"""Execute every teaching notebook in ``notebooks/`` top to bottom (STYLE.md section 9).

Each notebook runs on a temporary copy (the committed file, with its outputs, is never
touched) in a kernel started from the test's own Python, with ``CS_TOOLKIT_QUICK=1``
(small problem sizes) and ``MPLBACKEND=Agg``. Any error in a cell fails the test with
that cell's message.
"""

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from nbclient.exceptions import CellExecutionError  # noqa: E402

NOTEBOOK_DIR = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

#: Seconds allowed per cell.
CELL_TIMEOUT = 300

# First cell injected into the temporary copy: the kernel must be this Python (the venv),
# or the notebook would test some other installation of cs_toolkit.
_CHECK_KERNEL = (
    "import sys as _sys\n"
    "assert _sys.prefix == {prefix!r}, "
    "'notebook kernel runs ' + _sys.executable + ', not the test interpreter {exe}'\n"
    "del _sys"
)


def _kernel_manager():
    """A kernel manager for the ``python3`` kernelspec, launched with ``sys.executable``."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    # jupyter_client replaces a bare "python" in the kernelspec with sys.executable; make that
    # explicit so that a python3 kernelspec installed elsewhere cannot change the interpreter.
    argv = list(km.kernel_spec.argv)
    if argv and os.path.basename(argv[0]).startswith("python"):
        km.kernel_spec.argv = [sys.executable] + argv[1:]
    return km


def run_notebook(path, tmp_path, monkeypatch):
    """Execute a copy of the notebook at ``path`` in ``tmp_path``; return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    check = nbformat.v4.new_code_cell(_CHECK_KERNEL.format(prefix=sys.prefix, exe=sys.executable))
    nb.cells.insert(0, check)
    copy = tmp_path / path.name
    nbformat.write(nb, copy)  # the executed copy stays in tmp_path; the committed file is not touched

    monkeypatch.setenv("CS_TOOLKIT_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(),
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        # run in notebooks/ so relative paths behave as for a reader
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed:\n{exc}", pytrace=False)
    nbformat.write(nb, copy)
    return nb


def test_notebooks_are_found():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    before = path.read_bytes()
    nb = run_notebook(path, tmp_path, monkeypatch)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "some code cells did not run"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs {[e['ename'] for e in errors]}"
    assert path.read_bytes() == before, f"{path.name} was modified by the test"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    assert all(c.execution_count is not None for c in code), f"{path.name} is not executed; commit it with outputs"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])), (
        f"{path.name} was committed with an error output"
    )
    assert "CS_TOOLKIT_QUICK" in code[0].source, f"{path.name}: the first code cell must read CS_TOOLKIT_QUICK"
    assert path.stat().st_size < 2_000_000, f"{path.name} is {path.stat().st_size} bytes; lower the figure dpi"


@pytest.mark.slow
def test_runner_reports_the_failing_cell(tmp_path, monkeypatch):
    # The runner must fail loudly, naming the error, when a cell raises.
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nQUICK = os.environ.get('CS_TOOLKIT_QUICK') == '1'\nassert QUICK"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ]
    bad = tmp_path / "src" / "bad.ipynb"
    bad.parent.mkdir()
    nbformat.write(nb, bad)
    with pytest.raises(pytest.fail.Exception, match="broken on purpose"):
        run_notebook(bad, tmp_path, monkeypatch)
