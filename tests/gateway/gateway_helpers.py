"""Helpers shared by the local gateway tests (a uniquely named module, so other test folders cannot clash)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Upstream(ThreadingHTTPServer):
    """A real-time-only OpenAI-compatible server (like vLLM or Ollama) that records what it was sent."""

    daemon_threads = True

    def __init__(self, *, delay: float = 0.0, models: list[str] | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.delay, self.models = delay, models
        self.seen: list[dict[str, Any]] = []  # {"model", "authorization"} per chat request
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/v1/models" or self.server.models is None:
            return self._answer(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
        data = [{"id": m, "object": "model", "created": 1, "owned_by": "me"} for m in self.server.models]
        self._answer(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        up = self.server
        with up.lock:
            up.seen.append({"model": body.get("model"), "authorization": self.headers.get("authorization")})
            up.in_flight += 1
            up.max_in_flight = max(up.max_in_flight, up.in_flight)
        time.sleep(up.delay)
        with up.lock:
            up.in_flight -= 1
        message = {"role": "assistant", "content": f"answer from {body.get('model')}"}
        self._answer(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
        )


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
