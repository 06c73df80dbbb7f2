"""A block's cells -> checked JSON pieces, and the one wording of a row error.

The frame encoder hands each column of a block here and gets back one ``bytes`` per row: text
JSON-escaped for a template slot, or a whole JSON value (messages, embedding inputs). Every check
raises :class:`~tfbatch_nb.errors.BatchInputError` through :func:`raise_rows`, which names the first
offending rows by their index labels, so the user can find them in the frame.

Examples
--------
>>> import pandas as pd
>>> block = pd.DataFrame({"text": ["ok", " "]}, index=["r1", "r2"])
>>> texts(column(block, "text", "prompt field"), "column 'text'")
Traceback (most recent call last):
tfbatch_nb.errors.BatchInputError: column 'text' is empty where text is needed at rows ['r2']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np
import orjson
import pandas as pd

from ..errors import BatchInputError
from ._body import MAX_EMBEDDING_INPUTS
from ._codec import IntArray, dumps, escape_strings

__all__ = ["column", "embedding_inputs", "escape_texts", "id_texts", "message_lists", "raise_rows", "texts"]

_CONVERSIONS: dict[str, Callable[[Any], Any]] = {"r": repr, "s": str, "a": ascii}


def raise_rows(message: str, labels: Sequence[Any], total: int | None = None) -> NoReturn:
    """Raise a BatchInputError naming the first five offending rows (of ``total``).

    Examples
    --------
    >>> raise_rows("text is null", ["a", "b", "c", "d", "e", "f"])
    Traceback (most recent call last):
    tfbatch_nb.errors.BatchInputError: text is null at rows ['a', 'b', 'c', 'd', 'e'] and 1 more
    """
    total = len(labels) if total is None else total
    shown = ", ".join(repr(x) for x in list(labels)[:5])
    more = f" and {total - 5} more" if total > 5 else ""
    raise BatchInputError(f"{message} at rows [{shown}]{more}")


def column(block: pd.DataFrame, name: str, what: str) -> pd.Series:
    """The column ``name`` of the block; ``what`` says which argument named it."""
    if name not in block.columns:
        cols = ", ".join(repr(c) for c in list(block.columns)[:20])
        raise BatchInputError(f"{what} {name!r} is not a column of the data; columns: {cols}")
    col = block[name]
    if isinstance(col, pd.DataFrame):
        raise BatchInputError(f"{what} {name!r} names more than one column (duplicate column names)")
    return col


def texts(col: pd.Series, what: str, spec: str = "", conv: str | None = None) -> list[str]:
    """A column as strings, ``format(value, spec)`` after any ``!r``/``!s``/``!a``; no null or blank text.

    Examples
    --------
    >>> import pandas as pd
    >>> texts(pd.Series([0.5, 2.0]), "column 'x'", ".1f")
    ['0.5', '2.0']
    """
    null = np.asarray(pd.isna(col), dtype=bool) if col.dtype == object else np.asarray(col.isna())
    if null.any():
        raise_rows(f"{what} is null/NaN where text is needed", col.index[null], int(null.sum()))
    values = col.tolist()
    if conv or spec or pd.api.types.infer_dtype(col, skipna=False) != "string":
        convert = _CONVERSIONS.get(conv or "")
        try:
            values = [format(convert(v) if convert else v, spec) for v in values]
        except (ValueError, TypeError) as exc:
            raise BatchInputError(f"{what}: format spec {spec!r} failed: {exc}") from None
    # C-level scans first; the per-row search below only runs when something is wrong.
    if all(values) and not any(map(str.isspace, values)):
        return values
    empty = [i for i, v in enumerate(values) if not v or v.isspace()]
    if empty:
        raise_rows(f"{what} is empty where text is needed", col.index[empty[:5]], len(empty))
    return values


def escape_texts(values: list[str], index: pd.Index, what: str) -> list[bytes]:
    """:func:`~._codec.escape_strings`, naming the row of text that is not valid UTF-8."""
    try:
        return escape_strings(values)
    except ValueError as exc:
        raise_rows(f"{what} holds text that is not valid UTF-8 (a lone surrogate)", [index[exc.args[0]]])


def id_texts(raw: pd.Series, index: pd.Index, what: str) -> list[str]:
    """custom_ids as ``str``, refusing null and empty ids."""
    null = np.asarray(pd.isna(raw))
    if null.any():
        raise_rows(f"{what} has null ids", index[null], int(null.sum()))
    ids = list(map(str, raw.tolist()))
    if not all(ids):
        empty = [i for i, v in enumerate(ids) if not v]
        raise_rows(f"{what} has empty ids", index[empty], len(empty))
    return ids


def _one_message_list(value: Any, label: Any, what: str) -> bytes:
    if not isinstance(value, list | tuple) or not value:
        raise_rows(f"{what} must be a non-empty list of messages, got {type(value).__name__}", [label])
    for m in value:
        if not isinstance(m, dict) or "role" not in m:
            raise_rows(
                f"{what}: every message must be a dict with 'role' and 'content', got {m!r:.80}", [label]
            )
    try:
        return dumps(list(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise_rows(f"{what} cannot be serialised to JSON ({exc})", [label])


def message_lists(values: list[Any], index: pd.Index, what: str, head: list[dict[str, Any]]) -> list[bytes]:
    """Each row's messages as a JSON array, after the ``head`` messages (a system prompt).

    Examples
    --------
    >>> import pandas as pd
    >>> message_lists([[{"role": "user", "content": "hi"}]], pd.Index([0]), "messages",
    ...               [{"role": "system", "content": "Be brief."}])
    [b'[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]']
    """
    out = []
    for label, v in zip(index, values, strict=True):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise_rows(f"{what} is null where messages are needed", [label])
        out.append(
            _one_message_list(head + list(v) if head and isinstance(v, list | tuple) else v, label, what)
        )
    return out


def embedding_inputs(col: pd.Series, what: str) -> tuple[list[bytes], IntArray]:
    """Each row's embedding ``input`` as a JSON value (a string or a list), and how many inputs it holds.

    Examples
    --------
    >>> import pandas as pd
    >>> embedding_inputs(pd.Series([["a", "b"], "c"]), "input column 'x'")
    ([b'["a","b"]', b'"c"'], array([2, 1]))
    """
    if pd.api.types.infer_dtype(col, skipna=False) == "string":
        esc = escape_texts(texts(col, what), col.index, what)
        return [b'"' + e + b'"' for e in esc], np.ones(len(col), dtype=np.int64)
    out, counts = [], []
    for label, v in zip(col.index, col.tolist(), strict=True):
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, str):
            ok, k = bool(v.strip()), 1
        else:
            ok, k = isinstance(v, list) and len(v) > 0, len(v) if isinstance(v, list) else 0
        if not ok:
            raise_rows(f"{what} needs non-empty text or a non-empty list, got {v!r:.60}", [label])
        if k > MAX_EMBEDDING_INPUTS:
            raise_rows(
                f"{what} has {k} inputs in one request, over the {MAX_EMBEDDING_INPUTS} limit", [label]
            )
        try:
            out.append(dumps(v))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise_rows(f"{what} cannot be serialised to JSON ({exc})", [label])
        counts.append(k)
    return out, np.asarray(counts, dtype=np.int64)
