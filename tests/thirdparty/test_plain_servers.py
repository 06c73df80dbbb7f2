"""The full flow in plain mode against llmock and a litellm proxy, seen on the wire by a recording proxy."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pandas as pd
import pytest
from proxy import RecordingProxy
from thirdparty_servers import MODEL, Server, free_port

import tfbatch_nb as tfb

#: The body fields OpenAI accepts on POST /batches (anything else is a 400 there).
OPENAI_CREATE_FIELDS = {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {"rid": [f"rv-{i}" for i in range(5)], "text": ["great", "awful", "fine", "meh", "superb"]}
    )


def plain_requests(df: pd.DataFrame) -> Any:
    return tfb.build_requests(df, model=MODEL, prompt="Sentiment of: {text}", id_column="rid", provider="plain",
                              max_tokens=5)  # fmt: skip


@pytest.fixture
def connect_plain(server: Server, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``tfb.connect(proxy.url, <the server's key>, provider="plain", ...)``, closed at teardown."""
    opened: list[Any] = []

    def connect(proxy: RecordingProxy, **kw: Any) -> Any:
        gw = tfb.connect(proxy.url, server.api_key, provider="plain", journal=tmp_path / "journal", **kw)
        opened.append(gw)
        return gw

    yield connect
    for gw in opened:
        gw.close()


def uploaded_lines(proxy: RecordingProxy) -> list[dict[str, Any]]:
    return [json.loads(line) for e in proxy.requests("POST", r"/files$")
            for line in e.form()["file"].splitlines() if line]  # fmt: skip


def assert_all_completed(res: pd.DataFrame, df: pd.DataFrame) -> None:
    assert sorted(res.index) == sorted(df["rid"])
    assert (res["status"] == "completed").all(), res[["status", "error_message"]]
    assert res["content"].map(lambda c: isinstance(c, str) and c != "").all()


def test_full_flow_in_plain_mode(
    server: Server, proxy: RecordingProxy, connect_plain: Callable[..., Any], reviews: pd.DataFrame
) -> None:
    gw = connect_plain(proxy)
    batch = gw.submit(plain_requests(reviews), name=f"plain-{server.name}")
    batch.wait(progress=False, timeout=60)
    assert_all_completed(batch.results(), reviews)

    assert proxy.exchanges
    sent = {name for e in proxy.exchanges for name in e.headers}
    assert not [h for h in sent if h.startswith("x-tfy-")]
    creates = proxy.requests("POST", r"/batches$")
    assert len(creates) == 1
    assert "job_name" not in creates[0].json
    assert set(creates[0].json) <= OPENAI_CREATE_FIELDS
    lines = uploaded_lines(proxy)
    assert sorted(line["custom_id"] for line in lines) == sorted(reviews["rid"])
    assert {line["body"]["model"] for line in lines} == {MODEL}


def test_a_lost_create_answer_without_metadata_echo_still_makes_one_batch(
    server: Server, make_proxy: Callable[..., RecordingProxy], connect_plain: Callable[..., Any],
    reviews: pd.DataFrame,
) -> None:  # fmt: skip
    proxy = make_proxy(strip_metadata=True)
    proxy.drop_answer("POST", r"/batches$", nth=1)
    gw = connect_plain(proxy)
    batch = gw.submit(plain_requests(reviews), name=f"lost-create-{server.name}")
    batch.wait(progress=False, timeout=60)
    assert_all_completed(batch.results(), reviews)

    assert proxy.requests("POST", r"/batches$")[0].dropped
    uploads = {e.response["id"] for e in proxy.requests("POST", r"/files$") if e.status == 200}
    direct = openai.OpenAI(base_url=server.url, api_key=server.api_key)
    on_server = [b.id for b in direct.batches.list(limit=100) if b.input_file_id in uploads]
    assert len(on_server) == 1, f"batches made from this submit's uploads: {on_server}"


def test_retry_after_on_polling_is_honoured(
    server: Server, proxy: RecordingProxy, connect_plain: Callable[..., Any], reviews: pd.DataFrame
) -> None:
    # max_retries=0: the SDK gives up on the first 429, so the pace is the library's own.
    gw = connect_plain(proxy, max_retries=0)
    batch = gw.submit(plain_requests(reviews), name=f"retry-after-{server.name}")
    proxy.inject("GET", r"/batches/[^/]+$", 429, retry_after=2, times=2)
    batch.wait(progress=False, timeout=60)
    assert_all_completed(batch.results(), reviews)

    polls = proxy.requests("GET", r"/batches/[^/]+$")
    refused = [i for i, e in enumerate(polls) if e.injected]
    assert len(refused) == 2, [(e.route, e.status) for e in polls]
    for i in refused:
        assert polls[i + 1].at - polls[i].at >= 2 - 0.05, (
            f"poll {i + 1} came {polls[i + 1].at - polls[i].at:.2f} s after a 429 with Retry-After: 2"
        )


def test_a_dead_url_is_named_within_seconds(tmp_path: Path, reviews: pd.DataFrame) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    secret = "sk-dead-url-secret-0123"
    start = time.monotonic()
    gw = None
    try:
        with pytest.raises(tfb.TfBatchError) as caught:
            gw = tfb.connect(dead, secret, provider="plain", journal=tmp_path / "journal")
            gw.submit(plain_requests(reviews), name="dead-url")
    finally:
        if gw is not None:
            gw.close()
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"the error took {elapsed:.1f} s"
    assert dead in str(caught.value)
    assert secret not in str(caught.value)


def test_a_failed_batch_with_an_error_file_gives_its_rows(
    server: Server, proxy: RecordingProxy, connect_plain: Callable[..., Any], reviews: pd.DataFrame
) -> None:
    # llmock runs chat, embeddings and images lines only: every /v1/responses line fails, the batch
    # ends `failed` with an error file.
    reqs = tfb.build_requests(reviews, model=MODEL, input="text", endpoint="/v1/responses", id_column="rid",
                              provider="plain")  # fmt: skip
    gw = connect_plain(proxy)
    batch = gw.submit(reqs, name=f"all-fail-{server.name}")
    batch.wait(progress=False, timeout=60)
    (last,) = [e.response for e in proxy.requests("GET", r"/batches/[^/]+$")][-1:]
    assert (last["status"], last["error_file_id"] is not None) == ("failed", True)
    res = batch.results()
    assert sorted(res.index) == sorted(reviews["rid"])
    assert (res["status"] == "failed").all()
    assert res["error_message"].str.contains("Unsupported batch endpoint").all(), res["error_message"]
