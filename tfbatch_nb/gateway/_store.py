"""Persistence of the local gateway: SQLite for objects, plain files on disk for file contents.

Everything lives under one ``data_dir`` so a restarted gateway serves every earlier file and
batch. Objects are stored as their JSON wire form (what the API returns), plus a small private
``meta`` blob per batch for what the runner needs to resume (the provider, header-given model).
Uploads and answers may hold personal data: the folders are 0700 and every file 0600.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import IO, Any, BinaryIO

import orjson

log = logging.getLogger("tfbatch_nb.gateway")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, obj BLOB NOT NULL, provider TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, obj BLOB NOT NULL, meta BLOB NOT NULL
);
"""

Obj = dict[str, Any]

DIR_MODE, FILE_MODE = 0o700, 0o600


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, FILE_MODE)


def open_private(path: Path, mode: str = "wb", buffering: int = -1) -> IO[bytes]:
    """Open ``path`` for writing bytes; a file it creates is 0600 (readable by its owner only).

    Examples
    --------
    >>> import stat, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x"
    >>> with open_private(path) as fh:
    ...     _ = fh.write(b"secret")
    >>> oct(stat.S_IMODE(path.stat().st_mode))
    '0o600'
    """
    return open(path, mode, buffering=buffering, opener=_private)  # the caller closes it


def make_private(path: Path, mode: int = FILE_MODE) -> None:
    """Tighten an existing file or folder to ``mode``; a folder that is not ours is only warned about."""
    try:
        if path.exists() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError as exc:
        log.warning("could not make %s private (mode %o): %s", path, mode, exc)


def new_id(prefix: str) -> str:
    """A random object id such as ``file-3f9a...`` or ``batch_1c2d...``.

    Examples
    --------
    >>> len(new_id("batch_"))
    30
    """
    return f"{prefix}{secrets.token_hex(12)}"


