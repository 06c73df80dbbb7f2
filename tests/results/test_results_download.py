"""download_file and the parser against the real local gateway, with the real openai SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest

from tfbatch_nb.results import parse_results
from tfbatch_nb.run._download import download_file

LocalGateway = pytest.importorskip("tfbatch_nb.gateway").LocalGateway

MODEL = "openai-main/gpt-4o-mini"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with LocalGateway(speed="max", faults=["line_error=0.3"]) as gw:
        c = openai.OpenAI(
            base_url=gw.url,
            api_key=gw.api_key,
            default_headers={"x-tfy-provider-name": "openai-main"},
            max_retries=0,
        )
        yield c
        c.close()


def test_download_round_trip(client: openai.OpenAI, tmp_path: Path) -> None:
    data = b"".join(orjson.dumps({"custom_id": f"r{i}", "pad": "x" * (i % 500)}) + b"\n" for i in range(3000))
    uploaded = client.files.create(file=("x.jsonl", data), purpose="batch")
    dest = tmp_path / "sub" / "x.jsonl"
    assert download_file(client, uploaded.id, dest) == dest
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["x.jsonl"]  # no temporary file left behind
    # An existing file is trusted and never fetched again: even a deleted remote file still "downloads".
    client.files.delete(uploaded.id)
    assert download_file(client, uploaded.id, dest) == dest
    assert dest.read_bytes() == data


def test_download_of_unknown_file_leaves_nothing(client: openai.OpenAI, tmp_path: Path) -> None:
    dest = tmp_path / "nope.jsonl"
    with pytest.raises(openai.NotFoundError):
        download_file(client, "file-does-not-exist", dest)
    assert list(tmp_path.iterdir()) == []


def test_real_batch_output_and_error_files(client: openai.OpenAI, tmp_path: Path) -> None:
    ids = [f"q{i}" for i in range(40)]
    lines = [
        {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": MODEL, "messages": [{"role": "user", "content": f"Tell me about {cid}"}]}}
        for cid in ids
    ]  # fmt: skip
    data = b"".join(orjson.dumps(ln) + b"\n" for ln in lines)
    batch = client.batches.create(
        input_file_id=client.files.create(file=("in.jsonl", data), purpose="batch").id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    deadline = time.monotonic() + 60
    while batch.status not in ("completed", "failed", "expired", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed"
    outputs = (
        [download_file(client, batch.output_file_id, tmp_path / "out.jsonl")] if batch.output_file_id else []
    )
    errors = (
        [download_file(client, batch.error_file_id, tmp_path / "err.jsonl")] if batch.error_file_id else []
    )
    df = parse_results(outputs, errors, custom_ids=ids)
    assert list(df.index) == ids
    assert set(df.status) <= {"completed", "failed"}
    done, failed = df[df.status == "completed"], df[df.status == "failed"]
    assert batch.request_counts is not None
    assert (len(done), len(failed)) == (batch.request_counts.completed, batch.request_counts.failed)
    assert done.content.map(lambda s: isinstance(s, str) and len(s) > 0).all()
    assert (done.total_tokens == done.prompt_tokens + done.completion_tokens).all()
    assert failed.error_code.notna().all() and failed.error_message.notna().all()
    assert len(failed) > 0, "the line_error fault should have failed some lines"
    assert df.request_id.notna().all()
