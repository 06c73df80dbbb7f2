"""Fast JSONL line encoding and the on-disk spool that holds the lines of a ``BatchRequests``.

Speed comes from never serialising a whole request per row: the constant part of every line
(model, system prompt, parameters) is serialised once with placeholders, cut into pieces, and
each row only contributes its pre-escaped variable strings. Escaping a whole column is one
``orjson.dumps`` of the list, split on ``","`` -- safe because inside an escaped JSON string every
``"`` is preceded by a backslash, so ``","`` can only be the separator between two items.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..errors import BatchInputError

__all__ = ["LineTemplate", "Spool", "dumps", "escape_strings", "find_non_finite", "join_ids"]

IntArray = npt.NDArray[np.int64]
_BLOCK = 8 * 2**20  # bytes per read/write call: big blocks are what makes spooling cheap
SPILL_BYTES = 64 * 2**20  # jobs up to this size stay in memory: their bytes get written once, not twice


def _default(value: Any) -> Any:
    # orjson handles numpy arrays and most numpy scalars natively (OPT_SERIALIZE_NUMPY); this hook
    # catches the rest (np.bool_, pandas NA-free scalars with .item(), sets) so values stay exact.
    if isinstance(value, np.floating):
        return float(str(value))  # str() is the shortest repr for the dtype: float32 0.1 stays 0.1
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):  # dtypes orjson does not take natively (str, object)
        return [_default(v) if isinstance(v, np.generic) else v for v in value.tolist()]
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Serialise to compact JSON bytes, numpy scalars exactly (``np.float64(0.25)`` -> ``0.25``)."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        # OPT_SERIALIZE_NUMPY refuses non-numeric arrays without calling default; retry through it.
        return orjson.dumps(value, default=_default)


def find_non_finite(value: Any) -> bool:
    """Whether a (nested) value holds NaN or infinity, which orjson would silently write as null."""
    if isinstance(value, float | np.floating):
        return not math.isfinite(float(value))
    if isinstance(value, dict):
        return any(find_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(find_non_finite(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return not bool(np.isfinite(value).all())
    return False


def escape_strings(values: Sequence[str]) -> list[bytes]:
    """JSON-escape each string without its quotes, in one orjson call for the whole list.

    Raises ``ValueError`` with the position of the first value orjson refuses (lone surrogates).
    """
    if not values:
        return []
    try:
        dumped = orjson.dumps(values)
    except orjson.JSONEncodeError:
        for i, v in enumerate(values):
            try:
                orjson.dumps(v)
            except orjson.JSONEncodeError:
                raise ValueError(i) from None
        raise
    return dumped[2:-2].split(b'","')


class LineTemplate:
    """A line skeleton serialised once, cut at its placeholders into constant byte pieces.

    ``skeleton`` is the request object with placeholder strings from :meth:`slot`; an *inline* slot
    sits inside a JSON string (escaped text is spliced between its quotes), a *value* slot stands
    for a whole JSON value (raw JSON is spliced in place of the quoted placeholder).
    """

    def __init__(self) -> None:
        self._token = os.urandom(6).hex()  # random so no user text can contain a placeholder
        self._slots: dict[str, tuple[bytes, bool]] = {}
        self.pieces: list[bytes] = []
        self.order: list[str] = []

    def slot(self, name: str, *, inline: bool) -> str:
        marker = f"@tfb{self._token}:{len(self._slots)}@"
        self._slots[name] = (marker.encode(), inline)
        return marker

    def compile(self, skeleton: dict[str, Any]) -> None:
        rest = dumps(skeleton) + b"\n"
        found = []
        for name, (marker, inline) in self._slots.items():
            token = marker if inline else b'"' + marker + b'"'
            found.append((rest.index(token), name, token))
        for _, name, token in sorted(found):
            head, rest = rest.split(token, 1)
            self.pieces.append(head)
            self.order.append(name)
        self.pieces.append(rest)

    @property
    def const_len(self) -> int:
        return sum(map(len, self.pieces))

    def render(self, columns: dict[str, list[bytes]], n: int) -> tuple[bytes, IntArray, dict[str, IntArray]]:
        """Join ``n`` lines into one block; returns it, each line's length and each slot's lengths."""
        k = len(self.order)
        # One cell list for the whole block: [p0, s1, p1, ..., sk, pk+p0, s1, ...]. The end of a line
        # and the start of the next are one shared piece, so join sees 2k items a row, not 2k+1.
        cells: list[bytes] = []
        for piece in self.pieces[1:]:
            cells += [b"", piece]
        cells[-1] = self.pieces[-1] + self.pieces[0]
        out = [self.pieces[0]]
        out += cells * n  # constant pieces shared by reference; only slot cells get replaced
        out[-1] = self.pieces[-1]
        lens = np.full(n, self.const_len, dtype=np.int64)
        slot_lens = {}
        for j, name in enumerate(self.order):
            col = columns[name]
            out[2 * j + 1 :: 2 * k] = col
            slot_lens[name] = np.fromiter(map(len, col), dtype=np.int64, count=n)
            lens += slot_lens[name]
        return b"".join(out), lens, slot_lens


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

    A job under ``spill_at`` bytes (64 MiB by default) stays as a list of in-memory blocks, so its
    bytes are written exactly once, by ``to_jsonl``/upload; past it, everything moves to files in a
    temp dir (removed when the last user is collected) so memory stays bounded by the block.
    ``ends`` holds each line's end offset (8 bytes a row: the only per-row state kept in memory,
    besides ``n_inputs`` for embeddings), so parts and ranges are computed without reading lines.
    """

    def __init__(self, *, spill_at: int | None = None) -> None:
        self._spill_at = SPILL_BYTES if spill_at is None else spill_at
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
        if not self.spilled and self._offset + len(block) > self._spill_at:
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
        for f in (self._lines_f, self._ids_f):
            if f is not None:
                f.close()
        self._blocks, self._id_blocks = [], []
        if self._finalizer is not None:
            self._finalizer()

    @property
    def nbytes(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def start_of(self, line: int) -> int:
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

    def iter_lines(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        tail = b""
        for chunk in self.iter_blocks(start, end):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                yield line + b"\n"

    def sha256(self, prefix: bytes = b"", start: int = 0, end: int | None = None) -> str:
        h = hashlib.sha256(prefix)
        for chunk in self.iter_blocks(start, end):
            h.update(chunk)
        return h.hexdigest()


def join_ids(ids: Sequence[bytes]) -> bytes:
    """Escaped custom_ids as a spool's id block: escaped ids hold no raw newline, so one ends each."""
    return b"\n".join(ids) + b"\n"


def raise_rows(message: str, labels: Sequence[Any], total: int | None = None) -> None:
    """Raise a BatchInputError naming the first five offending rows."""
    total = len(labels) if total is None else total
    shown = ", ".join(repr(x) for x in list(labels)[:5])
    more = f" and {total - 5} more" if total > 5 else ""
    raise BatchInputError(f"{message} at rows [{shown}]{more}")
