"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CellRunner = Callable[..., nbformat.NotebookNode]


@pytest.fixture
def execute_cells(tmp_path: Path) -> CellRunner:
    """Run code cells in a fresh python3 kernel (as nbval and nbconvert do), in ``tmp_path``.

    Returns the executed notebook, so a test reads each cell's outputs as a saved file records them.
    """

    def run(cells: list[str], *, timeout: int = 120) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
        return nb

    return run
