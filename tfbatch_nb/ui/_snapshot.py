"""A frozen snapshot of a batch job: statuses, counts and times; pure (no HTTP, no I/O).

One :class:`Snapshot` feeds the text repr, the HTML repr and the live panel, so the three never
disagree. A job is one or more provider batches ("parts"); :func:`combine_status` folds their
statuses into the job's status:

- all parts share a status -> that status (also an unknown one a gateway invented);
- any part still running (not terminal) -> ``cancelling`` if a part is cancelling, else the one
  running status when they agree, else ``in_progress``;
- all parts terminal -> ``completed`` if all completed; otherwise ``failed`` if any part failed
  validation, then ``expired``, then ``cancelled``; an unknown terminal mix stays as it is.

Examples
--------
>>> combine_status(["completed", "in_progress"])
'in_progress'
>>> combine_status(["completed", "failed"])
'failed'
>>> combine_status(["JOB_STATE_RUNNING"])
'JOB_STATE_RUNNING'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PENDING",
    "STATUSES",
    "TERMINAL",
    "PartSnapshot",
    "Snapshot",
    "combine_status",
    "make_snapshot",
    "part_from_batch",
    "part_from_row",
]

#: The SDK's statuses; gateways may send others, which are shown as they are.
STATUSES = (
    "validating",
    "failed",
    "in_progress",
    "finalizing",
    "completed",
    "expired",
    "cancelling",
    "cancelled",
)
#: Statuses after which a provider batch never changes again.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: Status of a part whose provider batch does not exist yet (submit recorded, create pending).
PENDING = "pending"


def combine_status(statuses: Iterable[str | None]) -> str:
    """Fold the statuses of a job's parts into the job's status (see the module docstring).

    Parameters
    ----------
    statuses
        One status per part; ``None`` counts as :data:`PENDING`.

    Returns
    -------
    str

    Examples
    --------
    >>> combine_status(["completed", "completed"])
    'completed'
    >>> combine_status(["validating", "finalizing"])
    'in_progress'
    >>> combine_status(["expired", "completed"])
    'expired'
    >>> combine_status([])
    'pending'
    """
    values = [s or PENDING for s in statuses]
    if not values:
        return PENDING
    distinct = set(values)
    if len(distinct) == 1:
        return values[0]
    running = [s for s in values if s not in TERMINAL]
    if running:
        if "cancelling" in running:
            return "cancelling"
        return running[0] if len(set(running)) == 1 else "in_progress"
    for status in ("failed", "expired", "cancelled"):
        if status in distinct:
            return status
    return "completed" if distinct == {"completed"} else ",".join(sorted(distinct))


@dataclass(frozen=True)
class PartSnapshot:
    """The state of one provider batch of a job.

    Attributes
    ----------
    index : int
        0-based part number.
    batch_id : str or None
        The provider batch id (None while the create has not happened yet).
    status : str
        As the gateway sent it (or ``pending``).
    total, completed, failed : int
        The batch's ``request_counts`` (``total`` falls back to the part's line count).
    created_at : float or None
        Unix time of the batch's creation.
    output_file_id, error_file_id : str or None
        Result files, once there.
    errors : tuple of dict
        The batch's validation errors (``errors.data``: code, message, line, param).

    Examples
    --------
    >>> PartSnapshot(0, "batch_1", "completed", 3, 3, 0).terminal
    True
    """

    index: int
    batch_id: str | None
    status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    created_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: tuple[dict[str, Any], ...] = ()

    @property
    def terminal(self) -> bool:
        """Whether this part's batch can no longer change."""
        return self.status in TERMINAL


@dataclass(frozen=True)
class Snapshot:
    """What is known about a job at one moment; what every display renders.

    Attributes
    ----------
    name, job_id : str or None, str
        The user's name for the job and the journal's id.
    provider, model, endpoint : str, str or None, str
        Where and what the requests run.
    status : str
        :func:`combine_status` of the parts.
    parts : tuple of PartSnapshot
    total, completed, failed : int
        Summed over the parts.
    created_at, updated_at : float or None
        Unix times of the job's creation and of this snapshot's last poll.
    elapsed_s, eta_s : float or None
        Seconds since creation (up to the end for a finished job) and a linear estimate of the rest.
    last_error : str or None
        The last transient polling error (polling continues).
    polls, transient_errors : int
        Status polls made and transient errors survived by this process.
    next_poll_at : float or None
        When the next status poll is due (Unix time), while the job runs.
    note : str or None
        A word on parts waiting to be created (e.g. queued for room under a quota).
    spent : str or None
        What a finished job cost, once its results were read (and what a trial projected).
    terminal : bool
        Whether every part is terminal.

    Examples
    --------
    >>> s = make_snapshot(job_id="job_1", name="demo", provider="openai-main", model="m",
    ...                   endpoint="/v1/chat/completions",
    ...                   parts=[PartSnapshot(0, "b1", "in_progress", 10, 4, 1)], created_at=0.0, now=10.0)
    >>> s.status, s.completed, s.failed, s.elapsed_s, s.eta_s
    ('in_progress', 4, 1, 10.0, 10.0)
    """

    name: str | None
    job_id: str
    provider: str
    model: str | None
    endpoint: str
    status: str
    parts: tuple[PartSnapshot, ...] = ()
    total: int = 0
    completed: int = 0
    failed: int = 0
    created_at: float | None = None
    updated_at: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None
    last_error: str | None = None
    polls: int = 0
    transient_errors: int = 0
    terminal: bool = False
    ids: tuple[str, ...] = field(default=())
    next_poll_at: float | None = None
    note: str | None = None
    spent: str | None = None


