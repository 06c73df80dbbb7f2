"""Submitting exactly once: journal the intent, upload, create; reconcile a lost create; attach.

``POST /batches`` is not idempotent, so the SDK must not repeat it on its own: each create is
sent with ``max_retries=0`` and tagged with ``metadata`` (job id, part, hash). When its answer may
have been lost (a dropped connection, a timeout, a 5xx), the gateway's batch list is searched
for the batch before another create is sent: by the ``input_file_id`` just uploaded (unique to
this attempt, and kept by servers that drop metadata), else by the tag. A create is tried at
most as often as the SDK would try any request (``max_retries + 1``). Uploads, lists and
retrieves are the SDK's to retry: an orphan upload costs nothing.

Every function takes a :class:`~tfbatch_nb.run._context.Context` and returns ids: the caller
makes the ``Batch`` and reads the parts' state from the journal.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import openai

from ..build import BatchRequests, estimate_lines
from ..errors import BatchInputError, TfBatchError
from ..ui import TERMINAL, part_from_batch
from ._context import Context
from ._journal import lease_owner
from ._poll import retry_delay

__all__ = ["QUEUED", "TAG_HASH", "TAG_JOB", "TAG_PART", "attach", "claim", "ensure_created"]

log = logging.getLogger("tfbatch_nb")

TAG_JOB, TAG_PART, TAG_HASH = "tfbatch_job", "tfbatch_part", "tfbatch_hash"
#: The status of a part waiting to be created (for room under the quota, or after token_limit_exceeded).
QUEUED = "queued"
_MAX_LIST_PAGES = 20  # 2,000 newest batches: a lost create is among the newest
ErrorSink = Callable[[BaseException], None]


def _ignore(exc: BaseException) -> None:
    """The default error sink: nothing counts the errors."""


def _write_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    user = dict(metadata or {})
    if len(user) > 13:
        raise BatchInputError(
            f"metadata= holds {len(user)} pairs; at most 13 (3 of OpenAI's 16 tag the batch)"
        )
    for key, value in user.items():
        if not isinstance(key, str) or not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise BatchInputError("metadata= must map str keys (<= 64 chars) to str values (<= 512 chars)")
        if key in (TAG_JOB, TAG_PART, TAG_HASH):
            raise BatchInputError(f"metadata key {key!r} is reserved by tfbatch_nb")
    return user


def claim(
    ctx: Context,
    requests: BatchRequests,
    *,
    name: str | None,
    completion_window: str,
    metadata: Mapping[str, str] | None,
    force: bool,
    parent_job: str | None = None,
    id_column: str | None = None,
    output_expires_after: int | None = None,
    max_enqueued_tokens: int | None = None,
) -> str:
    """Journal the intent to submit ``requests`` (or find the job they already are); return its id.

    Nothing is uploaded yet: the journal holds the job, its parts and a copy of their lines, so
    an interrupted submit is finished later by :func:`ensure_created` without building again.
    Everything that can be checked here is, before anything is paid for.
    """
    user_meta = _check_metadata(metadata)
    if output_expires_after is not None and (
        isinstance(output_expires_after, bool)
        or not isinstance(output_expires_after, int)
        or not 3600 <= output_expires_after <= 30 * 86400
    ):
        raise BatchInputError(
            f"output_expires_after= is seconds after the batch's creation, from 3600 (1 hour) to "
            f"2592000 (30 days); got {output_expires_after!r}"
        )
    if max_enqueued_tokens is not None and (
        isinstance(max_enqueued_tokens, bool)
        or not isinstance(max_enqueued_tokens, int)
        or max_enqueued_tokens < 1
    ):
        raise BatchInputError(
            f"max_enqueued_tokens= is your quota of enqueued input tokens, a positive integer; got {max_enqueued_tokens!r}"
        )
    if ctx.provider.truefoundry and requests.model is not None and "/" not in requests.model:
        raise BatchInputError(
            f"model {requests.model!r} is not a TrueFoundry catalog id: batches are routed by "
            f"'integration/model' (e.g. '{ctx.provider.name}/{requests.model}'); for a server that is not "
            "TrueFoundry (OpenAI, a litellm proxy, vLLM), connect(provider='plain')"
        )
    prov = requests.provider
    if prov is not None and prov.name != ctx.provider.name:
        raise BatchInputError(
            f"these requests were built for provider {prov.name!r} but the gateway connection routes to "
            f"{ctx.provider.name!r}; connect(provider=...) to submit them"
        )
    parts = requests.parts
    # Journaled so results(join=df) after a restart joins by it instead of guessing the column.
    id_column = id_column or requests.id_column
    job, created = ctx.journal.claim_job(
        {
            "name": name,
            "sha256": requests.sha256,
            "endpoint": requests.endpoint,
            "model": requests.model,
            "provider": ctx.provider.name,
            "base_url": ctx.identity,
            "id_column": id_column,
            "completion_window": completion_window,
            "metadata": user_meta,
            "response_schema": requests.response_schema,
            "output_expires_after": output_expires_after,
            "template": requests.template,
            "max_enqueued_tokens": max_enqueued_tokens,
            "parent_job": parent_job,
        },
        [{"sha256": p.sha256, "n_lines": p.n_lines, "est_tokens": _tokens_of(p, requests)} for p in parts],
        force=force,
    )
    job_id: str = job["job_id"]
    if not created and id_column and not job.get("id_column"):  # a job journaled before the builder said it
        ctx.journal.update_job(job_id, id_column=id_column)
    if not created and requests.template and not job.get("template"):  # likewise its lineage
        ctx.journal.update_job(job_id, template=requests.template)
    if created:
        log.info("tfbatch: journaled job %s (%d parts) before upload", job_id, len(parts))
    # The journal's copy of the lines: what retry_failed and a resumed submit read after a restart.
    for p in parts:
        path = ctx.journal.part_path(job_id, p.index)
        if not path.exists():
            with p.open() as fh:
                _write_atomic(path, iter(lambda: fh.read(1 << 20), b""))
            _write_atomic(ctx.journal.part_path(job_id, p.index, "ids", ".txt"),
                          ["\n".join(p.custom_ids).encode() + b"\n"])  # fmt: skip
    return job_id


def _tokens_of(part: Any, requests: BatchRequests) -> int:
    # The part's input tokens as the quota counts them, estimated from its lines (chars / 4).
    with part.open() as fh:
        return estimate_lines(fh, endpoint=requests.endpoint, model=requests.model).prompt_tokens


def _may_start(
    ctx: Context, job: Mapping[str, Any], parts: list[dict[str, Any]], row: dict[str, Any]
) -> bool:
    """Whether a part without a batch may be created now (the part scheduler's one rule).

    A part put back after ``token_limit_exceeded`` waits until another part of the job finishes,
    or its hold runs out. Under ``max_enqueued_tokens``, a part waits while the job's running
    parts and it would enqueue more tokens than that; with nothing running it goes anyway (it
    could never fit better).
    """
    now = time.time()
    if row.get("hold_until") and now < row["hold_until"]:
        failed_at = (row.get("previous_batches") or [{}])[-1].get("failed_at", now)
        if not any(p["idx"] != row["idx"] and (p.get("finished_at") or 0) > failed_at for p in parts):
            return False
    budget = job.get("max_enqueued_tokens")
    running = [p for p in parts if p["batch_id"] and p["status"] not in TERMINAL]
    if not budget or not running:
        return True
    enqueued = sum(int(p.get("est_tokens") or 0) for p in running)
    return enqueued + int(row.get("est_tokens") or 0) <= int(budget)


def ensure_created(ctx: Context, job_id: str, *, on_error: ErrorSink = _ignore) -> None:
    """Upload and create the parts of a journaled job that have no batch yet and may start now.

    Parts start in order, as :func:`_may_start` allows (the others stay ``queued``, for a later
    call: the watcher or ``wait()`` makes one at every poll). One thread of one process at a time
    works on a part (the journal's lease); any other caller waits for its batch id instead of
    making a second batch. Each id is journaled the moment it exists; ``on_error`` is told of
    every create attempt that failed before another was made.
    """
    job = ctx.journal.job(job_id)
    if job is None:
        raise TfBatchError(f"job {job_id} is not in the journal {ctx.journal.folder}")
    owner = lease_owner()
    waiting = False
    for part in ctx.journal.parts(job_id):
        index = part["idx"]
        if part["batch_id"]:
            continue
        # In order: once a part waits, the later ones wait behind it.
        waiting = waiting or not _may_start(ctx, job, ctx.journal.parts(job_id), part)
        if waiting:
            if part["status"] != QUEUED:
                ctx.journal.update_part(job_id, index, status=QUEUED)
            continue
        while not _row(ctx, job_id, index)["batch_id"]:
            if not ctx.journal.take_part(job_id, index, owner):
                time.sleep(0.1)  # another thread or process is creating this part: wait for its batch id
                continue
            try:
                row = _row(ctx, job_id, index)
                if row["batch_id"]:  # finished by the holder before us, between our two reads
                    break
                earlier = {b["batch_id"] for b in row.get("previous_batches") or []}
                found = (
                    _reconcile(ctx, job, index, row["file_id"], exclude=earlier) if row["file_id"] else None
                )
                if found is None:
                    file_id = row["file_id"] or _upload(ctx, job, index)
                    found = _create(ctx, job, index, file_id, on_error=on_error, exclude=earlier)
                ctx.journal.record_part(job_id, part_from_batch(index, found, n_lines=row["n_lines"]))
            finally:
                ctx.journal.release_part(job_id, index, owner)


def _row(ctx: Context, job_id: str, index: int) -> dict[str, Any]:
    return next(p for p in ctx.journal.parts(job_id) if p["idx"] == index)


def _upload(ctx: Context, job: Mapping[str, Any], index: int) -> str:
    path = ctx.journal.part_path(job["job_id"], index)
    if not path.exists():
        raise TfBatchError(
            f"job {job['job_id']} part {index}: the journal's copy of the requests is gone ({path}); "
            "submit the requests again"
        )
    with path.open("rb") as fh:
        file_id = ctx.client.files.create(file=(path.name, fh), purpose="batch").id
    ctx.journal.update_part(job["job_id"], index, file_id=file_id)  # at once: a crash after this resumes here
    return file_id


def _create(
    ctx: Context, job: Mapping[str, Any], index: int, file_id: str, *, on_error: ErrorSink,
    exclude: frozenset[str] | set[str] = frozenset(),
) -> Any:  # fmt: skip
    meta = {**(job.get("metadata") or {}), TAG_JOB: job["job_id"], TAG_PART: str(index),
            TAG_HASH: str(job.get("sha256") or "")[:64]}  # fmt: skip
    # Only OpenAI's fields: OpenAI answers an unknown body field with 400. TrueFoundry adds job_name,
    # one per provider batch, so parts get a suffix.
    extra: dict[str, Any] = {}
    if job.get("name") and ctx.provider.truefoundry:
        label = job["name"] if int(job.get("n_parts") or 1) == 1 else f"{job['name']}-part{index + 1}"
        extra["extra_body"] = {"job_name": label}
    if job.get("output_expires_after"):
        extra["output_expires_after"] = {"anchor": "created_at", "seconds": int(job["output_expires_after"])}
    attempts = ctx.client.max_retries + 1  # as many tries as the SDK gives any request
    client = ctx.client.with_options(max_retries=0)  # the SDK must not repeat a create unreconciled
    for attempt in range(attempts):
        try:
            return client.batches.create(
                input_file_id=file_id,
                endpoint=job["endpoint"],
                completion_window=job.get("completion_window") or "24h",
                metadata=meta,
                **extra,
            )
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            status = getattr(exc, "status_code", None)
            if status is not None and status not in (408, 409, 429) and status < 500:
                raise  # an answer that says the create is wrong: trying again cannot help
            on_error(exc)
            if status not in (408, 409, 429):  # "not done" answers need no search; others may hide a batch
                found = _settle(ctx, job, index, file_id, exclude)
                if found is not None:
                    return found
            if attempt == attempts - 1:
                raise
            time.sleep(retry_delay(exc, attempt))
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


def _settle(
    ctx: Context, job: Mapping[str, Any], index: int, file_id: str, exclude: set[str] | frozenset[str]
) -> Any:
    """Look for the batch of a create whose outcome is unknown, for ``ctx.reconcile_timeout`` seconds.

    A proxy may time out (504) while the server commits the batch seconds later: searching once
    would miss it, and a second create would make two batches.
    """
    deadline = time.monotonic() + ctx.reconcile_timeout
    delay = 0.25
    while True:
        found = _reconcile(ctx, job, index, file_id, exclude=exclude)
        left = deadline - time.monotonic()
        if found is not None or left <= 0:
            return found
        time.sleep(min(delay, left))
        delay = min(delay * 2, 4.0)


def _reconcile(
    ctx: Context, job: Mapping[str, Any], index: int, file_id: str | None,
    *, exclude: set[str] | frozenset[str] = frozenset(),
) -> Any:  # fmt: skip
    """Find the batch a lost create made, in the newest pages of the list (None: no such batch).

    ``exclude`` holds the part's earlier batches (failed for quota): same file, not the one sought.
    """

    def matches(b: Any) -> bool:
        if b.id in exclude:
            return False
        if file_id and getattr(b, "input_file_id", None) == file_id:
            return True
        meta = getattr(b, "metadata", None) or {}
        return bool(meta.get(TAG_JOB) == job["job_id"] and meta.get(TAG_PART) == str(index))

    page = ctx.client.batches.list(limit=100)
    for _ in range(_MAX_LIST_PAGES):
        for b in page.data:
            if matches(b):
                log.info("tfbatch: found batch %s of job %s part %d after a lost answer", b.id, job["job_id"],
                         index)  # fmt: skip
                return b
        if not page.has_next_page():
            return None
        page = page.get_next_page()
    return None


def attach(ctx: Context, key: str, *, on_error: ErrorSink = _ignore) -> str:
    """Find a job by name, job id or provider batch id (journaling a batch the journal never saw); its id.

    An interrupted submit (intent journaled, batch not created) is finished now.
    """
    job = ctx.journal.find(key, base_url=ctx.identity, provider=ctx.provider.name)
    if job is None:
        try:
            remote = ctx.client.batches.retrieve(key)
        except openai.NotFoundError:
            raise TfBatchError(
                f"no job named {key!r} in the journal ({ctx.journal.folder}) and no batch with that id on the gateway"
            ) from None
        meta = getattr(remote, "metadata", None) or {}
        tagged = meta.get(TAG_JOB)
        job, _ = ctx.journal.claim_job(
            {"job_id": tagged if tagged and ctx.journal.job(tagged) is None else None,
             "sha256": None, "name": getattr(remote, "job_name", None) or None,
             "endpoint": str(getattr(remote, "endpoint", None) or "/v1/chat/completions"),
             "model": getattr(remote, "model", None), "provider": ctx.provider.name, "base_url": ctx.identity},
            [], force=True,
        )  # fmt: skip
        snap = part_from_batch(0, remote)
        ctx.journal.add_part(job["job_id"], 0, n_lines=snap.total, batch_id=remote.id, file_id=remote.input_file_id,
                             status=snap.status)  # fmt: skip
    job_id: str = job["job_id"]
    if any(not p["batch_id"] for p in ctx.journal.parts(job_id)):
        log.info("tfbatch: resuming the interrupted submit of job %s", job_id)
        ensure_created(ctx, job_id, on_error=on_error)
    return job_id
