"""Big jobs under an enqueued-token quota: the part scheduler (issue 17)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from conftest import gateway_batches

import tfbatch_nb as tfb
from tfbatch_nb.build import estimate_lines
from tfbatch_nb.gateway import prompt_tokens

MODEL = "openai-main/gpt-4o-mini"


def _requests(parts: int = 4, rows: int = 10) -> Any:
    df = pd.DataFrame({"review_id": [f"q{i:03d}" for i in range(parts * rows)],
                       "text": [f"a review of medium length, number {i:03d}" for i in range(parts * rows)]})  # fmt: skip
    return tfb.build_requests(df, model=MODEL, prompt="Sentiment: {text}", id_column="review_id", max_tokens=5,
                              max_lines=rows)  # fmt: skip


def _gateway_tokens(part: Any) -> int:
    # What the gateway will count for a part: its own rule, on each line's body.
    with part.open() as fh:
        return sum(prompt_tokens("/v1/chat/completions", orjson.loads(line)["body"]) for line in fh)


def _client_tokens(part: Any) -> int:
    # The library's own estimate of a part (chars / 4 + 4 per message), as max_enqueued_tokens counts.
    with part.open() as fh:
        return estimate_lines(fh, endpoint="/v1/chat/completions", model=MODEL).prompt_tokens


def _one_good_batch_per_part(gw: Any, job_id: str, parts: int) -> None:
    good = [
        b
        for b in gateway_batches(gw)
        if (b.metadata or {}).get("tfbatch_job") == job_id and b.status != "failed"
    ]
    assert sorted(int(b.metadata["tfbatch_part"]) for b in good) == list(range(parts))


def test_max_enqueued_tokens_submits_parts_as_room_frees(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any]
) -> None:
    reqs = _requests()
    per_part = max(_client_tokens(p) for p in reqs.parts)
    gw = connect_to(start_gateway(speed=4.0))
    batch = gw.submit(reqs, name="budgeted", max_enqueued_tokens=2 * per_part)  # room for two parts
    assert batch.parts()["tokens (est.)"].tolist() == [_client_tokens(p) for p in reqs.parts]
    table = batch.parts()
    assert table["batch_id"].notna().sum() == 2 and (table["status"] == "queued").sum() == 2
    assert "2 part(s) queued (quota)" in (batch.snapshot().note or "")
    assert "queued (quota)" in batch._repr_html_()
    res = batch.wait(progress=False).results()
    assert len(res) == 40 and res["status"].eq("completed").all()
    _one_good_batch_per_part(gw, batch.id, 4)


def test_parts_refused_for_quota_are_resubmitted(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any]
) -> None:
    reqs = _requests()
    limit = _gateway_tokens(reqs.parts[0]) * 2 + 1  # the gateway holds two parts at once, not three
    server = start_gateway(speed=4.0, enqueued_token_limit=limit)
    gw = connect_to(server, quota_wait=0.5)
    batch = gw.submit(reqs, name="over-quota")
    res = batch.wait(progress=False).results()
    assert len(res) == 40 and res["status"].eq("completed").all()
    table = batch.parts()
    assert table["quota retries"].sum() >= 1  # some part was refused, and tried again
    refused = [b for part in table["earlier batches"] for b in part]
    assert refused and all(gw.client.batches.retrieve(b).status == "failed" for b in refused)
    _one_good_batch_per_part(gw, batch.id, 4)


def test_a_restart_while_parts_wait_loses_nothing(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], journal_dir: Path
) -> None:
    reqs = _requests()
    server = start_gateway(speed=4.0)
    first = connect_to(server)
    batch = first.submit(reqs, name="restarted", max_enqueued_tokens=1)  # one part at a time
    assert (batch.parts()["status"] == "queued").sum() == 3
    first.close()  # the kernel restarts while three parts wait
    again = tfb.connect(server.url, server.api_key, journal=journal_dir)
    try:
        resumed = again.attach("restarted")
        res = resumed.wait(progress=False).results()
        assert len(res) == 40 and res["status"].eq("completed").all()
        _one_good_batch_per_part(again, resumed.id, 4)
    finally:
        again.close()


def test_a_part_failing_for_another_reason_is_not_retried_as_quota(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any]
) -> None:
    gw = connect_to(start_gateway(faults=["fail=1#1"]))
    batch = gw.submit(_requests(), name="one-bad-part").wait(progress=False)
    table = batch.parts()
    assert (table["status"] == "failed").sum() == 1 and table["quota retries"].sum() == 0
    assert batch.results()["status"].value_counts().to_dict() == {"completed": 30, "failed": 10}


def test_exactly_once_per_part_under_quota_and_faults(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any]
) -> None:
    reqs = _requests()
    limit = _gateway_tokens(reqs.parts[0]) * 2 + 1
    server = start_gateway(speed=4.0, enqueued_token_limit=limit, fault_seed=3,
                           faults=["http500=0.15", "drop@POST /batches=0.3", "http429@GET /batches=0.2"])  # fmt: skip
    gw = connect_to(server, max_retries=8, reconcile_timeout=1.0, quota_wait=0.5)
    batch = gw.submit(reqs, name="stormy-quota")
    res = batch.wait(progress=False).results()
    server.set_faults([])
    assert len(res) == 40 and res["status"].eq("completed").all()
    _one_good_batch_per_part(gw, batch.id, 4)
