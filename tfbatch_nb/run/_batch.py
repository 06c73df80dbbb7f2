"""``Batch``: one logical job over one or more provider batches; polling, waiting, results.

``batch.id`` is the journal's job id (``job_...``), stable across restarts and the same for a
one-part and a ten-part job; ``batch.ids`` are the provider batch ids, one per part.

The job's status folds the parts' statuses (:func:`tfbatch_nb.ui.combine_status`):
``in_progress`` while any part runs, ``completed`` when all completed, ``failed`` when all
are done and a part failed validation. ``results()`` then still returns every row (the failed
part's rows are ``failed``, or what the server's files say of them) unless every part failed
without writing a file, which raises ``BatchFailedError`` with the server's errors.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator, Iterable
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import pandas as pd

from ..build import BatchRequests
from ..errors import (
    BatchFailedError,
    BatchInputError,
    BatchTimeoutError,
    GatewayUnreachableError,
    TfBatchError,
)
from ..ui import (
    TERMINAL,
    PartSnapshot,
    Snapshot,
    make_snapshot,
    part_from_batch,
    render_html,
    render_text,
    widget_frontend,
)
from ._context import Context, public_url, speaking_to
from ._cost import Cost, cost_of
from ._outcome import collect, error_frame, fold, join_rows, unanswered, validation_errors
from ._poll import Pace, Watcher, describe, is_transient, retry_after, until_next_poll, wait_until_done
from ._submit import QUEUED, ensure_created

__all__ = ["Batch", "Listener", "SubmitJob"]


def _notifying(callback: Callable[[Batch], Any] | None) -> Callable[[Batch], Any]:
    # The browser's notification first, then the user's own callback, if any.
    def notify(batch: Batch) -> None:
        from ..ui import widgets

        snap = batch.snapshot()
        widgets.browser_notification(
            batch.name or batch.id, f"{snap.status} {snap.completed + snap.failed}/{snap.total}"
        )
        if callback is not None:
            callback(batch)

    return notify


def _spent_line(cost: Cost) -> str:
    # One line for the panel: what the answers cost, and what a trial projected.
    if cost.cost_usd is None:
        return f"{cost.input_tokens:,} input + {cost.output_tokens:,} output tokens; {cost.note}"
    line = (f"spent ${cost.cost_usd:,.4f} at batch prices ({cost.input_tokens:,} input + {cost.output_tokens:,} "
            "output tokens)")  # fmt: skip
    if cost.projected_usd is not None:
        line += f"; the trial projected ~${cost.projected_usd:,.4f}"
    return line


def _iso(seconds: float | None) -> str | None:
    return (
        None
        if seconds is None
        else datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")
    )


def version() -> str:
    """This library's version, as installed (lineage records it).

    Examples
    --------
    >>> version().count(".") >= 1
    True
    """
    try:
        return metadata.version("tfbatch_nb")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


log = logging.getLogger("tfbatch_nb")
#: The error code of a batch refused for the organisation's enqueued-token limit (OpenAI, Azure).
QUOTA_CODE = "token_limit_exceeded"
Listener = Callable[[Snapshot], None]
#: How a job submits its retry job: the connection's own submit path (``Gateway`` passes its own).
SubmitJob = Callable[..., "Batch"]


class Batch:
    """One logical job: a provider batch per part of the requests; made by ``gw.submit`` / ``gw.attach``.

    Attributes
    ----------
    id : str
        The journal's job id.
    ids : list of str
        The provider batch ids, one per part (fewer while a submit is unfinished).
    name : str or None
        The name given at submit.

    Examples
    --------
    >>> batch = gw.submit(reqs, name="reviews-v1")
    >>> batch.wait(progress=False).status
    'completed'
    >>> batch.results(join=df)[["review_id", "status"]].shape
    (37, 2)
    """

    def __init__(
        self, ctx: Context, job_id: str, *, open_job: Callable[[str], Batch], submit_job: SubmitJob
    ) -> None:
        self._ctx = ctx
        self._open_job = open_job  # the connection's one Batch object per job (retry jobs are jobs too)
        self._submit_job = submit_job
        self.id = job_id
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._watcher: Watcher | None = None
        self._polls = self._transient = 0
        self._last_error: str | None = None
        self._updated: float | None = None
        self._pace = Pace(ctx.poll_first)
        # on_done callbacks not yet called: (callback, the loop of the cell that asked, its context)
        self._on_done: list[
            tuple[Callable[[Batch], Any], asyncio.AbstractEventLoop | None, contextvars.Context]
        ] = []
        self._next_poll_at: float | None = None
        self._spent: str | None = None  # the cost line, once the results were read
        self._frame: pd.DataFrame | None = None
        self._parts = ctx.journal.part_snapshots(job_id)

    # -- facts ------------------------------------------------------------------------------
    def _job(self) -> dict[str, Any]:
        job = self._ctx.journal.job(self.id)
        if job is None:  # pragma: no cover - the journal lost a row under us
            raise TfBatchError(f"job {self.id} is not in the journal {self._ctx.journal.folder}")
        return job

    @property
    def name(self) -> str | None:
        """The job's name (None if none was given)."""
        name = self._job()["name"]
        return str(name) if name is not None else None

    @property
    def ids(self) -> list[str]:
        """The provider batch ids, in part order."""
        with self._lock:
            return [p.batch_id for p in self._parts if p.batch_id]

    @property
    def status(self) -> str:
        """The job's status as last polled (see the module docstring)."""
        return self.snapshot().status

    @property
    def counts(self) -> dict[str, int]:
        """``total``, ``completed`` and ``failed`` request counts summed over the parts, as last polled."""
        s = self.snapshot()
        return {"total": s.total, "completed": s.completed, "failed": s.failed}

    def snapshot(self) -> Snapshot:
        """What is known now, without any HTTP call.

        Examples
        --------
        >>> batch.snapshot().status
        'completed'
        """
        job = self._job()
        with self._lock:
            parts = tuple(self._parts)
            finished = [p["finished_at"] for p in self._ctx.journal.parts(self.id) if p["finished_at"]]
            return make_snapshot(
                job_id=self.id, name=job["name"], provider=job["provider"], model=job["model"],
                endpoint=job["endpoint"], parts=parts, created_at=job["created"], updated_at=self._updated,
                finished_at=max(finished) if finished else None, now=time.time(), last_error=self._last_error,
                polls=self._polls, transient_errors=self._transient, next_poll_at=self._next_poll_at,
                note=self._queue_note(job, parts), spent=self._spent,
            )  # fmt: skip

    def _queue_note(self, job: dict[str, Any], parts: tuple[PartSnapshot, ...]) -> str | None:
        # What the panel says of parts waiting for room under the quota.
        waiting = [p for p in parts if p.status == QUEUED]
        if not waiting:
            return None
        rows = {r["idx"]: r for r in self._ctx.journal.parts(self.id)}
        enqueued = sum(
            int(rows[p.index].get("est_tokens") or 0) for p in parts if p.batch_id and not p.terminal
        )
        budget = job.get("max_enqueued_tokens")
        limit = f" of the limit {int(budget):,}" if budget else ""
        return f"{len(waiting)} part(s) queued (quota): ~{enqueued:,} tokens enqueued{limit}"

    # -- state changes ------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the parts' state from the journal again (after a submit or attach wrote it).

        Examples
        --------
        >>> batch.reload()
        >>> batch.ids == [p["batch_id"] for p in gw.journal.parts(batch.id)]
        True
        """
        with self._lock:
            self._parts = self._ctx.journal.part_snapshots(self.id)

    def _absorb(self, part: PartSnapshot) -> None:
        """Take in a part's new state; journal it."""
        with self._lock:
            kept = self._ctx.journal.record_part(self.id, part)
            if kept.index < len(self._parts):
                self._parts[kept.index] = kept
            else:
                self._parts.append(kept)

    def note_error(self, exc: BaseException) -> None:
        """Count an error that polling or submitting went on after; the snapshot shows the last one.

        Examples
        --------
        >>> batch.note_error(TimeoutError("slow gateway"))
        >>> batch.snapshot().last_error
        'TimeoutError: slow gateway'
        """
        with self._lock:
            self._transient += 1
            self._last_error = describe(exc)

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(snapshot)`` after every poll (from the watcher thread, too).

        Examples
        --------
        >>> def show(snapshot):
        ...     print(snapshot.status)
        >>> batch.add_listener(show)
        >>> _ = batch.refresh()
        completed
        >>> batch.remove_listener(show)
        """
        with self._lock:
            if fn not in self._listeners:
                self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn``."""
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _poll(self, *, notify: bool = True) -> Snapshot:
        """One round of ``batches.retrieve`` for every running part, and when the next one is due.

        Errors the SDK gave up on but polling goes on after (the connection, 408/409/429/5xx) are
        counted, not raised; a ``Retry-After`` among them holds the next round back.
        """
        with self._lock:
            running = [p for p in self._parts if p.batch_id and p.status not in TERMINAL]
            before = (sum(p.completed for p in self._parts), sum(p.failed for p in self._parts),
                      tuple(p.status for p in self._parts))  # fmt: skip
        hold: float | None = None
        for part in running:
            assert part.batch_id is not None
            try:
                with speaking_to(self._ctx.client):
                    remote = self._ctx.client.batches.retrieve(part.batch_id)
            except Exception as exc:
                if not (isinstance(exc, GatewayUnreachableError) or is_transient(exc)):
                    raise
                self.note_error(exc)
                asked = retry_after(exc)
                if asked:
                    hold = max(hold or 0.0, asked)
                continue
            self._absorb(part_from_batch(part.index, remote, n_lines=part.total))
        self._schedule()
        with self._lock:
            now = time.time()
            after = (sum(p.completed for p in self._parts), sum(p.failed for p in self._parts),
                     tuple(p.status for p in self._parts))  # fmt: skip
            started = min((p.created_at for p in self._parts if p.created_at), default=None)
            delay = self._pace.next(
                age=now - started if started else None, moved=after != before, retry_after=hold
            )
            self._polls += 1
            self._updated, self._next_poll_at = now, now + delay
            listeners = list(self._listeners)
        snap = self.snapshot()
        if notify:
            for fn in listeners:
                try:
                    fn(snap)
                except Exception:  # a broken listener (a closed panel) must not stop polling
                    log.debug("tfbatch: listener %r failed", fn, exc_info=True)
        if snap.terminal:
            self._call_on_done()
        return snap

    def on_done(self, callback: Callable[[Batch], Any] | None = None, *, notify: bool = False) -> None:
        """Call ``callback(batch)`` once, when the job reaches a terminal status; polls in the background.

        In a notebook the call runs on the kernel's own loop, between cells (never in the
        watcher's thread), and what it prints lands in the cell that asked for it; an exception
        in it is printed there too, and shown on the panel. Outside a kernel it runs in the thread
        that saw the job finish. A job already done calls it at once (in a notebook: once the
        current cell ends). ``notify=True`` also shows a desktop notification from the browser
        (it asks for permission the first time), for someone working in other tabs.

        Examples
        --------
        >>> batch.on_done(lambda b: print(b.name, "is", b.status))
        reviews-v1 is completed
        """
        if callback is None and not notify:
            raise BatchInputError("on_done() needs a callback, or notify=True")
        if notify:
            callback = _notifying(callback)
        assert callback is not None
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a script, a terminal: no loop runs in this thread
            loop = None
        with self._lock:
            self._on_done.append((callback, loop, contextvars.copy_context()))
        if self.snapshot().terminal:
            self._call_on_done()
        else:
            self.watch()

    def _call_on_done(self) -> None:
        with self._lock:
            due, self._on_done = self._on_done, []
        for callback, loop, context in due:
            if loop is not None and loop.is_running() and not loop.is_closed():
                loop.call_soon_threadsafe(self._run_on_done, callback, context=context)
            else:
                self._run_on_done(callback)

    def _run_on_done(self, callback: Callable[[Batch], Any]) -> None:
        try:
            callback(self)
        except Exception as exc:  # shown, not swallowed: the user's code failed, not the job
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            with self._lock:
                self._last_error = f"on_done callback failed: {describe(exc)}"

    def _schedule(self) -> None:
        """The part scheduler's turn at every poll: requeue quota failures, create the parts that may start."""
        quota = [
            p
            for p in self._parts
            if p.status == "failed" and any(e.get("code") == QUOTA_CODE for e in p.errors)
        ]
        for (
            part
        ) in quota:  # accepted, then refused for the organisation's enqueued tokens: try it again later
            retries = next(
                (r["quota_retries"] or 0 for r in self._ctx.journal.parts(self.id) if r["idx"] == part.index),
                0,
            )
            self._ctx.journal.requeue_part(
                self.id, part.index, hold_s=min(self._ctx.quota_wait * 2**retries, 3600.0)
            )
            log.info(
                "tfbatch: part %d of job %s hit the enqueued-token limit; queued again", part.index, self.id
            )
        if quota or any(not p.batch_id for p in self._parts):
            with speaking_to(self._ctx.client):
                ensure_created(self._ctx, self.id, on_error=self.note_error)
            self.reload()

    def parts(self) -> pd.DataFrame:
        """Each part of the job: its status, batch id, earlier batches (refused for quota) and retries.

        Examples
        --------
        >>> batch.parts()[["part", "status", "lines"]].values.tolist()
        [[0, 'completed', 37]]
        """
        rows = [
            {"part": r["idx"], "status": r["status"] or "pending", "batch_id": r["batch_id"], "lines": r["n_lines"],
             "tokens (est.)": r.get("est_tokens"), "quota retries": int(r.get("quota_retries") or 0),
             "earlier batches": [b["batch_id"] for b in r.get("previous_batches") or []]}
            for r in self._ctx.journal.parts(self.id)
        ]  # fmt: skip
        table: pd.DataFrame = pd.DataFrame(rows, columns=["part", "status", "batch_id", "lines", "tokens (est.)",
                                                          "quota retries", "earlier batches"])  # fmt: skip
        return table

    def refresh(self) -> Snapshot:
        """Poll the gateway once and return the new snapshot (listeners are told).

        Examples
        --------
        >>> batch.refresh().completed
        37
        """
        return self._poll(notify=True)

    def wait(
        self, *, timeout: float | None = None, poll: float | None = None, progress: bool | None = None
    ) -> Batch:
        """Poll in the foreground until the job is done, at the job's pace.

        The pace starts at ``poll`` and slows while nothing moves; it is never faster than a tenth
        of the job's age, and never before a ``Retry-After`` the server sent.

        Parameters
        ----------
        timeout
            Seconds to wait at most; None = until done.
        poll
            The first delay between polls; default 0.25 s for the embedded gateway, else 1 s.
        progress
            ``False``: print nothing. Default: a line like ``reviews-v1: completed 37/37 (0 failed)``
            unless the live panel shows the job; in a terminal it is updated in place while
            waiting, in a notebook only the final line is printed (the same on every run).

        Returns
        -------
        Batch
            ``self``, finished.

        Raises
        ------
        BatchTimeoutError
            ``timeout`` ran out; the job keeps running (``wait()`` again or ``attach`` later).

        Examples
        --------
        >>> batch.wait(timeout=600, progress=False).status
        'completed'
        """
        if poll is not None:
            self._pace = Pace(poll)
        wait_until_done(self._poll, label=self.id, timeout=timeout, progress=progress)
        return self

    async def wait_async(self, *, timeout: float | None = None) -> Batch:
        """``await batch.wait_async()``: wait for the job without blocking the kernel's event loop.

        Each poll runs in a worker thread and the waits between polls are ``asyncio.sleep``, so
        other coroutines, widget messages and the panel go on meanwhile.

        Raises
        ------
        BatchTimeoutError
            ``timeout`` seconds passed first; the job keeps running.

        Examples
        --------
        >>> import asyncio
        >>> asyncio.run(batch.wait_async(timeout=60)).status
        'completed'
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        snap = await asyncio.to_thread(self._poll)
        while not snap.terminal:
            delay = until_next_poll(snap)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BatchTimeoutError(
                        f"job {self.id} still {snap.status} after {timeout} s "
                        f"({snap.completed + snap.failed}/{snap.total} done); it keeps running"
                    )
                delay = min(delay, left)
            await asyncio.sleep(delay)
            snap = await asyncio.to_thread(self._poll)
        return self

    def __await__(self) -> Generator[Any, None, pd.DataFrame]:
        """``res = await batch``: wait without blocking the event loop, then the results frame."""
        return self._results_async().__await__()

    async def _results_async(self) -> pd.DataFrame:
        await self.wait_async()
        return await asyncio.to_thread(self.results)

    def watch(self) -> Watcher:
        """Poll in a daemon thread (at the same pace as :meth:`wait`), telling the listeners; never prints.

        Two calls share one watcher. It stops at a terminal status, on ``stop()``, at exit.

        Examples
        --------
        >>> w = batch.watch()
        >>> w.join(5)  # a finished job: the watcher polls once and ends
        >>> w.is_alive()
        False
        """
        with self._lock:
            if self._watcher is None or not self._watcher.is_alive():
                # Weak references: a forgotten batch may be collected, and its thread then ends.
                refresh, note = weakref.WeakMethod(self.refresh), weakref.WeakMethod(self.note_error)

                def poll() -> Snapshot | None:
                    method = refresh()
                    return None if method is None else method()

                def on_error(exc: BaseException) -> None:
                    method = note()
                    if method is not None:
                        method(exc)

                self._watcher = Watcher(poll, on_error=on_error, name=f"tfbatch-watch-{self.id}").start()
            return self._watcher

    def stop_watching(self) -> None:
        """Stop the background watcher, if one runs (``gw.close()`` does it for every job).

        Examples
        --------
        >>> batch.stop_watching()
        >>> batch.watch().is_alive() in (True, False)
        True
        """
        with self._lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.stop()

    def cancel(self) -> Snapshot:
        """Ask the gateway to cancel every running part; finished rows stay in the output files.

        A running watcher keeps polling until the parts reach ``cancelled``, then stops.

        Examples
        --------
        >>> batch.cancel().status  # a finished job has nothing left to cancel
        'completed'
        """
        with self._lock:
            running = [p for p in self._parts if p.batch_id and p.status not in TERMINAL]
        for part in running:
            bid = part.batch_id
            assert bid is not None
            with speaking_to(self._ctx.client):
                remote = self._ctx.client.batches.cancel(bid)
            self._absorb(part_from_batch(part.index, remote, n_lines=part.total))
        return self._poll()

    # -- answers ----------------------------------------------------------------------------------
    def _own_results(self, *, timeout: float | None) -> pd.DataFrame:
        snap = self.snapshot()
        if not snap.terminal:
            snap = self.wait(timeout=timeout).snapshot()
        with self._lock:
            fresh = self._frame is None
            if self._frame is None:
                with speaking_to(self._ctx.client):
                    self._frame = collect(self._ctx, self._job(), snap.parts)
            frame = self._frame
        if fresh:  # the money is known now: the panel shows it
            spent = self._priced(frame)
            with self._lock:
                self._spent = _spent_line(spent)
                listeners = list(self._listeners)
            shown = self.snapshot()
            for fn in listeners:
                try:
                    fn(shown)
                except Exception:  # a closed panel must not break results()
                    log.debug("tfbatch: listener %r failed", fn, exc_info=True)
        return frame

    def results(
        self, *, join: Any = None, timeout: float | None = None, retries: bool = True
    ) -> pd.DataFrame:
        """The results frame: index ``custom_id``, one row per request.

        Waits for the job first if it is still running. Files are downloaded once into the
        journal folder; later calls read them from there. Finished retry jobs made by
        :meth:`retry_failed` are folded in (a retried success replaces the failed row).

        Parameters
        ----------
        join
            Your rows (pandas, polars or pyarrow): the results are joined onto them by the requests'
            id column (else by position); the joined frame is pandas.
        timeout
            Passed to :meth:`wait` when the job is still running.
        retries
            Fold in the answers of finished :meth:`retry_failed` jobs (default); ``False`` shows
            this job's own outcome only.

        Raises
        ------
        BatchFailedError
            Every part failed (validation, quota...) without a result file; carries the server's
            ``errors.data`` lines.

        Examples
        --------
        >>> res = batch.results()
        >>> res["status"].value_counts().to_dict()
        {'completed': 37}
        """
        frame = self._own_results(timeout=timeout)
        parts = self.snapshot().parts
        if unanswered(parts):
            errs = validation_errors(parts)
            raise BatchFailedError(
                f"job {self.id} failed ({', '.join(self.ids)}); the server wrote no result file", errors=errs
            )
        if retries:
            frame = self._with_retries(frame, refresh=True)
        if join is not None:
            frame = join_rows(frame, join, self._job().get("id_column"))
        else:
            frame = frame.copy(deep=False)  # the cached frame keeps no attrs of a caller's
        frame.attrs["tfbatch"] = self.lineage()
        return frame

    def cost(self) -> Cost:
        """What the job's answers cost: their measured tokens at batch prices (and at real-time prices).

        Counts this job's own rows (a ``retry_failed`` job has its own cost). Prices come from
        ``connect(prices=...)``, then ``tfb.build.PRICES``; a model with no price says so. When a
        ``gw.trial`` of the same requests ran first, its projection is shown beside the cost.

        Examples
        --------
        >>> batch.cost().input_tokens > 0
        True
        """
        snap = self.snapshot()
        job = self._job()
        if not snap.terminal:
            return Cost(rows=0, input_tokens=0, output_tokens=0, model=job["model"], price_key=None, cost_usd=None,
                        realtime_usd=None, note=f"the job is still {snap.status}: its cost is counted when it ends")  # fmt: skip
        return self._priced(self._own_results(timeout=None))

    def _priced(self, frame: pd.DataFrame) -> Cost:
        # The frame's usage at this connection's prices, the trial's projection beside it.
        job = self._job()
        spent = cost_of(frame, model=job["model"], prices=self._ctx.prices)
        projection = self._ctx.projections.get(str(job.get("sha256")))
        return spent if projection is None else dataclasses.replace(spent, projected_usd=projection.cost_usd)

    def lineage(self) -> dict[str, Any]:
        """Where this job's answers come from, as JSON: what ``results()`` puts in ``res.attrs["tfbatch"]``.

        Keys: ``name``, ``job_id``, ``batch_ids``, ``endpoint``, ``model``, ``provider``, ``base_url``
        (without credentials), ``template`` (prompt / system / params), ``request_hash`` (of the
        lines), ``submitted_at``, ``completed_at`` (ISO 8601, UTC) and ``library_version``.

        Examples
        --------
        >>> info = batch.lineage()
        >>> info["name"], info["model"], info["template"]["params"]
        ('reviews-v1', 'openai-main/gpt-4o-mini', {'max_tokens': 5})
        """
        job = self._job()
        snap = self.snapshot()
        finished = [p["finished_at"] for p in self._ctx.journal.parts(self.id) if p["finished_at"]]
        done = max(finished) if finished and snap.terminal else None
        return {
            "name": job["name"],
            "job_id": self.id,
            "batch_ids": list(snap.ids),
            "endpoint": job["endpoint"],
            "model": job["model"],
            "provider": job["provider"],
            "base_url": public_url(str(self._ctx.client.base_url).rstrip("/")),
            "template": job.get("template"),
            "request_hash": job.get("sha256"),
            "submitted_at": _iso(job["created"]),
            "completed_at": _iso(done),
            "library_version": version(),
        }

    def _with_retries(self, frame: pd.DataFrame, *, refresh: bool) -> pd.DataFrame:
        """Fold in the answers of finished retry jobs (polling running ones once if ``refresh``)."""
        for child in self._ctx.journal.children(self.id):
            retried = self._open_job(child["job_id"])
            snap = retried.snapshot()
            if not snap.terminal and refresh:
                snap = retried.refresh()
            if snap.terminal and not unanswered(snap.parts):
                frame = fold(frame, retried.results())
        return frame

    def errors(self) -> pd.DataFrame:
        """Validation errors of failed parts, then failed rows: one frame (empty when all went well).

        Columns: ``kind`` (``validation`` / ``row``), ``part``, ``batch_id``, ``custom_id``,
        ``line``, ``code``, ``message``.

        Examples
        --------
        >>> len(batch.errors())  # nothing went wrong
        0
        """
        snap = self.snapshot()
        return error_frame(snap, self._own_results(timeout=None) if snap.terminal else None)

    def retry_failed(
        self, *, include: Iterable[str] = ("failed", "expired", "cancelled", "missing")
    ) -> Batch:
        """Submit a new, linked job of only the rows whose status is in ``include``.

        Built from the journal's copy of the requests, so it works after a restart. Calling it
        again for the same rows returns the same retry job. ``results()`` of this job then folds
        the retried answers in.

        Returns
        -------
        Batch
            The retry job.

        Raises
        ------
        BatchInputError
            No row to retry.

        Examples
        --------
        >>> try:
        ...     batch.retry_failed()
        ... except tfb.BatchInputError as exc:  # every row completed
        ...     print(str(exc).split(":")[-1].strip())
        nothing to retry
        """
        wanted = set(include)
        snap = self.snapshot()
        if not snap.terminal:
            raise TfBatchError(f"job {self.id} is still {snap.status}; wait() for it before retrying rows")
        frame = self._with_retries(self._own_results(timeout=None), refresh=False)
        ids = frame.index[frame["status"].isin(wanted)].tolist()
        children = self._ctx.journal.children(self.id)
        if not ids and children:
            # A re-run cell: the rows were already retried (and those answers are folded in), so
            # hand back the newest retry job instead of failing or paying again.
            return self._open_job(children[-1]["job_id"])
        if not ids:
            raise BatchInputError(
                f"no rows of job {self.id} have a status in {sorted(wanted)}: nothing to retry"
            )
        job = self._job()
        paths = [self._ctx.journal.part_path(self.id, p.index) for p in snap.parts]
        source = BatchRequests.from_jsonl(paths, provider=self._ctx.provider)
        name = f"{job['name']}-retry{len(children) + 1}" if job["name"] else None
        return self._submit_job(source.subset(ids), name=name, completion_window=job.get("completion_window") or "24h",
                                metadata=job.get("metadata"), force=False, parent_job=self.id,
                                id_column=job.get("id_column"))  # fmt: skip

    # -- display ------------------------------------------------------------------------------------
    def panel(self) -> Any:
        """The live ipywidgets panel of this job (one per job: displaying it twice shows one widget).

        Examples
        --------
        >>> batch.panel() is batch.panel()
        True
        """
        from ..ui import widgets

        return widgets.panel_for(self)

    def __repr__(self) -> str:
        return render_text(self.snapshot())

    def _repr_html_(self) -> str:
        return render_html(self.snapshot())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if widget_frontend():
            from ..ui import widgets

            bundle: dict[str, Any] = widgets.mimebundle(self)
            return bundle
        snap = self.snapshot()
        return {"text/plain": render_text(snap), "text/html": render_html(snap)}
