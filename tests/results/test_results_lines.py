"""Every line shape of an output / error file (batch-api.md §2.5) becomes the right row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from tfbatch_nb.results import EMBEDDING_COLUMNS, RESULT_COLUMNS, _lines, parse_results


def write(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join((ln if isinstance(ln, bytes) else orjson.dumps(ln)) + b"\n" for ln in lines))
    return path


def line(
    cid: str, body: Any = None, *, status_code: int | None = 200, error: Any = None, **extra: Any
) -> dict[str, Any]:
    response = (
        None
        if status_code is None and body is None
        else {"status_code": status_code, "request_id": f"req-{cid}", "body": body}
    )
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": response, "error": error, **extra}


def chat(
    content: Any, *, finish: str = "stop", n: int = 1, usage: Any = (3, 4, 7), refusal: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "chat.completion",
        "choices": [
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": content if i == 0 else f"other {i}",
                    "refusal": refusal,
                },
                "finish_reason": finish,
            }
            for i in range(n)
        ],
    }
    if usage is not None:
        body["usage"] = dict(zip(("prompt_tokens", "completion_tokens", "total_tokens"), usage, strict=False))
    return body


def nan_to_none(value: Any) -> Any:
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "chat success",
        line("a", chat("hello")),
        {
            "status": "completed",
            "status_code": 200,
            "content": "hello",
            "finish_reason": "stop",
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "error_code": None,
            "error_message": None,
            "request_id": "req-a",
        },
    ),
    (
        "chat n>1 keeps choice 0",
        line("a", chat("first", n=3)),
        {"status": "completed", "content": "first"},
    ),
    (
        "chat choices out of order: the one with index 0",
        line(
            "a",
            {
                "choices": [
                    {"index": 1, "message": {"content": "one"}},
                    {"index": 0, "message": {"content": "zero"}, "finish_reason": "stop"},
                ]
            },
        ),
        {"status": "completed", "content": "zero", "finish_reason": "stop", "prompt_tokens": None},
    ),
    (
        "chat length finish and no usage",
        line("a", chat("cut", finish="length", usage=None)),
        {"status": "completed", "finish_reason": "length", "prompt_tokens": None, "total_tokens": None},
    ),
    (
        "chat tool call: content null",
        line("a", chat(None, finish="tool_calls")),
        {"status": "completed", "content": None, "finish_reason": "tool_calls", "error_code": None},
    ),
    (
        "refusal",
        line("a", chat(None, refusal="I can't help with that")),
        {
            "status": "completed",
            "content": None,
            "error_code": "refusal",
            "error_message": "I can't help with that",
        },
    ),
    (
        "error object, no response",
        line("a", None, status_code=None, error={"code": "server_error", "message": "boom"}),
        {
            "status": "failed",
            "status_code": None,
            "content": None,
            "error_code": "server_error",
            "error_message": "boom",
            "request_id": None,
        },
    ),
    (
        "HTTP 400 in response body",
        line(
            "a",
            {"error": {"message": "bad model", "type": "invalid_request_error", "code": "model_not_found"}},
            status_code=400,
        ),
        {
            "status": "failed",
            "status_code": 400,
            "error_code": "model_not_found",
            "error_message": "bad model",
            "request_id": "req-a",
        },
    ),
    (
        "HTTP 500, error without code: falls back to type",
        line("a", {"error": {"message": "oops", "type": "server_error", "code": None}}, status_code=500),
        {"status": "failed", "status_code": 500, "error_code": "server_error", "error_message": "oops"},
    ),
    (
        "HTTP 429 with a non-JSON-object body",
        line("a", "rate limited", status_code=429),
        {"status": "failed", "status_code": 429, "error_code": "http_429", "error_message": "rate limited"},
    ),
    (
        "HTTP 404 without body",
        line("a", None, status_code=404),
        {"status": "failed", "status_code": 404, "error_code": "http_404"},
    ),
    (
        "200 without body",
        line("a", None, status_code=200),
        {"status": "failed", "status_code": 200, "error_code": "missing_body"},
    ),
    (
        "no response and no error",
        {"custom_id": "a"},
        {
            "status": "failed",
            "status_code": None,
            "error_code": "missing_body",
            "error_message": "the line has no response",
        },
    ),
    (
        "expired line",
        line("a", None, status_code=None, error={"code": "batch_expired", "message": "too late"}),
        {"status": "expired", "error_code": "batch_expired", "error_message": "too late"},
    ),
    (
        "cancelled line",
        line("a", None, status_code=None, error={"code": "batch_cancelled", "message": "cancelled"}),
        {"status": "cancelled", "error_code": "batch_cancelled"},
    ),
    (
        "error given as a bare string",
        line("a", None, status_code=None, error="it broke"),
        {"status": "failed", "error_code": "error", "error_message": "it broke"},
    ),
    (
        "completions API",
        line(
            "a",
            {
                "object": "text_completion",
                "choices": [{"text": "once upon", "index": 0, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
            },
        ),
        {"status": "completed", "content": "once upon", "finish_reason": "length", "total_tokens": 4},
    ),
    (
        "responses API",
        line(
            "a",
            {
                "object": "response",
                "status": "completed",
                "output": [
                    {"type": "reasoning", "summary": []},
                    {
                        "type": "message",
                        "content": [
                            {"type": "output_text", "text": "Hello "},
                            {"type": "output_text", "text": "world"},
                        ],
                    },
                ],
                "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
            },
        ),
        {
            "status": "completed",
            "content": "Hello world",
            "finish_reason": "stop",
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "total_tokens": 7,
        },
    ),
    (
        "responses API incomplete",
        line(
            "a",
            {
                "object": "response",
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hel"}]}],
            },
        ),
        {"status": "completed", "content": "Hel", "finish_reason": "length"},
    ),
    (
        "unknown extra fields everywhere",
        {
            **line("a", {**chat("x"), "new_field": {"deep": [1]}}),
            "surprise": 1,
            "response": {
                "status_code": 200,
                "request_id": "r",
                "body": {**chat("x"), "new_field": 1},
                "extra": True,
            },
        },
        {"status": "completed", "content": "x", "request_id": "r"},
    ),
    (
        "numeric custom_id becomes a string",
        {**line("a", chat("x")), "custom_id": 7},
        {"status": "completed", "content": "x"},
    ),
    (
        "bad token types are NA, not junk",
        line("a", chat("x", usage=("3", True, 7))),
        {"status": "completed", "prompt_tokens": None, "completion_tokens": None, "total_tokens": 7},
    ),
    (
        "usage without total: the sum",
        line("a", chat("x", usage=(3, 4))),
        {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    ),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_line_shape(tmp_path: Path, raw: dict[str, Any], expected: dict[str, Any]) -> None:
    df = parse_results([write(tmp_path / "out.jsonl", [raw])])
    assert list(df.columns) == list(RESULT_COLUMNS)
    assert len(df) == 1
    row = df.iloc[0]
    for column, value in expected.items():
        assert nan_to_none(row[column]) == value, column


def test_fast_and_slow_paths_agree(tmp_path: Path) -> None:
    # The same successful chat line, once on the fast path and once forced onto the slow path
    # (a duplicate custom_id always goes there): rows must be identical.
    ok = line("a", chat("same text"))
    df = parse_results([write(tmp_path / "o.jsonl", [ok])])
    with pytest.warns(UserWarning, match="repeat a custom_id"):
        df2 = parse_results(
            [write(tmp_path / "o2.jsonl", [line("a", None, status_code=None, error={"code": "x"}), ok])]
        )
    pd.testing.assert_frame_equal(df, df2)


def test_dtypes(tmp_path: Path) -> None:
    df = parse_results(
        [
            write(
                tmp_path / "o.jsonl",
                [line("a", chat("x")), line("b", None, status_code=None, error={"code": "e"})],
            )
        ]
    )
    for column in ("status_code", "prompt_tokens", "completion_tokens", "total_tokens"):
        assert str(df[column].dtype) == "Int64"
    assert df.index.name == "custom_id"
    assert pd.api.types.is_string_dtype(df.index.dtype)
    assert df["parsed"].dtype == object


def embedding_line(cid: str, *vectors: list[float]) -> dict[str, Any]:
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": "m",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    return line(cid, body)


def test_embeddings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "o.jsonl",
        [
            embedding_line("a", [0.1, 0.2, 0.3]),
            embedding_line("b", [1.0, 2.0], [3.0, 4.0]),
            line("c", {"error": {"message": "too long", "code": "context_length_exceeded"}}, status_code=400),
        ],
    )
    df = parse_results([path])
    assert list(df.columns) == list(EMBEDDING_COLUMNS)
    assert isinstance(df.at["a", "embedding"], np.ndarray)
    np.testing.assert_array_equal(df.at["a", "embedding"], [0.1, 0.2, 0.3])
    # several inputs in one request: every vector kept, in input order
    assert [v.tolist() for v in df.at["b", "embedding"]] == [[1.0, 2.0], [3.0, 4.0]]
    assert df.at["c", "embedding"] is None
    assert df.at["c", "error_code"] == "context_length_exceeded"
    assert df.at["a", "prompt_tokens"] == 2
    assert df["completion_tokens"].isna().all()


def test_embedding_endpoint_without_any_success(tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.jsonl", [line("a", None, status_code=None, error={"code": "x", "message": "y"})]
    )
    assert list(parse_results([path], endpoint="/v1/embeddings").columns) == list(EMBEDDING_COLUMNS)
    assert list(parse_results([path]).columns) == list(RESULT_COLUMNS)


def test_bad_json_and_empty_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "o.jsonl", [line("a", chat("x")), b"", b"{not json", b"   ", line("b", chat("y")), b"\r"]
    )
    with pytest.warns(UserWarning, match=r"o\.jsonl:3: skipped a line that is not valid JSON"):
        df = parse_results([path])
    assert list(df.index) == ["a", "b"]
    assert list(df.content) == ["x", "y"]


def test_line_without_custom_id_is_skipped_with_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "o.jsonl", [{"response": None, "error": None}, [1, 2], line("a", chat("x"))])
    with pytest.warns(UserWarning) as caught:
        df = parse_results([path])
    messages = [str(w.message).removeprefix(f"{path}:") for w in caught]
    assert messages == [
        '1: skipped a result line without a custom_id: {"response":null,"error":null}',
        "2: skipped a result line that is not a JSON object: [1,2]",
    ]
    assert list(df.index) == ["a"]


def test_no_trailing_newline_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(orjson.dumps(line("a", chat("x"))) + b"\r\n" + orjson.dumps(line("b", chat("y"))))
    df = parse_results([path])
    assert list(df.content) == ["x", "y"]


def test_lines_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny blocks so that lines straddle block boundaries, and one line longer than a block.
    monkeypatch.setattr(_lines, "BLOCK_BYTES", 64)
    lines: list[Any] = [line(f"r{i}", chat("w" * (i * 37 % 300))) for i in range(40)]
    lines.insert(17, b"{broken")
    path = write(tmp_path / "o.jsonl", lines)
    with pytest.warns(UserWarning, match=r"o\.jsonl:18:"):
        df = parse_results([path])
    assert list(df.index) == [f"r{i}" for i in range(40)]
    assert [len(c) for c in df.content] == [i * 37 % 300 for i in range(40)]


def test_empty_inputs(tmp_path: Path) -> None:
    df = parse_results([write(tmp_path / "o.jsonl", [])])
    assert df.empty
    assert list(df.columns) == list(RESULT_COLUMNS)
    assert df.index.name == "custom_id"
    assert parse_results([]).empty
