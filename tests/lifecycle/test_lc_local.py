"""Two connections on one journal folder, closing, and joins after a restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import MODEL, gateway_batches

import tfbatch_nb as tfb


def _local(journal: Path, **options: Any) -> Any:
    return tfb.connect(local=True, journal=journal, gateway_options=options)


def test_second_connect_shares_the_running_local_gateway(tmp_path: Path, make_requests: Any) -> None:
    # Two servers on one data folder would both run the batch and write its output twice.
    first = _local(tmp_path / "j", speed=4.0)
    batch = first.submit(make_requests(), name="shared")
    second = _local(tmp_path / "j", speed=4.0)  # a re-run connect cell / a simulated restart
    assert second.local is first.local
    res = second.attach("shared").wait(progress=False).results()
    assert res["status"].eq("completed").all() and len(res) == 37
    assert len(gateway_batches(second)) == 1
    output = tmp_path / "j" / "jobs" / batch.id / "output-001.jsonl"
    assert len(output.read_bytes().splitlines()) == 37  # every answer once
    first.close()
    assert second.local is not None and second.local.running  # still used by `second`
    assert second.batches()["name"].tolist() == ["shared"]
    server = second.local
    second.close()
    assert not server.running
    with _local(tmp_path / "j", speed=4.0) as again:  # after both closed: a fresh server, same data
        assert again.local is not server
        assert again.attach("shared").results()["status"].eq("completed").all()


def test_second_connect_with_other_options_names_the_fix(tmp_path: Path) -> None:
    first = _local(tmp_path / "j", speed="max")
    with pytest.raises(tfb.TfBatchError, match=r"speed differ.*gw\.close\(\)"):
        _local(tmp_path / "j", speed=2.0)
    assert first.local is not None and first.local.running and len(first.batches()) == 0
    first.close()
    with _local(tmp_path / "j", speed=2.0) as changed:
        assert changed.local is not None and changed.local.running


def test_another_process_on_the_same_journal_fails_clearly(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import tfbatch_nb as tfb
        try:
            tfb.connect(local=True, journal={str(tmp_path / "j")!r}, gateway_options={{"speed": "max"}})
        except tfb.TfBatchError as exc:
            print(exc)
        else:
            print("CONNECTED")
        """
    )
    with _local(tmp_path / "j", speed="max"):
        held = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "another process" in held.stdout and "gw.close()" in held.stdout
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert free.stdout.strip() == "CONNECTED", free.stderr  # a closed (or killed) holder frees the folder


def test_restarted_process_joins_by_the_journaled_id_column(
    server: Any, connect_to: Any, journal_dir: Path
) -> None:
    # Ids 36..0 against a RangeIndex 0..36: guessing would join on the index, the wrong rows.
    rows = pd.DataFrame({"n": list(range(36, -1, -1)), "text": [f"review {i}" for i in range(37)]})
    reqs = tfb.build_requests(rows, model=MODEL, prompt="{text}", id_column="n", max_tokens=5)
    before = connect_to(server)
    before.submit(reqs, name="by-n").wait(progress=False)
    before.close()
    after = connect_to(server)  # a new journal connection, as in a fresh kernel
    assert after.journal.find("by-n")["id_column"] == "n"
    batch = after.attach("by-n")
    res = batch.results()
    assert res["request_id"].is_unique  # so a row joined to the wrong answer shows
    joined = batch.results(join=rows)
    assert joined["n"].tolist() == rows["n"].tolist()
    assert joined["request_id"].tolist() == res.loc[rows["n"].astype(str), "request_id"].tolist()
    # A job journaled before the builder carried id_column gets it on the next identical submit.
    after.journal.update_job(batch.id, id_column=None)
    assert after.submit(reqs, name="by-n") is batch
    assert after.journal.job(batch.id)["id_column"] == "n"
