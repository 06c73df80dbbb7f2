"""The forwarder over real HTTP on 127.0.0.1: model mapping, the concurrency bound, the circuit breaker, /models.

Upstreams are another LocalGateway (a TrueFoundry-style server: it wants catalog ids) or
``gateway_helpers.Upstream``, a small threaded OpenAI-style server that takes any model name and
records what it saw.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from gateway_helpers import MODEL, Upstream, chat_line, dead_url, make_client, read_lines, run, submit, wait

from tfbatch_nb.gateway import Forwarder, LocalGateway


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def test_the_provider_prefix_is_stripped_by_default(upstream: Upstream) -> None:
    with LocalGateway(speed="max", forward_to=upstream.url, forward_api_key="sk-up") as front:
        client = make_client(front)
        batch = run(client, [chat_line(i) for i in range(3)])
        out = read_lines(client, batch.output_file_id)
        assert batch.request_counts.completed == 3
        assert {line["response"]["body"]["choices"][0]["message"]["content"] for line in out} == {
            "answer from gpt-4o-mini"
        }
        assert upstream.seen == [{"model": "gpt-4o-mini", "authorization": "Bearer sk-up"}] * 3
        # real-time calls through the front are mapped the same way
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "answer from gpt-4o-mini"


def test_a_dict_maps_exact_ids_and_strips_the_others(upstream: Upstream) -> None:
    table = {"openai-main/fast": "llama3.1:8b"}
    with LocalGateway(speed="max", forward_to=upstream.url, forward_model_map=table) as front:
        client = make_client(front)
        lines = [chat_line(i, model="openai-main/fast") for i in range(2)]  # one model per batch
        assert run(client, lines).request_counts.completed == 2
        hi = [{"role": "user", "content": "hi"}]
        client.chat.completions.create(model="azure-main/Qwen/Qwen2.5-7B", messages=hi)  # type: ignore[arg-type]
        assert [s["model"] for s in upstream.seen] == ["llama3.1:8b", "llama3.1:8b", "Qwen/Qwen2.5-7B"]


def test_a_callable_map_against_a_gateway_upstream() -> None:
    seen: list[str] = []

    def record(endpoint: str, body: dict[str, Any]) -> str:
        seen.append(body["model"])
        return "ok"

    with (
        LocalGateway(speed="max", responder=record) as target,
        LocalGateway(
            speed="max",
            forward_to=target.url,
            forward_api_key=target.api_key,
            forward_model_map=lambda m: "openai-main/" + m.rpartition("/")[2].upper(),
        ) as front,
    ):
        client = make_client(front)
        assert run(client, [chat_line(1), chat_line(2)]).request_counts.completed == 2
        hi = [{"role": "user", "content": "hi"}]
        client.chat.completions.create(model="azure-main/gpt-4o", messages=hi)  # type: ignore[arg-type]
        assert seen == ["openai-main/GPT-4O-MINI"] * 2 + ["openai-main/GPT-4O"]


def test_bad_model_maps_and_concurrency_are_refused_at_once() -> None:
    with pytest.raises(TypeError, match="dict or a callable"):
        LocalGateway(forward_to="http://127.0.0.1:9/v1", forward_model_map=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty str"):
        LocalGateway(forward_to="http://127.0.0.1:9/v1", forward_model_map={"a": ""})
    with pytest.raises(ValueError, match="needs forward_to"):
        LocalGateway(forward_model_map={"a": "b"})
    with pytest.raises(ValueError, match="at least 1"):
        LocalGateway(forward_to="http://127.0.0.1:9/v1", concurrency=0)


def test_concurrency_bounds_requests_in_flight_upstream_over_all_batches() -> None:
    slow = Upstream(delay=0.05)
    try:
        with LocalGateway(speed="max", forward_to=slow.url, concurrency=3) as front:
            client = make_client(front)
            batches = [submit(client, [chat_line(f"{b}-{i}") for i in range(12)]) for b in range(2)]
            done = [wait(client, b.id) for b in batches]
            assert [b.request_counts.completed for b in done] == [12, 12]
            assert slow.max_in_flight == 3  # reached, never passed, with two batches running
    finally:
        slow.close()


def test_concurrency_of_a_responder_is_honoured(upstream: Upstream) -> None:
    """A Forwarder given as responder (with its own map) runs as many lines at once as asked."""
    slow = Upstream(delay=0.05)
    forwarder = Forwarder(slow.url, concurrency=16, model_map={"openai-main/gpt-4o-mini": "tiny"})
    try:
        with LocalGateway(speed="max", responder=forwarder, concurrency=4) as front:
            client = make_client(front)
            assert run(client, [chat_line(i) for i in range(16)]).request_counts.completed == 16
        assert slow.max_in_flight == 4 and {s["model"] for s in slow.seen} == {"tiny"}
    finally:
        forwarder.close()
        slow.close()


def test_a_dead_upstream_fails_the_batch_in_seconds_naming_it() -> None:
    url = dead_url()
    shown = url.replace("http://", "http://me:s3cret@")  # a credential in the URL is never repeated
    with LocalGateway(speed="max", forward_to=shown, forward_api_key="sk-never-shown") as front:
        client = make_client(front)
        started = time.monotonic()
        batch = run(client, [chat_line(i) for i in range(200)])
        took = time.monotonic() - started
        errors = read_lines(client, batch.error_file_id)
        assert took < 10, f"{took:.1f} s"
        assert batch.status == "completed" and batch.request_counts.failed == 200 and len(errors) == 200
        for line in errors:
            error = line["response"]["body"]["error"]
            assert line["response"]["status_code"] == 502 and error["code"] == "upstream_unreachable"
            assert url in error["message"] and "s3cret" not in error["message"]
            assert "sk-never-shown" not in json.dumps(line)
        # while the breaker is open a real-time call fails at once, with the same words
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError, match="unreachable") as info:
            make_client(front, max_retries=0).chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
        assert info.value.status_code == 502 and url in info.value.message
        assert time.monotonic() - started < 1


def test_the_breaker_closes_when_the_upstream_answers_again() -> None:
    url = dead_url()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    forwarder = Forwarder(url, concurrency=2, max_retries=4, probe_every=0.2)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    try:
        with pytest.raises(Exception, match="unreachable"):
            forwarder("/v1/chat/completions", body)
        assert forwarder.breaker.is_open
        started = time.monotonic()
        with pytest.raises(Exception, match="requests fail at once"):
            forwarder("/v1/chat/completions", body)
        assert time.monotonic() - started < 0.1  # refused without trying
        revived = Upstream(port=port)  # the upstream is back
        time.sleep(0.25)  # past probe_every: the next request probes, and succeeds
        assert forwarder("/v1/chat/completions", body)["model"] == "gpt-4o-mini"
        assert not forwarder.breaker.is_open
        revived.close()
    finally:
        forwarder.close()


def test_models_lists_the_catalog_or_the_upstream(upstream: Upstream) -> None:
    with LocalGateway(speed="max") as gw:
        # the bearer token is required; the provider header is not
        bare = openai.OpenAI(base_url=gw.url, api_key=gw.api_key, max_retries=0)
        ids = [m.id for m in bare.models.list().data]
        assert "openai-main/gpt-4o-mini" in ids and "bedrock-main/claude-3-haiku" in ids
        only = make_client(gw, provider="google-main").models.list().data
        assert [(m.id, m.object, m.owned_by) for m in only] == [
            ("google-main/gemini-2.0-flash", "model", "google-main")
        ]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=gw.url, api_key="wrong", max_retries=0).models.list()
    upstream.models = ["llama3.1:8b", "Qwen/Qwen2.5-7B"]
    with LocalGateway(speed="max", forward_to=upstream.url) as front:
        client = make_client(front)
        listed = client.models.list().data
        assert [(m.id, m.owned_by) for m in listed] == [
            ("openai-main/llama3.1:8b", "me"),
            ("openai-main/Qwen/Qwen2.5-7B", "me"),
        ]
        # the listed ids are what lines name here: mapped back to the upstream's names
        assert run(client, [chat_line(1, model=listed[1].id)]).request_counts.completed == 1
        assert upstream.seen[-1]["model"] == "Qwen/Qwen2.5-7B"
    upstream.models = None  # an upstream without GET /models (404): the catalog's
    with LocalGateway(speed="max", forward_to=upstream.url) as front:
        assert "openai-main/gpt-4o-mini" in [m.id for m in make_client(front).models.list().data]
