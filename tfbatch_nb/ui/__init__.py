"""UI: a job's snapshot -> text, HTML and the live ipywidgets panel; the request preview.

Every renderer takes plain data (a :class:`Snapshot`, a preview's numbers) and never calls the
API. This is the only stage that imports ipywidgets, and only when a panel is asked for: the
widget names below load on first use.

Examples
--------
>>> from tfbatch_nb.ui import combine_status
>>> combine_status(["completed", "in_progress"])
'in_progress'
"""

from __future__ import annotations

from ._display import render_html, render_text
from ._preview import RequestsPreview, format_bytes, preview_frame, preview_html, preview_text, request_text
from ._progress import Progress, widget_frontend
from ._snapshot import (
    PENDING,
    STATUSES,
    TERMINAL,
    PartSnapshot,
    Snapshot,
    combine_status,
    make_snapshot,
    part_from_batch,
    part_from_row,
)

__all__ = [
    "PENDING",
    "STATUSES",
    "TERMINAL",
    "PartSnapshot",
    "Progress",
    "RequestsPreview",
    "Snapshot",
    "combine_status",
    "format_bytes",
    "make_snapshot",
    "part_from_batch",
    "part_from_row",
    "preview_frame",
    "preview_html",
    "preview_text",
    "render_html",
    "render_text",
    "request_text",
    "widget_frontend",
]
