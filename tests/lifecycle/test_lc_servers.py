"""Any OpenAI-compatible server: plain mode, checks before paying, errors that name where, the poll pace."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pandas as pd
import pytest
from conftest import SECRET

import tfbatch_nb as tfb
from tfbatch_nb import providers
from tfbatch_nb.run._poll import Pace
from tfbatch_nb.ui import part_from_batch


def recording_client() -> tuple[Any, list[Any]]:
    seen: list[Any] = []
    return openai.DefaultHttpxClient(event_hooks={"request": [seen.append]}), seen


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_plain_provider_sends_no_truefoundry_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFY_PROVIDER", "plain")
    gw = tfb.connect("http://127.0.0.1:9/v1", "k", journal=tmp_path, default_headers={"x-team": "nlp"})
    try:
        assert gw.provider == providers.plain() and not gw.provider.truefoundry
        headers = {k.lower() for k in gw.client.default_headers}
        assert "x-team" in headers and not any(h.startswith("x-tfy-") for h in headers)
        assert repr(gw).endswith("provider='plain'>")
    finally:
        gw.close()
    with pytest.raises(tfb.BatchInputError, match="'plain'"):
        providers.resolve("")


def test_bare_model_on_truefoundry_is_refused_before_any_upload(
    start_gateway: Callable[..., Any],
    connect_to: Callable[..., Any],
    make_requests: Any,
    rows37: pd.DataFrame,
) -> None:
    http_client, seen = recording_client()
    gw = connect_to(start_gateway(), http_client=http_client)
    reqs = tfb.build_requests(rows37, model="gpt-4o-mini", prompt="{text}", id_column="review_id")
    with pytest.raises(tfb.BatchInputError, match=r"catalog id.*openai-main/gpt-4o-mini.*provider='plain'"):
        gw.submit(reqs, name="bare")
    assert seen == []  # nothing uploaded, nothing paid


def test_default_headers_and_output_expiry_reach_the_server(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    http_client, seen = recording_client()
    gw = connect_to(start_gateway(), http_client=http_client, default_headers={"x-team": "nlp"})
    batch = gw.submit(make_requests(), name="expiring", output_expires_after=7200)
    assert all(r.headers["x-team"] == "nlp" for r in seen)
    create = next(r for r in seen if r.method == "POST" and r.url.path.endswith("/batches"))
    body = json.loads(create.content)
    assert body["output_expires_after"] == {"anchor": "created_at", "seconds": 7200}
    assert body["job_name"] == "expiring"  # TrueFoundry's field, sent to TrueFoundry only
    assert batch.wait(progress=False).status == "completed"
    with pytest.raises(tfb.BatchInputError, match="output_expires_after"):
        gw.submit(make_requests(), name="too-short", output_expires_after=60, force=True)


def test_dead_url_is_named_fast_without_its_credentials(tmp_path: Path, make_requests: Any) -> None:
    url = f"http://user:pw-SECRET@127.0.0.1:{closed_port()}/v1?api-key=TOKEN-SECRET"
    with pytest.warns(UserWarning, match="not sent"):
        gw = tfb.connect(url, "k", journal=tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(tfb.GatewayUnreachableError) as caught:
            gw.submit(make_requests(), name="nowhere")
        assert time.monotonic() - started < 10
        message = str(caught.value)
        assert "127.0.0.1" in message and "Connection refused" in message
        assert "SECRET" not in message and "SECRET" not in caught.value.url
        assert isinstance(caught.value, ConnectionError)
    finally:
        gw.close()


def test_http_errors_stay_the_sdks_and_name_the_route(start_gateway: Callable[..., Any], tmp_path: Path,
                                                      make_requests: Any) -> None:  # fmt: skip
    server = start_gateway()
    gw = tfb.connect(server.url, "not-the-key", journal=tmp_path)
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            gw.submit(make_requests(), name="wrong-key")
        notes = getattr(caught.value, "__notes__", [])
        assert any("POST" in n and "/files answered HTTP 401" in n for n in notes)
        assert not any(SECRET in n for n in notes)
    finally:
        gw.close()


def test_a_failed_batch_with_files_still_gives_its_rows(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any, tmp_path: Path
) -> None:
    gw = connect_to(start_gateway())
    done = gw.submit(make_requests(), name="whole").wait(progress=False)
    # The server's output file of a finished batch, cut to its first 10 rows, stands for what a
    # batch wrote before it failed (a quota, an outage).
    full = gw.client.files.content(done.snapshot().parts[0].output_file_id).content.splitlines(keepends=True)
    partial = gw.client.files.create(file=("partial.jsonl", b"".join(full[:10])), purpose="batch")
    failed = gw.submit(make_requests(), name="failed-midway", force=True).wait(progress=False)
    gw.journal.record_part(failed.id, part_from_batch(0, {
        "id": failed.ids[0], "status": "failed", "output_file_id": partial.id,
        "errors": {"data": [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached"}]},
    }))  # fmt: skip
    failed.reload()
    res = failed.results()
    assert len(res) == 37
    assert res["status"].value_counts().to_dict() == {"completed": 10, "failed": 27}
    assert set(res.loc[res["status"] == "failed", "error_code"]) == {"token_limit_exceeded"}


def test_a_failed_batch_without_files_raises_with_the_servers_errors(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    gw = connect_to(start_gateway(faults=["fail=1"]))
    batch = gw.submit(make_requests(), name="refused").wait(progress=False)
    with pytest.raises(tfb.BatchFailedError, match="no result file") as caught:
        batch.results()
    assert caught.value.errors[0]["code"] == "validation_failed"
    assert "validation_failed: Validation failed" in str(caught.value)  # the server's words


def test_the_pace_follows_the_job_not_the_host() -> None:
    # A ten-minute batch, polled by the pace alone: tens of requests, not one a second.
    for moving, most in ((True, 60), (False, 20)):
        pace, now, polls = Pace(1.0), 0.0, 0
        while now < 600:
            polls += 1
            now += pace.next(age=now, moved=moving)
        assert polls <= most
    assert Pace(1.0).next(age=0, moved=False, retry_after=7.5) == 7.5
    assert Pace(0.25).next(age=3000, moved=True) == 300.0
