"""The TrueFoundry guide's four steps and the Files / Batches surface, with the real openai SDK."""

from __future__ import annotations

import openai
import orjson
import pytest
from gateway_helpers import CHAT, MODEL, chat_line, jsonl, make_client, read_lines, run, submit, upload, wait

from tfbatch_nb.gateway import LocalGateway


def test_guide_four_steps(client: openai.OpenAI) -> None:
    # 1. upload, 2. create (job_name via extra_body), 3. poll, 4. download
    lines = [
        chat_line(i, f"Classify the sentiment of this review: {t}")
        for i, t in enumerate(["I love it", "awful"])
    ]
    file = client.files.create(file=("reviews.jsonl", jsonl(lines)), purpose="batch")
    assert file.object == "file" and file.purpose == "batch" and file.filename == "reviews.jsonl"
    batch = client.batches.create(
        input_file_id=file.id,
        endpoint=CHAT,
        completion_window="24h",
        metadata={"job": "reviews"},
        extra_body={"job_name": "reviews-v1"},
    )
    assert batch.status == "validating" and batch.metadata == {"job": "reviews"}
    assert batch.model_extra and batch.model_extra["job_name"] == "reviews-v1"
    done = wait(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None and (done.request_counts.total, done.request_counts.completed) == (
        2,
        2,
    )
    assert done.model == MODEL and done.error_file_id is None
    for stamp in ("created_at", "in_progress_at", "finalizing_at", "completed_at", "expires_at"):
        assert isinstance(getattr(done, stamp), int)
    assert (
        done.usage is not None
        and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    )
    out = {line["custom_id"]: line for line in read_lines(client, done.output_file_id)}
    assert set(out) == {"0", "1"}
    line = out["0"]
    assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
    assert line["response"]["status_code"] == 200 and line["response"]["request_id"]
    body = line["response"]["body"]
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["choices"][0]["message"]["content"] == "[simulated] positive"
    assert out["1"]["response"]["body"]["choices"][0]["message"]["content"] == "[simulated] negative"
    assert client.files.retrieve(done.output_file_id).purpose == "batch_output"


def test_same_request_same_answer(client: openai.OpenAI) -> None:
    a = run(client, [chat_line("x", "hello there")])
    b = run(client, [chat_line("x", "hello there")])
    answer = [read_lines(client, x.output_file_id)[0]["response"]["body"]["choices"] for x in (a, b)]
    assert answer[0] == answer[1]


def test_files_surface(client: openai.OpenAI) -> None:
    no_name = client.files.create(file=jsonl([chat_line(1)]), purpose="batch")  # bytes: no filename sent
    named = upload(client, [chat_line(2)])
    assert no_name.bytes == len(jsonl([chat_line(1)]))
    listed = [f.id for f in client.files.list()]
    assert listed[:2] == [named, no_name.id]  # newest first
    assert client.files.content(no_name.id).content == jsonl([chat_line(1)])
    deleted = client.files.delete(no_name.id)
    assert deleted.deleted and deleted.id == no_name.id
    with pytest.raises(openai.NotFoundError) as info:
        client.files.retrieve(no_name.id)
    assert info.value.body and "No such File" in str(info.value.body)
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-nope")
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=b"x", purpose="bogus")  # type: ignore[arg-type]


def test_streamed_content_of_a_large_file(client: openai.OpenAI) -> None:
    data = b"".join(orjson.dumps({"custom_id": str(i), "pad": "x" * 100}) + b"\n" for i in range(20_000))
    file_id = client.files.create(file=("big.jsonl", data), purpose="batch").id
    with client.files.with_streaming_response.content(file_id) as resp:
        assert resp.headers.get("content-length") == str(len(data))
        count = sum(1 for line in resp.iter_lines() if line)
    assert count == 20_000


def test_batch_pagination(client: openai.OpenAI) -> None:
    file_id = upload(client, [chat_line(1)])
    ids = [
        client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id
        for _ in range(5)
    ]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    raw = client.batches.with_raw_response.list(limit=2).http_response.json()
    assert raw["first_id"] == ids[4] and raw["last_id"] == ids[3] and raw["has_more"] is True
    every = [b.id for b in client.batches.list(limit=2)]  # iterating follows `after`
    assert every == ids[::-1]
    last = client.batches.list(limit=100, after=ids[1])
    assert [b.id for b in last.data] == [ids[0]] and not last.has_more
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=0)
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=101)
    assert len(client.batches.list().data) == 5  # default limit 20


def test_batch_not_found_and_create_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint=CHAT, completion_window="24h")
    file_id = upload(client, [chat_line(1)])
    bad = [
        {"endpoint": "/v1/nope"},
        {"completion_window": "1h"},
        {"metadata": {"k": "v" * 513}},
        {"metadata": {str(i): "v" for i in range(17)}},
    ]
    for override in bad:
        params = {"input_file_id": file_id, "endpoint": CHAT, "completion_window": "24h", **override}
        with pytest.raises(openai.BadRequestError) as info:
            client.batches.create(**params)  # type: ignore[arg-type]
        assert info.value.param in override
    other = client.files.create(file=("a.jsonl", b"{}\n"), purpose="user_data").id
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=other, endpoint=CHAT, completion_window="24h")
    with pytest.raises(openai.BadRequestError):  # not JSON at all
        client.post(
            "/batches", body=None, cast_to=object, options={"headers": {"content-type": "application/json"}}
        )


def test_output_and_both_files_when_some_lines_fail(gw: LocalGateway) -> None:
    client = make_client(gw)
    gw.set_faults(["line_error=0.5"])
    done = run(client, [chat_line(i) for i in range(40)])
    counts = done.request_counts
    assert done.status == "completed" and counts.completed + counts.failed == 40
    assert 0 < counts.failed < 40
    errors = read_lines(client, done.error_file_id)
    assert len(errors) == counts.failed
    assert all(
        e["response"]["status_code"] == 500 and e["response"]["body"]["error"]["code"] == "line_error"
        for e in errors
    )
    assert len(read_lines(client, done.output_file_id)) == counts.completed


def test_routes_answer_under_v1_too(gw: LocalGateway) -> None:
    client = openai.OpenAI(
        base_url=gw.url.replace("/api/llm", "/v1"),
        api_key=gw.api_key,
        default_headers={"x-tfy-provider-name": "openai-main"},
    )
    assert run(client, [chat_line(1)]).status == "completed"
    submit(client, [chat_line(2)])
