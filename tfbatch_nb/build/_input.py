"""What ``build_requests`` reads: pandas, polars and Arrow data -> pandas blocks of at most BLOCK_ROWS rows.

A pandas DataFrame, or an iterable of DataFrame chunks, is cut into blocks as it is. Arrow data --
a pyarrow Table, RecordBatch or RecordBatchReader, a polars DataFrame (read with its own
``to_arrow()``), or any object with the Arrow C stream interface (``__arrow_c_stream__``, e.g. a
DuckDB relation) -- is read one record batch at a time, never whole, so a stream's memory is bounded
by a batch as chunked pandas input is by a chunk. Each batch becomes a pandas frame of only the
columns the request uses, sliced into blocks as a pandas chunk is:

- text columns become Arrow-backed pandas strings over the same buffers: no Python object per
  row and no copy of the text; the encoder's Arrow fast path (:mod:`._arrow`) takes the Arrow array
  back out and escapes and joins it in Arrow, as for a pandas ``str`` column;
- numbers, booleans, dates become what ``to_pandas`` gives (numpy columns: integer ids take the
  vectorised path);
- nested columns (lists of messages, lists of embedding inputs), which are JSON-encoded per row from
  Python values anyway, become the lists and dicts of ``to_pylist``, as a pandas frame of them holds
  (without a struct's null fields: Arrow gives each message every key of the column, null where the
  message had none, so ``{"role": "user", "content": "hi"}`` next to one with a ``name`` stays itself).

Why pandas blocks rather than a second, Arrow-native encoder: every check and its wording then exists
once, and the wrapping costs a few calls per block, not per row, so the lines are those of the equal
pandas frame, byte for byte. An Arrow block's index is its rows' positions in the data, so an error
names a row as it does for a frame with the default index (and the encoder adds the row's id when
``id_column`` is given). polars is never imported here: a polars object is known by its type's module.

Examples
--------
>>> import pyarrow as pa
>>> [(len(b), list(b.index), positional) for b, positional in blocks(pa.table({"t": ["a", "b", "c"]}), {"t"})]
[(3, [0, 1, 2], True)]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any, cast

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from ..errors import BatchInputError

__all__ = ["BLOCK_ROWS", "blocks"]

BLOCK_ROWS = 5_000  # small blocks reuse warm memory; big ones pay page faults on fresh allocations

ACCEPTED = (
    "a pandas DataFrame, an iterable of DataFrame chunks (pd.read_csv(..., chunksize=...)), a polars "
    "DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader, or any object with __arrow_c_stream__"
)
_LARGE = pa.large_string()


def _polars_batches(data: Any) -> Iterator[pa.RecordBatch]:
    name = type(data).__name__
    if name != "DataFrame" or not callable(getattr(data, "to_arrow", None)):
        hint = "; collect it first: lf.collect()" if name == "LazyFrame" else ""
        raise BatchInputError(f"data must be {ACCEPTED}; got a polars {name}{hint}")
    # to_arrow() gives large_string columns (readable by any pyarrow), mostly without a copy.
    return cast(Iterator[pa.RecordBatch], iter(data.to_arrow().to_batches()))


def _stream_batches(data: Any) -> Iterator[pa.RecordBatch]:
    from_stream = getattr(pa.RecordBatchReader, "from_stream", None)
    if from_stream is None:  # pyarrow 14 can export a C stream but not import an arbitrary one
        raise BatchInputError(
            f"reading {type(data).__name__} through __arrow_c_stream__ needs pyarrow >= 15 "
            f"(installed: {pa.__version__}); pass a pyarrow Table instead, or upgrade pyarrow"
        )
    try:
        reader = from_stream(data)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise BatchInputError(
            f"data must be {ACCEPTED}; {type(data).__name__} has __arrow_c_stream__ but is not a table "
            f"of columns ({exc})"
        ) from None
    return cast(Iterator[pa.RecordBatch], iter(reader))


def _arrow_batches(data: Any) -> Iterator[pa.RecordBatch] | None:
    """The record batches of Arrow-like ``data``, read lazily; None when it is not Arrow-like."""
    if isinstance(data, pa.RecordBatch):
        return iter([data])
    if isinstance(data, pa.Table):
        return cast(Iterator[pa.RecordBatch], iter(data.to_batches()))
    if isinstance(data, pa.RecordBatchReader):
        return cast(Iterator[pa.RecordBatch], iter(data))
    if type(data).__module__.partition(".")[0] == "polars":
        return _polars_batches(data)
    if hasattr(type(data), "__arrow_c_stream__"):
        return _stream_batches(data)
    return None


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view")


def _has_struct(t: pa.DataType) -> bool:
    return bool(pa.types.is_struct(t)) or any(_has_struct(t.field(i).type) for i in range(t.num_fields))


def _without_nulls(value: Any) -> Any:
    """A struct's null fields left out: Arrow gives every row of a struct column every key (null when
    the row had none), where the dicts of a pandas frame hold only their own."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _series(arr: pa.Array, index: pd.RangeIndex) -> pd.Series:
    """One Arrow column as the pandas column the encoder reads (see the module docstring)."""
    if pa.types.is_dictionary(arr.type) and _is_text(arr.type.value_type):
        arr = arr.cast(_LARGE)  # categorical text: decoded once, then the text fast path
    if _is_text(arr.type):
        large = arr if arr.type == _LARGE else arr.cast(_LARGE)
        return cast(pd.Series, pd.Series(pd.arrays.ArrowStringArray(large), index=index, copy=False))
    if pa.types.is_nested(arr.type):
        values = arr.to_pylist()
        if _has_struct(arr.type):
            values = [_without_nulls(v) for v in values]
        return cast(pd.Series, pd.Series(values, index=index, dtype=object))
    col: pd.Series = arr.to_pandas()
    col.index = index
    return col


