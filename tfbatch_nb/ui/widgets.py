"""The live status panel: the only module of tfbatch_nb that imports ipywidgets or IPython.

A :class:`StatusPanel` renders the :class:`~tfbatch_nb.ui.Snapshot` of one batch and calls the
batch's own methods for its buttons; it never talks HTTP. Polling lives in the run stage: the
batch's watcher thread calls the panel's listener with every new snapshot, and the listener only
sets widget traits (ipykernel forwards trait changes from threads to the front end; ``print``
from a thread would land in whichever cell happens to run, so nothing here prints).

All markup comes from the ui stage's renderers, so the panel, ``repr(batch)`` and the static
HTML agree. The core imports this module lazily, only when a front end asks for a rich repr.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from . import _display as display

if TYPE_CHECKING:  # pragma: no cover
    from ._snapshot import Snapshot

__all__ = ["Dashboard", "StatusPanel", "available", "browser_notification", "mimebundle", "panel_for"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_CONFIRM_WINDOW_S = 10.0  # a second Cancel click later than this counts as a new first click
_HISTORY = 120  # points kept for the progress sparkline
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def available() -> bool:
    """Tell whether a live widget can be shown here.

    True inside an IPython kernel with a comm manager (JupyterLab, Notebook 7, VS Code, and also
    nbconvert / nbval, whose kernels are real ones); False in a terminal, a plain script or a
    terminal IPython, where the batch falls back to its text and static HTML.

    Returns
    -------
    bool

    Examples
    --------
    >>> from tfbatch_nb.ui import widgets
    >>> widgets.available()  # in a plain Python process
    False
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:  # not inside IPython at all
        return False
    get_ipython: Any = getattr(ipython, "get_ipython", None)
    kernel = getattr(get_ipython() if get_ipython else None, "kernel", None)
    return getattr(kernel, "comm_manager", None) is not None


def browser_notification(title: str, body: str) -> dict[str, str]:
    """Show a desktop notification from the browser the notebook runs in (asks permission once).

    Displays a small JavaScript output in the current cell; it also marks the page
    (``data-tfbatch-notified`` on ``<body>``) so a test can see it ran where notifications are
    blocked. Outside a kernel it only returns the bundle it would display.

    Returns
    -------
    dict
        The MIME bundle displayed.

    Examples
    --------
    >>> bundle = browser_notification("reviews-v1", "completed 37/37")
    >>> "Notification" in bundle["application/javascript"]
    True
    """
    title_js, body_js = json.dumps(f"tfbatch: {title}"), json.dumps(body)
    script = (
        f"document.body.dataset.tfbatchNotified = {title_js};"
        "if (window.Notification) {"
        f"  const show = () => new Notification({title_js}, {{body: {body_js}}});"
        "  if (Notification.permission === 'granted') show();"
        "  else if (Notification.permission !== 'denied') Notification.requestPermission().then("
        "    p => { if (p === 'granted') show(); });"
        "}"
    )
    bundle = {"application/javascript": script, "text/plain": f"(notified: tfbatch: {title}: {body})"}
    if available():
        from IPython.display import display

        display(bundle, raw=True)  # type: ignore[no-untyped-call]
    return bundle


# One panel per batch object: displaying a batch twice shows two views of one widget model,
# kept in sync by the front end, fed by the one watcher the batch shares between displays.
_PANELS: dict[int, StatusPanel] = {}
_PANELS_LOCK = threading.Lock()


def panel_for(batch: Any) -> StatusPanel:
    """Return the batch's panel, creating it on first use (one widget model per batch).

    Examples
    --------
    >>> panel_for(batch) is panel_for(batch)
    True
    """
    with _PANELS_LOCK:
        panel = _PANELS.get(id(batch))
        # id() values are reused after garbage collection, hence the identity check.
        if panel is None or panel.batch is not batch or panel.comm is None:
            panel = _PANELS[id(batch)] = StatusPanel(batch)
        return panel


