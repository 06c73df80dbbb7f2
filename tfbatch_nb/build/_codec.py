"""The JSON codec of request lines: exact values (numpy too) and strings escaped a column at a time.

Escaping a whole column is one ``orjson.dumps`` of the list, split on ``","``: safe because inside an
escaped JSON string every ``"`` follows a backslash, so ``","`` can only separate two items.

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

__all__ = ["IntArray", "dumps", "escape_strings", "find_non_finite"]

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


def find_non_finite(value: Any) -> bool:
    """Whether a (nested) value holds NaN or infinity, which orjson would silently write as null.

    Examples
    --------
    >>> find_non_finite({"a": [1.0, float("nan")]}), find_non_finite({"a": 1.0})
    (True, False)
    """
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
