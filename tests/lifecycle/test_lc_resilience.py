"""Never pay twice, never lose a row: faults on every route, SIGKILL during submit, fresh processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from conftest import MODEL, gateway_batches

import tfbatch_nb as tfb

HERE = Path(__file__).parent

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    import tfbatch_nb as tfb

    url, key, journal, mode = sys.argv[1:5]
    gw = tfb.connect(url, key, journal=journal)
    if mode == "submit":
        df = pd.DataFrame({"review_id": [f"rv-{i:03d}" for i in range(37)],
                           "text": [f"review number {i}" for i in range(37)]})
        reqs = tfb.build_requests(df, model=%(model)r, prompt="Sentiment: {text}", id_column="review_id",
                                  max_tokens=5)
        batch = gw.submit(reqs, name="killme")
        print("SUBMITTED", batch.id, flush=True)
        time.sleep(600)
    else:
        batch = gw.attach("killme")
        res = batch.results()
        print(json.dumps({"ids": list(res.index), "status": sorted(set(res["status"])), "job": batch.id}))
    """
) % {"model": MODEL}


def _child(tmp: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True, env=env)


def _journaled_file_id(journal: Path) -> bool:
    if not (journal / "journal.sqlite3").exists():
        return False
    try:
        with sqlite3.connect(journal / "journal.sqlite3", timeout=5) as db:
            return db.execute("SELECT 1 FROM parts WHERE file_id IS NOT NULL").fetchone() is not None
    except sqlite3.Error:  # the child is still creating the tables
        return False


def _attach_in_fresh_process(tmp: Path, server: Any, journal: Path) -> dict[str, Any]:
    proc = _child(tmp, server.url, server.api_key, str(journal), "attach")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_sigkill_right_after_submit(server: Any, tmp_path: Path, journal_dir: Path, connect_to: Any) -> None:
    proc = _child(tmp_path, server.url, server.api_key, str(journal_dir), "submit")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("SUBMITTED"), line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = _attach_in_fresh_process(tmp_path, server, journal_dir)
    assert len(result["ids"]) == 37 and result["status"] == ["completed"]
    assert result["job"] == line.split()[1]
    assert len(gateway_batches(connect_to(server))) == 1


def test_sigkill_during_create_is_reconciled(start_gateway: Any, tmp_path: Path, journal_dir: Path,
                                             connect_to: Any) -> None:  # fmt: skip
    # Every create's answer is lost and every list fails: the batch exists on the gateway, the
    # client cannot learn its id. Kill it there; a fresh process must find that batch, not make another.
    server = start_gateway(faults=["drop@POST /batches=1", "http500@GET /batches=1"])
    proc = _child(tmp_path, server.url, server.api_key, str(journal_dir), "submit")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _server_batches(server):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _journaled_file_id(journal_dir) and len(_server_batches(server)) >= 1
    server.set_faults([])
    landed = len(_server_batches(server))
    result = _attach_in_fresh_process(tmp_path, server, journal_dir)
    assert len(result["ids"]) == 37 and result["status"] == ["completed"]
    assert len(gateway_batches(connect_to(server))) == landed


def _server_batches(server: Any) -> list[Any]:
    # Read the gateway's own store: its HTTP routes are faulted on purpose in this test.
    page = server._store.list_batches(after=None, limit=100)
    return list(page[0]) if page else []


def test_faults_on_every_route(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    server = start_gateway(faults=["http500=0.3", "http429=0.2", "drop=0.3"], fault_seed=7)
    # The SDK's retry policy is the only one: give it room; a 500 on a create is searched for 1 s.
    gw = connect_to(server, max_retries=8, reconcile_timeout=1.0)
    batch = gw.submit(make_requests(max_lines=20), name="stormy")
    res = batch.wait(progress=False).results()
    assert len(res) == 37 and res["status"].eq("completed").all()
    server.set_faults([])
    tags = [(b.metadata or {}).get("tfbatch_part") for b in gateway_batches(gw)]
    assert sorted(tags) == ["0", "1"]  # exactly one batch per part
    assert batch.snapshot().transient_errors > 0


def test_lost_create_answer_is_reconciled(start_gateway: Any, connect_to: Any, make_requests: Any) -> None:
    server = start_gateway(faults=["drop@POST /batches=1#2"])
    gw = connect_to(server)
    batch = gw.submit(make_requests(), name="dropped")
    assert batch.wait(progress=False).results()["status"].eq("completed").all()
    assert len(gateway_batches(gw)) == 1


def test_attach_in_fresh_process_after_completion(gw: Any, server: Any, make_requests: Any, tmp_path: Path,
                                                  journal_dir: Path) -> None:  # fmt: skip
    reqs = tfb.build_requests(
        __import__("pandas").DataFrame({"review_id": [f"rv-{i:03d}" for i in range(37)],
                                        "text": [f"review number {i}" for i in range(37)]}),
        model=MODEL, prompt="Sentiment: {text}", id_column="review_id", max_tokens=5,
    )  # fmt: skip
    gw.submit(reqs, name="killme").wait(progress=False)
    result = _attach_in_fresh_process(tmp_path, server, journal_dir)
    assert len(result["ids"]) == 37 and len(gateway_batches(gw)) == 1
