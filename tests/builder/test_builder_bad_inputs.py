"""Every bad input is a BatchInputError naming the column / parameter and the first offending rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tfbatch_nb as tfb
from tfbatch_nb import providers

M = "openai-main/gpt-4o-mini"


def frame(**cols: Any) -> pd.DataFrame:
    return pd.DataFrame(cols)


GOOD = frame(id=[1, 2, 3], text=["a", "b", "c"])

# (case id, data, keyword arguments, substrings the message must contain)
CASES: list[tuple[str, Any, dict[str, Any], list[str]]] = [
    ("empty frame", frame(text=[]), {"prompt": "{text}"}, ["empty input"]),
    ("empty chunks", iter([]), {"prompt": "{text}"}, ["empty input"]),
    ("missing model", GOOD, {"model": "", "prompt": "{text}"}, ["model="]),
    (
        "unknown endpoint",
        GOOD,
        {"prompt": "{text}", "endpoint": "/v1/nope"},
        ["unknown endpoint", "/v1/nope"],
    ),
    ("no prompt", GOOD, {}, ["prompt= or messages="]),
    ("prompt and messages", GOOD, {"prompt": "{text}", "messages": "text"}, ["exactly one"]),
    ("missing template field", GOOD, {"prompt": "Say {txt}"}, ["'txt'", "not a column", "'text'"]),
    ("positional field", GOOD, {"prompt": "Say {}"}, ["must name a column"]),
    ("bad template", GOOD, {"prompt": "Say {text"}, ["not a valid str.format template"]),
    (
        "null prompt value",
        frame(text=["a", None, "c", np.nan]),
        {"prompt": "{text}"},
        ["'text'", "null", "[1, 3]"],
    ),
    ("empty prompt value", frame(text=["a", "", "  "]), {"prompt": "{text}"}, ["'text'", "empty", "[1, 2]"]),
    ("bad format spec", frame(text=["a"]), {"prompt": "{text:.2f}"}, ["'text'", ".2f"]),
    (
        "missing id column",
        GOOD,
        {"prompt": "{text}", "id_column": "rid"},
        ["id_column 'rid'", "not a column"],
    ),
    (
        "null ids",
        frame(id=[1, None, 3], text=["a", "b", "c"]),
        {"prompt": "{text}", "id_column": "id"},
        ["'id'", "null ids", "[1]"],
    ),
    (
        "duplicate ids",
        frame(id=[1, 2, 1], text=["a", "b", "c"]),
        {"prompt": "{text}", "id_column": "id"},
        ["duplicate", "'1'", "[0, 2]"],
    ),
    (
        "ids equal as str",
        frame(id=[1, "1", 2], text=["a", "b", "c"]),
        {"prompt": "{text}", "id_column": "id"},
        ["duplicate", "1 and '1'", "[0, 1]"],
    ),
    (
        "duplicate across chunks",
        [frame(text=["a"]), frame(text=["b"])],
        {"prompt": "{text}"},
        ["duplicate", "'0'"],
    ),
    (
        "duplicate index",
        pd.DataFrame({"text": ["a", "b"]}, index=["x", "x"]),
        {"prompt": "{text}"},
        ["the index", "duplicate", "'x'"],
    ),
    ("unserialisable param", GOOD, {"prompt": "{text}", "stop": object()}, ["stop=", "serialised"]),
    ("nan param", GOOD, {"prompt": "{text}", "temperature": float("nan")}, ["temperature=", "NaN"]),
    (
        "line over max_bytes",
        frame(text=["a", "b" * 500]),
        {"prompt": "{text}", "max_bytes": 400},
        ["max_bytes=400", "[1]"],
    ),
    ("bad max_lines", GOOD, {"prompt": "{text}", "max_lines": 0}, ["max_lines="]),
    (
        "bedrock under 100",
        GOOD,
        {"prompt": "{text}", "provider": providers.Bedrock("b", s3_bucket="s", model="m")},
        ["at least 100"],
    ),
    ("not a frame", [{"text": "a"}], {"prompt": "{text}"}, ["DataFrame"]),
    ("a string", "text", {"prompt": "{text}"}, ["DataFrame"]),
    ("input column missing", GOOD, {"input": "doc"}, ["input column 'doc'", "not a column"]),
    ("null input", frame(doc=["a", None]), {"input": "doc"}, ["'doc'", "null", "[1]"]),
    ("system on embeddings", GOOD, {"input": "text", "system": "x"}, ["system=", "/v1/embeddings"]),
    (
        "messages on completions",
        GOOD,
        {"messages": "text", "endpoint": "/v1/completions"},
        ["messages=", "/v1/completions"],
    ),
    (
        "bad messages value",
        frame(m=[[{"role": "user", "content": "a"}], "oops"]),
        {"messages": "m"},
        ["messages column 'm'", "[1]"],
    ),
    ("message without role", frame(m=[[{"content": "a"}]]), {"messages": "m"}, ["'role'", "[0]"]),
    ("null messages", frame(m=[None]), {"messages": "m"}, ["null", "[0]"]),
    ("messages callable raises", GOOD, {"messages": lambda r: r.nope}, ["messages callable failed", "row 0"]),
    (
        "response_format on embeddings",
        GOOD,
        {"input": "text", "response_format": "json_object"},
        ["response_format=", "/v1/embeddings"],
    ),
    ("bad response_format", GOOD, {"prompt": "{text}", "response_format": 42}, ["response_format="]),
    # object dtype: with pyarrow installed pandas' default str dtype cannot hold a lone surrogate at all
    (
        "lone surrogate",
        pd.DataFrame({"text": pd.Series(["ok", "bad \ud800"], dtype=object)}),
        {"prompt": "{text}"},
        ["'text'", "[1]"],
    ),
]


@pytest.mark.parametrize(("data", "kwargs", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named(data: Any, kwargs: dict[str, Any], needles: list[str], tmp_path: Path) -> None:
    kwargs = {"model": M} | kwargs
    with pytest.raises(tfb.BatchInputError) as info:
        tfb.build_requests(data, **kwargs)
    assert isinstance(info.value, ValueError)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert list(tmp_path.iterdir()) == []


def test_embedding_inputs_in_one_request_over_limit() -> None:
    big = frame(doc=[["x"] * 50_001])
    with pytest.raises(tfb.BatchInputError, match=r"50001 inputs.*\[0\]"):
        tfb.build_requests(big, model="openai-main/text-embedding-3-small", input="doc")


def test_provider_settings_required() -> None:
    with pytest.raises(tfb.BatchInputError, match="bucket="):
        providers.VertexAI("google-main", region="r", model="m")
    with pytest.raises(tfb.BatchInputError, match="api_version="):
        providers.AzureOpenAI("azure-main")
    with pytest.raises(tfb.BatchInputError, match="s3_bucket="):
        providers.Bedrock("bedrock-main", model="m")


BAD_FILES = [
    ("empty line", "{L1}\n\n{L2}\n", ["line 2", "empty line"]),
    ("bad json", '{L1}\n{"custom_id": \n', ["line 2", "not valid JSON"]),
    ("not an object", "{L1}\n[1, 2]\n", ["line 2", "JSON object"]),
    ("duplicate id", "{L1}\n{L1}\n", ["line 2", "duplicate custom_id 'a'", "line 1"]),
    (
        "bad method",
        "{L1}\n"
        + '{"custom_id": "b", "method": "GET", "url": "/v1/chat/completions", "body": {"model": "m"}}\n',
        ["line 2", "method"],
    ),
    (
        "bad url",
        '{"custom_id": "b", "method": "POST", "url": "/v2/x", "body": {"model": "m"}}\n',
        ["line 1", "url"],
    ),
    (
        "two models",
        '{L1}\n{"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "n"}}\n',
        ["more than one model"],
    ),
    (
        "no model",
        '{"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n',
        ["line 1", "body.model"],
    ),
    ("empty file", "", ["empty input"]),
]
L1 = '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}'


@pytest.mark.parametrize(("text", "needles"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_file_names_line(text: str, needles: list[str], tmp_path: Path) -> None:
    p = tmp_path / "in.jsonl"
    p.write_text(text.replace("{L1}", L1).replace("{L2}", L1.replace('"a"', '"z"')))
    with pytest.raises(tfb.BatchInputError) as info:
        tfb.BatchRequests.from_jsonl(p)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
