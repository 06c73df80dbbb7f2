"""Jobs that do not simply complete: failing lines, expiry, no output file, a failed part, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import gateway_batches

import tfbatch_nb as tfb


def test_failing_lines_and_retry_failed(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    server = start_gateway(faults=["line_error=0.3"])
    gw = connect_to(server)
    batch = gw.submit(make_requests(), name="flaky").wait(progress=False)
    res = batch.results()
    failed = res[res["status"] == "failed"]
    assert 0 < len(failed) < 37 and batch.status == "completed"
    assert failed["error_code"].notna().all() and failed["error_message"].notna().all()
    errs = batch.errors()
    assert set(errs.loc[errs["kind"] == "row", "custom_id"]) == set(failed.index)
    server.set_faults([])
    retry = batch.retry_failed()
    assert retry.id != batch.id and retry.counts["total"] == len(failed)
    assert batch.retry_failed(include=("failed",)) is retry  # asking again does not pay again
    retried = retry.wait(progress=False).results()
    assert sorted(retried.index) == sorted(failed.index)
    folded = batch.results()
    assert len(folded) == 37 and folded["status"].eq("completed").all()
    assert gw.batches().set_index("job_id").loc[retry.id, "parent_job"] == batch.id


def test_expired_batch_keeps_finished_rows(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    gw = connect_to(start_gateway(faults=["expire=0.5"]))
    batch = gw.submit(make_requests(), name="late").wait(progress=False)
    assert batch.status == "expired"
    res = batch.results()
    assert len(res) == 37
    assert set(res["status"]) == {"completed", "expired"}
    assert res["status"].eq("completed").sum() == batch.counts["completed"] > 0


def test_completed_batch_without_output_file(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    gw = connect_to(start_gateway(faults=["line_error=1"]))
    batch = gw.submit(make_requests(), name="all-bad").wait(progress=False)
    assert batch.snapshot().parts[0].output_file_id is None
    res = batch.results()
    assert len(res) == 37 and res["status"].eq("failed").all()


def test_multi_part_job_with_one_part_failing(
    start_gateway: Any, connect_to: Any, make_requests: Any
) -> None:
    gw = connect_to(start_gateway(faults=["fail=1#1"]))
    batch = gw.submit(make_requests(max_lines=10), name="one-bad-part").wait(progress=False)
    snap = batch.snapshot()
    assert [p.status for p in snap.parts] == ["failed", "completed", "completed", "completed"]
    assert batch.status == "failed" and "failed" in repr(batch)
    errs = batch.errors()
    assert (errs["kind"] == "validation").any()
    res = batch.results()  # the other parts' rows are still there
    assert len(res) == 37
    assert res["status"].eq("failed").sum() == 10 and res["status"].eq("completed").sum() == 27
    retry = batch.retry_failed()
    assert sorted(retry.wait(progress=False).results().index) == sorted(res.index[res["status"] == "failed"])
    assert batch.results()["status"].eq("completed").all()


def test_all_parts_failing_raises_on_results(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    gw = connect_to(start_gateway(faults=["fail=1"]))
    batch = gw.submit(make_requests(), name="bad").wait(progress=False)  # failing raises nothing by itself
    assert batch.status == "failed"
    with pytest.raises(tfb.BatchFailedError) as info:
        batch.results()
    assert info.value.errors and info.value.errors[0].get("code")


def test_cancel(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    gw = connect_to(start_gateway(speed=0.05))  # slow enough to cancel while it runs
    batch = gw.submit(make_requests(), name="stop-me")
    batch.cancel()
    batch.wait(progress=False)
    assert batch.status == "cancelled"
    res = batch.results()
    assert len(res) == 37 and set(res["status"]) <= {"completed", "cancelled"}
    assert len(gateway_batches(gw)) == 1


def test_unknown_status_does_not_crash(gw: Any, make_requests: Any) -> None:
    from tfbatch_nb.ui import part_from_batch

    batch = gw.submit(make_requests(), name="odd")
    batch.stop_watching()
    gw.journal.record_part(batch.id, part_from_batch(0, {"id": batch.ids[0], "status": "JOB_STATE_RUNNING"}))
    batch.reload()
    snap = batch.snapshot()
    assert snap.status == "JOB_STATE_RUNNING" and not snap.terminal
    assert "JOB_STATE_RUNNING" in repr(batch) and "JOB_STATE_RUNNING" in batch._repr_html_()
    assert batch.wait(progress=False).status == "completed"
