"""Inside a real ipykernel (as nbval and nbconvert run one): what a saved notebook records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_batch_cell_records_widget_plus_deterministic_text(tmp_path: Path, execute_cells: Any) -> None:
    cells = [
        "import pandas as pd, tfbatch_nb as tfb\n"
        f"gw = tfb.connect(local=True, journal={str(tmp_path / 'journal')!r}, gateway_options={{'speed': 'max'}})\n"
        "df = pd.DataFrame({'id': ['a', 'b', 'c'], 'text': ['x', 'y', 'z']})\n"
        "reqs = tfb.build_requests(df, model='openai-main/gpt-4o-mini', prompt='{text}', id_column='id')\n"
        "batch = gw.submit(reqs, name='kernel').wait(progress=False)",
        "batch",
        "batch.panel()",
        "from tfbatch_nb.ui import widgets\nprint(widgets.available())",
        "gw.close()",
    ]
    nb = execute_cells(cells)

    line = "<Batch 'kernel' completed 3/3 done, 0 failed · 1 part>"
    for i in (1, 2):
        (out,) = nb.cells[i].outputs
        data = out["data"]
        assert WIDGET_MIME in data  # the live panel for front ends with the widget manager
        assert data["text/plain"] == line  # what nbval compares: deterministic, no address
        assert "0x" not in data["text/plain"]
    assert nb.cells[1].outputs[0]["data"]["text/html"].startswith('<div class="tfbatch-card"')
    assert nb.cells[3].outputs[0]["text"].strip() == "True"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    classes = [m["state"].get("_dom_classes", []) for m in state.values()]
    assert any("tfbatch-panel" in c for c in classes)
