"""Column pieces of several files assembled into the results frame: duplicates, order, dtypes.

Internal to :mod:`tfbatch_nb.results`. Each file contributes one *piece* per column: a Python
list (the orjson path) or a pyarrow array (the fast path). Pieces stay as they are until the
final column is built, so a file read by pyarrow never makes a Python object per row when the
frame can hold the arrow data directly (pandas' ``str`` dtype backed by pyarrow); otherwise, or
when pieces of both kinds meet in one column, they become lists and pandas infers the dtype, which
keeps the frame's dtypes the same whichever path read a file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import _arrow as _results_arrow

__all__ = ["Pieces", "build_frame", "flatten"]

log = logging.getLogger(__name__)

#: Column name -> one piece (list or pyarrow array) per file, all pieces of a file of one length.
Pieces = dict[str, list[Any]]

_INT_COLUMNS = ("status_code", "prompt_tokens", "completion_tokens", "total_tokens")
_OBJECT_COLUMNS = ("parsed", "embedding")  # Python objects, kept as they are
# Which of two lines for one custom_id wins: a success over anything (a retried request's success
# is the answer the user paid for), a real failure over "never ran"; on a tie the later line wins,
# because callers list a retry's files after the original's.
_RANK = {"completed": 2, "failed": 1}

_STR_DTYPE: list[Any] = []  # [dtype or None]: what pandas infers for strings, when arrow-backed


def _arrow_str_dtype() -> Any:
    """pandas' inferred dtype for a column of strings and None, if it is backed by pyarrow.

    Asked of pandas rather than derived from its version, so arrow data is handed over as-is
    exactly when pandas would have made the same dtype from Python strings.
    """
    if not _STR_DTYPE:
        dtype = pd.DataFrame({"s": np.array(["x", None], dtype=object)})["s"].dtype
        arrow = isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
        _STR_DTYPE.append(dtype if arrow else None)
    return _STR_DTYPE[0]


def flatten(pieces: list[Any]) -> list[Any]:
    """One list from list and pyarrow pieces."""
    if len(pieces) == 1 and isinstance(pieces[0], list):
        return pieces[0]
    out: list[Any] = []
    for piece in pieces:
        out.extend(piece if isinstance(piece, list) else piece.to_pylist())
    return out


def _winners(ids: list[str], status: list[Any]) -> list[int]:
    """Row of each distinct custom_id (in order of first appearance) whose line wins."""
    winner: dict[str, int] = {}
    for i, cid in enumerate(ids):
        at = winner.get(cid)
        if at is None:
            winner[cid] = i
        elif _RANK.get(status[i], 0) >= _RANK.get(status[at], 0):
            log.debug("custom_id %r appears more than once; the line with status %s wins", cid, status[i])
            winner[cid] = i
    # dicts keep first-insertion order even when a value is replaced: rows stay where first seen
    return list(winner.values())


def _arrow_chunks(pieces: list[Any], kind: Any) -> Any:
    """One chunked array of type ``kind`` from arrow pieces (arrays, chunked arrays, all-null)."""
    pa = _results_arrow.modules()[0]
    chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return pa.chunked_array([c if c.type == kind else c.cast(kind) for c in chunks], type=kind)


def _int_column(pieces: list[Any], take: np.ndarray[Any, Any] | None) -> Any:
    if pieces and all(not isinstance(p, list) for p in pieces):
        pa = _results_arrow.modules()[0]  # only arrow pieces come here, so pyarrow is there
        arr = _arrow_chunks(pieces, pa.int64()).combine_chunks()
        data = arr.fill_null(0).to_numpy()
        mask = arr.is_null().to_numpy(zero_copy_only=False)
        out = pd.arrays.IntegerArray(data.astype(np.int64, copy=False), mask)
        return out if take is None else out.take(take, allow_fill=True)
    values = flatten(pieces)
    try:  # the common case, no gaps: one C-level conversion
        data = np.array(values, dtype=np.int64)
        mask = np.zeros(len(values), dtype=bool)
    except (TypeError, ValueError, OverflowError):
        mask = np.fromiter((type(v) is not int for v in values), dtype=bool, count=len(values))
        data = np.fromiter((v if type(v) is int else 0 for v in values), dtype=np.int64, count=len(values))
    out = pd.arrays.IntegerArray(data, mask)
    return out if take is None else out.take(take, allow_fill=True)


def _object_column(pieces: list[Any], take: np.ndarray[Any, Any] | None, fill: Any, nested: bool) -> Any:
    values = flatten(pieces)
    if take is not None:
        values.append(fill)  # the row every -1 in `take` points at
        take = np.where(take < 0, len(values) - 1, take)
    if all(v is None for v in values):  # e.g. `parsed` without a schema: no per-item stores
        arr = np.full(len(values), None, dtype=object)
    elif nested:
        arr = np.empty(len(values), dtype=object)
        # Item by item: np.array would turn equal-length lists/arrays (embeddings) into a 2-D array.
        for i, v in enumerate(values):
            arr[i] = v
    else:  # strings and None only: one C-level conversion
        arr = np.array(values, dtype=object)
    return arr if take is None else arr[take]


def _str_column(pieces: list[Any], take: np.ndarray[Any, Any] | None, fill: Any) -> Any:
    dtype = _arrow_str_dtype()
    if dtype is None or not pieces or any(isinstance(p, list) for p in pieces):
        return _object_column(pieces, take, fill, nested=False)
    pa, _, pc, _ = _results_arrow.modules()
    arr = _arrow_chunks(pieces, pa.string())
    if take is not None:
        arr = arr.take(pa.array(take, mask=take < 0))
        if fill is not None:
            arr = pc.fill_null(arr, fill)
    if arr.null_count == len(arr):
        return np.full(len(arr), None, dtype=object)  # what pandas infers for an all-None column
    return pd.array(arr, dtype=dtype)


def build_frame(
    pieces: Pieces,
    names: Sequence[str],
    *,
    custom_ids: Sequence[str] | None,
    unlisted: str,
) -> tuple[pd.DataFrame, int, list[str]]:
    """The frame with columns ``names`` from the pieces of all files, in file order.

    Returns
    -------
    (frame, number of listed ids in no file, ids in the files but not listed)
    """
    ids = flatten(pieces["custom_id"])
    rows: list[int] | None = None  # row of each distinct id; None: every row, as is
    first = dict(zip(ids, range(len(ids)), strict=True))
    if len(first) < len(ids):
        rows = _winners(ids, flatten(pieces["status"]))
        distinct = [ids[i] for i in rows]
        first = dict(zip(distinct, range(len(distinct)), strict=True))
    else:
        distinct = ids

    take: np.ndarray[Any, Any] | None = None if rows is None else np.asarray(rows, dtype=np.intp)
    index: list[str] | None = None
    n_missing, extra = 0, []
    if custom_ids is not None:
        wanted = [str(c) for c in custom_ids]
        positions = [first.get(c, -1) for c in wanted]
        n_missing = positions.count(-1)
        listed = set(wanted)
        if len(listed) - n_missing < len(distinct):
            extra = [i for i, c in enumerate(distinct) if c not in listed]
        if n_missing or extra or positions != list(range(len(distinct))):
            at = np.asarray(positions + extra, dtype=np.intp)
            base = np.arange(len(ids), dtype=np.intp) if take is None else take
            found = at >= 0
            take = np.full(len(at), -1, dtype=np.intp)
            take[found] = base[at[found]]
            index = wanted + [distinct[i] for i in extra]
    if index is None and rows is not None:
        index = distinct

    data: dict[str, Any] = {}
    for name in names:
        column = pieces.pop(name)  # dropped as built: keeps the peak near one copy of each column
        fill = unlisted if name == "status" else None
        if name in _INT_COLUMNS:
            data[name] = _int_column(column, take)
        elif name in _OBJECT_COLUMNS:
            data[name] = _object_column(column, take, fill, nested=True)
        else:
            data[name] = _str_column(column, take, fill)
    if index is None:
        idx = pd.Index(_str_column(pieces["custom_id"], None, None), name="custom_id")
    else:
        idx = pd.Index(index, name="custom_id")
    frame = pd.DataFrame(data, index=idx)
    for name in _OBJECT_COLUMNS:  # python objects: keep them as they are, never as strings
        if name in frame and frame[name].dtype != object:
            frame[name] = frame[name].astype(object)
    return frame, n_missing, [distinct[i] for i in extra]
