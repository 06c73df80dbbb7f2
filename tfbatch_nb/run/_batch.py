"""``Batch``: one logical job over one or more provider batches; polling, waiting, results.

``batch.id`` is the journal's job id (``job_...``), stable across restarts and the same for a
one-part and a ten-part job; ``batch.ids`` are the provider batch ids, one per part.

The job's status folds the parts' statuses (:func:`tfbatch_nb.status.combine_status`):
``in_progress`` while any part runs, ``completed`` when all completed, ``failed`` when all
are done and a part failed validation. ``results()`` then still returns every row (the failed
part's rows are ``failed``) unless every part failed, which raises ``BatchFailedError``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import BatchFailedError, TfBatchError
from ..ui import _display as display
from ..ui import _progress
from ..ui._snapshot import TERMINAL, PartSnapshot, Snapshot, make_snapshot, part_from_batch, part_from_row
from . import _outcome
from ._poll import Watcher, call_with_retry, describe, is_transient, wait_until_done

if TYPE_CHECKING:
    from ._connection import Gateway

__all__ = ["Batch"]

log = logging.getLogger("tfbatch_nb")
Listener = Callable[[Snapshot], None]


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
    >>> batch = gw.submit(reqs, name="reviews-v1")  # doctest: +SKIP
    >>> batch.wait().status  # doctest: +SKIP
    'completed'
    >>> batch.results(join=df)  # doctest: +SKIP
    """

    def __init__(self, gateway: Gateway, job_id: str) -> None:
        self._gw = gateway
        self.id = job_id
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._watcher: Watcher | None = None
        self._polls = self._transient = 0
        self._last_error: str | None = None
        self._updated: float | None = None
        self._frame: pd.DataFrame | None = None
        self._parts = [part_from_row(r) for r in gateway.journal.parts(job_id)]

    # -- facts ------------------------------------------------------------------------------
    def _job(self) -> dict[str, Any]:
        job = self._gw.journal.job(self.id)
        if job is None:  # pragma: no cover - the journal lost a row under us
            raise TfBatchError(f"job {self.id} is not in the journal {self._gw.journal.folder}")
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
        >>> batch.snapshot().status  # doctest: +SKIP
        'in_progress'
        """
        job = self._job()
        with self._lock:
            parts = tuple(self._parts)
            finished = [p["finished_at"] for p in self._gw.journal.parts(self.id) if p["finished_at"]]
            return make_snapshot(
                job_id=self.id, name=job["name"], provider=job["provider"], model=job["model"],
                endpoint=job["endpoint"], parts=parts, created_at=job["created"], updated_at=self._updated,
                finished_at=max(finished) if finished else None, now=time.time(), last_error=self._last_error,
                polls=self._polls, transient_errors=self._transient,
            )  # fmt: skip

    # -- state changes (also used by _submit) --------------------------------------------------
    def _absorb(self, part: PartSnapshot) -> None:
        """Take in a part's new state; journal it."""
        with self._lock:
            old = self._parts[part.index] if part.index < len(self._parts) else None
            if old is not None and not part.total:
                part = dataclasses.replace(part, total=old.total)
            if part.index < len(self._parts):
                self._parts[part.index] = part
            else:
                self._parts.append(part)
            finished = time.time() if part.terminal and not (old and old.terminal) else None
            fields: dict[str, Any] = dict(status=part.status, total=part.total, completed=part.completed,
                                          failed=part.failed, output_file_id=part.output_file_id,
                                          error_file_id=part.error_file_id, errors=list(part.errors))  # fmt: skip
            if part.batch_id:
                fields["batch_id"] = part.batch_id
            if finished is not None:
                fields["finished_at"] = finished
            self._gw.journal.update_part(self.id, part.index, **fields)
            snap = make_snapshot(
                job_id=self.id, name=None, provider="", model=None, endpoint="", parts=self._parts
            )
            self._gw.journal.update_job(self.id, status=snap.status, total=snap.total, completed=snap.completed,
                                        failed=snap.failed, updated=time.time())  # fmt: skip

    def _note_error(self, exc: BaseException) -> None:
        with self._lock:
            self._transient += 1
            self._last_error = describe(exc)

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(snapshot)`` after every poll (from the watcher thread, too).

        Examples
        --------
        >>> batch.add_listener(lambda s: print(s.status))  # doctest: +SKIP
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
        """One round of ``batches.retrieve`` for every running part; transient errors are noted, not raised."""
        with self._lock:
            running = [p for p in self._parts if p.batch_id and p.status not in TERMINAL]
        for part in running:
            assert part.batch_id is not None
            try:
                remote = self._gw.client.batches.retrieve(part.batch_id)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_error(exc)
                continue
            self._absorb(part_from_batch(part.index, remote, n_lines=part.total))
        with self._lock:
            self._polls += 1
            self._updated = time.time()
            listeners = list(self._listeners)
        snap = self.snapshot()
        if notify:
            for fn in listeners:
                try:
                    fn(snap)
                except Exception:  # a broken listener (a closed panel) must not stop polling
                    log.debug("tfbatch: listener %r failed", fn, exc_info=True)
        return snap

    def refresh(self) -> Snapshot:
        """Poll the gateway once and return the new snapshot (listeners are told).

        Examples
        --------
        >>> batch.refresh().completed  # doctest: +SKIP
        37
        """
        return self._poll(notify=True)

    def _first_delay(self) -> float:
        # The local gateway answers in milliseconds: poll it fast so tutorials feel live.
        return 0.25 if self._gw.local is not None or "127.0.0.1" in self._gw.base_url else 1.0

    def wait(
        self, *, timeout: float | None = None, poll: float | None = None, progress: bool | None = None
    ) -> Batch:
        """Poll in the foreground until the job is done (backoff from ``poll`` up to 30 s).

        Parameters
        ----------
        timeout
            Seconds to wait at most; None = until done.
        poll
            The first delay between polls; default 0.25 s for a local gateway, else 1 s.
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
        >>> batch.wait(timeout=600).status  # doctest: +SKIP
        'completed'
        """
        first = poll if poll is not None else self._first_delay()
        wait_until_done(self, timeout=timeout, first=first, progress=progress)
        return self

    def watch(self) -> Watcher:
        """Poll in a daemon thread (same backoff as :meth:`wait`), telling the listeners; never prints.

        Two calls share one watcher. It stops at a terminal status, on ``stop()``, at exit.

        Examples
        --------
        >>> w = batch.watch()  # doctest: +SKIP
        >>> w.stop()  # doctest: +SKIP
        """
        with self._lock:
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = Watcher(self, first=self._first_delay()).start()
            return self._watcher

    def _stop_watcher(self) -> None:
        with self._lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.stop()

    def cancel(self) -> Snapshot:
        """Ask the gateway to cancel every running part; finished rows stay in the output files.

        A running watcher keeps polling until the parts reach ``cancelled``, then stops.

        Examples
        --------
        >>> batch.cancel().status  # doctest: +SKIP
        'cancelling'
        """
        with self._lock:
            running = [p for p in self._parts if p.batch_id and p.status not in TERMINAL]
        for part in running:
            bid = part.batch_id
            assert bid is not None
            remote = call_with_retry(lambda b=bid: self._gw.client.batches.cancel(b), what="cancel",  # type: ignore[misc]
                                     on_error=self._note_error)  # fmt: skip
            self._absorb(part_from_batch(part.index, remote, n_lines=part.total))
        return self._poll()

    # -- answers ----------------------------------------------------------------------------------
    def _own_results(self, *, timeout: float | None) -> pd.DataFrame:
        snap = self.snapshot()
        if not snap.terminal:
            snap = self.wait(timeout=timeout).snapshot()
        with self._lock:
            if self._frame is None:
                self._frame = _outcome.collect(self, snap.parts)
            return self._frame

    def results(
        self, *, join: pd.DataFrame | None = None, timeout: float | None = None, retries: bool = True
    ) -> pd.DataFrame:
        """The results frame: index ``custom_id``, one row per request (see DESIGN.md).

        Waits for the job first if it is still running. Files are downloaded once into the
        journal folder; later calls read them from there. Finished retry jobs made by
        :meth:`retry_failed` are folded in (a retried success replaces the failed row).

        Parameters
        ----------
        join
            Your rows: the results are joined onto them by the requests' id column (else by index).
        timeout
            Passed to :meth:`wait` when the job is still running.
        retries
            Fold in the answers of finished :meth:`retry_failed` jobs (default); ``False`` shows
            this job's own outcome only.

        Raises
        ------
        BatchFailedError
            Every part failed validation (carries the ``errors.data`` lines).

        Examples
        --------
        >>> res = batch.results()  # doctest: +SKIP
        >>> res["status"].value_counts()  # doctest: +SKIP
        """
        frame = self._own_results(timeout=timeout)
        parts = self.snapshot().parts
        if parts and all(p.status == "failed" for p in parts):
            errs = _outcome.validation_errors(parts)
            raise BatchFailedError(f"job {self.id} failed validation ({', '.join(self.ids)})", errors=errs)
        if retries:
            frame = _outcome.with_retries(self, frame, refresh=True)
        if join is not None:
            return _outcome.join_rows(frame, join, self._job().get("id_column"))
        return frame

    def errors(self) -> pd.DataFrame:
        """Validation errors of failed parts, then failed rows: one frame (empty when all went well).

        Columns: ``kind`` (``validation`` / ``row``), ``part``, ``batch_id``, ``custom_id``,
        ``line``, ``code``, ``message``.

        Examples
        --------
        >>> batch.errors()  # doctest: +SKIP
        """
        return _outcome.error_frame(self)

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
        >>> retry = batch.retry_failed()  # doctest: +SKIP
        >>> retry.wait(); batch.results()  # doctest: +SKIP
        """
        return _outcome.retry(self, set(include))

    # -- display ------------------------------------------------------------------------------------
    def panel(self) -> Any:
        """The live ipywidgets panel of this job (one per job: displaying it twice shows one widget).

        Examples
        --------
        >>> batch.panel()  # doctest: +SKIP
        """
        from ..ui import _widgets as widgets

        return widgets.panel_for(self)

    def __repr__(self) -> str:
        return display.render_text(self.snapshot())

    def _repr_html_(self) -> str:
        return display.render_html(self.snapshot())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if _progress.widget_frontend():
            from ..ui import _widgets as widgets

            bundle: dict[str, Any] = widgets.mimebundle(self)
            return bundle
        snap = self.snapshot()
        return {"text/plain": display.render_text(snap), "text/html": display.render_html(snap)}
