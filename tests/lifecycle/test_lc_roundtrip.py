"""The main path: submit -> wait -> results, idempotent resubmission, attach, the journal."""

from __future__ import annotations

import os
import stat
from typing import Any

import pandas as pd
import pytest
from conftest import gateway_batches

import tfbatch_nb as tfb


def test_round_trip_37_rows_with_own_ids(gw: Any, make_requests: Any, rows37: pd.DataFrame) -> None:
    batch = gw.submit(make_requests(), name="reviews-v1")
    assert batch.id.startswith("job_") and len(batch.ids) == 1
    batch.wait(progress=False)
    res = batch.results()
    assert list(res.index) == rows37["review_id"].tolist()
    assert (res["status"] == "completed").all()
    assert res["content"].map(lambda c: isinstance(c, str) and len(c) > 0).all()
    assert batch.status == "completed" and batch.counts == {"total": 37, "completed": 37, "failed": 0}
    joined = batch.results(join=rows37)
    assert len(joined) == 37 and joined["status"].eq("completed").all()
    assert repr(batch) == "<Batch 'reviews-v1' completed 37/37 done, 0 failed · 1 part>"
    assert "reviews-v1" in batch._repr_html_()


def test_same_requests_twice_is_one_job(gw: Any, make_requests: Any) -> None:
    first = gw.submit(make_requests(), name="twice")
    again = gw.submit(make_requests(), name="twice")
    unnamed = gw.submit(make_requests())
    assert first is again is unnamed
    assert len(gateway_batches(gw)) == 1
    forced = gw.submit(make_requests(), name="twice", force=True)
    assert forced.id != first.id and len(gateway_batches(gw)) == 2


def test_same_name_other_requests_is_an_error(gw: Any, make_requests: Any, rows37: pd.DataFrame) -> None:
    gw.submit(make_requests(), name="taken")
    with pytest.raises(tfb.BatchInputError, match="pick a new name"):
        gw.submit(make_requests(rows37.head(5)), name="taken")


def test_attach_by_name_job_id_and_batch_id(gw: Any, make_requests: Any, server: Any, connect_to: Any,
                                            tmp_path: Any) -> None:  # fmt: skip
    batch = gw.submit(make_requests(), name="findme").wait(progress=False)
    assert gw.attach("findme") is batch and gw.attach(batch.ids[0]) is batch
    other = connect_to(server, journal=tmp_path / "other-journal")  # never saw the job: from the gateway
    stranger = other.attach(batch.ids[0])
    assert stranger.ids == batch.ids
    assert stranger.wait(progress=False).results()["status"].eq("completed").all()
    with pytest.raises(tfb.TfBatchError, match="no job named"):
        gw.attach("nothing-like-this")


def test_journal_frame_and_permissions(gw: Any, make_requests: Any, journal_dir: Any) -> None:
    batch = gw.submit(make_requests(), name="listed").wait(progress=False)
    frame = gw.batches()
    assert frame.loc[0, "name"] == "listed" and frame.loc[0, "ids"] == batch.ids
    assert frame.loc[0, "status"] == "completed" and frame.loc[0, "total"] == 37
    assert stat.S_IMODE(os.stat(journal_dir / "journal.sqlite3").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(journal_dir).st_mode) == 0o700


def test_multi_part_job(gw: Any, make_requests: Any) -> None:
    batch = gw.submit(make_requests(max_lines=10), name="parts")
    assert len(batch.ids) == 4
    res = batch.wait(progress=False).results()
    assert len(res) == 37 and res["status"].eq("completed").all()
    assert repr(batch).endswith("· 4 parts>")


def test_watch_shares_one_thread_and_tells_listeners(gw: Any, make_requests: Any) -> None:
    batch = gw.submit(make_requests(), name="watched")
    seen: list[Any] = []
    batch.add_listener(seen.append)
    w1, w2 = batch.watch(), batch.watch()
    assert w1 is w2
    w1.join(60)
    assert not w1.is_alive()
    assert seen and seen[-1].terminal and seen[-1].status == "completed"


def test_local_connect_repr_and_close(tmp_path: Any, make_requests: Any) -> None:
    with tfb.connect(local=True, gateway_options={"speed": "max"}, journal=tmp_path / "j") as gw:
        assert "local simulated gateway" in repr(gw)
        res = gw.submit(make_requests(), name="local").results()
        assert res["status"].eq("completed").all()
        server = gw.local
    assert server is not None and not server.running
    with tfb.connect(local=True, gateway_options={"speed": "max"}, journal=tmp_path / "j") as again:
        # The local gateway keeps its data in the journal folder: the job survives a restart.
        assert again.attach("local").results()["status"].eq("completed").all()


def test_remote_without_key_fails_before_any_request(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.delenv("TFY_API_KEY", raising=False)
    with pytest.raises(tfb.TfBatchError, match="TFY_API_KEY"):
        tfb.connect("http://127.0.0.1:9/api/llm", journal=tmp_path)
