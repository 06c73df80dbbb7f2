"""Run every results test twice: with the pyarrow fast path (when installed) and with orjson only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tfbatch_nb.results import _read as results


@pytest.fixture(autouse=True, params=["pyarrow", "orjson"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "pyarrow":
        pytest.importorskip("pyarrow")
    else:
        monkeypatch.setattr(results, "FAST_PATH", False)  # as if pyarrow were not installed
    yield request.param
