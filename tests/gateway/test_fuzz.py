"""Fuzz the HTTP surface: whatever a client sends, no 5xx and the server stays up."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfbatch_nb.gateway import LocalGateway

PATHS = [
    "/files",
    "/files/file-x",
    "/files/file-x/content",
    "/batches",
    "/batches/batch_x",
    "/batches/batch_x/cancel",
    "/chat/completions",
    "/embeddings",
    "/completions",
    "/responses",
    "/nope",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "input_file_id": st.text(max_size=10),
            "endpoint": st.sampled_from(["/v1/chat/completions", "x"]),
            "completion_window": st.sampled_from(["24h", "1h"]),
        },
        optional={"metadata": json_values, "job_name": json_values},
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "model": st.sampled_from(["openai-main/m", "m", "x/y", ""]) | st.text(max_size=5),
            "messages": json_values,
            "input": json_values,
        },
        optional={
            "n": json_values,
            "max_tokens": json_values,
            "response_format": json_values,
            "dimensions": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def fuzz_gw() -> Iterator[tuple[LocalGateway, httpx2.Client]]:
    with LocalGateway(speed="max") as gw:
        headers = {"authorization": f"Bearer {gw.api_key}", "x-tfy-provider-name": "openai-main"}
        with httpx2.Client(base_url=gw.url, headers=headers, timeout=30) as http:
            yield gw, http


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    path=st.sampled_from(PATHS),
    body=bodies,
    query=st.dictionaries(
        st.sampled_from(["limit", "after", "order", "purpose"]), st.text(max_size=6), max_size=3
    ),
    content_type=st.sampled_from(
        ["application/json", "multipart/form-data; boundary=x", "text/plain", "multipart/form-data"]
    ),
)
def test_no_5xx(
    fuzz_gw: tuple[LocalGateway, httpx2.Client],
    method: str,
    path: str,
    body: bytes,
    query: dict[str, str],
    content_type: str,
) -> None:
    _, http = fuzz_gw
    resp = http.request(method, path, content=body, params=query, headers={"content-type": content_type})
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert set(resp.json()["error"]) == {"message", "type", "code", "param"}


def test_still_up_after_fuzzing(fuzz_gw: tuple[LocalGateway, httpx2.Client]) -> None:
    gw, http = fuzz_gw
    assert gw.running and http.get("/files").status_code == 200
