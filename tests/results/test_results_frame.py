"""The frame as a whole: one row per request, order, fill of unlisted rows, duplicates, schemas."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_results_lines import chat, line, write

from tfbatch_nb.results import _schema, parse_results, read_results


def failed(cid: str, code: str = "server_error") -> dict[str, Any]:
    return line(cid, {"error": {"message": "boom", "code": code}}, status_code=500)


def test_one_row_per_request_in_input_order(tmp_path: Path) -> None:
    out = write(
        tmp_path / "out.jsonl", [line("c", chat("C")), line("a", chat("A"))]
    )  # file order != input order
    err = write(tmp_path / "err.jsonl", [failed("b")])
    with pytest.warns(UserWarning, match=r"1 of 4 request\(s\) appear in no result file"):
        df = parse_results([out], [err], custom_ids=["a", "b", "c", "d"])
    assert list(df.index) == ["a", "b", "c", "d"]
    assert list(df.status) == ["completed", "failed", "completed", "missing"]
    assert df.at["a", "content"] == "A"
    assert pd.isna(df.at["d", "content"]) and pd.isna(df.at["d", "status_code"])
    assert df.at["d", "parsed"] is None


@pytest.mark.parametrize("unlisted", ["expired", "cancelled"])
def test_unlisted_rows_take_the_batch_status_without_warning(tmp_path: Path, unlisted: str) -> None:
    out = write(tmp_path / "out.jsonl", [line("a", chat("A"))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = parse_results([out], custom_ids=["a", "b", "c"], unlisted=unlisted)
    assert list(df.status) == ["completed", unlisted, unlisted]


def test_no_files_at_all(tmp_path: Path) -> None:
    # a batch that expired before running anything: no output, no error file
    df = parse_results([], [], custom_ids=["x", "y"], unlisted="expired")
    assert list(df.index) == ["x", "y"]
    assert list(df.status) == ["expired", "expired"]
    assert df["total_tokens"].isna().all()


def test_completed_batch_with_only_an_error_file(tmp_path: Path) -> None:
    err = write(tmp_path / "err.jsonl", [failed("a"), failed("b", "rate_limit_exceeded")])
    df = parse_results([], [err], custom_ids=["a", "b"])
    assert list(df.status) == ["failed", "failed"]
    assert list(df.error_code) == ["server_error", "rate_limit_exceeded"]


def test_ids_not_requested_are_kept_at_the_end(tmp_path: Path) -> None:
    out = write(tmp_path / "out.jsonl", [line("zz", chat("?")), line("a", chat("A"))])
    with pytest.warns(
        UserWarning, match=r"1 custom_id\(s\) in the result files are not among the 1 requests"
    ):
        df = parse_results([out], custom_ids=["a"])
    assert list(df.index) == ["a", "zz"]


def test_without_custom_ids_rows_follow_the_files(tmp_path: Path) -> None:
    out = write(tmp_path / "out.jsonl", [line("b", chat("B")), line("a", chat("A"))])
    err = write(tmp_path / "err.jsonl", [failed("c")])
    assert list(parse_results([out], [err]).index) == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        (failed("a"), line("a", chat("retried ok")), "completed"),  # a retry's success wins
        (line("a", chat("ok")), failed("a"), "completed"),  # ...whatever the file order
        (line("a", None, status_code=None, error={"code": "batch_expired"}), failed("a", "later"), "failed"),
        (failed("a", "first"), failed("a", "second"), "failed"),
    ],
)
def test_duplicates_prefer_success(tmp_path: Path, first: Any, second: Any, winner: str) -> None:
    out = write(tmp_path / "out.jsonl", [first])
    err = write(tmp_path / "err.jsonl", [second])
    with pytest.warns(
        UserWarning, match=r"1 result line\(s\) repeat a custom_id seen before \(e\.g\. 'a' in err"
    ):
        df = parse_results([out], [err], custom_ids=["a"])
    assert len(df) == 1 and df.attrs["duplicates"] == 1
    assert df.at["a", "status"] == winner
    if first["custom_id"] == "a" and winner == "failed" and second["response"] is not None:
        assert df.at["a", "error_code"] == second["response"]["body"]["error"]["code"]  # later line on a tie


def test_duplicates_within_one_file(tmp_path: Path) -> None:
    out = write(
        tmp_path / "out.jsonl", [line("a", chat("one")), line("a", chat("two")), line("b", chat("B"))]
    )
    with pytest.warns(UserWarning, match="repeat a custom_id"):
        df = parse_results([out])
    assert list(df.index) == ["a", "b"]
    assert df.at["a", "content"] == "two"


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative"]},
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"anyOf": [{"$ref": "#/$defs/Meta"}, {"type": "null"}]},
    },
    "required": ["sentiment", "score", "tags", "meta"],
    "additionalProperties": False,
    "$defs": {
        "Meta": {
            "type": "object",
            "properties": {"lang": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["lang", "n"],
            "additionalProperties": False,
        }
    },
}
GOOD = '{"sentiment": "positive", "score": 0.9, "tags": ["food"], "meta": {"lang": "en", "n": 2}}'


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (GOOD, None),
        ('{"sentiment": "positive", "score": 1, "tags": [], "meta": null}', None),
        ("not json at all", "not valid JSON"),
        ('{"sentiment": "meh", "score": 1, "tags": [], "meta": null}', "is not one of"),
        ('{"sentiment": "positive", "score": "high", "tags": [], "meta": null}', "$.score: expected number"),
        ('{"sentiment": "positive", "score": true, "tags": [], "meta": null}', "$.score: expected number"),
        ('{"sentiment": "positive", "tags": [], "meta": null}', "missing required property 'score'"),
        ('{"sentiment": "positive", "score": 1, "tags": [3], "meta": null}', "$.tags[0]: expected string"),
        (
            '{"sentiment": "positive", "score": 1, "tags": [], "meta": null, "x": 1}',
            "unexpected property 'x'",
        ),
        (
            '{"sentiment": "positive", "score": 1, "tags": [], "meta": {"lang": "en", "n": 1.5}}',
            "matches none of anyOf",
        ),
        ("[1, 2]", "expected object"),
    ],
)
def test_schema_validation_into_parsed(tmp_path: Path, content: str, problem: str | None) -> None:
    out = write(tmp_path / "out.jsonl", [line("a", chat(content))])
    df = parse_results([out], schema=SCHEMA)
    row = df.loc["a"]
    assert row["status"] == "completed"  # a bad structured output is still a completed request
    assert row["content"] == content  # the text is always kept
    if problem is None:
        assert isinstance(row["parsed"], dict)
        assert pd.isna(row["error_code"])
    else:
        assert row["parsed"] is None
        assert row["error_code"] == "parse_error"
        assert problem in row["error_message"]


@pytest.mark.parametrize(
    "wrapped",
    [
        SCHEMA,
        {"name": "Review", "schema": SCHEMA, "strict": True},
        {"type": "json_schema", "json_schema": {"name": "Review", "schema": SCHEMA, "strict": True}},
    ],
)
def test_schema_forms(tmp_path: Path, wrapped: dict[str, Any]) -> None:
    out = write(tmp_path / "out.jsonl", [line("a", chat(GOOD)), line("b", chat('{"sentiment": 1}'))])
    df = parse_results([out], schema=wrapped)
    assert df.at["a", "parsed"]["meta"] == {"lang": "en", "n": 2}
    assert df.at["b", "parsed"] is None


def test_json_mode_parses_anything(tmp_path: Path) -> None:
    out = write(
        tmp_path / "out.jsonl",
        [line("a", chat('{"free": "form"}')), line("b", chat("[1, 2]")), line("c", chat("nope"))],
    )
    df = parse_results([out], schema={"type": "json_object"})
    assert df.at["a", "parsed"] == {"free": "form"}
    assert df.at["b", "parsed"] == [1, 2]
    assert df.at["c", "error_code"] == "parse_error"


def test_schema_leaves_failed_rows_and_refusals_alone(tmp_path: Path) -> None:
    out = write(
        tmp_path / "out.jsonl", [failed("a"), line("b", chat(None, refusal="no")), line("c", chat(None))]
    )
    df = parse_results([out], schema=SCHEMA)
    assert list(df.error_code) == ["server_error", "refusal", "parse_error"]
    assert df.at["c", "error_message"] == "no content to parse"
    assert df["parsed"].isna().all()


def test_without_schema_parsed_is_none(tmp_path: Path) -> None:
    df = parse_results([write(tmp_path / "out.jsonl", [line("a", chat(GOOD))])])
    assert df.at["a", "parsed"] is None


def test_validator_details() -> None:
    assert _schema.validate(3, {"type": "integer"}) is None
    assert _schema.validate(3.0, {"type": "integer"}) is None  # JSON has one number type
    assert _schema.validate(True, {"type": "integer"}) is not None
    assert _schema.validate(None, {"type": ["string", "null"]}) is None
    assert (
        _schema.validate({"k": 1}, {"type": "object", "additionalProperties": {"type": "string"}})
        == "$.k: expected string, got int"
    )
    assert _schema.validate("b", {"const": "a"}) is not None
    tree = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
    assert _schema.validate({"kids": [{"kids": []}]}, tree) is None
    assert _schema.validate({"kids": [{"kids": [1]}]}, tree) == "$.kids[0].kids[0]: expected object, got int"


class FakeRequests:
    """Duck-typed stand-in with the attributes read_results uses from BatchRequests."""

    def __init__(self, custom_ids: list[str], response_schema: dict[str, Any] | None, endpoint: str) -> None:
        self.custom_ids = custom_ids
        self.response_schema = response_schema
        self.endpoint = endpoint


def test_read_results_with_requests(tmp_path: Path) -> None:
    out = write(tmp_path / "out.jsonl", [line("r2", chat(GOOD)), line("r1", chat("junk"))])
    err = write(tmp_path / "err.jsonl", [failed("r3")])
    reqs = FakeRequests(["r1", "r2", "r3", "r4"], SCHEMA, "/v1/chat/completions")
    with pytest.warns(UserWarning, match="missing"):
        df = read_results(out, err, requests=reqs)
    assert list(df.index) == ["r1", "r2", "r3", "r4"]
    assert list(df.status) == ["completed", "completed", "failed", "missing"]
    assert df.at["r1", "error_code"] == "parse_error"
    assert df.at["r2", "parsed"]["sentiment"] == "positive"


def test_read_results_paths_forms(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", [line("x", chat("X"))])
    b = write(tmp_path / "b.jsonl", [line("y", chat("Y"))])
    assert list(read_results(str(a)).index) == ["x"]
    assert list(read_results([a, b]).index) == ["x", "y"]
    assert list(read_results(None, b).index) == ["y"]
    assert read_results(None).empty


def test_read_results_with_real_batch_requests(tmp_path: Path) -> None:
    requests = pytest.importorskip("tfbatch_nb.build._requests")
    df_in = pd.DataFrame({"id": ["k1", "k2"], "text": ["good", "bad"]})
    reqs = requests.build_requests(
        df_in, model="openai-main/gpt-4o-mini", prompt="Sentiment of {text}", id_column="id"
    )
    out = write(tmp_path / "out.jsonl", [line(reqs.custom_ids[1], chat("neg"))])
    with pytest.warns(UserWarning, match="missing"):
        df = read_results(out, requests=reqs)
    assert list(df.index) == list(reqs.custom_ids)
    assert list(df.status) == ["missing", "completed"]