class Store:
    """SQLite + files persistence, safe to share between the server and worker threads.

    Parameters
    ----------
    data_dir : Path
        Directory holding ``gateway.sqlite3`` and ``files/``; created if missing, and made 0700.

    Examples
    --------
    >>> import tempfile, io
    >>> store = Store(Path(tempfile.mkdtemp()))
    >>> f = store.add_file(io.BytesIO(b"{}\\n"), filename="in.jsonl", purpose="batch", provider="openai-main")
    >>> store.get_file(f["id"])["bytes"]
    3
    >>> store.close()
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "files"
        self.tmp_dir = self.data_dir / "tmp"
        for d in (self.data_dir, self.files_dir, self.tmp_dir):
            d.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            make_private(d, DIR_MODE)  # mkdir's mode is cut by the umask; an existing folder keeps its own
        db = self.data_dir / "gateway.sqlite3"
        # SQLite creates its -wal and -shm files with the mode of the database file: create that 0600
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            make_private(path)  # a folder from an older version
        # One connection behind a lock: sqlite3 connections are not safe for concurrent use, and
        # every statement here is tiny, so a lock is simpler and faster than a pool.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()  # closing twice is a no-op in sqlite3

    # -- files ---------------------------------------------------------------------------
    def file_path(self, file_id: str) -> Path:
        """Where the content of ``file_id`` lives (ids are generated here, so no traversal)."""
        return self.files_dir / file_id

    def tmp_path(self, name: str) -> Path:
        """A scratch path under ``data_dir/tmp`` (same filesystem, so ``os.replace`` is atomic)."""
        return self.tmp_dir / name

    def add_file(self, src: BinaryIO, *, filename: str, purpose: str, provider: str | None) -> Obj:
        """Copy a readable stream into the store and record its File object."""
        tmp = self.tmp_path(new_id("upload-"))
        with open_private(tmp) as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return self.register_file(tmp, filename=filename, purpose=purpose, provider=provider)

    def register_file(self, tmp: Path, *, filename: str, purpose: str, provider: str | None) -> Obj:
        """Move a finished scratch file into the store (atomically) and record it."""
        file_id = new_id("file-")
        os.replace(tmp, self.file_path(file_id))
        obj: Obj = {
            "id": file_id,
            "object": "file",
            "bytes": self.file_path(file_id).stat().st_size,
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        with self._lock:
            self._db.execute(
                "INSERT INTO files (id, obj, provider) VALUES (?, ?, ?)",
                (file_id, orjson.dumps(obj), provider),
            )
        return obj

    def get_file(self, file_id: str) -> Obj | None:
        """The File object, or None."""
        with self._lock:
            row = self._db.execute("SELECT obj FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def file_provider(self, file_id: str) -> str | None:
        """The provider integration a file was uploaded through (outputs: the batch's)."""
        with self._lock:
            row = self._db.execute("SELECT provider FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else row[0]

    def delete_file(self, file_id: str) -> bool:
        """Delete a file's record and content; False when it did not exist."""
        with self._lock:
            cur = self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        if cur.rowcount == 0:
            return False
        self.file_path(file_id).unlink(missing_ok=True)
        return True

    def list_files(
        self, *, after: str | None, limit: int, order: str = "desc", purpose: str | None = None
    ) -> tuple[list[Obj], bool] | None:
        """A page of files; None when the ``after`` cursor is unknown."""
        return self._page("files", after=after, limit=limit, order=order, purpose=purpose)

    # -- batches -------------------------------------------------------------------------
    def add_batch(self, obj: Obj, meta: Obj) -> None:
        """Record a new batch."""
        with self._lock:
            self._db.execute(
                "INSERT INTO batches (id, obj, meta) VALUES (?, ?, ?)",
                (obj["id"], orjson.dumps(obj), orjson.dumps(meta)),
            )

    def save_batch(self, obj: Obj) -> None:
        """Overwrite a batch's wire object."""
        with self._lock:
            self._db.execute("UPDATE batches SET obj = ? WHERE id = ?", (orjson.dumps(obj), obj["id"]))

    def get_batch(self, batch_id: str) -> Obj | None:
        """The Batch object as last saved, or None."""
        with self._lock:
            row = self._db.execute("SELECT obj FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def batch_meta(self, batch_id: str) -> Obj:
        """The private runner state of a batch (empty when unknown)."""
        with self._lock:
            row = self._db.execute("SELECT meta FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return {} if row is None else dict(orjson.loads(row[0]))

    def list_batches(self, *, after: str | None, limit: int) -> tuple[list[Obj], bool] | None:
        """A page of batches, newest first; None when the ``after`` cursor is unknown."""
        return self._page("batches", after=after, limit=limit, order="desc", purpose=None)

    def unfinished_batch_ids(self, terminal: frozenset[str]) -> list[str]:
        """Ids of batches whose saved status is not terminal, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, obj FROM batches ORDER BY seq").fetchall()
        return [r[0] for r in rows if orjson.loads(r[1]).get("status") not in terminal]

    def _page(
        self, table: str, *, after: str | None, limit: int, order: str, purpose: str | None
    ) -> tuple[list[Obj], bool] | None:
        desc = order != "asc"
        where, args = [], []
        with self._lock:
            if after:
                row = self._db.execute(f"SELECT seq FROM {table} WHERE id = ?", (after,)).fetchone()
                if row is None:
                    return None
                where.append("seq < ?" if desc else "seq > ?")
                args.append(row[0])
            sql = f"SELECT obj FROM {table}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY seq {'DESC' if desc else 'ASC'}"
            objs: list[Obj] = []
            # Filtering by purpose in Python keeps the SQL trivial; file counts here are small.
            for (blob,) in self._db.execute(sql, args):
                obj = orjson.loads(blob)
                if purpose and obj.get("purpose") != purpose:
                    continue
                objs.append(obj)
                if len(objs) > limit:
                    break
        return objs[:limit], len(objs) > limit
