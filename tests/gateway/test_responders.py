"""The simulated model's shapes, structured output, embeddings, and forwarding to another gateway."""

from __future__ import annotations

import json
import math
from typing import Any

import openai
import pytest
from gateway_helpers import chat_line, make_client, read_lines, run
from pydantic import BaseModel

from tfbatch_nb.gateway import LocalGateway

jsonschema = pytest.importorskip("jsonschema")  # installed in the dev environment; not a runtime dependency

M = "openai-main/gpt-4o-mini"


class Review(BaseModel):
    sentiment: str
    score: int
    tags: list[str]


SCHEMAS: dict[str, dict[str, Any]] = {
    "enum and required": {
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["sentiment", "confidence"],
        "additionalProperties": False,
    },
    "nested and arrays": {
        "type": "object",
        "properties": {
            "people": {
                "type": "array",
                "minItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 30},
                        "age": {"type": "integer", "minimum": 18, "maximum": 20},
                        "email": {"type": ["string", "null"], "format": "email"},
                    },
                    "required": ["name", "age", "email"],
                    "additionalProperties": False,
                },
            },
            "ok": {"type": "boolean"},
            "note": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]},
        },
        "required": ["people", "ok", "note"],
        "additionalProperties": False,
    },
    "pydantic model with $defs": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Review"}},
            "label": {"const": "fixed"},
        },
        "required": ["items", "label"],
        "$defs": {"Review": Review.model_json_schema()},
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_output_validates(client: openai.OpenAI, name: str) -> None:
    schema = SCHEMAS[name]
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
    reply = client.chat.completions.create(
        model=M, messages=[{"role": "user", "content": "Sentiment: great"}], response_format=fmt
    )  # type: ignore[arg-type]
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), schema)
    batch = run(client, [chat_line(i, f"review {i}", response_format=fmt) for i in range(5)])
    for line in read_lines(client, batch.output_file_id):
        jsonschema.validate(json.loads(line["response"]["body"]["choices"][0]["message"]["content"]), schema)


def test_sentiment_enum_is_plausible(client: openai.OpenAI) -> None:
    schema = SCHEMAS["enum and required"]
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    for text, label in [("I love it, great", "positive"), ("terrible, broken", "negative")]:
        reply = client.chat.completions.create(
            model=M,
            messages=[{"role": "user", "content": f"Classify the sentiment: {text}"}],
            response_format=fmt,
        )  # type: ignore[arg-type]
        assert json.loads(reply.choices[0].message.content or "")["sentiment"] == label


def test_pydantic_parse_helper(client: openai.OpenAI) -> None:
    parsed = client.chat.completions.parse(
        model=M, messages=[{"role": "user", "content": "hi"}], response_format=Review
    )
    assert isinstance(parsed.choices[0].message.parsed, Review)


def test_chat_shape_n_max_tokens_json_object(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=M, messages=[{"role": "user", "content": "Tell me a long story about cats"}], n=3
    )
    assert [c.index for c in reply.choices] == [0, 1, 2] and reply.object == "chat.completion"
    assert len({c.message.content for c in reply.choices}) == 3
    assert (
        reply.usage and reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    )
    short = client.chat.completions.create(
        model=M, messages=[{"role": "user", "content": "Tell me a long story"}], max_tokens=2
    )
    assert short.choices[0].finish_reason == "length" and len(short.choices[0].message.content or "") <= 8
    assert short.usage and short.usage.completion_tokens <= 2
    obj = client.chat.completions.create(
        model=M,
        messages=[{"role": "user", "content": "JSON please"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)


def test_embeddings_realtime_and_batch(client: openai.OpenAI) -> None:
    one = client.embeddings.create(
        model="openai-main/text-embedding-3-small", input=["a", "b"]
    )  # SDK asks for base64
    assert [len(d.embedding) for d in one.data] == [64, 64]
    assert all(math.isclose(sum(x * x for x in d.embedding), 1.0, rel_tol=1e-5) for d in one.data)
    again = client.embeddings.create(
        model="openai-main/text-embedding-3-small", input="a", dimensions=256, encoding_format="float"
    )
    assert len(again.data[0].embedding) == 256
    same = client.embeddings.create(
        model="openai-main/text-embedding-3-small", input="a", dimensions=256, encoding_format="float"
    )
    assert again.data[0].embedding == same.data[0].embedding
    line = {
        "custom_id": "e",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "openai-main/e", "input": "hello", "dimensions": 8},
    }
    batch = run(client, [line], endpoint="/v1/embeddings")
    body = read_lines(client, batch.output_file_id)[0]["response"]["body"]
    assert body["object"] == "list" and len(body["data"][0]["embedding"]) == 8


def test_completions_and_responses(client: openai.OpenAI) -> None:
    legacy = client.completions.create(model=M, prompt="Once upon a time", max_tokens=50)
    assert legacy.object == "text_completion" and legacy.choices[0].text.startswith("[simulated]")
    resp = client.responses.create(model=M, input="Classify the sentiment: awful")
    assert resp.output_text == "[simulated] negative" and resp.usage and resp.usage.output_tokens > 0
    fmt = {
        "format": {"type": "json_schema", "name": "x", "schema": SCHEMAS["enum and required"], "strict": True}
    }
    structured = client.responses.create(model=M, input="hello", text=fmt)  # type: ignore[arg-type]
    jsonschema.validate(json.loads(structured.output_text), SCHEMAS["enum and required"])
    line = {"custom_id": "r", "method": "POST", "url": "/v1/responses", "body": {"model": M, "input": "hi"}}
    batch = run(client, [line], endpoint="/v1/responses")
    assert read_lines(client, batch.output_file_id)[0]["response"]["body"]["object"] == "response"


def test_forwarding_to_another_gateway() -> None:
    with (
        LocalGateway(speed="max", faults=["http429@/chat/completions=0.3"]) as target,
        LocalGateway(
            speed="max",
            forward_to=target.url,
            forward_api_key=target.api_key,
            forward_model_map=lambda m: m,  # the target is a gateway too: it wants catalog ids
            concurrency=4,
        ) as front,
    ):
        client = make_client(front)
        lines = [
            chat_line(i, f"Classify the sentiment: {'great' if i % 2 else 'awful'} {i}") for i in range(30)
        ]
        batch = run(client, lines)
        assert batch.status == "completed" and batch.request_counts.completed == 30
        out = {
            line["custom_id"]: line["response"]["body"] for line in read_lines(client, batch.output_file_id)
        }
        direct = make_client(target, max_retries=5).chat.completions.create(**lines[3]["body"])
        assert (
            out["3"]["choices"][0]["message"]["content"]
            == direct.choices[0].message.content
            == "[simulated] positive"
        )
        # the target's errors become failed lines, HTTP-shaped
        empty = {
            "custom_id": "x",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": M, "messages": []},
        }
        bad = run(client, [empty])
        error = read_lines(client, bad.error_file_id)[0]["response"]
        assert (
            bad.status == "completed"
            and error["status_code"] == 400
            and error["body"]["error"]["param"] == "messages"
        )
        reply = client.chat.completions.create(model=M, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content.startswith("[simulated]")


def test_forwarding_to_a_dead_endpoint_fails_lines() -> None:
    with LocalGateway(
        speed="max", forward_to="http://127.0.0.1:9/v1", concurrency=2, forward_max_retries=0
    ) as front:
        client = make_client(front)
        batch = run(client, [chat_line(i) for i in range(2)])
        errors = read_lines(client, batch.error_file_id)
        assert batch.request_counts.failed == 2 and {e["response"]["status_code"] for e in errors} == {502}
