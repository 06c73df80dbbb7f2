"""The JSON codec of request lines: exact values (numpy too) and strings escaped a column at a time.

Escaping a whole column is one ``orjson.dumps`` of the list, split on ``","``: safe because inside an
escaped JSON string every ``"`` follows a backslash, so ``","`` can only separate two items.

orjson writes NaN and infinity as ``null`` without a word; :func:`dumps_exact` refuses them (and
``None`` where a null is not meant, pandas' missing values and lone surrogates), naming where in
the value they are and how to fix them. The check costs nothing on good values: only an encoding
error or a ``null`` in the output sends it looking.

Examples
--------
>>> import numpy as np
>>> dumps({"temperature": np.float32(0.1), "n": np.int64(2)})
b'{"temperature":0.1,"n":2}'
>>> escape_strings(['say "hi"', "a,b"])
[b'say \\\\"hi\\\\"', b'a,b']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

__all__ = [
    "IntArray",
    "NotExactJSON",
    "NullOk",
    "dumps",
    "dumps_exact",
    "dumps_many",
    "escape_strings",
    "schema_nulls",
    "surrogate_at",
]

IntArray = npt.NDArray[np.int64]


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
    """Serialise to compact JSON bytes, numpy scalars exactly (``np.float64(0.25)`` -> ``0.25``).

    Examples
    --------
    >>> dumps([{"role": "user", "content": "hi"}])
    b'[{"role":"user","content":"hi"}]'
    """
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        # OPT_SERIALIZE_NUMPY refuses non-numeric arrays without calling default; retry through it.
        return orjson.dumps(value, default=_default)


Path = tuple[Any, ...]
#: JSON-schema keywords whose values are data, where null is a legitimate value (``"enum": [null]``).
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
_FILL = "use a finite number, or fill or drop missing values first (df.fillna / df.dropna)"
_SURROGATE_FIX = "repair the text, e.g. text.encode('utf-8', 'replace').decode()"
_PLAIN_JSON = "give only str, numbers, bools, None, lists and dicts"


#: Whether a null is meant at ``path`` inside ``root`` (the value being encoded).
NullOk = Callable[[Any, Path], bool]


class NotExactJSON(ValueError):
    """A value JSON cannot carry exactly: what it is (``problem``), where (``where``), the ``fix``,
    and for :func:`dumps_many` the ``row`` (position in the values) it is in.

    Examples
    --------
    >>> str(NotExactJSON("NaN", "[0]", "fill it"))
    'NaN in [0]; fill it'
    """

    def __init__(self, problem: str, where: str, fix: str, row: int = 0) -> None:
        self.problem, self.where, self.fix, self.row = problem, where, fix, row
        super().__init__(f"{problem}{f' in {where}' if where else ''}; {fix}")


def schema_nulls(root: Any, path: Path) -> bool:
    """Whether a null at ``path`` is data of a JSON schema (under ``enum``/``const``/``default``/``examples``).

    Examples
    --------
    >>> schema_nulls({}, ("properties", "x", "enum", 1)), schema_nulls({}, ("properties", "x", "maximum"))
    (True, False)
    """
    return any(isinstance(k, str) and k in _DATA_KEYWORDS for k in path)


def _where(path: Path) -> str:
    return "".join(f"[{k!r}]" for k in path)


def surrogate_at(text: str) -> int | None:
    """The position of the first lone surrogate in ``text`` (which UTF-8 cannot encode), else None.

    Examples
    --------
    >>> surrogate_at("ab\\ud800"), surrogate_at("ok ✓")
    (2, None)
    """
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return int(exc.start)
    return None


def _find_invalid(value: Any, path: Path, null_ok: Callable[[Path], bool]) -> NotExactJSON | None:
    if value is None:
        if null_ok(path):
            return None
        drop = ", or leave the key out" if path and isinstance(path[-1], str) else ""
        return NotExactJSON("None", _where(path), f"give a value{drop} (None would be sent as null)")
    if isinstance(value, str):
        at = surrogate_at(value)
        if at is None:
            return None
        problem = f"text with a lone surrogate {value[at]!r} at character {at} (not valid Unicode)"
        return NotExactJSON(problem, _where(path), _SURROGATE_FIX)
    if isinstance(value, float | np.floating):
        if math.isfinite(float(value)):
            return None
        return NotExactJSON(f"{float(value)!r} (JSON has no NaN or infinity)", _where(path), _FILL)
    if value is pd.NA or value is pd.NaT or (isinstance(value, np.datetime64) and np.isnat(value)):
        return NotExactJSON(f"a missing value ({value!r})", _where(path), _FILL)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fcmMOU":
            return _find_invalid(value.tolist(), path, null_ok)
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and surrogate_at(key) is not None:
                return NotExactJSON(f"a key with a lone surrogate {key!r}", _where(path), _SURROGATE_FIX)
            found = _find_invalid(item, (*path, key), null_ok)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            found = _find_invalid(item, (*path, i), null_ok)
            if found is not None:
                return found
    return None


def _invalid(value: Any, row: int, null_ok: NullOk | None) -> NotExactJSON | None:
    found = _find_invalid(value, (), lambda path: null_ok is not None and null_ok(value, path))
    if found is not None:
        found.row = row
    return found


def dumps_many(values: Sequence[Any], null_ok: NullOk | None = None) -> list[bytes]:
    """:func:`dumps` of each value, refusing what would not come back as given: NaN, infinity,
    pandas' NA/NaT, lone surrogates, and ``None`` except where ``null_ok(value, path)`` says a null
    is meant. Raises :class:`NotExactJSON` naming the row, the place in it and the fix.

    A good block costs one scan of its bytes for ``null`` (which NaN, infinity and None become).

    Examples
    --------
    >>> dumps_many([[{"role": "user", "content": "hi"}]])
    [b'[{"role":"user","content":"hi"}]']
    >>> dumps_many([["a"], [1.0, float("nan")]])
    Traceback (most recent call last):
    tfbatch_nb.build._codec.NotExactJSON: nan (JSON has no NaN or infinity) in [1]; use a finite number, or fill or drop missing values first (df.fillna / df.dropna)
    """
    out: list[bytes] = []
    encode, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY  # called directly: this is the per-row loop
    for value in values:
        try:
            out.append(encode(value, default=_default, option=option))
        except (TypeError, orjson.JSONEncodeError):
            try:
                out.append(dumps(value))  # its retry takes the arrays OPT_SERIALIZE_NUMPY refuses
                continue
            except (TypeError, orjson.JSONEncodeError) as exc:
                _check_nulls(values, out, null_ok)  # an earlier row's NaN is the first problem
                found = _invalid(value, len(out), null_ok)
                problem = f"a value that cannot be serialised to JSON ({exc})"
                raise found or NotExactJSON(problem, "", _PLAIN_JSON, len(out)) from None
    _check_nulls(values, out, null_ok)
    return out


def _check_nulls(values: Sequence[Any], out: list[bytes], null_ok: NullOk | None) -> None:
    """Raise for the first encoded row whose nulls are not meant (NaN, infinity, a stray None)."""
    if b"".join(out).find(b"null") >= 0:
        for row, (value, raw) in enumerate(zip(values, out, strict=False)):
            if raw.find(b"null") >= 0 and (found := _invalid(value, row, null_ok)) is not None:
                raise found


def dumps_exact(value: Any, null_ok: NullOk | None = None) -> bytes:
    """:func:`dumps_many` of one value.

    Examples
    --------
    >>> dumps_exact({"enum": ["a", None]}, schema_nulls)
    b'{"enum":["a",null]}'
    """
    return dumps_many([value], null_ok)[0]


def escape_strings(values: Sequence[str]) -> list[bytes]:
    """JSON-escape each string without its quotes, in one orjson call for the whole list.

    Raises ``ValueError`` with the position of the first value orjson refuses (lone surrogates).

    Examples
    --------
    >>> escape_strings(["a\\nb", "ok"])
    [b'a\\\\nb', b'ok']
    >>> escape_strings(["ok", "\\ud800"])
    Traceback (most recent call last):
    ValueError: 1
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
