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

This module is the write side (schema, claim, updates); the lookups and the jobs frame are in
``_journal_views.py``, mixed into :class:`Journal`.

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

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import BatchInputError
from ._journal_views import JSON_COLS, JournalViews, decode

__all__ = ["Journal", "default_folder"]

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
    ]
)


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


class Journal(JournalViews):
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
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

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

        In one write transaction: a job with the same hash, or the same name, on the same base
        URL and provider, is returned as is (``created`` False) unless ``force``. The same name
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
                row = db.execute(
                    "SELECT * FROM jobs WHERE sha256 = ? AND base_url = ? AND provider = ? AND name IS ? "
                    "ORDER BY created DESC LIMIT 1",
                    (job.get("sha256"), *where, job.get("name")),
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
                        "SELECT * FROM jobs WHERE sha256 = ? AND base_url = ? AND provider = ? "
                        "ORDER BY created DESC LIMIT 1",
                        (job.get("sha256"), *where),
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
