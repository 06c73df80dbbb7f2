"""Run every results test twice: with the pyarrow fast path allowed, and with every file read line by line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tfbatch_nb.results import _read


@pytest.fixture(autouse=True, params=["fast", "per-line"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "per-line":
        monkeypatch.setattr(_read, "FAST_PATH", False)
    yield request.param
