"""The tutorials are part of the suite: every ``tutorials/*.ipynb`` runs on small settings.

A broken tutorial is a failing test. Notebooks are found by globbing, so a new notebook is
tested as soon as it is added. Each one is executed in memory (outputs are never written back
to the repository) by a ``python3`` kernel with ``METAROUTER_TUTORIAL_QUICK=1`` (small sizes)
and ``MPLBACKEND=Agg`` in its environment, and is checked to be committed without outputs, to
read the quick-mode switch in its first code cell and to end with a "What next" section;
``tutorials/README.md`` must link every notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
QUICK_SWITCH = "METAROUTER_TUTORIAL_QUICK"

parametrize_notebooks = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_tutorials_exist():
    assert NOTEBOOKS, f"no notebooks found in {TUTORIALS}"


@parametrize_notebooks
def test_notebook_runs_in_quick_mode(path, monkeypatch):
    # The kernel is a child process: it inherits this environment.
    monkeypatch.setenv(QUICK_SWITCH, "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = _read(path)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIALS)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error


@parametrize_notebooks
def test_notebook_is_valid_and_committed_without_outputs(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    stored = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not stored, (
        f"{path.name}: cells {stored} have outputs or execution counts; clear them before "
        "committing (see tutorials/README.md)"
    )


@parametrize_notebooks
def test_notebook_reads_the_quick_switch_first(path):
    code_cells = [cell for cell in _read(path).cells if cell.cell_type == "code"]
    assert code_cells, f"{path.name} has no code cell"
    assert QUICK_SWITCH in code_cells[0].source, (
        f"{path.name}: the first code cell must read {QUICK_SWITCH} and set the sizes"
    )


@parametrize_notebooks
def test_notebook_ends_with_what_next(path):
    last = _read(path).cells[-1]
    assert last.cell_type == "markdown" and "What next" in last.source, (
        f"{path.name} must end with a markdown cell holding a 'What next' section"
    )


def test_readme_links_every_notebook():
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    missing = [
        path.name
        for path in NOTEBOOKS
        if not re.search(r"\]\((?:\./)?" + re.escape(path.name) + r"\)", readme)
    ]
    assert not missing, f"tutorials/README.md does not link {missing}"
