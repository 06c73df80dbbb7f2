"""The embedded gateway forwarding to a real-time server (llmock, a litellm proxy): models mapped,
rows answered by the upstream, as seen on the wire by a recording proxy in front of the upstream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from proxy import RecordingProxy
from thirdparty_servers import MODEL, Server

import tfbatch_nb as tfb
from tfbatch_nb import LocalGateway


@pytest.fixture
def run_forwarded(
    server: Server, proxy: RecordingProxy, tmp_path: Path
) -> Iterator[Callable[..., pd.DataFrame]]:
    """Submit ``df`` with ``model`` to a LocalGateway forwarding to ``proxy``; return the results."""
    gateways: list[LocalGateway] = []
    connections: list[Any] = []

    def run(df: pd.DataFrame, *, model: str, **gateway_options: Any) -> pd.DataFrame:
        gateway = LocalGateway(forward_to=proxy.url, forward_api_key=server.api_key, speed="max",
                               data_dir=tmp_path / "gateway", **gateway_options).start()  # fmt: skip
        gateways.append(gateway)
        gw = tfb.connect(gateway.url, gateway.api_key, journal=tmp_path / "journal")
        connections.append(gw)
        reqs = tfb.build_requests(
            df, model=model, prompt="Sentiment of: {text}", id_column="rid", max_tokens=5
        )
        batch = gw.submit(reqs, name=f"forwarded-{server.name}")
        batch.wait(progress=False, timeout=60)
        return batch.results()

    yield run
    for gw in connections:
        gw.close()
    for gateway in gateways:
        gateway.stop()


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {"rid": [f"rv-{i}" for i in range(6)], "text": ["great", "awful", "fine", "meh", "ok", "no"]}
    )


def assert_answered_upstream(
    res: pd.DataFrame, df: pd.DataFrame, proxy: RecordingProxy, server: Server
) -> None:
    assert sorted(res.index) == sorted(df["rid"])
    assert (res["status"] == "completed").all(), res[["status", "error_message"]]
    chats = proxy.requests("POST", r"/chat/completions$")
    assert len(chats) == len(df)
    assert {c.json["model"] for c in chats} == {MODEL}
    assert {c.headers["authorization"] for c in chats} == {f"Bearer {server.api_key}"}
    assert not [h for c in chats for h in c.headers if h.startswith("x-tfy-")]
    assert set(res["content"]) == {c.response["choices"][0]["message"]["content"] for c in chats}


def test_the_provider_prefix_is_stripped_by_default(
    server: Server, proxy: RecordingProxy, run_forwarded: Callable[..., pd.DataFrame], reviews: pd.DataFrame
) -> None:
    res = run_forwarded(reviews, model=f"openai-main/{MODEL}")
    assert_answered_upstream(res, reviews, proxy, server)


@pytest.mark.parametrize(
    "mapping", [{"openai-main/gpt-4o": MODEL}, lambda name: MODEL], ids=["dict", "callable"]
)
def test_a_model_map_names_the_upstream_model(
    server: Server, proxy: RecordingProxy, run_forwarded: Callable[..., pd.DataFrame], reviews: pd.DataFrame,
    mapping: Any,
) -> None:  # fmt: skip
    # The litellm proxy knows only MODEL: gpt-4o reaches it only through the map.
    res = run_forwarded(reviews, model="openai-main/gpt-4o", forward_model_map=mapping, concurrency=2)
    assert_answered_upstream(res, reviews, proxy, server)
