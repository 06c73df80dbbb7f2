"""Fixtures for the lifecycle tests: a real LocalGateway on 127.0.0.1 and a remote-style connection to it.

The connection is made with ``base_url`` + ``api_key`` (not ``local=True``), so the key handling of a
real remote gateway is what these tests exercise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tfbatch_nb as tfb
from tfbatch_nb.gateway import LocalGateway

#: A recognisable key, so the secret tests can search for it byte by byte.
SECRET = "tfy-secret-KEY-0123456789abcdef"
MODEL = "openai-main/gpt-4o-mini"


@pytest.fixture
def rows37() -> pd.DataFrame:
    return pd.DataFrame({"review_id": [f"rv-{i:03d}" for i in range(37)],
                         "text": [f"review number {i}: {'great' if i % 2 else 'awful'}" for i in range(37)]})  # fmt: skip


@pytest.fixture
def make_requests(rows37: pd.DataFrame) -> Callable[..., Any]:
    def make(df: pd.DataFrame | None = None, **kw: Any) -> Any:
        return tfb.build_requests(rows37 if df is None else df, model=MODEL, prompt="Sentiment: {text}",
                                  system="One word.", id_column="review_id", max_tokens=5, **kw)  # fmt: skip

    return make


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., LocalGateway]]:
    started: list[LocalGateway] = []

    def start(**options: Any) -> LocalGateway:
        options.setdefault("speed", "max")
        options.setdefault("api_key", SECRET)
        options.setdefault("fault_seed", 0)
        gw = LocalGateway(**options).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@pytest.fixture
def connect_to(journal_dir: Path) -> Iterator[Callable[..., Any]]:
    opened: list[Any] = []

    def connect(server: LocalGateway, **kw: Any) -> Any:
        kw.setdefault("journal", journal_dir)
        gw = tfb.connect(server.url, server.api_key, **kw)
        opened.append(gw)
        return gw

    yield connect
    for gw in opened:
        gw.close()


@pytest.fixture
def server(start_gateway: Callable[..., LocalGateway]) -> LocalGateway:
    return start_gateway()


@pytest.fixture
def gw(server: LocalGateway, connect_to: Callable[..., Any]) -> Any:
    return connect_to(server)


def gateway_batches(gw: Any) -> list[Any]:
    """Every batch the gateway holds (all pages)."""
    return list(gw.client.batches.list(limit=100))
