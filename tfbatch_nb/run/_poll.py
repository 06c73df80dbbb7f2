"""Polling's own pace: the foreground loop of ``Batch.wait()`` and the background :class:`Watcher`.

Each takes a ``poll`` callable (one round of ``batches.retrieve`` that returns a snapshot), so
neither knows a ``Batch``. Retrying a failed request is the SDK's job (``max_retries``); what
is added here is only the pace between polls, and going on after an error the SDK gave up on
(:func:`is_transient`: the connection or the server, not the request), which the snapshot counts.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping

import openai

from ..errors import BatchTimeoutError
from ..ui import Progress, Snapshot

__all__ = [
    "Pace",
    "Watcher",
    "describe",
    "is_transient",
    "retry_after",
    "retry_delay",
    "until_next_poll",
    "wait_until_done",
]

log = logging.getLogger("tfbatch_nb")

_RETRY_STATUS = frozenset({408, 409, 429})


def is_transient(exc: BaseException) -> bool:
    """Whether polling should go on after this error: the connection or the server, not the request.

    Examples
    --------
    >>> is_transient(ValueError())
    False
    >>> is_transient(openai.APIConnectionError(request=None))  # type: ignore[arg-type]
    True
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
    """The wait a server asked for with its error (``retry-after-ms`` / ``retry-after``), capped at 60 s.

    Examples
    --------
    >>> retry_after(ValueError()) is None
    True
    """
    response = getattr(exc, "response", None)
    headers: Mapping[str, str] = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            wait: float = float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
        return min(max(wait, 0.0), 60.0)
    return None


def retry_delay(exc: BaseException, attempt: int) -> float:
    """The wait before try ``attempt + 2``: the server's ``Retry-After`` (capped at 60 s), else the SDK's backoff.

    For the two things the SDK cannot retry itself: a create whose answer was lost (it must be
    reconciled first) and a download body cut off after the headers.

    Examples
    --------
    >>> 0.375 <= retry_delay(ValueError(), 0) <= 0.5
    True
    """
    asked = retry_after(exc)
    return asked if asked is not None else min(0.5 * 2.0**attempt, 8.0) * random.uniform(0.75, 1.0)


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


class Pace:
    """When to poll a job next: from its progress and age, and the server's ``Retry-After``.

    Start at ``first`` and grow by 1.5x while nothing moves; back to ``first`` when the job
    moves. Never faster than a tenth of the job's age (a job running for ten minutes is checked
    about every minute: a long batch costs tens of requests, not thousands), never slower than
    ``cap``, and never before the server's ``Retry-After``.

    Parameters
    ----------
    first : float
        The first delay (0.25 s suits the embedded gateway, 1 s a remote one).
    cap : float
        The longest delay.

    Examples
    --------
    >>> pace = Pace(1.0, cap=600.0)
    >>> [round(pace.next(age=0, moved=False), 2) for _ in range(3)]
    [1.0, 1.5, 2.25]
    >>> pace.next(age=600, moved=True)  # ten minutes old: a minute between checks
    60.0
    >>> pace.next(age=5, moved=True, retry_after=20.0)
    20.0
    """

    def __init__(self, first: float = 1.0, *, cap: float = 600.0) -> None:
        self.first, self.cap = max(first, 0.01), cap
        self._delay = self.first

    def next(self, *, age: float | None, moved: bool, retry_after: float | None = None) -> float:
        """The delay until the next poll; call once per poll."""
        if moved:
            self._delay = self.first  # the job is moving: poll fast again
        delay = max(self._delay, 0.1 * (age or 0.0))
        self._delay = min(self._delay * 1.5, self.cap)
        return max(min(delay, self.cap), retry_after or 0.0)


def until_next_poll(snap: Snapshot) -> float:
    """Seconds to sleep before the poll the snapshot says is due next (1 s if it says nothing).

    Examples
    --------
    >>> from tfbatch_nb.ui import make_snapshot
    >>> until_next_poll(make_snapshot(job_id="j", name=None, provider="p", model=None, endpoint="e", parts=[]))
    1.0
    """
    if snap.next_poll_at is None:
        return 1.0
    return max(snap.next_poll_at - time.time(), 0.0)


