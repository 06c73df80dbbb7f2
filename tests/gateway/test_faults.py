"""Each fault kind, seen through the real openai SDK (its retries included)."""

from __future__ import annotations

import time

import openai
import pytest
from gateway_helpers import CHAT, chat_line, make_client, read_lines, run, upload, wait

from tfbatch_nb.gateway import Fault, LocalGateway, parse_fault
from tfbatch_nb.gateway._faults import FaultSet


def test_parse_fault_specs() -> None:
    assert parse_fault("http500=0.2") == Fault("http500", rate=0.2)
    assert parse_fault("http429@/batches=1") == Fault("http429", route="/batches", rate=1.0)
    f = parse_fault("drop@POST /batches=1#1")
    assert (f.kind, f.method, f.route, f.limit) == ("drop", "POST", "/batches", 1)
    late = parse_fault("late_commit@POST /batches=1#1")
    assert (late.kind, late.method, late.route, late.rate, late.limit) == (
        "late_commit",
        "POST",
        "/batches",
        1.0,
        1,
    )
    assert parse_fault("slow@GET:/files=0.5").method == "GET"
    for bad in ("nope=1", "http500", "http500=2", "http500@files=1", "http500=x"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_fault_draws_are_seeded() -> None:
    def draws(seed: int) -> list[bool]:
        fs = FaultSet(["http500=0.5"], seed=seed)
        return [fs.http("GET", "/files") is not None for _ in range(50)]

    assert draws(1) == draws(1) and draws(1) != draws(2)
    assert 10 < sum(draws(1)) < 40


@pytest.mark.parametrize("kind", ["http500", "http429"])
def test_http_errors_are_retried_by_the_sdk(gw: LocalGateway, kind: str) -> None:
    gw.set_faults([f"{kind}@/files=1#2"])
    assert make_client(gw, max_retries=2).files.list().data == []  # two failures, then the answer
    gw.set_faults([f"{kind}@/files=1"])
    expected = openai.InternalServerError if kind == "http500" else openai.RateLimitError
    with pytest.raises(expected) as info:
        make_client(gw, max_retries=0).files.list()
    if kind == "http429":
        assert info.value.response.headers["retry-after"] == "1"
    make_client(gw, max_retries=0).batches.list()  # other routes are not affected


def test_drop_on_create_still_creates_the_batch(gw: LocalGateway) -> None:
    client = make_client(gw, max_retries=0)
    file_id = upload(client, [chat_line(1)])
    gw.set_faults(["drop@POST /batches=1#1"])
    with pytest.raises(openai.APIConnectionError):
        client.batches.create(
            input_file_id=file_id, endpoint=CHAT, completion_window="24h", metadata={"req": "abc"}
        )
    # the answer was lost, the batch was not: a client reconciles via metadata + list
    found = [b for b in client.batches.list() if (b.metadata or {}).get("req") == "abc"]
    assert len(found) == 1 and wait(client, found[0].id).status == "completed"


def test_drop_is_retried_by_the_sdk_and_duplicates_the_create(gw: LocalGateway) -> None:
    client = make_client(gw, max_retries=2)
    file_id = upload(client, [chat_line(1)])
    gw.set_faults(["drop@POST /batches=1#1"])
    batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    assert len(client.batches.list().data) == 2 and batch.id in {b.id for b in client.batches.list()}


def test_slow_answers_can_time_out() -> None:
    with LocalGateway(speed="max", faults=["slow@/files=1"], fault_delay=0.5) as gw:
        with pytest.raises(openai.APITimeoutError):
            make_client(gw, max_retries=0, timeout=0.1).files.list()
        assert make_client(gw, max_retries=0).files.list().data == []


def test_fail_fault_fails_validation(gw: LocalGateway) -> None:
    gw.set_faults(["fail@/v1/chat/completions=1"])
    client = make_client(gw)
    done = run(client, [chat_line(1)])
    assert done.status == "failed" and done.errors.data[0].code == "validation_failed"
    emb = {
        "custom_id": "e",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "openai-main/e", "input": "x"},
    }
    assert run(client, [emb], endpoint="/v1/embeddings").status == "completed"  # route does not match


def test_line_errors_are_deterministic(tmp_path: object) -> None:
    def failed_ids(seed: int) -> set[str]:
        with LocalGateway(speed="max", faults=["line_error=0.3"], fault_seed=seed) as gw:
            client = make_client(gw)
            batch = run(client, [chat_line(i) for i in range(50)])
            return {e["custom_id"] for e in read_lines(client, batch.error_file_id)}

    assert failed_ids(7) == failed_ids(7) != failed_ids(8)


def test_late_commit_answers_504_and_commits_the_batch_later() -> None:
    """An ambiguous create: the client hears 504 at once, the batch shows up only after the delay."""
    with LocalGateway(speed="max", faults=["late_commit@POST /batches=1#1"], late_commit_delay=1.0) as gw:
        client = make_client(gw, max_retries=0)
        file_id = upload(client, [chat_line(1), chat_line(2)])
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as info:
            client.batches.create(
                input_file_id=file_id, endpoint=CHAT, completion_window="24h", metadata={"req": "late"}
            )
        assert info.value.status_code == 504 and time.monotonic() - started < 0.5
        assert "gateway timeout (injected fault)" in info.value.message
        assert client.batches.list().data == []  # not committed yet: a search right away finds nothing
        while not (found := [b for b in client.batches.list() if b.input_file_id == file_id]):
            assert time.monotonic() - started < 10, "the late batch never appeared"
            time.sleep(0.05)
        assert time.monotonic() - started >= 0.9
        assert len(found) == 1 and found[0].metadata == {"req": "late"} and found[0].endpoint == CHAT
        done = wait(client, found[0].id)
        assert done.status == "completed" and done.request_counts.completed == 2
        assert len(read_lines(client, done.output_file_id)) == 2
        again = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
        assert again.status == "validating"  # the limit (#1) is spent: creates are answered again
        assert len(client.batches.list().data) == 2


def test_late_commit_with_sdk_retries_ends_in_two_batches(gw: LocalGateway) -> None:
    """Why clients must look for the late batch: the SDK's own retry of a 504 creates another."""
    gw.set_faults(["late_commit@POST /batches=1#1"])
    client = make_client(gw, max_retries=1)
    file_id = upload(client, [chat_line(1)])
    retried = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    deadline = time.monotonic() + 10
    while len(client.batches.list().data) < 2:
        assert time.monotonic() < deadline, "the late batch never appeared"
        time.sleep(0.05)
    ids = {b.id for b in client.batches.list() if b.input_file_id == file_id}
    assert len(ids) == 2 and retried.id in ids
