"""Re-running notebook cells: retry_failed and results stay idempotent and honest."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tfbatch_nb.gateway import LocalGateway


def test_retry_failed_rerun_returns_the_retry_job(
    start_gateway: Any, connect_to: Any, make_requests: Any
) -> None:
    server = start_gateway(faults=["line_error=0.3"])
    gw = connect_to(server)
    batch = gw.submit(make_requests(), name="rerun").wait(progress=False)
    own_failed = int((batch.results()["status"] == "failed").sum())
    assert own_failed > 0
    server.set_faults([])
    retry = batch.retry_failed()
    retry.wait(progress=False)
    assert batch.results()["status"].eq("completed").all()
    # The cell `retry = batch.retry_failed()` run again: every row is answered now, so the same
    # retry job comes back instead of an error or a second payment.
    assert batch.retry_failed() is retry
    assert len(gw.client.batches.list(limit=100).data) == 2  # the original and one retry, nothing more
    # The job's own outcome is still there on request.
    own = batch.results(retries=False)
    assert int((own["status"] == "failed").sum()) == own_failed


def test_errors_frame_has_integer_part_and_line(
    start_gateway: Any, connect_to: Any, make_requests: Any
) -> None:
    gw = connect_to(start_gateway())
    frame = pd.DataFrame({"review_id": ["a", "b"], "text": ["x", "y"]})
    # A model of an integration the gateway does not have: it fails the batch at validation.
    bad = type(make_requests(frame)).from_jsonl(_write_bad_model(make_requests(frame)), id_column="review_id")
    batch = gw.submit(bad, name="bad-model").wait(progress=False)
    assert batch.status == "failed"
    errs = batch.errors()
    assert str(errs["part"].dtype) == "Int64" and str(errs["line"].dtype) == "Int64"
    assert errs["part"].tolist()[0] == 0  # the same numbering as BatchRequests.parts[i].index
    validation = errs[errs["kind"] == "validation"]
    assert validation["line"].tolist() == [1, 2]


def _write_bad_model(reqs: Any) -> Any:
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "bad.jsonl"
    path.write_bytes(
        b"".join(reqs.iter_lines()).replace(b"openai-main/gpt-4o-mini", b"no-such-integration/gpt-4o-mini")
    )
    return path


def test_gateway_repr_says_what_answers(start_gateway: Any, tmp_path: Any) -> None:
    import tfbatch_nb as tfb

    target = start_gateway()
    with tfb.connect(
        local=True,
        journal=tmp_path / "j",
        gateway_options={"speed": "max", "forward_to": target.url, "forward_api_key": target.api_key},
    ) as gw:
        text = repr(gw)
        assert "forwarding to" in text and target.url in text
        assert target.api_key not in text and (gw.local is not None and gw.local.api_key not in text)
    assert isinstance(target, LocalGateway)
