"""The Arrow splicing path of the builder gives the same bytes as orjson and as the per-row path."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfbatch_nb as tfb
from tfbatch_nb.build import _arrow as _arrow_lines
from tfbatch_nb.errors import BatchInputError

MODEL = "openai-main/gpt-4o-mini"
# Every kind of byte the escaper treats differently: quotes, backslashes, short and long control
# escapes, DEL and non-ASCII (verbatim), and whitespace that str.isspace knows but ASCII does not.
TRICKY = st.sampled_from(list('ab "\\\n\t\r\x08\x0c\x00\x0b\x1f\x7fé\u2028😀\x85\u3000'))
texts = st.lists(TRICKY, max_size=14).map("".join)


def orjson_escaped(values: list[str]) -> list[bytes]:
    return [orjson.dumps(v)[1:-1] for v in values]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(texts, min_size=1, max_size=30), start=st.integers(0, 29))
def test_escape_is_orjson_byte_for_byte(values: list[str], start: int) -> None:
    arr = pa.array(values).slice(min(start, len(values) - 1))  # a slice: offsets not starting at 0
    got = [v.encode() for v in _arrow_lines.escape(arr).to_pylist()]
    assert got == orjson_escaped(arr.to_pylist())


def test_escape_quotes_only_and_nothing_to_escape() -> None:
    quotes = pa.array(['"', 'a"b\\', "", '\\"\\'])
    assert [v.encode() for v in _arrow_lines.escape(quotes).to_pylist()] == orjson_escaped(quotes.to_pylist())
    plain = pa.array(["plain", "café"], type=pa.large_string())
    assert _arrow_lines.escape(plain) is plain  # nothing to escape: no copy


@pytest.mark.parametrize(
    ("values", "dtype", "clean"),
    [
        (["a", " b", "c "], "string[pyarrow]", True),  # leading space but not blank
        (["a", " \t"], "string[pyarrow]", False),
        (["a", ""], "string[pyarrow]", False),
        (["a", None], "string[pyarrow]", False),
        (["a", "\u3000\x85\x1c"], "string[pyarrow]", False),  # blank by str.isspace, not by ASCII
        (["a", "\u3000x"], "string[pyarrow]", True),
        (["a", "b"], object, True),
        (["a", 1], object, False),  # not all str: formatted row by row
        (["a", "\ud800"], object, False),  # a lone surrogate: the per-row path words the error
        ([1, 2], "int64", False),
    ],
)
def test_text_column_takes_only_clean_text(values: list[object], dtype: object, clean: bool) -> None:
    got = _arrow_lines.text_column(pd.Series(values, dtype=dtype))  # type: ignore[call-overload]
    assert (got is not None) == clean
    if clean:
        assert got.to_pylist() == values


def test_ids_from_ints() -> None:
    keys = np.array([0, -1, 10**18, 42], dtype=np.int64)
    arr, block = _arrow_lines.ids_from_ints(keys)
    assert arr.to_pylist() == [str(k) for k in keys.tolist()]
    assert block == b"".join(f"{k}\n".encode() for k in keys.tolist())


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(texts.filter(lambda s: s and not s.isspace()), min_size=1, max_size=25),
    str_ids=st.booleans(),
)
def test_arrow_and_object_columns_give_the_same_file(values: list[str], str_ids: bool) -> None:
    ids = [f'r{i}"x' if str_ids else i for i in range(len(values))]
    arrow = pd.DataFrame({"id": ids, "text": pd.Series(values, dtype="string[pyarrow]")})
    plain = pd.DataFrame({"id": ids, "text": pd.Series(values, dtype=object)})
    kw = {"prompt": 'Say "{text}" back', "system": "be\tbrief", "id_column": "id"}
    a = tfb.build_requests(arrow, model=MODEL, max_tokens=5, **kw)  # type: ignore[arg-type]
    b = tfb.build_requests(plain, model=MODEL, max_tokens=5, **kw)  # type: ignore[arg-type]
    lines_a = list(a.iter_lines())
    assert lines_a == list(b.iter_lines())
    expected = [
        orjson.dumps({
            "custom_id": str(i), "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "system", "content": "be\tbrief"},
                     {"role": "user", "content": f'Say "{v}" back'}], "max_tokens": 5},
        }) + b"\n"
        for i, v in zip(ids, values, strict=True)
    ]  # fmt: skip
    assert lines_a == expected


def test_format_specs_and_numbers_still_take_the_per_row_path() -> None:
    df = pd.DataFrame({"t": pd.Series(["x", 'q"'], dtype="string[pyarrow]"), "n": [1.5, 2.25]})
    reqs = tfb.build_requests(df, model=MODEL, prompt="{t!r} {n:.1f} {t:>4}")
    contents = [orjson.loads(line)["body"]["messages"][0]["content"] for line in reqs.iter_lines()]
    assert contents == ["'x' 1.5    x", "'q\"' 2.2   q\""]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["ok", None], r"null/NaN where text is needed at rows \[1\]"),
        (["ok", "  "], r"empty where text is needed at rows \[1\]"),
        (["ok", ""], r"empty where text is needed at rows \[1\]"),
    ],
)
def test_bad_arrow_rows_are_named(values: list[str | None], message: str) -> None:
    df = pd.DataFrame({"text": pd.Series(values, dtype="string[pyarrow]")})
    with pytest.raises(BatchInputError, match=message):
        tfb.build_requests(df, model=MODEL, prompt="Classify: {text}")