def wait_until_done(
    poll: Callable[[], Snapshot], *, label: str, timeout: float | None, progress: bool | None
) -> Snapshot:
    """Poll in the foreground until the snapshot is terminal, each time when it says; return it.

    Parameters
    ----------
    poll
        One round of polling (errors worth going on after are counted by it, not raised); its
        snapshot's ``next_poll_at`` says when the next round is due.
    label
        Names the job in the timeout error.
    timeout, progress
        As ``Batch.wait()``.

    Raises
    ------
    BatchTimeoutError
        ``timeout`` seconds passed first; the job keeps running.

    Examples
    --------
    >>> from tfbatch_nb.ui import make_snapshot, part_from_batch
    >>> part = part_from_batch(0, {"id": "b1", "status": "completed"})
    >>> done = make_snapshot(job_id="job_1", name=None, provider="p", model=None, endpoint="e", parts=[part])
    >>> wait_until_done(lambda: done, label="job_1", timeout=1, progress=False).job_id
    'job_1'
    """
    shown = Progress(progress)
    deadline = None if timeout is None else time.monotonic() + timeout
    snap = poll()
    try:
        while not snap.terminal:
            if deadline is not None and time.monotonic() >= deadline:
                raise BatchTimeoutError(
                    f"job {label} still {snap.status} after {timeout} s "
                    f"({snap.completed + snap.failed}/{snap.total} done); it keeps running"
                )
            shown.update(snap)
            delay = until_next_poll(snap)
            if deadline is not None:
                delay = max(min(delay, deadline - time.monotonic()), 0.0)
            time.sleep(delay)
            snap = poll()
    except BaseException:  # a timeout or Ctrl-C: end the live line before the traceback
        shown.abort()
        raise
    shown.finish(snap)
    return snap


# Watchers alive in this process, stopped at interpreter exit so no poll runs during teardown.
_WATCHERS: weakref.WeakSet[Watcher] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - runs at interpreter exit
    for watcher in list(_WATCHERS):
        watcher.stop(join=False)


class Watcher:
    """A daemon thread that calls ``poll`` until the job is terminal, each time when due; never prints.

    Parameters
    ----------
    poll
        One round of polling; returns the new snapshot (whose ``next_poll_at`` says when the next
        round is due), or None when there is nothing left to poll (the job's object was collected).
    on_error
        Told of an error ``poll`` raised; the thread then ends.
    name
        The thread's name.

    Examples
    --------
    >>> from tfbatch_nb.ui import make_snapshot, part_from_batch
    >>> part = part_from_batch(0, {"id": "b1", "status": "completed"})
    >>> done = make_snapshot(job_id="job_1", name=None, provider="p", model=None, endpoint="e", parts=[part])
    >>> w = Watcher(lambda: done, on_error=print, name="demo").start()
    >>> w.join(5); w.is_alive()
    False
    """

    def __init__(
        self,
        poll: Callable[[], Snapshot | None],
        *,
        on_error: Callable[[BaseException], None],
        name: str = "tfbatch-watch",
    ) -> None:
        self._poll = poll
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        _WATCHERS.add(self)

    def start(self) -> Watcher:
        """Start the thread (once)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                snap = self._poll()
            except Exception as exc:  # never let the thread die silently on a non-transient error
                log.debug("tfbatch: %s stopped: %s", self._thread.name, describe(exc))
                self._on_error(exc)
                return
            if snap is None or snap.terminal:
                return
            self._stop.wait(until_next_poll(snap))

    def stop(self, *, join: bool = True) -> None:
        """Stop polling; waits briefly for the thread unless ``join=False``.

        Examples
        --------
        >>> w = Watcher(lambda: None, on_error=print)
        >>> w.stop()
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