def _frame(batch: pa.RecordBatch, first: int, columns: Collection[str] | None) -> pd.DataFrame:
    names = batch.schema.names
    # A column the request names but the data lacks: convert them all, so the error lists them all.
    if columns is None or not set(columns).issubset(names):
        keep = list(range(len(names)))
    else:
        keep = [i for i, name in enumerate(names) if name in columns]  # by position: names may repeat
    index = pd.RangeIndex(first, first + batch.num_rows)
    frame: pd.DataFrame = pd.DataFrame(
        {k: _series(batch.column(i), index) for k, i in enumerate(keep)}, index=index
    )
    frame.columns = pd.Index([names[i] for i in keep], dtype=object)
    return frame


def _chunks(data: Any) -> Iterator[pd.DataFrame | Iterator[pa.RecordBatch]]:
    """The pandas chunks and Arrow batch streams of ``data``, checking each one's type as it comes."""
    if isinstance(data, pd.DataFrame):
        yield data
        return
    # A Series has __arrow_c_stream__ (pandas >= 2.2) and iterates values: neither makes it a table.
    batches = None if isinstance(data, str | bytes | dict | pd.Series) else _arrow_batches(data)
    if batches is not None:
        yield batches
        return
    if isinstance(data, str | bytes | dict | pd.Series) or not isinstance(data, Iterable):
        raise BatchInputError(f"data must be {ACCEPTED}; got {type(data).__name__}")
    for chunk in data:
        batches = None if isinstance(chunk, pd.DataFrame | pd.Series) else _arrow_batches(chunk)
        if isinstance(chunk, pd.DataFrame):
            yield chunk
        elif batches is not None:
            yield batches
        else:
            raise BatchInputError(
                f"every chunk of data must be a pandas or polars DataFrame or Arrow data; got {type(chunk).__name__}"
            )


def blocks(data: Any, columns: Collection[str] | None) -> Iterator[tuple[pd.DataFrame, bool]]:
    """Blocks of ``data`` and whether each came from Arrow (its index then holds row positions).

    ``columns`` are those the request reads (None: all); only they are converted from Arrow.

    Raises
    ------
    BatchInputError
        When ``data`` (or a chunk of it) is none of the accepted types, which the message lists.
    """
    first = 0
    for chunk in _chunks(data):
        if isinstance(chunk, pd.DataFrame):
            for start in range(0, len(chunk), BLOCK_ROWS):
                yield chunk.iloc[start : start + BLOCK_ROWS], False
            first += len(chunk)
            continue
        for batch in chunk:
            # One frame a batch (its text is not copied), sliced like a pandas chunk: building a
            # frame costs as much for 5,000 rows as for 100,000.
            frame = _frame(batch, first, columns)
            for start in range(0, len(frame), BLOCK_ROWS):
                yield frame.iloc[start : start + BLOCK_ROWS], True
            first += len(frame)
