"""Bearer auth and TrueFoundry's provider headers and rules."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest
from gateway_helpers import CHAT, chat_line, jsonl, make_client, read_lines, run

from tfbatch_nb.gateway import LocalGateway

VERTEX = {
    "x-tfy-vertex-storage-bucket-name": "my-bucket",
    "x-tfy-vertex-region": "us-central1",
    "x-tfy-provider-model": "gemini-2.0-flash",
}
BEDROCK = {"x-tfy-aws-s3-bucket": "my-bucket", "x-tfy-aws-bedrock-model": "bedrock-main/claude-3-haiku"}


def test_auth_required(gw: LocalGateway) -> None:
    for key in ("wrong", "x" * 200):
        client = openai.OpenAI(
            base_url=gw.url,
            api_key=key,
            max_retries=0,
            default_headers={"x-tfy-provider-name": "openai-main"},
        )
        with pytest.raises(openai.AuthenticationError) as info:
            client.files.list()
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="openai-main/m", messages=[{"role": "user", "content": "x"}])
    request = urllib.request.Request(gw.url + "/batches", headers={"x-tfy-provider-name": "openai-main"})
    with pytest.raises(urllib.error.HTTPError) as http_info:
        urllib.request.urlopen(request, timeout=10)
    assert http_info.value.code == 401
    body = json.loads(http_info.value.read())
    assert body["error"]["type"] == "authentication_error" and "Bearer" in body["error"]["message"]


def test_key_never_in_repr(gw: LocalGateway) -> None:
    assert gw.api_key not in repr(gw) and gw.url in repr(gw)


def test_provider_header_required(gw: LocalGateway) -> None:
    bare = openai.OpenAI(base_url=gw.url, api_key=gw.api_key, max_retries=0)
    for call in (
        lambda: bare.files.list(),
        lambda: bare.batches.list(),
        lambda: bare.files.create(file=b"x", purpose="batch"),
    ):
        with pytest.raises(openai.BadRequestError) as info:
            call()
        assert "x-tfy-provider-name" in info.value.message
    unknown = make_client(gw, provider="nope-main", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        unknown.batches.list()
    assert info.value.param == "x-tfy-provider-name"
    # realtime calls work without it: the model id names the integration
    reply = bare.chat.completions.create(model="openai-main/m", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content.startswith("[simulated]")


@pytest.mark.parametrize(
    ("provider", "headers"),
    [
        ("azure-main", {"x-tfy-azure-api-version": "2024-10-21"}),
        ("google-main", VERTEX),
        ("bedrock-main", BEDROCK),
    ],
)
def test_each_provider_needs_its_headers(gw: LocalGateway, provider: str, headers: dict[str, str]) -> None:
    for missing in headers:
        partial = {k: v for k, v in headers.items() if k != missing}
        client = make_client(gw, provider=provider, headers=partial, max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.files.create(file=("a.jsonl", b"{}\n"), purpose="batch")
        assert missing in info.value.message and info.value.param == missing


def test_azure_flow(gw: LocalGateway) -> None:
    client = make_client(gw, provider="azure-main", headers={"x-tfy-azure-api-version": "2024-10-21"})
    done = run(client, [chat_line(i, model="azure-main/gpt-4o") for i in range(3)])
    assert done.status == "completed" and done.model == "azure-main/gpt-4o"


def test_vertex_lines_may_omit_routing(gw: LocalGateway) -> None:
    client = make_client(gw, provider="google-main", headers=VERTEX)
    lines = [
        {"custom_id": str(i), "body": {"messages": [{"role": "user", "content": f"q{i}"}]}} for i in range(3)
    ]
    done = run(client, lines)
    assert done.status == "completed" and done.model == "google-main/gemini-2.0-flash"
    bodies = [line["response"]["body"] for line in read_lines(client, done.output_file_id)]
    assert {b["model"] for b in bodies} == {"google-main/gemini-2.0-flash"}


def test_bedrock_needs_100_records(gw: LocalGateway) -> None:
    client = make_client(gw, provider="bedrock-main", headers=BEDROCK)
    model = "bedrock-main/claude-3-haiku"
    few = run(client, [chat_line(i, model=model) for i in range(99)])
    assert few.status == "failed" and few.errors.data[0].code == "too_few_requests"
    assert "100" in few.errors.data[0].message
    enough = run(client, [chat_line(i, model=model) for i in range(100)])
    assert enough.status == "completed" and enough.request_counts.completed == 100


def test_file_belongs_to_its_provider(gw: LocalGateway) -> None:
    openai_client = make_client(gw, max_retries=0)
    file_id = openai_client.files.create(file=("a.jsonl", jsonl([chat_line(1)])), purpose="batch").id
    azure = make_client(gw, provider="azure-main", headers={"x-tfy-azure-api-version": "v"}, max_retries=0)
    with pytest.raises(openai.BadRequestError):
        azure.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")


def test_realtime_model_must_be_catalog_id(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="virtual/gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="openai-main/m", messages=[])


def test_remote_host_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalGateway(host="0.0.0.0")
