"""``wait()``'s text progress in its three places: a terminal, a pipe or log, a notebook kernel."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

import tfbatch_nb as tfb

FINAL = "reviews-v1: completed 37/37 (0 failed)"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_updates_one_line_in_place_then_ends_it(
    start_gateway: Any, connect_to: Any, make_requests: Any, monkeypatch: Any
) -> None:
    gw = connect_to(start_gateway(speed=4.0))  # slow enough for a few polls before the end
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    gw.submit(make_requests(), name="reviews-v1").wait(poll=0.05)
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert text.rsplit("\r", 1)[1].rstrip() == FINAL  # the last rewrite is the final line
    assert text.count("\r") >= 2  # updated while running


def test_pipe_gets_the_final_line_only_and_false_silences(
    gw: Any, make_requests: Any, monkeypatch: Any
) -> None:
    out = io.StringIO()  # a pipe or a log file: not a tty
    monkeypatch.setattr(sys, "stdout", out)
    batch = gw.submit(make_requests(), name="reviews-v1")
    batch.wait()
    assert out.getvalue() == FINAL + "\n"
    out.truncate(0), out.seek(0)
    batch.wait(progress=False)
    batch.results()
    assert out.getvalue() == ""


def test_terminal_timeout_ends_the_line_before_the_error(
    start_gateway: Any, connect_to: Any, make_requests: Any, monkeypatch: Any
) -> None:
    gw = connect_to(start_gateway(speed=0.05))  # minutes: still running at the timeout
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    batch = gw.submit(make_requests(), name="slow")
    with pytest.raises(tfb.BatchTimeoutError, match="keeps running"):
        batch.wait(timeout=0.3, poll=0.05)
    assert out.getvalue().startswith("\r") and out.getvalue().endswith("\n")
    batch.cancel()


def _run(execute_cells: Any, journal: Path) -> list[list[dict[str, Any]]]:
    cells = [
        "import pandas as pd, tfbatch_nb as tfb\n"
        f"gw = tfb.connect(local=True, journal={str(journal)!r}, gateway_options={{'speed': 4.0}})\n"
        "df = pd.DataFrame({'id': [f'r{i:02d}' for i in range(20)], 'text': [f'review {i}' for i in range(20)]})\n"
        "def job(name):\n"
        "    reqs = tfb.build_requests(df.assign(text=df.text + ' ' + name), model='openai-main/gpt-4o-mini',\n"
        "                              prompt='{text}', id_column='id', max_tokens=5)\n"
        "    return gw.submit(reqs, name=name)",
        # Default in a kernel with ipywidgets: the panel is the display, wait() prints nothing.
        "_ = job('widgets').wait(poll=0.05)",
        # A kernel without a widget front end: the final line only.
        "import tfbatch_nb.ui._progress as progress\n"
        "progress.widget_frontend = lambda: False\n"
        "_ = job('no-widgets').wait(poll=0.05)",
        "job('asked').wait(poll=0.05, progress=True);",
        "job('silent').wait(poll=0.05, progress=False);",
        "gw.close()",
    ]
    nb = execute_cells(cells, timeout=180)
    return [[dict(o) for o in cell.outputs] for cell in nb.cells]


def test_saved_notebook_holds_one_deterministic_line(tmp_path: Path, execute_cells: Any) -> None:
    # Run at a pace where each wait() polls several times, twice: nbval compares outputs exactly.
    first = _run(execute_cells, tmp_path / "j1")
    second = _run(execute_cells, tmp_path / "j2")
    assert first == second

    def stream(name: str) -> list[dict[str, Any]]:
        return [{"name": "stdout", "output_type": "stream", "text": f"{name}: completed 20/20 (0 failed)\n"}]

    assert first[1] == [] and first[4] == []
    assert first[2] == stream("no-widgets")
    assert first[3] == stream("asked")
