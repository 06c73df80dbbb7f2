"""One retry policy, the SDK's: a failing request is tried ``max_retries + 1`` times, never more.

The requests are counted on the wire with an httpx event hook on the client the SDK uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from conftest import gateway_batches


def counting_client() -> tuple[Any, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    client = openai.DefaultHttpxClient(
        event_hooks={"request": [lambda r: seen.append((r.method, r.url.path.rsplit("/api/llm", 1)[-1]))]}
    )
    return client, seen


@pytest.mark.parametrize("retries", [0, 3])
def test_permanent_500_on_upload_is_tried_max_retries_plus_one_times(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any, retries: int
) -> None:
    server = start_gateway(faults=["http500@POST /files=1"])
    http_client, seen = counting_client()
    gw = connect_to(server, max_retries=retries, http_client=http_client)
    with pytest.raises(openai.InternalServerError):
        gw.submit(make_requests(), name="no-upload")
    assert seen == [("POST", "/files")] * (retries + 1)
    server.set_faults([])
    assert gateway_batches(gw) == []


def test_permanent_500_on_create_is_reconciled_between_tries_then_resumed(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    server = start_gateway(faults=["http500@POST /batches=1"])
    http_client, seen = counting_client()
    gw = connect_to(server, max_retries=2, http_client=http_client, reconcile_timeout=0)
    with pytest.raises(openai.InternalServerError):
        gw.submit(make_requests(), name="no-create")
    # A 5xx may hide a created batch: each failed create is followed by a search of the list
    # (one search each here: reconcile_timeout=0 allows no second look).
    creates = [s for s in seen if s == ("POST", "/batches")]
    assert len(creates) == 3
    assert seen[1:] == [("POST", "/batches"), ("GET", "/batches")] * 3
    server.set_faults([])
    seen.clear()
    batch = gw.submit(make_requests(), name="no-create")  # the same cell again: resumes, uploads nothing
    assert ("POST", "/files") not in seen
    assert batch.wait(progress=False).status == "completed"
    assert len(gateway_batches(gw)) == 1


def test_429_on_create_needs_no_search(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    # A 429 is an answer: nothing was created, so the next try needs no list search.
    server = start_gateway(faults=["http429@POST /batches=1#2"])
    http_client, seen = counting_client()
    gw = connect_to(server, max_retries=2, http_client=http_client)
    batch = gw.submit(make_requests(), name="busy")
    assert [s for s in seen if s[1] == "/batches"] == [("POST", "/batches")] * 3
    assert batch.snapshot().transient_errors == 2
    assert len(gateway_batches(gw)) == 1
