"""The one-line text progress of ``Batch.wait()``, and where it may be printed.

``wait()`` runs in three kinds of places, and each needs something different:

- a terminal (stdout is a tty): one line rewritten in place with ``\\r``, ended by a newline;
- a Jupyter kernel, also under nbconvert / nbclient / nbval: every write becomes a stream output
  that the saved notebook keeps and nbval compares exactly, so ``\\r`` updates would land in it
  differently on every run. In a kernel only the final line is printed (no times in it, so it is
  the same on every run), and nothing at all when the live panel is the display;
- a pipe or a log file: ``\\r`` would only clutter the log, so the final line only.

Examples
--------
>>> from tfbatch_nb.ui._snapshot import make_snapshot, PartSnapshot
>>> part = PartSnapshot(index=0, batch_id="b", status="completed", total=37, completed=37, failed=0)
>>> line(make_snapshot(job_id="job_1", name="reviews-v1", provider="p", model=None, endpoint="e", parts=[part]))
'reviews-v1: completed 37/37 (0 failed)'
"""

from __future__ import annotations

import sys
from typing import TextIO

from ._snapshot import Snapshot

__all__ = ["Progress", "in_kernel", "line", "widget_frontend"]


def line(snap: Snapshot, *, live: bool = False) -> str:
    """The progress line: ``<name>: <status> <done>/<total> (<failed> failed)``; ``live`` adds the elapsed time.

    ``done`` counts the requests the provider finished, successfully or not. Without ``live``
    the line holds no time, so a notebook saves the same text on every run.

    Examples
    --------
    >>> from tfbatch_nb.ui._snapshot import make_snapshot
    >>> line(make_snapshot(job_id="job_1", name=None, provider="p", model=None, endpoint="e", parts=[]))
    'job_1: pending 0/0 (0 failed)'
    """
    done = int(snap.completed) + int(snap.failed)
    text = f"{snap.name or snap.job_id}: {snap.status} {done}/{int(snap.total)} ({int(snap.failed)} failed)"
    if live and snap.elapsed_s is not None:
        text += f" · {snap.elapsed_s:.0f} s"
    return text


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel, also under nbconvert / nbclient / nbval.

    Looked up in ``sys.modules`` (never imported: importing IPython is slow). ``ipykernel``
    being imported is not enough: test runners and tools import it too; a kernel also has a
    running IPython shell with a ``kernel``.

    Examples
    --------
    >>> in_kernel()  # a plain Python process (or pytest)
    False
    """
    if "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return getattr(shell, "kernel", None) is not None


def widget_frontend() -> bool:
    """Whether the live panel can show the job here (a kernel with ipywidgets and a comm manager).

    Examples
    --------
    >>> widget_frontend()  # a plain Python process
    False
    """
    # Only inside a kernel: importing widgets (and ipywidgets) elsewhere is wasted and slow.
    if not in_kernel():
        return False
    try:
        from . import widgets
    except ImportError:
        return False
    return bool(widgets.available())


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or a fake stream
        return False


class Progress:
    """Where ``wait()`` prints: ``"live"`` (``\\r`` updates), ``"final"`` (the last line only) or ``"off"``.

    Parameters
    ----------
    progress
        ``False`` prints nothing; ``None`` (the default of ``wait``) prints nothing when the
        live panel is the display; otherwise the place decides (see the module docstring).
    stream
        Where to write; default ``sys.stdout`` as it is now.

    Examples
    --------
    >>> import io
    >>> Progress(True, stream=io.StringIO()).mode  # not a tty: a log file or a pipe
    'final'
    >>> Progress(False).mode
    'off'
    """

    def __init__(self, progress: bool | None, *, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.mode = "off"
        if progress is False or (progress is None and widget_frontend()):
            return
        self.mode = "live" if not in_kernel() and _isatty(self.stream) else "final"
        self._width = 0  # of the last live line, to blank out what a shorter one leaves behind

    def update(self, snap: Snapshot) -> None:
        """Show a running job's progress (live mode only)."""
        if self.mode != "live":
            return
        text = line(snap, live=True)
        self.stream.write("\r" + text + " " * max(self._width - len(text), 0))
        self.stream.flush()
        self._width = len(text)

    def finish(self, snap: Snapshot) -> None:
        """Print the final line and end it with a newline."""
        if self.mode == "off":
            return
        text = line(snap)
        if self.mode == "live":
            text = "\r" + text + " " * max(self._width - len(text), 0)
        self.stream.write(text + "\n")
        self.stream.flush()

    def abort(self) -> None:
        """End a live line (a timeout or Ctrl-C), so the traceback starts on a line of its own."""
        if self.mode == "live" and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
