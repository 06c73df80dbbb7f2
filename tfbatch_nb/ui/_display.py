"""Render a job :class:`~tfbatch_nb.ui.Snapshot` as one text line and as static HTML.

One renderer for every surface: ``Batch.__repr__`` (the text line), ``Batch._repr_html_`` (the
card), and the live panel in :mod:`tfbatch_nb.ui.widgets`, which builds its pieces from the small
HTML/SVG helpers here. Keeping all markup in this module keeps ``widgets.py`` about widgets only,
and keeps this module free of ipywidgets / IPython so the core stays importable without Jupyter.

Determinism matters: saved notebooks are compared by nbval, so the text line never contains a
time or an address, and the HTML of a terminal snapshot contains no time either (elapsed time and
ETA appear only while the job runs). Every value that comes from a gateway or a user is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - the snapshot is only read through attributes
    from ._snapshot import Snapshot

__all__ = [
    "PANEL_CSS",
    "STATUS_COLORS",
    "badge_html",
    "done_html",
    "format_duration",
    "header_html",
    "message_html",
    "parts_html",
    "problems_html",
    "progress_html",
    "render_html",
    "render_text",
    "results_summary_html",
    "sparkline_svg",
    "stats_html",
    "status_color",
]

#: Badge colour per SDK status; anything else a gateway invents gets :data:`_UNKNOWN_COLOR`.
STATUS_COLORS: dict[str, str] = {
    "pending": "#8c959f",
    "validating": "#8250df",
    "in_progress": "#0969da",
    "finalizing": "#1b7c83",
    "completed": "#1a7f37",
    "failed": "#cf222e",
    "expired": "#9a6700",
    "cancelling": "#bc4c00",
    "cancelled": "#6e7781",
}
_UNKNOWN_COLOR = "#57606a"
_DONE_COLOR = "#2da44e"
_FAILED_COLOR = "#cf222e"
_TRACK_COLOR = "rgba(128, 128, 128, 0.22)"
_MUTED = "opacity:0.72"
_FONT = (
    "font-family:var(--jp-ui-font-family, -apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, "
    "sans-serif);font-size:13px;line-height:1.45"
)
_MONO = (
    "font-family:var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace);font-size:12px"
)

# Scoped to the panel's root class: slimmer, rounded progress bars and compact labels. The HTML
# widget renders its value as-is (no sanitizer), so a <style> element is the one way to reach
# the DOM of IntProgress and Button views without a front-end extension.
PANEL_CSS = """<style>
.tfbatch-panel .widget-hprogress { height: 18px; }
.tfbatch-panel .widget-hprogress .progress { height: 10px; border-radius: 5px; margin-top: 4px; }
.tfbatch-panel .widget-hprogress .widget-label { width: 48px; font-size: 12px; opacity: 0.75; }
.tfbatch-panel .tfbatch-buttons { margin-top: 4px; gap: 6px; }
.tfbatch-panel .tfbatch-buttons .jupyter-button { border-radius: 4px; }
.tfbatch-panel .widget-html-content { line-height: 1.45; }
</style>"""


def _e(value: object) -> str:
    """Escape any value for HTML text and attribute context (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def status_color(status: str | None) -> str:
    """Return the badge colour of a status; statuses outside the SDK's list get a neutral grey.

    Examples
    --------
    >>> status_color("completed"), status_color("warming_up")
    ('#1a7f37', '#57606a')
    """
    return STATUS_COLORS.get(status or "", _UNKNOWN_COLOR)


def format_duration(seconds: float | None) -> str:
    """Format seconds as ``42s``, ``3m 05s`` or ``2h 03m`` (``–`` for None or negative).

    Examples
    --------
    >>> format_duration(185), format_duration(None)
    ('3m 05s', '–')
    """
    if seconds is None or seconds < 0:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _name(s: Snapshot) -> str:
    # A job always has a job id; the name is optional (the user may not give one).
    return str(s.name) if s.name else str(s.job_id)


def render_text(s: Snapshot) -> str:
    """Render a snapshot as one short deterministic line (no times, no addresses: nbval-safe).

    ``done`` counts the requests the provider has finished, successfully or not.

    Examples
    --------
    >>> render_text(batch.snapshot())
    "<Batch 'reviews-v1' completed 37/37 done, 0 failed · 1 part>"
    """
    done = int(s.completed) + int(s.failed)
    return (
        f"<Batch {_name(s)!r} {s.status} {done}/{int(s.total)} done, {int(s.failed)} failed"
        f" · {_plural(len(s.parts), 'part')}>"
    )


def badge_html(status: str | None) -> str:
    """Return a coloured pill with the status word as it is (unknown words on grey).

    Examples
    --------
    >>> "completed" in badge_html("completed")
    True
    """
    return (
        f'<span class="tfbatch-badge" data-status="{_e(status)}" style="display:inline-block;'
        f"padding:1px 9px;border-radius:10px;background:{status_color(status)};color:#fff;"
        f'font-size:12px;font-weight:600;letter-spacing:0.02em;line-height:18px">{_e(status)}</span>'
    )


def progress_html(completed: int, failed: int, total: int, *, height: int = 10) -> str:
    """Return a static stacked bar: completed (green) then failed (red) over ``total``.

    Examples
    --------
    >>> "width:50.0%" in progress_html(5, 0, 10)
    True
    """
    total = max(int(total), 0)
    ok_pct = 100.0 * completed / total if total else 0.0
    bad_pct = 100.0 * failed / total if total else 0.0
    title = f"{completed} completed, {failed} failed of {total}"
    seg = f"height:{height}px;float:left"
    return (
        f'<div class="tfbatch-bar" title="{_e(title)}" style="width:100%;height:{height}px;'
        f'border-radius:{height // 2}px;background:{_TRACK_COLOR};overflow:hidden;margin:6px 0 4px">'
        f'<div style="{seg};width:{ok_pct:.1f}%;background:{_DONE_COLOR}"></div>'
        f'<div style="{seg};width:{bad_pct:.1f}%;background:{_FAILED_COLOR}"></div></div>'
    )


def sparkline_svg(values: Sequence[float], *, width: int = 160, height: int = 28) -> str:
    """Draw progress fractions in ``[0, 1]``, oldest first, as a small SVG line (``""`` if < 2).

    Examples
    --------
    >>> sparkline_svg([0.0, 0.5, 1.0]).startswith("<svg")
    True
    """
    if len(values) < 2:
        return ""
    pad = 2
    step = (width - 2 * pad) / (len(values) - 1)
    pts = " ".join(
        f"{pad + i * step:.1f},{height - pad - min(max(v, 0.0), 1.0) * (height - 2 * pad):.1f}"
        for i, v in enumerate(values)
    )
    area = f"{pad},{height - pad} {pts} {pad + (len(values) - 1) * step:.1f},{height - pad}"
    return (
        f'<svg class="tfbatch-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="progress over time"><polygon points="{area}" fill="{_DONE_COLOR}" '
        f'fill-opacity="0.15" stroke="none"/><polyline points="{pts}" fill="none" '
        f'stroke="{_DONE_COLOR}" stroke-width="1.6" stroke-linejoin="round"/></svg>'
    )


def _error_line(err: object) -> str:
    # Providers send errors as {"code", "message", "line"} dicts; be lenient with anything else.
    if isinstance(err, Mapping):
        code, msg, line = err.get("code"), err.get("message"), err.get("line")
        text = f"{code}: {msg}" if code else str(msg)
        return f"{text} (line {line})" if line is not None else text
    return str(err)


def _dot(color: str) -> str:
    return (
        f'<span style="display:inline-block;width:8px;height:8px;border-radius:50%;'
        f'background:{color};margin-right:4px;vertical-align:0"></span>'
    )


def message_html(text: str, *, kind: str = "info") -> str:
    """Return one escaped line of text, coloured by ``kind`` (info, warning, error, success).

    Examples
    --------
    >>> "&lt;b&gt;" in message_html("<b>", kind="error")
    True
    """
    color = {"error": _FAILED_COLOR, "warning": STATUS_COLORS["cancelling"], "success": _DONE_COLOR}
    style = f"color:{color[kind]}" if kind in color else _MUTED
    return f'<div style="{_FONT};font-size:12px;{style}">{_e(text)}</div>'


def header_html(s: Snapshot) -> str:
    """Return the name, status badge, provider and model, and a line with the ids and endpoint.

    Examples
    --------
    >>> "reviews-v1" in header_html(batch.snapshot())
    True
    """
    ids = [p.batch_id for p in s.parts if p.batch_id]
    bits = [f'job <code style="{_MONO}">{_e(s.job_id)}</code>']
    if ids:
        shown = ", ".join(f'<code style="{_MONO}">{_e(i)}</code>' for i in ids[:3])
        more = f" +{len(ids) - 3}" if len(ids) > 3 else ""
        bits.append(f"{'batch' if len(ids) == 1 else 'batches'} {shown}{more}")
    bits.append(f'<code style="{_MONO}">{_e(s.endpoint)}</code>')
    return (
        f'<div style="{_FONT}"><div style="display:flex;align-items:center;gap:10px;flex-wrap:wrap">'
        f'<span style="font-weight:600;font-size:15px">{_e(_name(s))}</span>{badge_html(s.status)}'
        f'<span style="margin-left:auto;{_MUTED}">{_e(s.provider)} · '
        f'<code style="{_MONO}">{_e(s.model or "–")}</code></span></div>'
        f'<div style="{_MUTED};font-size:12px;margin-top:3px">{" · ".join(bits)}</div></div>'
    )


def stats_html(s: Snapshot, *, times: bool = True, history: Sequence[float] = ()) -> str:
    """Return the counts as a legend, then elapsed time and ETA, then a sparkline of ``history``.

    ``times=False`` drops the clock (the static card of a finished job must not change, for nbval);
    ``history`` holds progress fractions over time.

    Examples
    --------
    >>> "37" in stats_html(batch.snapshot(), times=False)
    True
    """
    total, completed, failed = int(s.total), int(s.completed), int(s.failed)
    pending = max(total - completed - failed, 0)
    legend = (
        f"<span>{_dot(_DONE_COLOR)}{completed} completed</span>"
        f"<span>{_dot(_FAILED_COLOR)}{failed} failed</span>"
        f"<span>{_dot('rgba(128,128,128,0.45)')}{pending} pending</span>"
        f'<span style="{_MUTED}">{completed + failed} / {total} done</span>'
    )
    clock = ""
    if times:
        clock = f"{'took' if s.terminal else 'elapsed'} {format_duration(s.elapsed_s)}"
        if s.eta_s is not None and not s.terminal:
            clock += f" · ETA {format_duration(s.eta_s)}"
        if s.next_poll_at is not None and s.updated_at is not None and not s.terminal:
            clock += f" · next check in {format_duration(max(s.next_poll_at - s.updated_at, 0.0))}"
        clock = f'<span style="{_MUTED}">{_e(clock)}</span>'
    spark = sparkline_svg(history, width=120, height=20)
    return (
        f'<div style="{_FONT};display:flex;align-items:center;gap:14px;flex-wrap:wrap;'
        f'font-variant-numeric:tabular-nums">{legend}{clock}'
        f'<span style="margin-left:auto;line-height:0">{spark}</span></div>'
    )


def parts_html(s: Snapshot) -> str:
    """Tabulate the provider batches of a multi-part job (``""`` for a single part).

    Examples
    --------
    >>> parts_html(batch.snapshot())  # one part: no table
    ''
    """
    if len(s.parts) < 2:
        return ""
    cell = "padding:2px 12px 2px 0;text-align:left;border:none;background:none;vertical-align:middle"
    rows = []
    for p in s.parts:
        done, failed = int(p.completed) + int(p.failed), int(p.failed)
        rows.append(
            f'<tr style="background:none"><td style="{cell}">part {int(p.index) + 1}</td>'
            f'<td style="{cell};{_MONO}">{_e(p.batch_id or "–")}</td>'
            f'<td style="{cell}">{badge_html(p.status)}</td>'
            f'<td style="{cell};font-variant-numeric:tabular-nums">{done}/{int(p.total)}'
            f"{f' ({failed} failed)' if failed else ''}</td>"
            f'<td style="{cell};width:140px">{progress_html(p.completed, failed, p.total, height=6)}</td></tr>'
        )
    return (
        f'<table class="tfbatch-parts" style="{_FONT};border-collapse:collapse;margin-top:6px;'
        f'font-size:12px">{"".join(rows)}</table>'
    )


def _all_errors(s: Snapshot) -> list[Any]:
    return [e for p in s.parts for e in (p.errors or ())]


def problems_html(s: Snapshot, *, transient: bool = True, limit: int = 5) -> str:
    """Return the validation errors (at most ``limit``) and, if ``transient``, the last polling error.

    Examples
    --------
    >>> from tfbatch_nb.ui import make_snapshot
    >>> snap = make_snapshot(job_id="job_1", name=None, provider="p", model=None, endpoint="e", parts=[],
    ...                      last_error="TimeoutError: slow", transient_errors=1)
    >>> "TimeoutError: slow" in problems_html(snap)
    True
    """
    out = ""
    errs = _all_errors(s)
    if errs:
        items = "".join(f"<li>{_e(_error_line(e))}</li>" for e in errs[:limit])
        if len(errs) > limit:
            items += f"<li>… and {len(errs) - limit} more</li>"
        out += (
            f'<ul class="tfbatch-errors" style="{_FONT};font-size:12px;margin:6px 0 0;padding-left:18px;'
            f'color:{_FAILED_COLOR}">{items}</ul>'
        )
    if s.note:  # parts waiting for room under a quota: not a problem, but the reason for a pause
        out += message_html(f"⏸ {s.note}", kind="info")
    if transient and s.last_error:
        n = int(s.transient_errors or 0)
        what = f"{n} transient polling error{'s' if n != 1 else ''}, last" if n else "polling error"
        out += message_html(f"⚠ {what}: {s.last_error} (polling continues)", kind="warning")
    return out


def done_html(s: Snapshot) -> str:
    """Return the end-of-job line: the final status and how to get the results frame.

    Examples
    --------
    >>> "completed" in done_html(batch.snapshot())
    True
    """
    ok = s.status == "completed"
    head = f"{'✓' if ok else '✕'} Job {_e(s.status)}"
    if s.failed:
        head += f' <span style="color:{_FAILED_COLOR}">· {int(s.failed)} failed</span>'
    return (
        f'<div style="{_FONT};font-size:12px;margin-top:2px"><span style="color:'
        f'{_DONE_COLOR if ok else status_color(s.status)};font-weight:600">{head}</span>'
        f'<span style="{_MUTED}"> · <code style="{_MONO}">batch.results()</code>'
        f" returns the frame (one row per request, indexed by custom_id)</span>"
        + (f'<div class="tfbatch-spent" style="{_MUTED}">{_e(s.spent)}</div>' if s.spent else "")
        + "</div>"
    )


def results_summary_html(frame: Any) -> str:
    """Summarise a results frame: a bar of rows by status, their counts and the total tokens.

    Parameters
    ----------
    frame : pandas.DataFrame
        The frame of ``batch.results()`` (``status`` and ``total_tokens`` columns).

    Examples
    --------
    >>> "37" in results_summary_html(batch.results())
    True
    """
    counts = (
        {str(k): int(v) for k, v in frame["status"].value_counts(sort=False).items()} if len(frame) else {}
    )
    n = max(sum(counts.values()), 1)
    segs = "".join(
        f'<div title="{_e(k)}: {v}" style="float:left;height:8px;width:{100 * v / n:.2f}%;'
        f'background:{status_color(k)}"></div>'
        for k, v in counts.items()
    )
    legend = "".join(f"<span>{_dot(status_color(k))}{v} {_e(k)}</span>" for k, v in counts.items())
    tokens = frame["total_tokens"].sum() if "total_tokens" in frame.columns else None
    tok = f"{int(tokens):,} total tokens" if tokens is not None and tokens == tokens else "tokens unknown"
    return (
        f'<div style="{_FONT};margin-top:6px"><div style="font-weight:600">Results: {len(frame)} rows'
        f'<span style="{_MUTED};font-weight:400"> · first {min(len(frame), 10)} below; '
        f'<code style="{_MONO}">batch.results()</code> has them all</span></div>'
        f'<div style="height:8px;border-radius:4px;overflow:hidden;background:{_TRACK_COLOR};margin:4px 0">'
        f'{segs}</div><div style="display:flex;gap:14px;flex-wrap:wrap">{legend}'
        f'<span style="{_MUTED}">{_e(tok)}</span></div></div>'
    )


def render_html(s: Snapshot) -> str:
    """Render a snapshot as a static HTML card.

    Name, job and batch ids, provider, model, endpoint, a status badge, a stacked progress bar
    (failed apart), the counts, per-part rows, validation errors, and once terminal how to get
    the results. Times and polling errors appear only while the job runs, so the card of a
    finished job is identical across runs (nbval compares it).

    Parameters
    ----------
    s : Snapshot
        The job's snapshot.

    Returns
    -------
    str
        A self-contained ``<div>`` with inline styles (front ends strip ``<style>`` blocks).

    Examples
    --------
    >>> render_html(batch.snapshot()).startswith("<div")
    True
    """
    body = [
        header_html(s),
        progress_html(int(s.completed), int(s.failed), int(s.total)),
        stats_html(s, times=not s.terminal),
        parts_html(s),
        problems_html(s, transient=not s.terminal),
        done_html(s) if s.terminal else "",
    ]
    return (
        f'<div class="tfbatch-card" style="{_FONT};border:1px solid rgba(128,128,128,0.35);'
        f'border-radius:8px;padding:10px 14px;max-width:720px">{"".join(body)}</div>'
    )
