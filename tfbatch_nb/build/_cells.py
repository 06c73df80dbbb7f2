"""A block's cells -> checked JSON pieces, and the one wording of a row error.

The frame encoder hands each column of a block here and gets back one ``bytes`` per row: text
JSON-escaped for a template slot, or a whole JSON value (messages, embedding inputs). Every check
raises a :class:`RowsError` (a :class:`~tfbatch_nb.errors.BatchInputError`) through :func:`raise_rows`,
which names the first offending rows by their index labels, so the user can find them in the frame;
the encoder re-raises it as a plain ``BatchInputError``, with the rows' ids for Arrow input.

Examples
--------
>>> import pandas as pd
>>> block = pd.DataFrame({"text": ["ok", " "]}, index=["r1", "r2"])
>>> texts(column(block, "text", "prompt field"), "column 'text'")
Traceback (most recent call last):
tfbatch_nb.build._cells.RowsError: column 'text' is empty where text is needed at rows ['r2']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from ..errors import BatchInputError
from ._body import MAX_EMBEDDING_INPUTS
from ._codec import IntArray, NotExactJSON, NullOk, dumps_many, escape_strings, surrogate_at

__all__ = [
    "RowsError",
    "column",
    "embedding_inputs",
    "escape_texts",
    "id_problem",
    "id_texts",
    "message_lists",
    "raise_rows",
    "texts",
]

_CONVERSIONS: dict[str, Callable[[Any], Any]] = {"r": repr, "s": str, "a": ascii}


class RowsError(BatchInputError):
    """The error of :func:`raise_rows`; keeps the rows it names, so the encoder can add their ids."""

    def __init__(
        self, message: str, labels: Sequence[Any], total: int, fix: str, positions: Sequence[int] | None
    ) -> None:  # fmt: skip
        self.message, self.labels, self.total, self.fix = message, list(labels)[:5], total, fix
        self.positions = None if positions is None else list(positions)[:5]
        super().__init__(self.worded())

    def worded(self, ids: Sequence[str] | None = None) -> str:
        """The message, naming the rows (and, when given, the ids of the rows in :attr:`labels`)."""
        shown = ", ".join(repr(x) for x in self.labels)
        more = f" and {self.total - 5} more" if self.total > 5 else ""
        at = f" (positions {self.positions})" if self.positions is not None else ""
        named = f" (ids {list(ids)})" if ids is not None else ""
        fix = f"; {self.fix}" if self.fix else ""
        return f"{self.message} at rows [{shown}]{more}{at}{named}{fix}"


def raise_rows(
    message: str, labels: Sequence[Any], total: int | None = None, *, fix: str = "",
    positions: Sequence[int] | None = None,
) -> NoReturn:  # fmt: skip
    """Raise a :class:`RowsError` naming the first five offending rows (of ``total``), and the fix.

    ``positions`` (0-based, in the whole data) are added when the labels alone may not find the row.

    Examples
    --------
    >>> raise_rows("text is null", ["a", "b", "c", "d", "e", "f"])
    Traceback (most recent call last):
    tfbatch_nb.build._cells.RowsError: text is null at rows ['a', 'b', 'c', 'd', 'e'] and 1 more
    >>> raise_rows("id is empty", [""], positions=[7], fix="give every row an id")
    Traceback (most recent call last):
    tfbatch_nb.build._cells.RowsError: id is empty at rows [''] (positions [7]); give every row an id
    """
    raise RowsError(message, labels, len(labels) if total is None else total, fix, positions)


def column(block: pd.DataFrame, name: str, what: str, *, digits: bool = False) -> pd.Series:
    """The column ``name`` of the block; ``what`` says which argument named it.

    With ``digits`` (a template field such as ``{0}``), a name of digits also finds an integer
    column name, the only way a ``str.format`` template can name one.
    """
    if name not in block.columns and digits and name.isdigit() and int(name) in block.columns:
        return column(block, int(name), what)  # type: ignore[arg-type]
    if name not in block.columns:
        cols = ", ".join(repr(c) for c in list(block.columns)[:20])
        hint = ""
        if digits and name.isdigit():
            hint = "; positional fields ({} or {0}) are not supported: name a column, e.g. {text}"
        elif digits and ("." in name or "[" in name):
            hint = "; attribute and index access ({col.attr}, {col[0]}) are not supported: name a column"
        elif any(not isinstance(c, str) for c in block.columns):
            hint = "; to name a non-str column name, rename the columns: df.rename(columns=str)"
        raise BatchInputError(f"{what} {name!r} is not a column of the data; columns: {cols}{hint}")
    col = block[name]
    if isinstance(col, pd.DataFrame):
        raise BatchInputError(
            f"{what} {name!r} names more than one column (duplicate column names); "
            "rename them, e.g. df.columns = [...]"
        )
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
        i = exc.args[0]
        at = surrogate_at(values[i])
        raise_rows(
            f"{what} holds text with a lone surrogate {values[i][at or 0]!r} at character {at} "
            "(not valid Unicode)", [index[i]], fix=f"repair the text, e.g. {_REPAIR}",
        )  # fmt: skip


#: What no custom_id may hold: C0 and C1 control characters, DEL, the Unicode line and paragraph
#: separators (readers that split lines on them would cut the line in two) and lone surrogates.
_UNSAFE_ID = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MESSAGES = "give a list like [{'role': 'user', 'content': '...'}]"
_REPAIR = "df[col] = df[col].str.encode('utf-8', 'replace').str.decode('utf-8')"


def id_problem(cid: str) -> str | None:
    """What makes ``cid`` unusable as a custom_id (empty, a control character, ...), else None.

    Examples
    --------
    >>> print(id_problem("a\\nb"))
    has the character '\\n' at 1 (a control character, line separator or lone surrogate)
    >>> id_problem("r-1") is None
    True
    """
    if not cid:
        return "is empty"
    found = _UNSAFE_ID.search(cid)
    if found is None:
        return None
    return (
        f"has the character {found.group()!r} at {found.start()} "
        "(a control character, line separator or lone surrogate)"
    )


def id_texts(raw: pd.Series, index: pd.Index, what: str, first: int = 0) -> list[str]:
    """custom_ids as ``str``, refusing null and empty ids and ids with control characters.

    ``first`` is the position of the block's first row in the whole data, to name rows by it.

    Examples
    --------
    >>> import pandas as pd
    >>> ids = pd.Series(["a", "b\\rc"]); id_texts(ids, ids.index, "id_column 'k'")
    Traceback (most recent call last):
    tfbatch_nb.build._cells.RowsError: id_column 'k' has custom_id 'b\\rc' that has the character '\\r' at 1 (a control character, line separator or lone surrogate) at rows [1] (positions [1]); custom_ids must be one line of plain text: clean them (e.g. .str.replace(r'[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]', '', regex=True)) or give id_column= another column
    """
    null = np.asarray(pd.isna(raw))
    if null.any():
        at = np.flatnonzero(null)
        raise_rows(f"{what} has null ids", index[null], len(at), positions=(at[:5] + first).tolist(),
                   fix="give every row an id (fill the column, or use the index: leave id_column= out)")  # fmt: skip
    ids = list(map(str, raw.tolist()))
    # One C-level scan of the block's ids; the per-id search below only runs when something is wrong.
    if all(ids) and _UNSAFE_ID.search("".join(ids)) is None:
        return ids
    bad = [i for i, v in enumerate(ids) if id_problem(v)]
    problem = id_problem(ids[bad[0]])
    fix = (
        "give every row an id (fill the column, or use the index: leave id_column= out)"
        if problem == "is empty" else
        "custom_ids must be one line of plain text: clean them (e.g. "
        ".str.replace(r'[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]', '', regex=True)) or give id_column= another column"
    )  # fmt: skip
    raise_rows(f"{what} has custom_id {ids[bad[0]]!r} that {problem}", index[bad[:5]], len(bad),
               positions=[first + i for i in bad[:5]], fix=fix)  # fmt: skip


def _assistant_nulls(messages: Any, path: tuple[Any, ...]) -> bool:
    # An assistant message may have null fields (content next to tool_calls, refusal); nowhere else
    # is a null meant: a None there is a missing value that would be sent as null.
    return len(path) == 2 and isinstance(m := messages[path[0]], dict) and m.get("role") == "assistant"


def _message_list(value: Any, label: Any, what: str, head: list[dict[str, Any]]) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise_rows(f"{what} is null where messages are needed", [label], fix=_MESSAGES)
    if isinstance(value, list | tuple):
        value = head + list(value)
    if not isinstance(value, list) or not value:
        raise_rows(f"{what} must be a non-empty list of messages, got {type(value).__name__}", [label],
                   fix=_MESSAGES)  # fmt: skip
    for m in value:
        if not isinstance(m, dict) or "role" not in m:
            raise_rows(
                f"{what}: every message must be a dict with 'role' and 'content', got {m!r:.80}", [label],
                fix=_MESSAGES,
            )  # fmt: skip
    return value


def _dumps_rows(values: list[Any], index: pd.Index, what: str, null_ok: NullOk | None) -> list[bytes]:
    try:
        return dumps_many(values, null_ok)
    except NotExactJSON as exc:
        where = f" in {exc.where}" if exc.where else ""
        raise_rows(f"{what} holds {exc.problem}{where}", [index[exc.row]], fix=exc.fix)


def message_lists(values: list[Any], index: pd.Index, what: str, head: list[dict[str, Any]]) -> list[bytes]:
    """Each row's messages as a JSON array, after the ``head`` messages (a system prompt).

    Examples
    --------
    >>> import pandas as pd
    >>> message_lists([[{"role": "user", "content": "hi"}]], pd.Index([0]), "messages",
    ...               [{"role": "system", "content": "Be brief."}])
    [b'[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]']
    """
    lists = [_message_list(v, label, what, head) for label, v in zip(index, values, strict=True)]
    return _dumps_rows(lists, index, what, _assistant_nulls)


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
    values, counts = [], []
    for label, v in zip(col.index, col.tolist(), strict=True):
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, str):
            ok, k = bool(v.strip()), 1
        else:
            ok, k = isinstance(v, list) and len(v) > 0, len(v) if isinstance(v, list) else 0
        if not ok:
            raise_rows(f"{what} needs non-empty text or a non-empty list, got {v!r:.60}", [label],
                       fix="give text, a list of texts or a list of token ids")  # fmt: skip
        if k > MAX_EMBEDDING_INPUTS:
            raise_rows(
                f"{what} has {k} inputs in one request, over the {MAX_EMBEDDING_INPUTS} limit", [label],
                fix="split the list over several rows",
            )  # fmt: skip
        values.append(v)
        counts.append(k)
    return _dumps_rows(values, col.index, what, None), np.asarray(counts, dtype=np.int64)
