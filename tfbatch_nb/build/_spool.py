"""The spool: a job's request lines and custom_ids, in memory while small, on disk when big.

Encoders append whole blocks of lines; afterwards the spool serves byte ranges of them (a part's
upload stream, a file copy, a hash) without ever holding a second copy in memory.

Examples
--------
>>> import numpy as np
>>> spool = Spool()
>>> spool.append(b'{"custom_id":"a"}\\n{"custom_id":"b"}\\n', np.array([18, 18]), join_ids([b"a", b"b"]), None)
>>> spool = spool.finish()
>>> spool.nbytes, spool.custom_ids(), bytes(next(spool.iter_blocks(18)))
(36, ['a', 'b'], b'{"custom_id":"b"}\\n')
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson

from ._codec import IntArray

__all__ = ["SPILL_BYTES", "Spool", "join_ids"]

_BLOCK = 8 * 2**20  # bytes per read/write call: big blocks are what makes spooling cheap
SPILL_BYTES = 64 * 2**20  # jobs up to this size stay in memory: their bytes get written once, not twice


class _RangeReader(io.RawIOBase):
    """A seekable read-only view of ``[start, end)`` of a spool, so one part uploads without copying."""

    def __init__(self, spool: Spool, start: int, end: int, name: str) -> None:
        self._spool = spool  # keeps the spool (and its temp dir) alive while the stream is open
        self._f = open(spool.path, "rb") if spool.spilled else None  # noqa: SIM115 - closed in close()
        self._start, self._size, self._pos = start, end - start, 0
        self.name = name  # httpx takes the upload's filename from here

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(base + offset, 0), self._size)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        at = self._start + self._pos
        if self._f is not None:
            self._f.seek(at)
            data: bytes | memoryview = self._f.read(want)
        else:
            data = b"".join(self._spool.slices(at, at + want))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
        super().close()


class Spool:
    """Lines and custom_ids of a job: in memory while small, spilled to a private temp dir when big.

    A job under ``SPILL_BYTES`` (64 MiB) stays as a list of in-memory blocks, so its bytes are
    written exactly once, by ``to_jsonl``/upload; past it, everything moves to files in a temp dir
    (removed when the last user is collected) so memory stays bounded by the block.
    ``ends`` holds each line's end offset (8 bytes a row: the only per-row state kept in memory,
    besides ``n_inputs`` for embeddings), so parts and ranges are computed without reading lines.
    """

    def __init__(self) -> None:
        self._dir: str | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.path = ""  # the lines file, once spilled
        self._ids_path = ""
        self._lines_f: io.BufferedWriter | None = None
        self._ids_f: io.BufferedWriter | None = None
        # In-memory blocks (whole lines each) and where each starts; emptied when spilling.
        self._blocks: list[bytes | memoryview] = []  # memoryviews: Arrow-built blocks, not copied
        self._id_blocks: list[bytes | memoryview] = []
        self._block_starts: IntArray = np.zeros(0, dtype=np.int64)
        self._ends: list[IntArray] = []
        self._inputs: list[IntArray] = []
        self._offset = 0
        self.ends: IntArray = np.zeros(0, dtype=np.int64)
        self.n_inputs: IntArray | None = None
        self._ids: list[str] | None = None

    @property
    def spilled(self) -> bool:
        """Whether the lines live in a file (big jobs) rather than in memory."""
        return self._dir is not None

    def _spill(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="tfbatch-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self.path = os.path.join(self._dir, "lines.jsonl")
        self._ids_path = os.path.join(self._dir, "ids.txt")
        self._lines_f = open(self.path, "wb")  # noqa: SIM115 - closed in finish()/discard()
        self._ids_f = open(self._ids_path, "wb")  # noqa: SIM115
        self._lines_f.writelines(self._blocks)
        self._ids_f.writelines(self._id_blocks)
        self._blocks, self._id_blocks = [], []

    def append(
        self,
        block: bytes | memoryview,
        lens: IntArray,
        id_block: bytes | memoryview,
        n_inputs: IntArray | None,
    ) -> None:
        """Add a block of whole lines, each line's length and their escaped ids (see :func:`join_ids`)."""
        if not self.spilled and self._offset + len(block) > SPILL_BYTES:  # a global, so tests can lower it
            self._spill()
        if self._lines_f is not None and self._ids_f is not None:
            self._lines_f.write(block)
            self._ids_f.write(id_block)
        else:
            self._blocks.append(block)
            self._id_blocks.append(id_block)
        self._ends.append(self._offset + np.cumsum(lens))
        self._offset += len(block)
        if n_inputs is not None:
            self._inputs.append(n_inputs)

    def finish(self) -> Spool:
        """Close the files and index the lines; returns ``self``, ready to read."""
        for f in (self._lines_f, self._ids_f):
            if f is not None:
                f.close()
        self._lines_f = self._ids_f = None
        self.ends = np.concatenate(self._ends) if self._ends else np.zeros(0, dtype=np.int64)
        self.n_inputs = np.concatenate(self._inputs) if self._inputs else None
        self._ends, self._inputs = [], []
        sizes = np.fromiter(map(len, self._blocks), dtype=np.int64, count=len(self._blocks))
        self._block_starts = np.cumsum(sizes) - sizes
        return self

    def discard(self) -> None:
        """Drop the lines now (after an error): close and remove the files, free the blocks."""
        for f in (self._lines_f, self._ids_f):
            if f is not None:
                f.close()
        self._blocks, self._id_blocks = [], []
        if self._finalizer is not None:
            self._finalizer()

    @property
    def nbytes(self) -> int:
        """Bytes of all lines."""
        return int(self.ends[-1]) if len(self.ends) else 0

    def start_of(self, line: int) -> int:
        """Byte offset where line ``line`` (0-based) starts."""
        return int(self.ends[line - 1]) if line > 0 else 0

    def custom_ids(self) -> list[str]:
        """Every line's custom_id, decoded on first use and then cached (a job and its parts share it)."""
        if self._ids is None:
            self._ids = self._read_ids()
        return self._ids

    def _read_ids(self) -> list[str]:
        if self.spilled:
            with open(self._ids_path, "rb") as f:
                data = f.read()
        else:
            data = b"".join(self._id_blocks)
        if not data:
            return []
        # One vectorised decode of all ids: rebuild a JSON array of the escaped strings.
        ids: list[str] = orjson.loads(b'["' + data[:-1].replace(b"\n", b'","') + b'"]')
        return ids

    def open(self, start: int, end: int, name: str) -> io.BufferedReader:
        """A seekable binary stream of ``[start, end)``, called ``name`` (the upload's filename)."""
        return io.BufferedReader(_RangeReader(self, start, end, name), buffer_size=_BLOCK)

    def slices(self, start: int, end: int) -> Iterator[memoryview]:
        """Zero-copy views of ``[start, end)`` of the in-memory blocks."""
        i = max(int(np.searchsorted(self._block_starts, start, "right")) - 1, 0)
        while start < end and i < len(self._blocks):
            base = int(self._block_starts[i])
            view = memoryview(self._blocks[i])[start - base : end - base]
            start += len(view)
            i += 1
            if len(view):
                yield view

    def iter_blocks(self, start: int = 0, end: int | None = None) -> Iterator[bytes | memoryview]:
        """``[start, end)`` of the lines in big chunks (not cut at line ends)."""
        end = self.nbytes if end is None else end
        if not self.spilled:
            yield from self.slices(start, end)
            return
        with open(self.path, "rb") as f:
            f.seek(start)
            while start < end:
                chunk = f.read(min(_BLOCK, end - start))
                if not chunk:
                    return
                start += len(chunk)
                yield chunk

    def copy_to(self, fd: int, start: int, end: int) -> None:
        """Copy ``[start, end)`` of the lines into an open file descriptor, in the kernel when it can."""
        offset = start
        if self.spilled:
            with open(self.path, "rb") as f:
                src = f.fileno()
                try:
                    # copy_file_range skips the user-space round trip (and reflinks on CoW filesystems).
                    while offset < end:
                        done = os.copy_file_range(src, fd, end - offset, offset)
                        if done == 0:
                            break
                        offset += done
                except (AttributeError, OSError):  # not Linux, or a filesystem pair that refuses
                    pass
        for chunk in self.iter_blocks(offset, end):
            view = memoryview(chunk)
            while len(view):  # os.write may write less than asked (signals, pipes)
                view = view[os.write(fd, view) :]

    def iter_lines(self) -> Iterator[bytes]:
        """Every line, each ending with ``\\n``."""
        tail = b""
        for chunk in self.iter_blocks():
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                yield line + b"\n"

    def sha256(self, prefix: bytes = b"", start: int = 0, end: int | None = None) -> str:
        """Hex SHA-256 of ``prefix`` followed by ``[start, end)`` of the lines."""
        h = hashlib.sha256(prefix)
        for chunk in self.iter_blocks(start, end):
            h.update(chunk)
        return h.hexdigest()


def join_ids(ids: Sequence[bytes]) -> bytes:
    """Escaped custom_ids as a spool's id block: escaped ids hold no raw newline, so one ends each."""
    return b"\n".join(ids) + b"\n"
