"""``await batch``, ``wait_async`` and ``on_done``: the conventions of a notebook, outside the browser."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import tfbatch_nb as tfb


def in_fresh_thread(fn: Callable[[], Any]) -> Any:
    # As in a fresh interpreter: the browser tests' Playwright keeps an asyncio loop marked
    # running in the main thread for the whole session, and on_done / asyncio.run would see it.
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return out[0]


def test_await_gives_the_results_and_leaves_the_loop_free(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    gw = connect_to(start_gateway(speed=2.0))  # a few seconds: long enough to see the loop run
    batch = gw.submit(make_requests(), name="awaited")

    async def main() -> tuple[Any, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.05)

        ticker = asyncio.create_task(tick())
        res = await batch
        ticker.cancel()
        return res, ticks

    res, ticks = in_fresh_thread(lambda: asyncio.run(main()))
    assert len(res) == 37 and res["status"].eq("completed").all()
    assert ticks > 5  # other coroutines ran while the job was awaited
    assert res.equals(batch.results())


def test_wait_async_times_out_and_the_job_goes_on(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    gw = connect_to(start_gateway(speed=0.2))
    batch = gw.submit(make_requests(), name="slow")
    with pytest.raises(tfb.BatchTimeoutError, match="keeps running"):
        in_fresh_thread(lambda: asyncio.run(batch.wait_async(timeout=0.3)))
    assert not batch.snapshot().terminal
    batch.cancel()


def test_on_done_is_called_once_on_the_loop_of_the_caller(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    gw = connect_to(start_gateway(speed=2.0))
    batch = gw.submit(make_requests(), name="callback")
    calls: list[tuple[str, int]] = []

    async def main() -> int:
        batch.on_done(lambda b: calls.append((b.status, threading.get_ident())))
        while not calls:  # the watcher thread sees the end; the call comes on this loop
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        return threading.get_ident()

    loop_thread = in_fresh_thread(lambda: asyncio.run(main()))
    assert calls == [("completed", loop_thread)]
    batch.refresh()  # a later poll does not call it again
    assert len(calls) == 1


def test_on_done_errors_are_shown_not_swallowed(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    gw = connect_to(start_gateway())
    batch = gw.submit(make_requests(), name="broken-callback").wait(progress=False)

    def broken(b: Any) -> None:
        raise ValueError("my callback broke")

    in_fresh_thread(lambda: batch.on_done(broken))  # already done: called at once (no event loop runs)
    assert "ValueError: my callback broke" in capsys.readouterr().err
    assert "on_done callback failed" in (batch.snapshot().last_error or "")


def test_results_join_polars_and_arrow_rows(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any, rows37: Any
) -> None:
    import pyarrow as pa

    polars = pytest.importorskip("polars")
    gw = connect_to(start_gateway())
    batch = gw.submit(make_requests(), name="joined").wait(progress=False)
    expected = batch.results(join=rows37)
    for rows in (pa.Table.from_pandas(rows37), polars.from_pandas(rows37)):
        joined = batch.results(join=rows)
        assert list(joined.columns) == list(expected.columns)
        assert joined["content"].tolist() == expected["content"].tolist()
    with pytest.raises(tfb.BatchInputError, match="polars or pyarrow"):
        batch.results(join=[1, 2, 3])


def test_on_done_can_notify_the_browser(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    from tfbatch_nb.ui import widgets

    gw = connect_to(start_gateway())
    batch = gw.submit(make_requests(), name="notified").wait(progress=False)
    bundle = widgets.browser_notification("notified", "completed 37/37")
    assert "tfbatch: notified" in bundle["application/javascript"]
    with pytest.raises(tfb.BatchInputError, match="callback, or notify=True"):
        batch.on_done()
    calls: list[str] = []
    in_fresh_thread(lambda: batch.on_done(lambda b: calls.append(b.status), notify=True))
    assert calls == ["completed"]  # outside a kernel nothing is displayed; the callback still runs