def make_snapshot(
    *,
    job_id: str,
    name: str | None,
    provider: str,
    model: str | None,
    endpoint: str,
    parts: Sequence[PartSnapshot],
    created_at: float | None = None,
    updated_at: float | None = None,
    finished_at: float | None = None,
    now: float | None = None,
    last_error: str | None = None,
    polls: int = 0,
    transient_errors: int = 0,
    next_poll_at: float | None = None,
    note: str | None = None,
    spent: str | None = None,
) -> Snapshot:
    """Build a :class:`Snapshot` from the parts: status, sums, elapsed time and ETA.

    Parameters
    ----------
    finished_at
        For a terminal job, when it ended (elapsed stops there); else ``now`` is used.
    now
        The current Unix time (passed in, so this stays pure); defaults to ``updated_at``.

    Examples
    --------
    >>> make_snapshot(job_id="j", name=None, provider="p", model=None, endpoint="/v1/embeddings",
    ...               parts=[]).status
    'pending'
    """
    parts = tuple(parts)
    total = sum(p.total for p in parts)
    completed = sum(p.completed for p in parts)
    failed = sum(p.failed for p in parts)
    terminal = bool(parts) and all(p.terminal for p in parts)
    now = now if now is not None else updated_at
    end = finished_at if terminal and finished_at is not None else now
    elapsed = max(end - created_at, 0.0) if created_at is not None and end is not None else None
    eta: float | None = None
    done = completed + failed
    if not terminal and elapsed is not None and 0 < done < total:
        # Linear: the rest goes at the average pace so far. Crude, but honest and monotone enough.
        eta = elapsed * (total - done) / done
    return Snapshot(
        name=name,
        job_id=job_id,
        provider=provider,
        model=model,
        endpoint=endpoint,
        status=combine_status(p.status for p in parts),
        parts=parts,
        total=total,
        completed=completed,
        failed=failed,
        created_at=created_at,
        updated_at=updated_at,
        elapsed_s=elapsed,
        eta_s=eta,
        last_error=last_error,
        polls=polls,
        transient_errors=transient_errors,
        terminal=terminal,
        ids=tuple(p.batch_id for p in parts if p.batch_id),
        next_poll_at=None if terminal else next_poll_at,
        note=None if terminal else note,
        spent=spent if terminal else None,
    )


def _get(obj: Any, name: str) -> Any:
    # The SDK parses leniently (missing fields are None, extras in model_extra); so do we, for dicts too.
    if isinstance(obj, Mapping):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, Mapping):
            value = extra.get(name)
    return value


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _errors(obj: Any) -> tuple[dict[str, Any], ...]:
    errors = _get(obj, "errors")
    data = _get(errors, "data") if errors is not None else None
    out = []
    for e in data or ():
        if isinstance(e, Mapping):
            out.append({k: e.get(k) for k in ("code", "message", "line", "param")})
        else:
            out.append({k: getattr(e, k, None) for k in ("code", "message", "line", "param")})
    return tuple(out)


def part_from_batch(index: int, batch: Any, *, n_lines: int = 0) -> PartSnapshot:
    """Read a provider Batch object (SDK model or dict) into a :class:`PartSnapshot`, leniently.

    Parameters
    ----------
    index
        The part number.
    batch
        ``client.batches.retrieve(...)``'s answer, or a dict of the same fields.
    n_lines
        The part's line count, used as ``total`` until the gateway reports one.

    Examples
    --------
    >>> part_from_batch(0, {"id": "b1", "status": "JOB_STATE_RUNNING"}, n_lines=5)
    PartSnapshot(index=0, batch_id='b1', status='JOB_STATE_RUNNING', total=5, completed=0, failed=0, created_at=None, output_file_id=None, error_file_id=None, errors=())
    """
    counts = _get(batch, "request_counts")
    total = _int(_get(counts, "total")) if counts is not None else 0
    created = _get(batch, "created_at")
    status = _get(batch, "status")
    return PartSnapshot(
        index=index,
        batch_id=_get(batch, "id"),
        status=str(status) if status else "unknown",
        total=total or n_lines,
        completed=_int(_get(counts, "completed")) if counts is not None else 0,
        failed=_int(_get(counts, "failed")) if counts is not None else 0,
        created_at=float(created) if isinstance(created, int | float) else None,
        output_file_id=_get(batch, "output_file_id"),
        error_file_id=_get(batch, "error_file_id"),
        errors=_errors(batch),
    )


def part_from_row(row: Mapping[str, Any]) -> PartSnapshot:
    """Read a journal ``parts`` row into a :class:`PartSnapshot` (what a job looked like when last polled).

    A part whose batch does not exist yet is :data:`PENDING`, with its line count as ``total``.

    Examples
    --------
    >>> part_from_row({"idx": 1, "batch_id": None, "status": None, "total": 0, "n_lines": 5, "completed": None,
    ...                "failed": None, "created_at": None, "output_file_id": None, "error_file_id": None,
    ...                "errors": None})
    PartSnapshot(index=1, batch_id=None, status='pending', total=5, completed=0, failed=0, created_at=None, output_file_id=None, error_file_id=None, errors=())
    """
    return PartSnapshot(
        index=row["idx"],
        batch_id=row["batch_id"],
        status=row["status"] or PENDING,
        total=row["total"] or row["n_lines"] or 0,
        completed=row["completed"] or 0,
        failed=row["failed"] or 0,
        created_at=row["created_at"],
        output_file_id=row["output_file_id"],
        error_file_id=row["error_file_id"],
        errors=tuple(row["errors"] or ()),
    )
