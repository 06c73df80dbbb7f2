"""The local record of every submission: a SQLite journal plus a folder of files per job.

Layout of the journal folder (default ``./.tfbatch/``, or ``$TFBATCH_HOME``)::

    .tfbatch/                      mode 0700
      journal.sqlite3              mode 0600: jobs and parts (ids, hashes, statuses, counts)
      jobs/<job_id>/part-001.jsonl a copy of each part's request lines (retry_failed after a restart)
      jobs/<job_id>/ids-001.txt    the part's custom_ids, one a line (rows of the results frame)
      jobs/<job_id>/output-001.jsonl, errors-001.jsonl   downloaded result files
      local-gateway/               the embedded gateway's files and batches (connect(local=True))

What is written, and when, is what makes "never pay twice" work: the intent (hash, endpoint,
provider, base URL, name) goes in before any upload; each file id and batch id goes in as soon
as the gateway returns it. Never written: an API key or any header value.

SQLite in WAL mode with short transactions makes the journal safe across processes (two
kernels, a script and a notebook); one lock per :class:`Journal` makes it safe across threads
(the watcher thread polls while the user's cell runs).

Examples
--------
>>> import tempfile
>>> j = Journal(tempfile.mkdtemp())
>>> j.path.name
'journal.sqlite3'
>>> len(j.jobs_frame())
0
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import BatchInputError, TfBatchError
from ..ui import PartSnapshot, make_snapshot, part_from_row

__all__ = ["Journal", "default_folder", "lease_owner"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    name TEXT,
    sha256 TEXT,
    endpoint TEXT NOT NULL,
    model TEXT,
    provider TEXT NOT NULL,
    base_url TEXT NOT NULL,
    id_column TEXT,
    completion_window TEXT,
    metadata TEXT,
    response_schema TEXT,
    output_expires_after INTEGER,
    template TEXT,
    max_enqueued_tokens INTEGER,
    n_parts INTEGER NOT NULL,
    parent_job TEXT,
    created REAL NOT NULL,
    updated REAL,
    status TEXT,
    total INTEGER DEFAULT 0,
    completed INTEGER DEFAULT 0,
    failed INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_sha ON jobs (sha256, base_url, provider);
CREATE INDEX IF NOT EXISTS jobs_name ON jobs (name, base_url, provider);
CREATE TABLE IF NOT EXISTS parts (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    sha256 TEXT,
    n_lines INTEGER NOT NULL,
    file_id TEXT,
    batch_id TEXT,
    status TEXT,
    total INTEGER DEFAULT 0,
    completed INTEGER DEFAULT 0,
    failed INTEGER DEFAULT 0,
    output_file_id TEXT,
    error_file_id TEXT,
    errors TEXT,
    created_at REAL,
    finished_at REAL,
    lease_owner TEXT,
    lease_until REAL,
    est_tokens INTEGER,
    hold_until REAL,
    quota_retries INTEGER,
    previous_batches TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS parts_batch ON parts (batch_id);
"""

_JOB_COLS = frozenset(
    [
        "name",
        "sha256",
        "endpoint",
        "model",
        "provider",
        "base_url",
        "id_column",
        "completion_window",
        "metadata",
        "response_schema",
        "output_expires_after",
        "template",
        "max_enqueued_tokens",
        "n_parts",
        "parent_job",
        "created",
        "updated",
        "status",
        "total",
        "completed",
        "failed",
    ]
)
# Columns added after the first release, with their type (the others are TEXT).
_COLUMN_TYPES = {
    "output_expires_after": "INTEGER",
    "max_enqueued_tokens": "INTEGER",
    "lease_until": "REAL",
    "est_tokens": "INTEGER",
    "hold_until": "REAL",
    "quota_retries": "INTEGER",
}
_PART_COLS = frozenset(
    [
        "sha256",
        "n_lines",
        "file_id",
        "batch_id",
        "status",
        "total",
        "completed",
        "failed",
        "output_file_id",
        "error_file_id",
        "errors",
        "created_at",
        "finished_at",
        "lease_owner",
        "lease_until",
        "est_tokens",
        "hold_until",
        "quota_retries",
        "previous_batches",
    ]
)


#: Columns stored as JSON text.
JSON_COLS = frozenset({"metadata", "response_schema", "errors", "template", "previous_batches"})


