"""Helpers shared by the local gateway tests (a uniquely named module, so other test folders cannot clash)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import openai
import orjson
import pytest

from tfbatch_nb.gateway import LocalGateway

CHAT = "/v1/chat/completions"
MODEL = "openai-main/gpt-4o-mini"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def make_client(gw: LocalGateway, *, provider: str = "openai-main", **options: Any) -> openai.OpenAI:
    headers = {"x-tfy-provider-name": provider, **options.pop("headers", {})}
    return openai.OpenAI(base_url=gw.url, api_key=gw.api_key, default_headers=headers, **options)


def chat_line(i: int | str, text: str | None = None, *, model: str = MODEL, **body: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text if text is not None else f"Say something about item {i}"}]
    return {
        "custom_id": str(i),
        "method": "POST",
        "url": CHAT,
        "body": {"model": model, "messages": messages, **body},
    }


def jsonl(lines: Sequence[dict[str, Any] | str | bytes]) -> bytes:
    out = []
    for line in lines:
        if isinstance(line, dict):
            out.append(orjson.dumps(line))
        elif isinstance(line, str):
            out.append(line.encode())
        else:
            out.append(line)
    return b"\n".join(out) + b"\n"


def upload(client: openai.OpenAI, lines: Sequence[dict[str, Any] | str | bytes], **kw: Any) -> str:
    return client.files.create(file=("input.jsonl", jsonl(lines)), purpose="batch", **kw).id


def submit(
    client: openai.OpenAI, lines: Sequence[dict[str, Any] | str | bytes], *, endpoint: str = CHAT, **kw: Any
) -> Any:
    file_id = upload(client, lines)
    return client.batches.create(input_file_id=file_id, endpoint=endpoint, completion_window="24h", **kw)  # type: ignore[arg-type]


def wait(
    client: openai.OpenAI, batch_id: str, *, until: Sequence[str] = TERMINAL, timeout: float = 60
) -> Any:
    """Poll (politely) until the batch reaches one of ``until``; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until:
            return batch
        if time.monotonic() > deadline:
            pytest.fail(f"batch {batch_id} stuck in {batch.status}")
        time.sleep(0.02)


def read_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    with client.files.with_streaming_response.content(file_id) as resp:
        return [orjson.loads(line) for line in resp.iter_lines() if line]


def run(client: openai.OpenAI, lines: Sequence[dict[str, Any] | str | bytes], **kw: Any) -> Any:
    return wait(client, submit(client, lines, **kw).id)
