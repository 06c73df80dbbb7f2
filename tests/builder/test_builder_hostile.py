"""Hostile input: control characters, lone surrogates, NaN/inf/None/NA, bad arguments.

Either the build succeeds and every line parses back (``json.loads``) to exactly the ids, texts and
numbers given, or it raises BatchInputError naming the row, the column and the fix, leaving nothing
on disk. Never another exception, never a silently changed value.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfbatch_nb as tfb
from tfbatch_nb.build import _spool

M = "openai-main/gpt-4o-mini"
EMB = "openai-main/text-embedding-3-small"
# Characters that break ids or JSON: C0, DEL, C1, the Unicode line separators, lone surrogates.
NASTY = [
    "\n",
    "\r",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\u2028",
    "\u2029",
    "\ud800",
    "\udfff",
    '"',
    "\\",
]
chars = st.one_of(st.characters(), st.sampled_from(NASTY))
any_text = st.text(chars, max_size=12)
# The first label shown: a str repr (which may hold commas and brackets itself) or a number.
ROWS_AT = re.compile(r"""at rows \[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,\]]*)""")


def unsafe_id(s: str) -> bool:
    return not s or any(
        c < " " or "\x7f" <= c <= "\x9f" or c in "\u2028\u2029" or "\ud800" <= c <= "\udfff" for c in s
    )


def bad_text(s: str) -> bool:
    return not s.strip() or any("\ud800" <= c <= "\udfff" for c in s)


def first_row(message: str) -> str:
    found = ROWS_AT.search(message)
    assert found, message
    return found.group(1)


def lines(reqs: tfb.BatchRequests) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in reqs.iter_lines()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(any_text, min_size=1, max_size=8, unique=True),
    values=st.lists(any_text, min_size=8, max_size=8),
    arrow=st.booleans(),
    by_index=st.booleans(),
)
def test_ids_and_texts_round_trip_or_name_the_row(
    keys: list[str], values: list[str], arrow: bool, by_index: bool
) -> None:
    values = values[: len(keys)]
    surrogates = any(bad_text(v) and v.strip() for v in values)
    dtype = "string[pyarrow]" if arrow and not surrogates else object
    df = pd.DataFrame({"key": pd.Series(keys, dtype=object), "text": pd.Series(values, dtype=dtype)})
    if by_index:
        df = df.set_index("key")
    try:
        reqs = tfb.build_requests(df, model=M, prompt="Q {text}", id_column=None if by_index else "key")
    except tfb.BatchInputError as exc:
        msg = str(exc)
        bad_ids = [i for i, k in enumerate(keys) if unsafe_id(k)]
        if bad_ids:
            assert "custom_id" in msg and f"positions [{bad_ids[0]}" in msg, msg
            assert first_row(msg) == repr(keys[bad_ids[0]] if by_index else bad_ids[0]), msg
        else:
            bad = [i for i, v in enumerate(values) if bad_text(v)]
            assert bad, msg
            assert "column 'text'" in msg, msg
            assert first_row(msg) == repr(keys[bad[0]] if by_index else bad[0]), msg
        return
    assert not any(map(unsafe_id, keys)) and not any(map(bad_text, values))
    got = lines(reqs)
    assert [g["custom_id"] for g in got] == keys
    assert [g["body"]["messages"][-1]["content"] for g in got] == [f"Q {v}" for v in values]
    assert len(reqs.custom_ids) == len(keys) == sum(1 for _ in b"".join(reqs.iter_lines()).split(b"\n")[:-1])


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), np.float64("nan"), None, pd.NA]),
    st.integers(-(2**53), 2**53),
)


def same_number(sent: Any, back: Any) -> bool:
    return type(back) in (int, float) and back == sent and str(float(back)) == str(float(sent))


@settings(max_examples=150, deadline=None)
@given(
    xs=st.lists(numbers, min_size=1, max_size=5),
    where=st.sampled_from(["messages", "input", "param", "schema"]),
)
def test_numbers_round_trip_or_are_refused(xs: list[Any], where: str) -> None:
    df = pd.DataFrame({"text": [f"t{i}" for i in range(len(xs))]}, index=[f"r{i}" for i in range(len(xs))])
    kwargs: dict[str, Any]
    if where == "messages":
        df["x"] = pd.Series(xs, index=df.index, dtype=object)
        kwargs = {"model": M, "messages": lambda r: [{"role": "user", "content": r.text, "weight": r.x}]}
    elif where == "input":
        df["x"] = pd.Series([[v] for v in xs], index=df.index, dtype=object)
        kwargs = {"model": EMB, "input": "x"}
    elif where == "param":
        kwargs = {"model": M, "prompt": "{text}", "temperature": xs[0]}
    else:
        schema = {"type": "object", "properties": {"y": {"type": "number", "maximum": xs[0]}}}
        kwargs = {"model": M, "prompt": "{text}", "response_format": schema}
    try:
        got = lines(tfb.build_requests(df, **kwargs))
    except tfb.BatchInputError as exc:
        msg = str(exc)
        checked = xs if where in ("messages", "input") else xs[:1]
        bad = [i for i, v in enumerate(checked) if v is None or v is pd.NA or not math.isfinite(v)]
        assert bad, msg
        name = {
            "messages": "messages callable",
            "input": "input column 'x'",
            "param": "temperature=",
            "schema": "response_format=",
        }
        assert name[where] in msg, msg
        if where in ("messages", "input"):
            assert first_row(msg) == repr(f"r{bad[0]}"), msg
        assert "fill" in msg or "give a value" in msg or "leave it out" in msg, msg
        return
    for i, line in enumerate(got):
        body = line["body"]
        if where == "messages":
            assert same_number(xs[i], body["messages"][0]["weight"])
        elif where == "input":
            assert same_number(xs[i], body["input"][0])
        elif where == "param":
            assert same_number(xs[0], body["temperature"])
        else:
            assert same_number(
                xs[0], body["response_format"]["json_schema"]["schema"]["properties"]["y"]["maximum"]
            )


class Answer(pydantic.BaseModel):
    score: float = pydantic.Field(json_schema_extra={"maximum": float("inf")})


GOOD = pd.DataFrame({"text": ["a", "b"]}, index=["r0", "r1"])


def obj(*values: Any) -> pd.Series:
    return pd.Series(values, index=["r0", "r1"][: len(values)], dtype=object)


def frame(**cols: Any) -> pd.DataFrame:
    return pd.DataFrame(cols)


# (case id, data, keyword arguments, substrings the message must contain: the row, the column or argument, the fix)
CASES: list[tuple[str, Any, dict[str, Any], list[str]]] = [
    (
        "id with \\n",
        frame(k=obj("ok", "a\nb"), text=obj("a", "b")),
        {"id_column": "k"},
        ["id_column 'k'", "'a\\nb'", "'\\n'", "rows ['r1']", "positions [1]", "one line of plain text"],
    ),
    (
        "id with \\r (index)",
        GOOD.set_axis(["ok", "a\rb"]),
        {},
        ["the index", "'a\\rb'", "'\\r'", "positions [1]", "one line of plain text"],
    ),
    ("id with NUL", GOOD.set_axis(["\x00", "ok"]), {}, ["'\\x00'", "positions [0]", "clean them"]),
    ("id with DEL", GOOD.set_axis(["ok", "x\x7f"]), {}, ["'\\x7f'", "positions [1]"]),
    ("id with C1 NEL", GOOD.set_axis(["ok", "x\x85"]), {}, ["'\\x85'", "positions [1]"]),
    (
        "id with U+2028",
        GOOD.set_axis(["ok", "x\u2028"]),
        {},
        ["'\\u2028'", "line separator", "positions [1]"],
    ),
    (
        "id with lone surrogate",
        GOOD.set_axis(pd.Index(["ok", "x\ud800"], dtype=object)),
        {},
        ["'\\ud800'", "lone surrogate", "positions [1]"],
    ),
    (
        "empty id",
        frame(k=obj("ok", ""), text=obj("a", "b")),
        {"id_column": "k"},
        ["id_column 'k'", "is empty", "rows ['r1']", "positions [1]", "give every row an id"],
    ),
    ("id in a later chunk", [GOOD, GOOD.set_axis(["r2", "bad\n"])], {}, ["'bad\\n'", "positions [3]"]),
    (
        "NaN in embedding input",
        frame(d=obj(["a"], [1.0, float("nan")])),
        {"model": EMB, "input": "d", "prompt": None},
        ["input column 'd'", "nan", "in [1]", "rows ['r1']", "fillna"],
    ),
    (
        "inf in embedding input",
        frame(d=obj([float("inf")])),
        {"model": EMB, "input": "d", "prompt": None},
        ["input column 'd'", "inf", "rows ['r0']", "finite number"],
    ),
    (
        "None in embedding input",
        frame(d=obj(["a", None])),
        {"model": EMB, "input": "d", "prompt": None},
        ["input column 'd'", "None", "in [1]", "rows ['r0']", "give a value"],
    ),
    (
        "pd.NA in embedding input",
        frame(d=obj(["a", pd.NA])),
        {"model": EMB, "input": "d", "prompt": None},
        ["input column 'd'", "missing value (<NA>)", "rows ['r0']", "fillna"],
    ),
    (
        "NaN from messages callable",
        GOOD,
        {"prompt": None, "messages": lambda r: [{"role": "user", "content": math.nan}]},
        ["messages callable result", "nan", "[0]['content']", "rows ['r0']", "fillna"],
    ),
    (
        "None content from messages callable",
        GOOD,
        {"prompt": None, "messages": lambda r: [{"role": "user", "content": None}]},
        ["messages callable result", "None", "[0]['content']", "rows ['r0']", "leave the key out"],
    ),
    (
        "-inf in messages column",
        frame(m=obj([{"role": "user", "content": "a", "w": -math.inf}])),
        {"prompt": None, "messages": "m"},
        ["messages column 'm'", "-inf", "[0]['w']", "rows ['r0']", "finite number"],
    ),
    (
        "NaT in messages column",
        frame(m=obj([{"role": "user", "content": pd.NaT}])),
        {"prompt": None, "messages": "m"},
        ["messages column 'm'", "NaT", "rows ['r0']", "fillna"],
    ),
    (
        "surrogate in messages column",
        frame(m=obj([{"role": "user", "content": "x\udfff"}])),
        {"prompt": None, "messages": "m"},
        ["messages column 'm'", "lone surrogate", "[0]['content']", "rows ['r0']", "repair the text"],
    ),
    (
        "inf in pydantic response_format",
        GOOD,
        {"response_format": Answer},
        ["response_format=", "inf", "['maximum']", "finite number"],
    ),
    (
        "NaN in dict response_format",
        GOOD,
        {"response_format": {"type": "object", "properties": {"s": {"type": "number", "minimum": math.nan}}}},
        ["response_format=", "nan", "['minimum']", "finite number"],
    ),
    (
        "None in dict response_format",
        GOOD,
        {"response_format": {"type": "object", "properties": None}},
        ["response_format=", "None", "['properties']", "give a value"],
    ),
    (
        "response_format {}",
        GOOD,
        {"response_format": {}},
        ["response_format={} is empty", "pydantic model class"],
    ),
    (
        "response_format neither",
        GOOD,
        {"response_format": {"foo": 1}},
        ["neither a JSON schema nor a response_format", "JSON-schema dict"],
    ),
    ("response_format bad type", GOOD, {"response_format": {"type": "objekt"}}, ["neither a JSON schema"]),
    (
        "json_schema without name",
        GOOD,
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
        ["json_schema.name"],
    ),
    ("NaN param", GOOD, {"temperature": float("nan")}, ["temperature=nan", "finite number"]),
    ("inf param", GOOD, {"top_p": np.float32("inf")}, ["top_p=", "inf", "finite number"]),
    ("None param", GOOD, {"temperature": None}, ["temperature=None", "leave it out"]),
    ("pd.NA param", GOOD, {"seed": pd.NA}, ["seed=", "missing value"]),
    (
        "NaN inside a param",
        GOOD,
        {"logit_bias": {"50256": float("nan")}},
        ["logit_bias=", "['50256']", "finite number"],
    ),
    (
        "surrogate in prompt",
        GOOD,
        {"prompt": "Say \ud800 {text}"},
        ["prompt=", "lone surrogate", "character 4", "repair"],
    ),
    ("surrogate in system", GOOD, {"system": "\udc00"}, ["system=", "lone surrogate", "repair"]),
    ("surrogate in model", GOOD, {"model": "m\ud800"}, ["model=", "lone surrogate", "repair"]),
    (
        "surrogate in a text cell",
        frame(text=obj("ok", "x\ud800")),
        {},
        ["column 'text'", "lone surrogate", "rows ['r1']", "repair the text"],
    ),
    (
        "surrogate in a formatted cell",
        frame(text=obj("ok", "x\ud800")),
        {"prompt": "{text:>3}"},
        ["column 'text'", "lone surrogate", "rows ['r1']"],
    ),
    (
        "surrogate in an embedding cell",
        frame(text=obj("ok", "x\ud800")),
        {"model": EMB, "input": "text", "prompt": None},
        ["input column 'text'", "lone surrogate", "rows ['r1']"],
    ),
    ("empty prompt", GOOD, {"prompt": ""}, ["prompt= is empty", "prompt='Classify: {text}'"]),
    ("blank prompt", GOOD, {"prompt": " \n "}, ["prompt= is empty"]),
    ("blank system", GOOD, {"system": " "}, ["system= is empty", "leave system= out"]),
    ("max_lines=True", GOOD, {"max_lines": True}, ["max_lines=", "not a bool", "True"]),
    ("max_lines=0", GOOD, {"max_lines": 0}, ["max_lines=", "positive integer"]),
    ("max_lines=-3", GOOD, {"max_lines": -3}, ["max_lines=", "-3"]),
    ("max_lines=2.0", GOOD, {"max_lines": 2.0}, ["max_lines=", "2.0"]),
    ("max_bytes=False", GOOD, {"max_bytes": False}, ["max_bytes=", "not a bool"]),
    ("max_bytes='1MB'", GOOD, {"max_bytes": "1MB"}, ["max_bytes=", "'1MB'"]),
    ("conversion !x", GOOD, {"prompt": "{text!x}"}, ["{text!x}", "unknown conversion", "!r, !s or !a"]),
    ("unterminated field", GOOD, {"prompt": "Say {text:"}, ["not a valid str.format template"]),
    ("unterminated brace", GOOD, {"prompt": "Say {text"}, ["not a valid str.format template"]),
    ("positional {0}", GOOD, {"prompt": "Say {0}"}, ["'0' is not a column", "positional fields", "{text}"]),
    ("empty field {}", GOOD, {"prompt": "Say {}"}, ["{}", "must name a column"]),
    ("attribute access", GOOD, {"prompt": "{text.upper}"}, ["attribute and index access"]),
    (
        "id_column=0",
        frame(**{"0": ["a"]}).set_axis([0], axis=1),
        {"prompt": "{0}", "id_column": 0},
        ["id_column=", "got 0", "df.rename(columns=str)"],
    ),
    (
        "input=0",
        pd.DataFrame({0: ["a"]}),
        {"model": EMB, "prompt": None, "input": 0},
        ["input=", "df.rename(columns=str)"],
    ),
    (
        "id_column='0' on integer names",
        pd.DataFrame({0: ["a"], 1: ["b"]}),
        {"prompt": "{1}", "id_column": "0"},
        ["id_column '0' is not a column", "df.rename(columns=str)"],
    ),
]


def _cases() -> list[Any]:
    return [pytest.param(*c[1:], id=c[0]) for c in CASES]


@pytest.mark.parametrize(("data", "kwargs", "needles"), _cases())
def test_bad_input_names_row_column_and_fix(
    data: Any, kwargs: dict[str, Any], needles: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every line spills to disk at once, into tmp_path: a failure must leave no spool behind.
    monkeypatch.setattr(_spool, "SPILL_BYTES", 1)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kwargs = {"model": M, "prompt": "{text}"} | kwargs
    with pytest.raises(tfb.BatchInputError) as info:
        tfb.build_requests(data, **kwargs)
    assert isinstance(info.value, ValueError)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert list(tmp_path.iterdir()) == []


def test_what_is_accepted() -> None:
    """The decisions: plain-text response_format adds nothing; integer column names work in templates;
    nulls an assistant message or a schema's enum means are kept; long ids only warn."""
    plain = tfb.build_requests(GOOD, model=M, prompt="{text}")
    for rf in ("text", {"type": "text"}):
        assert list(
            tfb.build_requests(GOOD, model=M, prompt="{text}", response_format=rf).iter_lines()
        ) == list(plain.iter_lines())
    ints = tfb.build_requests(pd.DataFrame({0: ["a"], 1: ["b"]}), model=M, prompt="{0}-{1}")
    assert lines(ints)[0]["body"]["messages"][0]["content"] == "a-b"
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "refusal": None}]
    got = lines(tfb.build_requests(GOOD, model=M, messages=lambda r: chat))[0]
    assert got["body"]["messages"] == chat
    schema = {"type": "object", "properties": {"x": {"enum": ["a", None]}}}
    got = lines(tfb.build_requests(GOOD, model=M, prompt="{text}", response_format=schema))[0]
    assert got["body"]["response_format"]["json_schema"]["schema"] == schema
    long_id = "x" * 5000
    with pytest.warns(UserWarning, match="longer than 64"):
        reqs = tfb.build_requests(GOOD.set_axis([long_id, "b"]), model=M, prompt="{text}")
    assert reqs.custom_ids[0] == long_id


def test_from_jsonl_refuses_unsafe_ids(tmp_path: Path) -> None:
    p = tmp_path / "in.jsonl"
    p.write_text(
        '{"custom_id": "a\\nb", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}}\n'
    )
    with pytest.raises(tfb.BatchInputError, match=r"line 1: custom_id 'a\\nb' has the character '\\n'"):
        tfb.BatchRequests.from_jsonl(p)
    with pytest.raises(tfb.BatchInputError, match=r"max_lines=.*not a bool"):
        tfb.BatchRequests.from_jsonl(p, max_lines=True)