def decode(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a dict, its JSON columns parsed.

    Examples
    --------
    >>> db = sqlite3.connect(":memory:")
    >>> db.row_factory = sqlite3.Row
    >>> decode(db.execute("SELECT '{\\"a\\": 1}' AS metadata, 2 AS n").fetchone())
    {'metadata': {'a': 1}, 'n': 2}
    """
    out = dict(row)
    for key in JSON_COLS & out.keys():
        if out[key] is not None:
            out[key] = json.loads(out[key])
    return out


def lease_owner() -> str:
    """This thread's name as a lease holder: host, process and thread.

    Examples
    --------
    >>> lease_owner().count(":")
    2
    """
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _alive(owner: str) -> bool:
    # A holder on this machine whose process is gone will never finish: its lease is void.
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: trust its lease until it expires
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def default_folder() -> Path:
    """The journal folder: ``$TFBATCH_HOME`` if set, else ``./.tfbatch`` (relative to the notebook).

    Examples
    --------
    >>> default_folder().name in (".tfbatch", os.environ.get("TFBATCH_HOME", "").rstrip("/").split("/")[-1])
    True
    """
    home = os.environ.get("TFBATCH_HOME")
    return Path(home).expanduser() if home else Path(".tfbatch")


def _encode(fields: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    unknown = set(fields) - allowed
    if unknown:
        raise KeyError(f"unknown journal columns {sorted(unknown)}")
    return {k: json.dumps(v) if k in JSON_COLS and v is not None else v for k, v in fields.items()}


class Journal:
    """The SQLite journal of jobs and their parts, and the folder of each job's files.

    Parameters
    ----------
    folder : str or Path or None
        The journal folder; None = :func:`default_folder`. Created (mode 0700) if needed.

    Examples
    --------
    >>> import tempfile
    >>> j = Journal(tempfile.mkdtemp())
    >>> oct(j.path.stat().st_mode & 0o777)
    '0o600'
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # job folders hold prompts and answers: private to the user
        self.path = self.folder / "journal.sqlite3"
        # Create the file ourselves with 0600 before sqlite opens it: sqlite would use the umask
        # (often 0644), and its -wal / -shm files copy the database file's mode.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._add_new_columns()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise TfBatchError(
                f"the journal {self.path} cannot be read as a SQLite database ({exc}); move it aside "
                f"(e.g. rename it to {self.path.name}.bad) and connect again: batches already on the gateway "
                "are found again with gw.attach(<batch id>)"
            ) from exc

    def _add_new_columns(self) -> None:
        # A journal written by an older version lacks the columns added since: add them (NULL).
        for table, wanted in (("jobs", _JOB_COLS), ("parts", _PART_COLS)):
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for column in sorted(wanted - have):
                kind = _COLUMN_TYPES.get(column, "TEXT")
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def __repr__(self) -> str:
        return f"<Journal {str(self.folder)!r}>"

    def close(self) -> None:
        """Close the database connection.

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).close()
        """
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so check-then-insert is atomic across processes.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- files -----------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        """The folder of a job's files (created on first use, mode 0700).

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).job_dir("job_1").name
        'job_1'
        """
        path = self.folder / "jobs" / job_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def part_path(self, job_id: str, index: int, kind: str = "part", suffix: str = ".jsonl") -> Path:
        """Where a part's file of ``kind`` (part, ids, output, errors) lives.

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).part_path("job_1", 0, "output").name
        'output-001.jsonl'
        """
        return self.job_dir(job_id) / f"{kind}-{index + 1:03d}{suffix}"

    # -- jobs --------------------------------------------------------------------------------
    def claim_job(
        self, job: Mapping[str, Any], parts: Sequence[Mapping[str, Any]], *, force: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Return the job these requests already are, or record a new one (the intent to submit).

        In one write transaction: a job with the same hash (and the same parent: a retry is its
        parent's), or the same name, on the same base URL and provider, is returned as is
        (``created`` False) unless ``force``. The same name
        with a different hash is an error without ``force``.

        Parameters
        ----------
        job
            Job columns; ``sha256``, ``name``, ``base_url`` and ``provider`` decide the match.
        parts
            One mapping per part (``sha256``, ``n_lines``).
        force
            Always record a new job.

        Returns
        -------
        (dict, bool)
            The job row and whether it was created now.

        Raises
        ------
        BatchInputError
            Same name, different requests, no ``force``.

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> spec = dict(sha256="ab", name="n", endpoint="/v1/chat/completions", provider="p", base_url="u")
        >>> first, created = j.claim_job(spec, [{"n_lines": 1}])
        >>> again, created_again = j.claim_job(spec, [{"n_lines": 1}])
        >>> created, created_again, first["job_id"] == again["job_id"]
        (True, False, True)
        """
        where = (job.get("base_url"), job.get("provider"))
        with self._tx() as db:
            if not force:
                # A retry job is its parent's: the same lines retried (every row failed) are a new job.
                row = db.execute(
                    "SELECT * FROM jobs WHERE sha256 = ? AND base_url = ? AND provider = ? AND name IS ? "
                    "AND parent_job IS ? ORDER BY created DESC LIMIT 1",
                    (job.get("sha256"), *where, job.get("name"), job.get("parent_job")),
                ).fetchone()
                if row is None and job.get("name") is not None:
                    row = db.execute(
                        "SELECT * FROM jobs WHERE name = ? AND base_url = ? AND provider = ? "
                        "ORDER BY created DESC LIMIT 1",
                        (job["name"], *where),
                    ).fetchone()
                    if row is not None and row["sha256"] != job.get("sha256"):
                        raise BatchInputError(
                            f"a job named {job['name']!r} with different requests is already in the journal "
                            f"({row['job_id']}); pick a new name= or pass force=True to submit anyway"
                        )
                if row is None and job.get("sha256") is not None:
                    # The same requests under another (or no) name: still the same paid-for job.
                    row = db.execute(
                        "SELECT * FROM jobs WHERE sha256 = ? AND base_url = ? AND provider = ? AND parent_job IS ? "
                        "ORDER BY created DESC LIMIT 1",
                        (job.get("sha256"), *where, job.get("parent_job")),
                    ).fetchone()
                if row is not None:
                    return decode(row), False
            job_id = str(job.get("job_id") or f"job_{uuid.uuid4().hex[:16]}")
            values = _encode({k: v for k, v in job.items() if k != "job_id"}, _JOB_COLS)
            values.setdefault("created", time.time())
            values.setdefault("n_parts", len(parts))
            values.setdefault("status", "pending")
            cols = ["job_id", *values]
            db.execute(
                f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [job_id, *values.values()],
            )
            for i, part in enumerate(parts):
                pv = _encode(part, _PART_COLS)
                pv.setdefault("status", "pending")
                pcols = ["job_id", "idx", *pv]
                db.execute(
                    f"INSERT INTO parts ({', '.join(pcols)}) VALUES ({', '.join('?' * len(pcols))})",
                    [job_id, i, *pv.values()],
                )
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            return decode(row), True

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job.

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256="a", endpoint="/v1/embeddings", provider="p", base_url="u"), [])
        >>> j.update_job(row["job_id"], status="completed")
        >>> j.job(row["job_id"])["status"]
        'completed'
        """
        values = _encode(fields, _JOB_COLS)
        if not values:
            return
        with self._tx() as db:
            db.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE job_id = ?",
                [*values.values(), job_id],
            )

    def update_part(self, job_id: str, index: int, **fields: Any) -> None:
        """Set columns of one part (e.g. its ``file_id`` / ``batch_id`` the moment they exist).

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256="a", endpoint="/v1/embeddings", provider="p", base_url="u"),
        ...                      [{"n_lines": 2}])
        >>> j.update_part(row["job_id"], 0, batch_id="batch_9")
        >>> j.parts(row["job_id"])[0]["batch_id"]
        'batch_9'
        """
        values = _encode(fields, _PART_COLS)
        if not values:
            return
        with self._tx() as db:
            db.execute(
                f"UPDATE parts SET {', '.join(f'{k} = ?' for k in values)} WHERE job_id = ? AND idx = ?",
                [*values.values(), job_id, index],
            )

    def add_part(self, job_id: str, index: int, **fields: Any) -> None:
        """Insert a part (a job attached from the gateway by batch id has no recorded intent).

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256=None, endpoint="/v1/embeddings", provider="p", base_url="u"), [])
        >>> j.add_part(row["job_id"], 0, n_lines=0, batch_id="b1")
        >>> j.find("b1")["job_id"] == row["job_id"]
        True
        """
        values = _encode(fields, _PART_COLS)
        cols = ["job_id", "idx", *values]
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO parts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [job_id, index, *values.values()],
            )

    def record_part(self, job_id: str, part: PartSnapshot) -> PartSnapshot:
        """Journal what was just learnt of one part, and the job's folded totals; return the part as kept.

        An answer without ``request_counts`` keeps the journaled total (the part's line count);
        the first terminal status stamps ``finished_at``.

        Examples
        --------
        >>> import tempfile
        >>> from tfbatch_nb.ui import part_from_batch
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256="a", endpoint="/v1/embeddings", provider="p", base_url="u"),
        ...                      [{"n_lines": 3}])
        >>> j.record_part(row["job_id"], part_from_batch(0, {"id": "b1", "status": "completed"})).total
        3
        >>> j.job(row["job_id"])["status"]
        'completed'
        """
        with self._lock:
            parts = {p.index: p for p in map(part_from_row, self.parts(job_id))}
            old = parts.get(part.index)
            if old is not None and not part.total:
                part = dataclasses.replace(part, total=old.total)
            fields: dict[str, Any] = {
                "status": part.status,
                "total": part.total,
                "completed": part.completed,
                "failed": part.failed,
                "output_file_id": part.output_file_id,
                "error_file_id": part.error_file_id,
                "errors": list(part.errors),
            }
            if part.batch_id:
                fields["batch_id"] = part.batch_id
            if part.created_at is not None:
                fields["created_at"] = part.created_at
            if part.terminal and not (old is not None and old.terminal):
                fields["finished_at"] = time.time()
            self.update_part(job_id, part.index, **fields)
            parts[part.index] = part
            job = make_snapshot(job_id=job_id, name=None, provider="", model=None, endpoint="",
                                parts=[parts[i] for i in sorted(parts)])  # fmt: skip
            self.update_job(job_id, status=job.status, total=job.total, completed=job.completed,
                            failed=job.failed, updated=time.time())  # fmt: skip
            return part

    def take_part(self, job_id: str, index: int, owner: str, *, lease_s: float = 600.0) -> bool:
        """Claim the right to upload and create one part, atomically across threads and processes.

        True when ``owner`` now holds the part: it has no batch yet, and no other owner holds a
        live lease (one that has not expired and whose process, on this machine, is alive).
        Whoever does not get it waits for the holder's batch id (:meth:`part_snapshots`).

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256="a", endpoint="/v1/embeddings", provider="p", base_url="u"),
        ...                      [{"n_lines": 2}])
        >>> j.take_part(row["job_id"], 0, "me"), j.take_part(row["job_id"], 0, "you")
        (True, False)
        >>> j.release_part(row["job_id"], 0, "me"); j.take_part(row["job_id"], 0, "you")
        True
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT batch_id, lease_owner, lease_until FROM parts WHERE job_id = ? AND idx = ?",
                (job_id, index),
            ).fetchone()
            if row is None or row["batch_id"]:
                return False
            holder, until = row["lease_owner"], row["lease_until"] or 0.0
            if holder and holder != owner and until > now and _alive(holder):
                return False
            db.execute(
                "UPDATE parts SET lease_owner = ?, lease_until = ? WHERE job_id = ? AND idx = ?",
                (owner, now + lease_s, job_id, index),
            )
            return True

    def release_part(self, job_id: str, index: int, owner: str) -> None:
        """Give a part's lease up (done, or failed: another owner may try).

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).release_part("job_0", 0, "me")
        """
        with self._tx() as db:
            db.execute(
                "UPDATE parts SET lease_owner = NULL, lease_until = NULL WHERE job_id = ? AND idx = ? "
                "AND lease_owner = ?",
                (job_id, index, owner),
            )

    def requeue_part(self, job_id: str, index: int, *, hold_s: float) -> None:
        """Put a part whose batch failed for quota back in the queue: a new batch of it comes later.

        The failed batch id is kept in ``previous_batches`` (with when it failed), so the part's
        history stays in the journal and a search for a lost create never mistakes it for the new one.

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256="a", endpoint="/v1/embeddings", provider="p", base_url="u"),
        ...                      [{"n_lines": 2}])
        >>> j.update_part(row["job_id"], 0, batch_id="b1", status="failed")
        >>> j.requeue_part(row["job_id"], 0, hold_s=30)
        >>> part = j.parts(row["job_id"])[0]
        >>> part["batch_id"], part["status"], [b["batch_id"] for b in part["previous_batches"]]
        (None, 'queued', ['b1'])
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT batch_id, previous_batches, quota_retries FROM parts WHERE job_id = ? AND idx = ?",
                (job_id, index),
            ).fetchone()
            if row is None or not row["batch_id"]:
                return
            history = [
                *json.loads(row["previous_batches"] or "[]"),
                {"batch_id": row["batch_id"], "failed_at": now},
            ]
            db.execute(
                "UPDATE parts SET batch_id = NULL, status = 'queued', total = n_lines, completed = 0, failed = 0, "
                "output_file_id = NULL, error_file_id = NULL, errors = NULL, created_at = NULL, finished_at = NULL, "
                "previous_batches = ?, quota_retries = ?, hold_until = ? WHERE job_id = ? AND idx = ?",
                (json.dumps(history), (row["quota_retries"] or 0) + 1, now + hold_s, job_id, index),
            )

    def part_snapshots(self, job_id: str) -> list[PartSnapshot]:
        """A job's parts as last journaled, in order.

        Examples
        --------
        >>> import tempfile
        >>> j = Journal(tempfile.mkdtemp())
        >>> row, _ = j.claim_job(dict(sha256="a", endpoint="/v1/embeddings", provider="p", base_url="u"),
        ...                      [{"n_lines": 2}])
        >>> j.part_snapshots(row["job_id"])[0].status
        'pending'
        """
        return [part_from_row(row) for row in self.parts(job_id)]

    # -- lookups --------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any] | None:
        """A job's row by its id, or None.

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).job("job_0") is None
        True
        """
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return decode(row) if row is not None else None

    def parts(self, job_id: str) -> list[dict[str, Any]]:
        """A job's parts in order (empty for an unknown job).

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).parts("job_0")
        []
        """
        with self._lock:
            rows = self._db.execute("SELECT * FROM parts WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [decode(r) for r in rows]

    def find(
        self, key: str, *, base_url: str | None = None, provider: str | None = None
    ) -> dict[str, Any] | None:
        """Find a job by job id, name (the newest of that name) or provider batch id.

        ``base_url`` / ``provider`` narrow a name lookup to one gateway (names are per gateway).

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).find("nope") is None
        True
        """
        found = self.job(key)
        if found is not None:
            return found
        with self._lock:
            sql, args = "SELECT * FROM jobs WHERE name = ?", [key]
            if base_url is not None and provider is not None:
                sql, args = sql + " AND base_url = ? AND provider = ?", [key, base_url, provider]
            row = self._db.execute(sql + " ORDER BY created DESC LIMIT 1", args).fetchone()
            if row is None:
                hit = self._db.execute(
                    "SELECT job_id FROM parts WHERE batch_id = ? LIMIT 1", (key,)
                ).fetchone()
                if hit is not None:
                    row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (hit[0],)).fetchone()
        return decode(row) if row is not None else None

    def children(self, job_id: str) -> list[dict[str, Any]]:
        """Jobs created by ``retry_failed`` of this job, oldest first.

        Examples
        --------
        >>> import tempfile
        >>> Journal(tempfile.mkdtemp()).children("job_0")
        []
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE parent_job = ? ORDER BY created", (job_id,)
            ).fetchall()
        return [decode(r) for r in rows]

    def jobs_frame(self, *, base_url: str | None = None, provider: str | None = None) -> Any:
        """The journal as a DataFrame, newest first: name, job_id, ids, status, counts, created, endpoint, model.

        Examples
        --------
        >>> import tempfile
        >>> list(Journal(tempfile.mkdtemp()).jobs_frame().columns)[:4]
        ['name', 'job_id', 'ids', 'status']
        """
        import pandas as pd

        with self._lock:
            sql, args = "SELECT * FROM jobs", []
            if base_url is not None and provider is not None:
                sql, args = sql + " WHERE base_url = ? AND provider = ?", [base_url, provider]
            jobs = self._db.execute(sql + " ORDER BY created DESC", args).fetchall()
            parts = self._db.execute("SELECT job_id, batch_id FROM parts ORDER BY job_id, idx").fetchall()
        ids: dict[str, list[str]] = {}
        for p in parts:
            if p["batch_id"]:
                ids.setdefault(p["job_id"], []).append(p["batch_id"])
        cols = ["name", "job_id", "ids", "status", "total", "completed", "failed", "created", "endpoint",
                "model", "provider", "parent_job"]  # fmt: skip
        rows = [
            {
                **{c: j[c] for c in cols if c not in ("ids", "created")},
                "ids": ids.get(j["job_id"], []),
                "created": pd.Timestamp(j["created"], unit="s", tz="UTC"),
            }
            for j in jobs
        ]
        return pd.DataFrame(rows, columns=cols)
