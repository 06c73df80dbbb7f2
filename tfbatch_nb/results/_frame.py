"""The results frame: its columns, the row one line becomes, and the frame built from column pieces.

The frame has the index ``custom_id`` and exactly one row per request, whatever happened to it:

==================  =========================================================================
column              meaning
==================  =========================================================================
status              completed / failed / expired / cancelled / missing (or the ``unlisted`` value)
status_code         HTTP status of the line (``Int64``, NA when the line never ran)
content             the model's text (chat: choice 0; completions: ``choices[0].text``;
                    responses: the ``output_text`` parts joined)
finish_reason       ``stop``, ``length``, ... (responses API statuses are mapped onto these)
parsed              the structured output when a schema was given, validated
prompt_tokens,      token usage (``Int64``); the Responses API's input/output tokens land here
completion_tokens,
total_tokens
error_code,         why a row failed (or ``parse_error`` / ``refusal`` on a completed row whose
error_message       structured output is unusable: the text is kept, ``parsed`` is None)
request_id          the provider's request id, for support tickets
==================  =========================================================================

Embedding batches have an ``embedding`` column (a float64 numpy array per row) instead of
``content``, ``finish_reason`` and ``parsed``.

Each file is read into one *piece* per field of :class:`Row`: a Python list (the per-line path)
or a pyarrow array (the fast path). Pieces stay as they are until the final column is built, so a
file read by pyarrow never makes a Python object per row when pandas' ``str`` dtype is backed by
pyarrow; otherwise, or when pieces of both kinds meet in one column, they become lists and pandas
infers the dtype, which keeps the dtypes the same whichever path read a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

__all__ = ["EMBEDDING_COLUMNS", "FIELDS", "RESULT_COLUMNS", "Pieces", "Row", "build_frame", "flatten"]

_STATUS = ("status", "status_code")
_USAGE_AND_ERROR = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
    "request_id",
)
#: Columns of the results frame for text endpoints (chat, completions, responses), in order.
RESULT_COLUMNS: tuple[str, ...] = (*_STATUS, "content", "finish_reason", "parsed", *_USAGE_AND_ERROR)
#: Columns of the results frame for ``/v1/embeddings`` batches, in order.
EMBEDDING_COLUMNS: tuple[str, ...] = (*_STATUS, "embedding", *_USAGE_AND_ERROR)

_INT_COLUMNS = ("status_code", "prompt_tokens", "completion_tokens", "total_tokens")
_OBJECT_COLUMNS = ("parsed", "embedding")  # Python objects, kept as they are


class Row(NamedTuple):
    """One request as one output or error line tells it (``parsed`` is added later, from a schema).

    Examples
    --------
    >>> Row("a", "failed", 500, error_code="server_error").content is None
    True
    """

    custom_id: str
    status: str
    status_code: int | None = None
    content: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    embedding: Any = None


#: The columns each file is read into, whichever path reads it: the fields of :class:`Row`.
FIELDS: tuple[str, ...] = Row._fields

#: Column name -> one piece (list or pyarrow array) per file, all pieces of a file of one length.
Pieces = dict[str, list[Any]]

# Which of two lines for one custom_id wins: a success over anything (a retried request's success
# is the answer the user paid for), a real failure over "never ran"; on a tie the later line wins,
# because callers list a retry's files after the original's. parse_results warns about repeats.
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
    """One list from list and pyarrow pieces.

    Examples
    --------
    >>> import pyarrow as pa
    >>> flatten([["a"], pa.array(["b", None])])
    ['a', 'b', None]
    """
    if len(pieces) == 1 and isinstance(pieces[0], list):
        return pieces[0]
    out: list[Any] = []
    for piece in pieces:
        out.extend(piece if isinstance(piece, list) else piece.to_pylist())
    return out


def _winners(ids: list[str], status: list[Any]) -> tuple[list[int], list[int]]:
    """(row of each distinct custom_id whose line wins, in order of first appearance; rows of repeats).

    A repeat is a line whose custom_id an earlier line already had.
    """
    winner: dict[str, int] = {}
    repeats: list[int] = []
    for i, cid in enumerate(ids):
        at = winner.get(cid)
        if at is None:
            winner[cid] = i
            continue
        repeats.append(i)
        if _RANK.get(status[i], 0) >= _RANK.get(status[at], 0):
            winner[cid] = i
    # dicts keep first-insertion order even when a value is replaced: rows stay where first seen
    return list(winner.values()), repeats


def _arrow_chunks(pieces: list[Any], kind: Any) -> Any:
    """One chunked array of type ``kind`` from arrow pieces (arrays, chunked arrays, all-null)."""
    chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return pa.chunked_array([c if c.type == kind else c.cast(kind) for c in chunks], type=kind)


def _int_column(pieces: list[Any], take: np.ndarray[Any, Any] | None) -> Any:
    if pieces and all(not isinstance(p, list) for p in pieces):
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
) -> tuple[pd.DataFrame, int, list[str], list[int]]:
    """The frame with columns ``names`` from the pieces of all files, in file order.

    Pieces of ``names`` are consumed (popped) as their columns are built.

    Returns
    -------
    (frame, number of listed ids in no file, ids in the files but not listed, positions among all
    files' lines of the lines that repeat an earlier line's custom_id)

    Examples
    --------
    >>> pieces = {"custom_id": [["a", "b", "a"]], "status": [["completed", "failed", "failed"]]}
    >>> frame, n_missing, extra, repeats = build_frame(pieces, ["status"], custom_ids=["b", "c"], unlisted="missing")
    >>> frame.status.to_dict(), n_missing, extra, repeats
    ({'b': 'failed', 'c': 'missing', 'a': 'completed'}, 1, ['a'], [2])
    """
    ids = flatten(pieces["custom_id"])
    rows: list[int] | None = None  # row of each distinct id; None: every row, as is
    repeats: list[int] = []
    first = dict(zip(ids, range(len(ids)), strict=True))
    if len(first) < len(ids):
        rows, repeats = _winners(ids, flatten(pieces["status"]))
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
    return frame, n_missing, [distinct[i] for i in extra], repeats
