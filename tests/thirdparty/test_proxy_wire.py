"""The harness itself, with the raw openai SDK: each server runs the batch routes, and the recording
proxy forwards, records and breaks exactly what it is told to."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from proxy import RecordingProxy
from thirdparty_servers import MODEL, Server


def jsonl(n: int, *, pad: int = 0) -> bytes:
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": MODEL, "messages": [{"role": "user", "content": f"say {i}" + "x" * pad}]}}
             for i in range(n)]  # fmt: skip
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def client(url: str, key: str, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, **kw)


def create(c: openai.OpenAI, data: bytes, **kw: Any) -> Any:
    f = c.files.create(file=("in.jsonl", data), purpose="batch")
    return c.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h", **kw
    )


def wait_done(c: openai.OpenAI, batch_id: str, *, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while (b := c.batches.retrieve(batch_id)).status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline, f"{batch_id} still {b.status} after {timeout} s"
        time.sleep(0.5)
    return b


def test_upload_create_poll_download_go_through_and_are_recorded(
    server: Server, proxy: RecordingProxy
) -> None:
    c = client(proxy.url, server.api_key)
    data = jsonl(3)
    done = wait_done(c, create(c, data, metadata={"job": "wire"}).id)
    assert (done.status, done.request_counts.completed) == ("completed", 3)
    out = c.files.content(done.output_file_id).content
    assert out == client(server.url, server.api_key).files.content(done.output_file_id).content
    answers = [json.loads(line) for line in out.splitlines() if line]
    assert sorted(a["custom_id"] for a in answers) == ["r0", "r1", "r2"]
    assert {a["response"]["body"]["model"] for a in answers} == {MODEL}

    (upload,) = proxy.requests("POST", r"/files$")
    assert upload.form() == {"file": data, "purpose": b"batch"}
    assert upload.headers["authorization"] == f"Bearer {server.api_key}"
    (made,) = proxy.requests("POST", r"/batches$")
    assert made.json == {"input_file_id": upload.response["id"], "endpoint": "/v1/chat/completions",
                         "completion_window": "24h", "metadata": {"job": "wire"}}  # fmt: skip
    assert made.response["metadata"] == {"job": "wire"}  # both servers echo metadata
    assert [e.route for e in proxy.exchanges[:2]] == ["/v1/files", "/v1/batches"]
    assert {e.status for e in proxy.exchanges} == {200}


def test_a_large_file_streams_through_both_ways(server: Server, proxy: RecordingProxy) -> None:
    c = client(proxy.url, server.api_key)
    data = jsonl(600, pad=10_000)  # ~6 MB: more than one chunk, more than the JSON buffer
    f = c.files.create(file=("big.jsonl", data), purpose="batch")
    with c.files.with_streaming_response.content(f.id) as answer:
        got = b"".join(answer.iter_bytes())
    assert got == data
    assert proxy.requests("POST", r"/files$")[0].form()["file"] == data


def test_strip_metadata_hides_it_from_create_retrieve_and_list(llmock: Server) -> None:
    with RecordingProxy(llmock.url, strip_metadata=True) as proxy:
        c = client(proxy.url, llmock.api_key)
        made = create(c, jsonl(1), metadata={"job": "stripped"})
        assert made.metadata is None and c.batches.retrieve(made.id).metadata is None
        listed = [b for b in c.batches.list(limit=100) if b.id == made.id]
        assert [b.metadata for b in listed] == [None]
        assert all("metadata" not in e.response for e in proxy.requests(route=r"/batches/[^/]+$"))
    assert client(llmock.url, llmock.api_key).batches.retrieve(made.id).metadata == {"job": "stripped"}


def test_drop_answer_creates_upstream_but_the_client_hears_nothing(llmock: Server) -> None:
    with RecordingProxy(llmock.url) as proxy:
        proxy.drop_answer("POST", r"/batches$", nth=1)
        c = client(proxy.url, llmock.api_key, max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            create(c, jsonl(1))
        (lost,) = proxy.requests("POST", r"/batches$")
        assert lost.dropped and lost.status is None
        upload_id = lost.json["input_file_id"]
        made = create(c, jsonl(1))  # the next one is answered
        assert made.input_file_id != upload_id
    on_server = [
        b for b in client(llmock.url, llmock.api_key).batches.list(limit=100) if b.input_file_id == upload_id
    ]
    assert len(on_server) == 1


def test_inject_answers_a_route_with_retry_after_n_times(llmock: Server) -> None:
    with RecordingProxy(llmock.url) as proxy:
        c = client(proxy.url, llmock.api_key, max_retries=2)
        made = create(c, jsonl(1))
        proxy.inject("GET", r"/batches/[^/]+$", 429, retry_after=1, times=1)
        assert c.batches.retrieve(made.id).id == made.id  # the SDK retried after Retry-After
        first, second = proxy.requests("GET", r"/batches/[^/]+$")
        assert (first.injected, first.status, second.injected, second.status) == (True, 429, False, 200)
        assert second.at - first.at >= 0.95
        assert first.response["error"]["message"].startswith("injected by the recording proxy: 429")
