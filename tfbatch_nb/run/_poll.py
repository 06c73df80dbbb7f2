"""Polling machinery shared by ``Batch.wait()`` and the background :class:`Watcher`.

Transient errors (dropped connections, timeouts, 408/409/429/5xx) are retried with backoff that
respects ``Retry-After``; anything else (401, 404, 400) is the user's to see and passes through.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import openai

from ..errors import BatchTimeoutError
from ..ui import _progress

if TYPE_CHECKING:
    from ._batch import Batch

__all__ = ["Backoff", "Watcher", "call_with_retry", "is_transient", "retry_after", "wait_until_done"]

log = logging.getLogger("tfbatch_nb")
T = TypeVar("T")

_RETRY_STATUS = frozenset({408, 409, 429})


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying: the connection or the server, not the request.

    Examples
    --------
    >>> is_transient(ValueError())
    False
    """
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
    # A body cut off mid-stream (files.with_streaming_response) surfaces as the HTTP library's own
    # error, not the SDK's: httpx (SDK < 3) or httpx2 (SDK >= 3) transport / protocol errors.
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] in ("httpx", "httpx2", "httpcore") and cls.__name__ in (
            "TransportError",
            "StreamError",
            "ProtocolError",
            "NetworkError",
            "TimeoutException",
        ):
            return True
    return False


def retry_after(exc: BaseException) -> float | None:
    """The server's requested wait in seconds (``retry-after-ms`` / ``retry-after``), if any, capped at 60 s.

    Examples
    --------
    >>> retry_after(ValueError()) is None
    True
    """
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return min(max(float(value) * scale, 0.0), 60.0)
        except ValueError:
            continue
    return None


def describe(exc: BaseException) -> str:
    """A short, key-free description of an error for the panel and logs.

    Examples
    --------
    >>> describe(TimeoutError("slow"))
    'TimeoutError: slow'
    """
    status = getattr(exc, "status_code", None)
    text = str(getattr(exc, "message", None) or exc).splitlines()[0] if str(exc) else ""
    head = type(exc).__name__ + (f" {status}" if status else "")
    return f"{head}: {text[:200]}" if text else head


class Backoff:
    """Delays between polls: start fast, grow by 1.5x up to ``cap``; reset to ``first`` on progress.

    Parameters
    ----------
    first : float
        The first delay (0.25 s suits the local gateway, 1 s a remote one).
    cap : float
        The longest delay.

    Examples
    --------
    >>> b = Backoff(1.0, cap=3.0)
    >>> [round(b.next(), 2) for _ in range(4)]
    [1.0, 1.5, 2.25, 3.0]
    """

    def __init__(self, first: float = 1.0, *, cap: float = 30.0) -> None:
        self.first, self.cap = max(first, 0.01), cap
        self._delay = self.first

    def next(self) -> float:
        """Return the next delay and grow the following one."""
        delay = self._delay
        self._delay = min(self._delay * 1.5, self.cap)
        return delay

    def reset(self) -> None:
        """Poll fast again (progress was seen: the job is moving)."""
        self._delay = self.first


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = 10,
    on_error: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """Call an idempotent ``fn``, retrying transient errors with jittered backoff (max ~8 s, or Retry-After).

    Parameters
    ----------
    fn
        The call (it must be safe to repeat: a GET, an upload whose orphan copy costs nothing).
    what
        For log lines.
    attempts
        How many tries before the last error is raised.
    on_error
        Told of every transient error (counted in the snapshot).

    Examples
    --------
    >>> call_with_retry(lambda: 42, what="answer")
    42
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            if on_error is not None:
                on_error(exc)
            delay = retry_after(exc)
            if delay is None:
                delay = min(0.25 * 2 ** (attempt - 1), 8.0) * random.uniform(0.75, 1.0)
            log.debug("tfbatch: %s failed (%s); retry %d in %.2fs", what, describe(exc), attempt, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def wait_until_done(batch: Batch, *, timeout: float | None, first: float, progress: bool | None) -> None:
    """``Batch.wait()``: poll in the foreground with :class:`Backoff` until the job is terminal.

    Transient errors are counted by ``batch._poll`` and polling goes on; progress is shown as
    :class:`~tfbatch_nb._progress.Progress` decides for this place.

    Raises
    ------
    BatchTimeoutError
        ``timeout`` seconds passed first; the job keeps running.
    """
    shown = _progress.Progress(progress)
    deadline = None if timeout is None else time.monotonic() + timeout
    backoff = Backoff(first)
    snap = batch._poll()
    try:
        while not snap.terminal:
            if deadline is not None and time.monotonic() >= deadline:
                raise BatchTimeoutError(
                    f"job {batch.id} still {snap.status} after {timeout} s "
                    f"({snap.completed + snap.failed}/{snap.total} done); it keeps running"
                )
            shown.update(snap)
            delay = backoff.next()
            if deadline is not None:
                delay = max(min(delay, deadline - time.monotonic()), 0.0)
            time.sleep(delay)
            before, snap = snap, batch._poll()
            if (snap.completed, snap.failed, snap.status) != (before.completed, before.failed, before.status):
                backoff.reset()  # the job is moving: poll fast again
    except BaseException:  # a timeout or Ctrl-C: end the live line before the traceback
        shown.abort()
        raise
    shown.finish(snap)


# Watchers alive in this process, stopped at interpreter exit so no poll runs during teardown.
_WATCHERS: weakref.WeakSet[Watcher] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - runs at interpreter exit
    for watcher in list(_WATCHERS):
        watcher.stop(join=False)


class Watcher:
    """A daemon thread polling one job with backoff and calling its listeners with each snapshot.

    Made by ``Batch.watch()``; never prints. Stops at a terminal status, on :meth:`stop`, or at
    interpreter exit.

    Examples
    --------
    >>> w = batch.watch()  # doctest: +SKIP
    >>> w.is_alive()  # doctest: +SKIP
    True
    >>> w.stop()  # doctest: +SKIP
    """

    def __init__(self, batch: Batch, *, first: float, cap: float = 30.0) -> None:
        self._batch = weakref.ref(batch)  # a forgotten batch may be collected; the thread then ends
        self._stop = threading.Event()
        self._backoff = Backoff(first, cap=cap)
        self._thread = threading.Thread(target=self._run, name=f"tfbatch-watch-{batch.id}", daemon=True)
        _WATCHERS.add(self)

    def start(self) -> Watcher:
        """Start the thread (once)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._batch()
            if batch is None:
                return
            try:
                before = batch.snapshot()
                snap = batch._poll(notify=True)
            except Exception as exc:  # never let the thread die silently on a non-transient error
                log.debug("tfbatch: watcher of %s stopped: %s", batch.id, describe(exc))
                batch._note_error(exc)
                return
            if snap.terminal:
                return
            if (snap.completed, snap.failed, snap.status) != (before.completed, before.failed, before.status):
                self._backoff.reset()
            del batch, before, snap
            self._stop.wait(self._backoff.next())

    def stop(self, *, join: bool = True) -> None:
        """Stop polling; waits briefly for the thread unless ``join=False``.

        Examples
        --------
        >>> batch.watch().stop()  # doctest: +SKIP
        """
        self._stop.set()
        if join and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    def is_alive(self) -> bool:
        """Whether the thread is still polling."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (at the job's terminal status)."""
        self._thread.join(timeout)

    def __repr__(self) -> str:
        return f"<Watcher {'alive' if self.is_alive() else 'stopped'}>"
