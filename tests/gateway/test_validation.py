"""Each invalid input file fails validation with its code and 1-based line number."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from gateway_helpers import CHAT, chat_line, make_client, run, wait

from tfbatch_nb.gateway import Limits, LocalGateway

EMB = "/v1/embeddings"


def _errors(batch: Any) -> list[tuple[str, int | None]]:
    assert batch.status == "failed" and batch.failed_at is not None
    return [(e.code, e.line) for e in batch.errors.data]


CASES: dict[str, tuple[list[Any], list[tuple[str, int | None]]]] = {
    "invalid json": ([chat_line(1), '{"custom_id": "2",'], [("invalid_json", 2)]),
    "empty line": ([chat_line(1), "", chat_line(3)], [("empty_line", 2)]),
    "not an object": ([chat_line(1), "[1, 2]"], [("invalid_request", 2)]),
    "missing custom_id": (
        [chat_line(1), {k: v for k, v in chat_line(2).items() if k != "custom_id"}],
        [("missing_custom_id", 2)],
    ),
    "duplicate custom_id": ([chat_line(1), chat_line(2), chat_line(1)], [("duplicate_custom_id", 3)]),
    "method": ([chat_line(1), {**chat_line(2), "method": "GET"}], [("invalid_method", 2)]),
    "url": ([chat_line(1), {**chat_line(2), "url": "/v1/embeddings"}], [("mismatched_url", 2)]),
    "body": ([{**chat_line(1), "body": "hi"}], [("invalid_body", 1)]),
    "missing model": ([chat_line(1), {**chat_line(2), "body": {"messages": []}}], [("missing_model", 2)]),
    "two models": ([chat_line(1), chat_line(2, model="openai-main/gpt-4o")], [("multiple_models", 2)]),
    "bare model": ([chat_line(1, model="gpt-4o")], [("invalid_model", 1)]),
    "virtual model": ([chat_line(1, model="my-virtual/gpt")], [("invalid_model", 1)]),
    "other integration": ([chat_line(1, model="azure-main/gpt-4o")], [("invalid_model", 1)]),
    "blank file": ([b""], [("empty_line", 1)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_file(client: openai.OpenAI, case: str) -> None:
    lines, expected = CASES[case]
    batch = run(client, lines)
    assert _errors(batch) == expected
    assert all(e.message for e in batch.errors.data)
    assert batch.output_file_id is None and batch.error_file_id is None


def test_empty_file(client: openai.OpenAI) -> None:
    file_id = client.files.create(file=("empty.jsonl", b""), purpose="batch").id
    batch = wait(
        client, client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id
    )
    assert _errors(batch) == [("empty_file", None)]


def test_bare_model_message_is_clear(client: openai.OpenAI) -> None:
    batch = run(client, [chat_line(1, model="gpt-4o")])
    assert "openai-main/gpt-4o" in batch.errors.data[0].message and batch.errors.data[0].param == "body.model"


def test_several_errors_all_reported(client: openai.OpenAI) -> None:
    batch = run(client, [chat_line(1), "nope", chat_line(1), {**chat_line(4), "method": "PUT"}])
    assert _errors(batch) == [("invalid_json", 2), ("duplicate_custom_id", 3), ("invalid_method", 4)]


def test_limits() -> None:
    with LocalGateway(speed="max", limits=Limits(max_lines=3, max_bytes=2_000, max_embedding_inputs=4)) as gw:
        client = make_client(gw)
        assert _errors(run(client, [chat_line(i) for i in range(4)])) == [("too_many_requests", 4)]
        big = [chat_line(i, "x" * 900) for i in range(3)]
        assert _errors(run(client, big)) == [("file_too_large", None)]
        emb = [
            {
                "custom_id": str(i),
                "method": "POST",
                "url": EMB,
                "body": {"model": "openai-main/e", "input": ["a", "b", "c"]},
            }
            for i in range(2)
        ]
        assert _errors(run(client, emb, endpoint=EMB)) == [("too_many_embedding_inputs", None)]
        assert run(client, emb[:1], endpoint=EMB).status == "completed"


def test_error_list_is_capped(client: openai.OpenAI) -> None:
    batch = run(client, ["nope"] * 300)
    assert len(batch.errors.data) == Limits().max_errors


def test_url_must_match_endpoint(client: openai.OpenAI) -> None:
    assert _errors(run(client, [chat_line(1)], endpoint=EMB)) == [("mismatched_url", 1)]
    assert client.batches.list().data[0].endpoint == EMB
