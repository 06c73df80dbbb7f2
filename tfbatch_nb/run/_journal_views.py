"""The read side of the journal: look jobs up, list a job's parts and retries, the jobs frame.

Kept apart from ``journal.py`` (schema, claim and updates: what must be written, and when, so a
job is never paid for twice) because these are plain queries: they take the same per-journal
lock as the writes but never open a write transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

__all__ = ["JSON_COLS", "JournalViews", "decode"]

#: Columns stored as JSON text.
JSON_COLS = frozenset({"metadata", "response_schema", "errors"})


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


class JournalViews:
    """Queries of :class:`~tfbatch_nb.journal.Journal` (a mixin: the journal owns the connection).

    Examples
    --------
    >>> import tempfile
    >>> from tfbatch_nb.run._journal import Journal
    >>> isinstance(Journal(tempfile.mkdtemp()), JournalViews)
    True
    """

    _lock: threading.RLock
    _db: sqlite3.Connection

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A job's row by its id, or None.

        Examples
        --------
        >>> import tempfile
        >>> from tfbatch_nb.run._journal import Journal
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
        >>> from tfbatch_nb.run._journal import Journal
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
        >>> from tfbatch_nb.run._journal import Journal
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
        >>> from tfbatch_nb.run._journal import Journal
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
        >>> from tfbatch_nb.run._journal import Journal
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
