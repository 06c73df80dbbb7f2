"""Submitting exactly once: journal the intent, upload, create; reconcile lost answers; attach.

``POST /batches`` is not idempotent and the SDK would retry it on its own, so every create is
made with ``max_retries=0`` and tagged with ``metadata`` (job id, part, hash). After an answer
that may have been lost (connection dropped, timeout, 5xx) the gateway's batch list is searched
for that tag before creating again. Uploads are simply retried: an orphan file costs nothing.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai

from ..errors import BatchInputError, TfBatchError
from ..ui._snapshot import part_from_batch
from ._poll import call_with_retry, describe, is_transient, retry_after

if TYPE_CHECKING:
    from ..build._requests import BatchRequests
    from ._batch import Batch
    from ._connection import Gateway

log = logging.getLogger("tfbatch_nb")

TAG_JOB, TAG_PART, TAG_HASH = "tfbatch_job", "tfbatch_part", "tfbatch_hash"
_MAX_LIST_PAGES = 20  # 2,000 newest batches: a lost create is among the newest
_CREATE_ATTEMPTS = 15


def _write_atomic(path: Path, chunks: Any) -> None:
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


def submit(
    gw: Gateway,
    requests: BatchRequests,
    *,
    name: str | None,
    completion_window: str,
    metadata: Mapping[str, str] | None,
    force: bool,
    parent_job: str | None = None,
    id_column: str | None = None,
) -> Batch:
    """See :meth:`Gateway.submit`."""
    user_meta = _check_metadata(metadata)
    prov = getattr(requests, "provider", None)
    if prov is not None and prov.name != gw.provider.name:
        raise BatchInputError(
            f"these requests were built for provider {prov.name!r} but the gateway connection routes to "
            f"{gw.provider.name!r}; connect(provider=...) to submit them"
        )
    parts = requests.parts
    # Journaled so results(join=df) after a restart joins by it instead of guessing the column.
    id_column = id_column or getattr(requests, "id_column", None)
    job, created = gw.journal.claim_job(
        {
            "name": name,
            "sha256": requests.sha256,
            "endpoint": requests.endpoint,
            "model": requests.model,
            "provider": gw.provider.name,
            "base_url": gw.identity,
            "id_column": id_column,
            "completion_window": completion_window,
            "metadata": user_meta,
            "response_schema": requests.response_schema,
            "parent_job": parent_job,
        },
        [{"sha256": p.sha256, "n_lines": p.n_lines} for p in parts],
        force=force,
    )
    job_id = job["job_id"]
    if not created and id_column and not job.get("id_column"):  # a job journaled before the builder said it
        gw.journal.update_job(job_id, id_column=id_column)
    if created:
        log.info("tfbatch: journaled job %s (%d parts) before upload", job_id, len(parts))
    # The journal's copy of the lines: what retry_failed and a resumed submit read after a restart.
    for p in parts:
        path = gw.journal.part_path(job_id, p.index)
        if not path.exists():
            with p.open() as fh:
                _write_atomic(path, iter(lambda: fh.read(1 << 20), b""))
            _write_atomic(gw.journal.part_path(job_id, p.index, "ids", ".txt"),
                          ["\n".join(p.custom_ids).encode() + b"\n"])  # fmt: skip
    batch = gw._batch(job_id)
    ensure_created(gw, batch)
    return batch


def ensure_created(gw: Gateway, batch: Batch) -> None:
    """Upload and create every part that has no batch yet (a fresh submit, or a resumed one)."""
    job = gw.journal.job(batch.id)
    assert job is not None
    for part in gw.journal.parts(batch.id):
        if part["batch_id"]:
            continue
        found = _reconcile(gw, batch, job, part["idx"]) if part["file_id"] else None
        if found is None:
            file_id = part["file_id"] or _upload(gw, batch, job, part["idx"])
            found = _create(gw, batch, job, part["idx"], file_id)
        gw.journal.update_part(batch.id, part["idx"], batch_id=found.id, status=str(found.status or "validating"),
                               created_at=getattr(found, "created_at", None))  # fmt: skip
        batch._absorb(part_from_batch(part["idx"], found, n_lines=part["n_lines"]))


def _upload(gw: Gateway, batch: Batch, job: Mapping[str, Any], index: int) -> str:
    path = gw.journal.part_path(job["job_id"], index)
    if not path.exists():
        raise TfBatchError(
            f"job {job['job_id']} part {index}: the journal's copy of the requests is gone ({path}); "
            "submit the requests again"
        )

    def upload() -> str:
        with path.open("rb") as fh:
            return gw.client.files.create(file=(path.name, fh), purpose="batch").id

    file_id = call_with_retry(upload, what="upload", on_error=batch._note_error)
    gw.journal.update_part(job["job_id"], index, file_id=file_id)  # at once: a crash after this resumes here
    return file_id


def _create(gw: Gateway, batch: Batch, job: Mapping[str, Any], index: int, file_id: str) -> Any:
    meta = {**(job.get("metadata") or {}), TAG_JOB: job["job_id"], TAG_PART: str(index),
            TAG_HASH: str(job.get("sha256") or "")[:64]}  # fmt: skip
    extra_body = None
    if job.get("name"):  # TrueFoundry's job_name; one per provider batch, so parts get a suffix
        label = job["name"] if int(job.get("n_parts") or 1) == 1 else f"{job['name']}-part{index + 1}"
        extra_body = {"job_name": label}
    client = gw.client.with_options(max_retries=0)  # our loop retries, after reconciling
    last: BaseException | None = None
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        if attempt > 1 and last is not None and not _surely_not_created(last):
            found = _reconcile(gw, batch, job, index)
            if found is not None:
                return found
        try:
            return client.batches.create(
                input_file_id=file_id,
                endpoint=job["endpoint"],
                completion_window=job.get("completion_window") or "24h",
                metadata=meta,
                extra_body=extra_body,
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            last = exc
            batch._note_error(exc)
            delay = retry_after(exc) or min(0.25 * 2 ** (attempt - 1), 8.0) * random.uniform(0.75, 1.0)
            log.debug("tfbatch: create of %s part %d failed (%s); retry in %.2fs", job["job_id"], index,
                      describe(exc), delay)  # fmt: skip
            time.sleep(delay)
    assert last is not None
    raise last


def _surely_not_created(exc: BaseException) -> bool:
    # A 429 or 409 is an answer saying "not done"; a lost answer or a 5xx may hide a created batch.
    return isinstance(exc, openai.APIStatusError) and exc.status_code in (408, 409, 429)


def _reconcile(gw: Gateway, batch: Batch, job: Mapping[str, Any], index: int) -> Any:
    """Find the batch a lost create made, by its metadata tag, in the newest pages of the list."""

    def matches(b: Any) -> bool:
        meta = getattr(b, "metadata", None) or {}
        return bool(meta.get(TAG_JOB) == job["job_id"] and meta.get(TAG_PART) == str(index))

    page = call_with_retry(
        lambda: gw.client.batches.list(limit=100), what="list batches", on_error=batch._note_error
    )
    for _ in range(_MAX_LIST_PAGES):
        for b in page.data:
            if matches(b):
                log.info(
                    "tfbatch: found batch %s of job %s part %d after a lost answer",
                    b.id,
                    job["job_id"],
                    index,
                )
                return b
        if not page.has_next_page():
            return None
        current = page
        page = call_with_retry(current.get_next_page, what="list batches", on_error=batch._note_error)
    return None


def attach(gw: Gateway, key: str) -> Batch:
    """See :meth:`Gateway.attach`."""
    job = gw.journal.find(key, base_url=gw.identity, provider=gw.provider.name)
    if job is None:
        try:
            remote = call_with_retry(lambda: gw.client.batches.retrieve(key), what="retrieve", attempts=5)
        except openai.NotFoundError:
            raise TfBatchError(
                f"no job named {key!r} in the journal ({gw.journal.folder}) and no batch with that id on the gateway"
            ) from None
        meta = getattr(remote, "metadata", None) or {}
        job, _ = gw.journal.claim_job(
            {"job_id": meta.get(TAG_JOB) if meta.get(TAG_JOB) and gw.journal.job(meta[TAG_JOB]) is None else None,
             "sha256": None, "name": getattr(remote, "job_name", None) or None,
             "endpoint": str(getattr(remote, "endpoint", None) or "/v1/chat/completions"),
             "model": getattr(remote, "model", None), "provider": gw.provider.name, "base_url": gw.identity},
            [], force=True,
        )  # fmt: skip
        snap = part_from_batch(0, remote)
        gw.journal.add_part(job["job_id"], 0, n_lines=snap.total, batch_id=remote.id, file_id=remote.input_file_id,
                            status=snap.status)  # fmt: skip
    batch = gw._batch(job["job_id"])
    if any(not p["batch_id"] for p in gw.journal.parts(job["job_id"])):
        log.info("tfbatch: resuming the interrupted submit of job %s", job["job_id"])
        ensure_created(gw, batch)
    return batch
