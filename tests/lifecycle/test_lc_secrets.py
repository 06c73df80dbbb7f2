"""The API key never shows: reprs, HTML, exceptions, log records, journal bytes; plus status unit checks."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import openai
import pytest
from conftest import SECRET

import tfbatch_nb as tfb
from tfbatch_nb.run._journal import Journal
from tfbatch_nb.ui._snapshot import PartSnapshot, combine_status, make_snapshot, part_from_batch


def test_key_never_appears(start_gateway: Any, connect_to: Any, make_requests: Any, journal_dir: Path,
                           caplog: Any) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    server = start_gateway(faults=["line_error=0.2", "http500@GET /batches=0.3"])
    gw = connect_to(server)
    texts = [repr(gw), gw._repr_html_()]
    batch = gw.submit(make_requests(max_lines=20), name="secret-check")
    texts += [repr(batch), batch._repr_html_(), str(batch._repr_mimebundle_())]
    batch.wait(progress=False)
    texts += [repr(batch), batch._repr_html_(), batch.results().to_string(), batch.errors().to_string(),
              gw.batches().to_string(), str(batch.snapshot())]  # fmt: skip
    with pytest.raises(tfb.TfBatchError) as info:
        gw.attach("no-such-job")
    texts.append(str(info.value))
    bad = tfb.connect(server.url, SECRET + "-wrong", journal=journal_dir / "other")
    with pytest.raises(openai.AuthenticationError) as auth:
        bad.submit(make_requests(), name="unauthorised")
    texts += [str(auth.value), repr(auth.value)]
    bad.close()
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    for text in texts:
        assert SECRET not in text
    gw.close()
    for path in journal_dir.rglob("*"):
        if path.is_file() and "local-gateway" not in path.parts:
            assert SECRET.encode() not in path.read_bytes(), path


def test_journal_file_is_private(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    assert stat.S_IMODE(os.stat(j.path).st_mode) == 0o600
    row, _ = j.claim_job({"sha256": "x", "endpoint": "/v1/embeddings", "provider": "p", "base_url": "u"},
                         [{"n_lines": 1}])  # fmt: skip
    j.update_part(row["job_id"], 0, batch_id="b")
    for extra in ("journal.sqlite3-wal", "journal.sqlite3-shm"):
        if (j.folder / extra).exists():
            assert stat.S_IMODE(os.stat(j.folder / extra).st_mode) & 0o077 == 0


def test_combine_status_rules() -> None:
    assert combine_status([]) == "pending"
    assert combine_status(["completed"] * 3) == "completed"
    assert combine_status(["completed", "in_progress"]) == "in_progress"
    assert combine_status(["cancelling", "in_progress"]) == "cancelling"
    assert combine_status(["completed", "failed"]) == "failed"
    assert combine_status(["completed", "expired"]) == "expired"
    assert combine_status(["WEIRD", "completed"]) == "WEIRD"
    assert combine_status(["WEIRD", "OTHER"]) == "in_progress"


def test_snapshot_of_lenient_batch_objects() -> None:
    part = part_from_batch(0, {"id": "b", "status": None, "request_counts": {"total": "x"}}, n_lines=4)
    assert part.status == "unknown" and part.total == 4
    snap = make_snapshot(job_id="j", name=None, provider="p", model=None, endpoint="/v1/chat/completions",
                         parts=[part, PartSnapshot(1, "c", "completed", 2, 2, 0)], created_at=1.0, now=3.0)  # fmt: skip
    assert snap.total == 6 and snap.completed == 2 and not snap.terminal and snap.elapsed_s == 2.0
    assert snap.ids == ("b", "c")
