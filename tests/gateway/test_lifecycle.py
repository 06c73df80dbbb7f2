"""Statuses over time: progress, cancel, expiry, all-failed batches, restart persistence."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_helpers import chat_line, make_client, read_lines, run, submit, wait

from tfbatch_nb.gateway import LocalGateway, ResponderError


def test_progress_is_visible_at_a_slow_speed() -> None:
    with LocalGateway(speed=5) as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(i) for i in range(100)])
        seen: list[tuple[str, int]] = []
        while batch.status not in ("completed", "failed"):
            batch = client.batches.retrieve(batch.id)
            seen.append((batch.status, batch.request_counts.completed))
            time.sleep(0.02)
    statuses = [s for s, _ in seen]
    assert statuses.index("in_progress") < statuses.index("finalizing") < statuses.index("completed")
    partial = [n for s, n in seen if s == "in_progress" and 0 < n < 100]
    assert partial and partial == sorted(partial)  # request_counts grow line by line


def test_cancel_keeps_partial_output() -> None:
    with LocalGateway(speed=2) as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(i) for i in range(200)])
        while (batch := client.batches.retrieve(batch.id)).request_counts.completed < 5:
            time.sleep(0.02)
        cancelling = client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
        done = wait(client, batch.id)
        assert done.status == "cancelled" and done.cancelled_at is not None
        assert client.batches.cancel(batch.id).status == "cancelled"  # idempotent
        out = read_lines(client, done.output_file_id)
        rest = read_lines(client, done.error_file_id)
        assert 5 <= len(out) == done.request_counts.completed < 200
        assert {e["error"]["code"] for e in rest} == {"batch_cancelled"}
        assert {line["custom_id"] for line in out + rest} == {str(i) for i in range(200)}


def test_cancel_while_validating() -> None:
    with LocalGateway(speed=1) as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(1)])
        client.batches.cancel(batch.id)
        done = wait(client, batch.id)
        assert done.status == "cancelled" and done.output_file_id is None and done.in_progress_at is None


def test_cannot_cancel_a_finished_batch(client: Any) -> None:
    import openai

    done = run(client, [chat_line(1)])
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(done.id)


def test_expire_fault_keeps_partial_output(gw: LocalGateway) -> None:
    gw.set_faults(["expire=0.25"])
    client = make_client(gw)
    done = run(client, [chat_line(i) for i in range(40)])
    assert done.status == "expired" and done.expired_at is not None
    assert done.request_counts.completed == 10 and done.request_counts.total == 40
    assert len(read_lines(client, done.output_file_id)) == 10
    assert {e["error"]["code"] for e in read_lines(client, done.error_file_id)} == {"batch_expired"}


def test_completion_window_scales_with_speed() -> None:
    def slow_model(endpoint: str, body: dict[str, Any]) -> str:
        time.sleep(0.05)
        return "ok"

    # speed 86400 turns the 24 h window into about 1 s; 100 lines at 50 ms each need 5 s
    with LocalGateway(speed=86_400, responder=slow_model) as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(i) for i in range(100)])
        assert batch.expires_at - batch.created_at <= 2
        done = wait(client, batch.id)
        assert done.status == "expired" and 0 < done.request_counts.completed < 100


def test_every_line_failed_means_no_output_file(gw: LocalGateway) -> None:
    gw.set_faults(["line_error=1"])
    client = make_client(gw)
    done = run(client, [chat_line(i) for i in range(5)])
    assert done.status == "completed" and done.output_file_id is None
    assert done.request_counts.failed == 5 and len(read_lines(client, done.error_file_id)) == 5


def test_restart_serves_earlier_files_and_batches(tmp_path: Path) -> None:
    with LocalGateway(speed="max", data_dir=tmp_path, api_key="k1") as gw:
        client = make_client(gw)
        done = run(client, [chat_line(i) for i in range(3)])
        input_id = done.input_file_id
    with LocalGateway(speed="max", data_dir=tmp_path, api_key="k1") as gw:
        client = make_client(gw)
        again = client.batches.retrieve(done.id)
        assert again.status == "completed" and again.output_file_id == done.output_file_id
        assert len(read_lines(client, again.output_file_id)) == 3
        assert client.files.retrieve(input_id).bytes > 0
        assert [b.id for b in client.batches.list()] == [done.id]


def test_restart_resumes_an_in_flight_batch(tmp_path: Path) -> None:
    with LocalGateway(speed=4, data_dir=tmp_path, api_key="k") as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(i) for i in range(100)])
        while (batch := client.batches.retrieve(batch.id)).request_counts.completed < 3:
            time.sleep(0.02)
    with LocalGateway(speed="max", data_dir=tmp_path, api_key="k") as gw:
        client = make_client(gw)
        done = wait(client, batch.id)
        assert done.status == "completed" and done.request_counts.completed == 100
        ids = [line["custom_id"] for line in read_lines(client, done.output_file_id)]
        assert sorted(ids, key=int) == [str(i) for i in range(100)]  # each line exactly once


def test_restart_expires_a_batch_past_its_window(tmp_path: Path) -> None:
    gate = threading.Event()

    def stuck(endpoint: str, body: dict[str, Any]) -> str:
        gate.wait(5)
        return "late"

    with LocalGateway(speed=86_400, data_dir=tmp_path, api_key="k", responder=stuck) as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(i) for i in range(3)])
        wait(client, batch.id, until=("in_progress",))
        gate.set()
    time.sleep(max(0.0, batch.expires_at - time.time()) + 0.1)
    with LocalGateway(speed=86_400, data_dir=tmp_path, api_key="k") as gw:
        assert wait(make_client(gw), batch.id).status == "expired"


def test_callable_responder_and_http_errors() -> None:
    def model(endpoint: str, body: dict[str, Any]) -> Any:
        text = body["messages"][-1]["content"]
        if text == "bad":
            raise ResponderError(400, "no bad words", code="content_filter")
        if text == "boom":
            raise RuntimeError("kaput")
        return text.upper()

    with LocalGateway(speed="max", responder=model) as gw:
        client = make_client(gw)
        done = run(client, [chat_line("a", "hi"), chat_line("b", "bad"), chat_line("c", "boom")])
        assert (done.request_counts.completed, done.request_counts.failed) == (1, 2)
        out = read_lines(client, done.output_file_id)
        assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "HI"
        errors = {e["custom_id"]: e for e in read_lines(client, done.error_file_id)}
        assert errors["b"]["response"]["status_code"] == 400 and errors["b"]["error"] is None
        assert errors["b"]["response"]["body"]["error"]["code"] == "content_filter"
        assert errors["c"]["response"] is None and errors["c"]["error"]["code"] == "responder_error"
        reply = client.chat.completions.create(
            model="openai-main/x", messages=[{"role": "user", "content": "yo"}]
        )
        assert reply.choices[0].message.content == "YO"


def test_responder_error_is_the_gateways_http_error() -> None:
    """A responder's ResponderError answers like the gateway's own errors: status, OpenAI type, headers."""

    def busy(endpoint: str, body: dict[str, Any]) -> Any:
        raise ResponderError(429, "slow down", headers={"retry-after": "7"})

    with LocalGateway(speed="max", responder=busy) as gw:
        client = make_client(gw, max_retries=0)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="openai-main/x", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.body == {
            "message": "slow down",
            "type": "rate_limit_error",
            "code": None,
            "param": None,
        }
        done = run(client, [chat_line("a")])
        error = read_lines(client, done.error_file_id)[0]["response"]
        assert error["status_code"] == 429 and error["body"]["error"]["type"] == "rate_limit_error"
