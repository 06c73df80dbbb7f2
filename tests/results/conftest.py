"""Run every results test twice: with the msgspec typed decoder (when installed) and with orjson only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tfbatch_nb import _parse


@pytest.fixture(autouse=True, params=["msgspec", "orjson"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "msgspec":
        pytest.importorskip("msgspec")
        monkeypatch.setattr(_parse, "_DECODER", [])  # rebuilt on first use
    else:
        monkeypatch.setattr(_parse, "_DECODER", [None])  # as if msgspec were not installed
    yield request.param