def mimebundle(batch: Any) -> dict[str, Any]:
    """Build the rich display of a batch: the live panel plus text and HTML fallbacks.

    Starts the batch's watcher (shared by every display of the batch). ``text/plain`` is the
    batch's deterministic one-line text, which is what nbval compares; ``text/html`` is the
    static card for front ends without the widget manager.

    Examples
    --------
    >>> mimebundle(batch)["text/plain"]
    "<Batch 'reviews-v1' completed 37/37 done, 0 failed · 1 part>"
    """
    return panel_for(batch)._repr_mimebundle_()


def _html(role: str) -> Any:
    # Each part gets a stable class (tfbatch-<role>) for tests and user CSS.
    h = w.HTML()
    h.add_class(f"tfbatch-{role}")
    return h


def _button(description: str, icon: str, tooltip: str) -> Any:
    b = w.Button(description=description, icon=icon, tooltip=tooltip, layout=w.Layout(width="auto"))
    b.add_class("tfbatch-button")
    return b


class StatusPanel(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type information
    """Live panel of one batch job.

    Shows the name and ids, provider and model, a status badge, a progress bar of
    ``completed + failed`` over ``total`` (failed apart, in red), the counts, elapsed time and
    ETA, progress over time, the last transient polling error, per-part rows, and the buttons
    Refresh, Cancel (asks for a second click) and Load results (once the job is terminal).

    Parameters
    ----------
    batch : Batch
        The job; the panel registers a listener on it and renders its current snapshot.

    Examples
    --------
    >>> panel = batch.panel()
    >>> panel.update(batch.refresh())
    >>> panel
    <Batch 'reviews-v1' completed 37/37 done, 0 failed · 1 part>
    """

    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self._lock = threading.RLock()  # listener thread vs button callbacks on the kernel thread
        self._watch: Any = None
        self._armed_at: float | None = None
        self._history: list[float] = []
        self._snapshot: Snapshot | None = None
        self._terminal_seen = False

        self.style = w.HTML(display.PANEL_CSS, layout=w.Layout(display="none"))
        self.header, self.stats, self.parts = _html("header"), _html("stats"), _html("parts")
        self.error, self.message, self.summary = _html("error"), _html("message"), _html("summary")
        self.progress = w.IntProgress(0, min=0, max=1, description="done", layout=w.Layout(width="100%"))
        self.progress.add_class("tfbatch-progress")
        self.failed_bar = w.IntProgress(
            0,
            min=0,
            max=1,
            description="failed",
            bar_style="danger",
            layout=w.Layout(width="100%", display="none"),
        )
        self.failed_bar.add_class("tfbatch-failed")
        self.refresh_button = _button("Refresh", "refresh", "Ask the gateway for the status now")
        self.cancel_button = _button("Cancel", "stop", "Cancel the job (asks for a second click)")
        self.load_button = _button("Load results", "table", "Download and show the results frame")
        self.load_button.disabled = True
        self.refresh_button.on_click(self._on_refresh)
        self.cancel_button.on_click(self._on_cancel)
        self.load_button.on_click(self._on_load)
        self.output = w.Output()
        self.output.add_class("tfbatch-output")
        self.buttons = w.HBox([self.refresh_button, self.cancel_button, self.load_button])
        self.buttons.add_class("tfbatch-buttons")
        rows = [self.style, self.header, self.progress, self.failed_bar, self.stats, self.parts, self.error]
        super().__init__(
            [*rows, self.message, self.buttons, self.summary, self.output],
            layout=w.Layout(
                border="1px solid rgba(128,128,128,0.35)", padding="8px 12px", max_width="720px", width="100%"
            ),
        )
        self.add_class("tfbatch-panel")
        self.update(batch.snapshot())
        batch.add_listener(self._on_snapshot)

    # -- rendering -------------------------------------------------------------------------

    def __repr__(self) -> str:
        # The batch's one-line text: no address, no widget ids, so saved notebooks compare.
        snap = self._snapshot
        return display.render_text(snap) if snap is not None else "<Batch panel>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        snap = self._snapshot
        if snap is not None and not snap.terminal:
            self.watch()
        data: dict[str, Any] = dict(super()._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = repr(self)
        if snap is not None:
            data["text/html"] = display.render_html(snap)
        return data

    def update(self, snapshot: Snapshot) -> None:
        """Render a snapshot: set every trait of the panel from it.

        Safe to call from any thread; it never prints and never does HTTP.

        Parameters
        ----------
        snapshot : Snapshot
            The job's state, e.g. from ``batch.snapshot()``.

        Examples
        --------
        >>> batch.panel().update(batch.snapshot())
        """
        with self._lock:
            self._snapshot = s = snapshot
            total, completed, failed = int(s.total), int(s.completed), int(s.failed)
            done = completed + failed
            if total and (not self._history or self._history[-1] != done / total):
                self._history = [*self._history, done / total][-_HISTORY:]

            self.header.value = display.header_html(s)
            self.progress.max = max(total, 1)
            self.progress.value = min(done, max(total, 1))
            self.progress.bar_style = _bar_style(s)
            self.failed_bar.max = max(total, 1)
            self.failed_bar.value = min(failed, max(total, 1))
            self.failed_bar.layout.display = "" if failed else "none"
            self.stats.value = display.stats_html(s, history=self._history)
            self.parts.value = display.parts_html(s)
            self.error.value = display.problems_html(s)
            self.cancel_button.disabled = bool(s.terminal) or s.status == "cancelling"
            if s.terminal:
                self._armed_at = None
                self.cancel_button.description = "Cancel"
                self.cancel_button.button_style = ""
            self.load_button.disabled = not s.terminal
            if s.terminal and not self._terminal_seen:
                self._terminal_seen = True
                self.load_button.button_style = "primary"
                self.message.value = display.done_html(s)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        # Runs on the watcher thread: an exception here must not kill polling, and nothing may
        # print (it would appear in whatever cell is running), so failures go to the panel.
        try:
            self.update(snapshot)
        except Exception as exc:  # pragma: no cover - defensive
            self.error.value = display.message_html(f"panel update failed: {exc!r}", kind="error")

    # -- watching --------------------------------------------------------------------------

    def watch(self) -> Any:
        """Start (or keep) the batch's background watcher; return its handle.

        Returns
        -------
        Watcher
            The handle of ``batch.watch()`` (``stop()``, ``is_alive()``).

        Examples
        --------
        >>> handle = batch.panel().watch()
        >>> handle.stop()
        """
        with self._lock:
            if self._watch is None or not self._watch.is_alive():
                self._watch = self.batch.watch()
            return self._watch

    def stop(self) -> None:
        """Stop the watcher this panel started (the panel keeps its last state).

        Examples
        --------
        >>> batch.panel().stop()
        """
        with self._lock:
            if self._watch is not None:
                self._watch.stop()

    def close(self) -> None:
        """Detach from the batch and close the widget and its children.

        Examples
        --------
        >>> panel_for(batch).close()
        """
        remove = getattr(self.batch, "remove_listener", None)
        if remove is not None:
            remove(self._on_snapshot)
        for child in (*self.children, *self.buttons.children):
            child.close()
        super().close()

    # -- buttons (run on the kernel thread, from comm messages) ----------------------------

    def _on_refresh(self, _button: Any = None) -> None:
        try:
            self.update(self.batch.refresh())
        except Exception as exc:
            self.error.value = display.message_html(f"refresh failed: {exc}", kind="error")

    def _on_cancel(self, _button: Any = None) -> None:
        now = time.monotonic()
        with self._lock:
            armed = self._armed_at is not None and now - self._armed_at <= _CONFIRM_WINDOW_S
            if not armed:
                # First click only arms: a stray click must not throw away a running job.
                self._armed_at = now
                self.cancel_button.description = "Click again to cancel"
                self.cancel_button.button_style = "danger"
                return
            self._armed_at = None
            self.cancel_button.description = "Cancelling…"
            self.cancel_button.disabled = True
        try:
            self.batch.cancel()
        except Exception as exc:
            self.cancel_button.disabled = False
            self.cancel_button.description = "Cancel"
            self.cancel_button.button_style = ""
            self.error.value = display.message_html(f"cancel failed: {exc}", kind="error")
            return
        self.update(self.batch.snapshot())

    def _on_load(self, _button: Any = None) -> None:
        self.load_button.disabled = True
        self.load_button.description = "Loading…"
        try:
            frame = self.batch.results()
        except Exception as exc:
            self.summary.value = display.message_html(f"could not load results: {exc}", kind="error")
            return
        finally:
            self.load_button.description = "Load results"
            self.load_button.disabled = False
        self.summary.value = display.results_summary_html(frame)
        # append_display_data formats on this thread and sets the trait: no capture context
        # needed, so the table lands in the panel and never in the running cell's output.
        self.output.outputs = ()
        self.output.append_display_data(_preview(frame))


_PREVIEW_COLUMNS = ("status", "content", "parsed", "embedding", "total_tokens", "error_code", "error_message")


def _preview(frame: Any, rows: int = 10) -> Any:
    """The first rows with the columns worth a glance; the full frame is ``batch.results()``."""
    head = frame.head(rows)
    cols = [c for c in _PREVIEW_COLUMNS if c in head.columns and head[c].notna().any()]
    return head[cols] if cols else head


def _bar_style(s: Snapshot) -> str:
    if s.status == "completed":
        return "warning" if s.failed else "success"
    if s.status in ("failed", "expired", "cancelled", "cancelling"):
        return "danger"
    return "info"


class Dashboard(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type information
    """One live panel for every job in the gateway's journal, newest first.

    Parameters
    ----------
    gateway : Gateway
        Its ``batches()`` frame lists the jobs and ``attach()`` opens each one.
    limit : int, default 20
        Show at most this many jobs.

    Examples
    --------
    >>> gw.dashboard()
    <Dashboard 1 jobs>
    """

    def __init__(self, gateway: Any, *, limit: int = 20) -> None:
        self.gateway = gateway
        self.limit = limit
        self.title = w.HTML()
        self.refresh_button = _button("Reload", "refresh", "Read the journal again")
        self.refresh_button.on_click(lambda _b: self.reload())
        self.list = w.VBox()
        super().__init__([w.HBox([self.title, self.refresh_button]), self.list])
        self.add_class("tfbatch-dashboard")
        self.reload()

    def __repr__(self) -> str:
        return f"<Dashboard {len(self.list.children)} jobs>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = dict(super()._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = repr(self)
        return data

    def panels(self) -> list[StatusPanel]:
        """Return the panels shown, newest first.

        Examples
        --------
        >>> [p.batch.name for p in gw.dashboard().panels()]
        ['reviews-v1']
        """
        return list(self.list.children)

    def reload(self) -> None:
        """Re-read the journal and show a live panel per job (newest first).

        Examples
        --------
        >>> dash = gw.dashboard()
        >>> dash.reload()
        >>> len(dash.panels())
        1
        """
        frame = self.gateway.batches()
        keys = _journal_keys(frame)[: self.limit]
        panels = []
        for key in keys:
            panel = panel_for(self.gateway.attach(key))
            if not panel.batch.snapshot().terminal:
                panel.watch()
            panels.append(panel)
        self.list.children = panels
        self.title.value = display.message_html(f"{len(panels)} batch jobs in the journal, newest first")


def _journal_keys(frame: Any) -> list[str]:
    """Pick each job's name (or id) from the journal frame, newest first."""
    if frame is None or len(frame) == 0:
        return []
    for col in ("created_at", "submitted_at", "created"):
        if col in frame.columns:
            frame = frame.sort_values(col, ascending=False, kind="stable")
            break
    for col in ("job_id", "id", "name"):
        if col in frame.columns:
            return [str(v) for v in frame[col].tolist()]
    return [str(v) for v in frame.index.tolist()]
