"""Exactly once under concurrency: threads and processes racing on one journal; secrets in the URL."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET, gateway_batches
from race_worker import RACES, racer, requests_of

import tfbatch_nb as tfb


def test_processes_racing_on_one_journal_make_one_batch_per_part(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], journal_dir: Path
) -> None:
    server = start_gateway()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=racer, args=(server.url, server.api_key, str(journal_dir), barrier, out))
             for _ in range(3)]  # fmt: skip
    for proc in procs:
        proc.start()
    results = [json.loads(out.get(timeout=180)) for _ in range(3 * RACES)]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    for race in range(RACES):
        seen = [r for r in results if r["race"] == race]
        assert len({r["job"] for r in seen}) == 1  # the losers attach to the winner's job
        assert len({tuple(r["ids"]) for r in seen}) == 1 and len(seen[0]["ids"]) == 3
    gw = connect_to(server)
    tags = [
        (b.metadata or {}).get("tfbatch_job") + (b.metadata or {}).get("tfbatch_part")
        for b in gateway_batches(gw)
    ]
    assert len(tags) == 3 * RACES and len(set(tags)) == 3 * RACES  # exactly one batch per part


def test_threads_racing_on_one_journal_make_one_batch(
    start_gateway: Callable[..., Any], journal_dir: Path
) -> None:
    server = start_gateway()
    barrier = threading.Barrier(4)
    found: list[Any] = []
    gateways = [tfb.connect(server.url, server.api_key, journal=journal_dir) for _ in range(4)]

    def run(gw: Any) -> None:
        reqs = requests_of(0)
        barrier.wait(timeout=30)
        found.append(gw.submit(reqs, name="thread-race"))

    threads = [threading.Thread(target=run, args=(gw,)) for gw in gateways]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    try:
        assert len(found) == 4 and len({b.id for b in found}) == 1
        assert len({tuple(b.ids) for b in found}) == 1
        assert len(gateway_batches(gateways[0])) == 3
    finally:
        for gw in gateways:
            gw.close()


def test_credentials_in_the_url_are_used_never_shown(
    start_gateway: Callable[..., Any], tmp_path: Path, make_requests: Any
) -> None:
    server = start_gateway()
    host = server.url.split("://", 1)[1]
    url = f"http://someone:{SECRET}@{host}?api-key=QUERY-TOKEN"
    gw = tfb.connect(url, journal=tmp_path / "journal")  # the password is the key: no api_key given
    try:
        texts = [repr(gw), gw._repr_html_()]
        batch = gw.submit(make_requests(), name="from-url").wait(progress=False)
        assert batch.results()["status"].eq("completed").all()
        texts += [repr(batch), batch._repr_html_(), gw.batches().to_string()]
        with pytest.raises(tfb.TfBatchError) as missing:
            gw.attach("no-such-job")
        texts.append(str(missing.value))
    finally:
        gw.close()
    assert not any(SECRET in text or "QUERY-TOKEN" in text for text in texts)
    for path in (tmp_path / "journal").rglob("*"):
        if path.is_file() and "local-gateway" not in path.parts:
            data = path.read_bytes()
            assert SECRET.encode() not in data and b"QUERY-TOKEN" not in data, path


def test_retry_of_every_row_is_a_new_job(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    server = start_gateway(faults=["line_error=1"])
    gw = connect_to(server)
    batch = gw.submit(make_requests(), name="all-fail").wait(progress=False)
    assert batch.results()["status"].eq("failed").all()
    server.set_faults([])
    retry = batch.retry_failed()
    assert retry.id != batch.id and set(retry.ids).isdisjoint(batch.ids)
    assert gw.journal.job(retry.id)["parent_job"] == batch.id
    retry.wait(progress=False)
    assert batch.results()["status"].eq("completed").all()
    assert batch.retry_failed().id == retry.id  # the cell again: nothing left to retry, the same job


def test_a_corrupted_journal_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite3").write_bytes(b"not a database " * 100)
    with pytest.raises(tfb.TfBatchError, match=r"journal\.sqlite3.*move it aside"):
        tfb.connect("http://127.0.0.1:9/v1", "k", journal=tmp_path)


def test_a_create_committed_after_its_504_is_found_not_repeated(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    # A proxy answers 504 while the server commits the batch two seconds later: one batch per part.
    server = start_gateway(faults=["late_commit@POST /batches=1#2"], late_commit_delay=2.0)
    gw = connect_to(server)
    batch = gw.submit(make_requests(max_lines=20), name="late")
    assert batch.wait(progress=False).status == "completed"
    assert batch.results()["status"].eq("completed").all()
    tags = sorted((b.metadata or {}).get("tfbatch_part") for b in gateway_batches(gw))
    assert tags == ["0", "1"]
    assert batch.snapshot().transient_errors == 2  # each 504 was seen, and searched past


def test_the_same_name_with_other_requests_is_refused_not_replaced(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any, rows37: Any
) -> None:
    # What the README says of "the same name again": the same requests give the same job; other
    # requests under that name are an error naming the way out, and nothing is uploaded.
    gw = connect_to(start_gateway())
    first = gw.submit(make_requests(), name="reviews")
    assert gw.submit(make_requests(), name="reviews") is first
    with pytest.raises(tfb.BatchInputError, match=r"different requests.*new name=.*force=True"):
        gw.submit(make_requests(rows37.head(5)), name="reviews")
    assert len(gateway_batches(gw)) == 1
    assert gw.submit(make_requests(rows37.head(5)), name="reviews", force=True).id != first.id
