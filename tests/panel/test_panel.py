"""StatusPanel against a real batch on the local gateway (real openai SDK over 127.0.0.1).

No timing assertions: loops wait for a state with a generous deadline and only guard against hangs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tfbatch_nb as tfb
from tfbatch_nb.ui import _display as display
from tfbatch_nb.ui import widgets

DEADLINE_S = 60.0


def wait_until(cond: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE_S
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.05)


def requests(n: int, tag: str) -> Any:
    df = pd.DataFrame(
        {"id": [f"r{i:03d}" for i in range(n)], "text": [f"review {i} {tag}" for i in range(n)]}
    )
    return tfb.build_requests(
        df, model="openai-main/gpt-4o-mini", prompt="Sentiment of: {text}", id_column="id", max_tokens=5
    )


def connect(tmp_path: Path, **gateway_options: Any) -> Any:
    return tfb.connect(
        local=True, journal=tmp_path / "journal", gateway_options=gateway_options, max_retries=0
    )


@pytest.fixture
def slow_gw(tmp_path: Path) -> Iterator[Any]:
    # speed 2: 60 lines take about 2 s, so polls in a tight loop see the counts grow
    gw = connect(tmp_path, speed=2.0)
    yield gw
    gw.close()


@pytest.fixture
def fast_gw(tmp_path: Path) -> Iterator[Any]:
    gw = connect(tmp_path, speed="max")
    yield gw
    gw.close()


def test_panel_follows_a_real_batch_to_100_percent(slow_gw: Any) -> None:
    batch = slow_gw.submit(requests(60, "follow"), name="follow")
    panel = widgets.StatusPanel(batch)
    seen: list[tuple[int, int, str]] = []
    panel.progress.observe(
        lambda ch: seen.append((ch["new"], panel.progress.max, batch.status)), names="value"
    )
    while not batch.snapshot().terminal:  # the foreground twin of the watcher, polling fast
        panel.update(batch.refresh())
        time.sleep(0.1)
    panel.update(batch.snapshot())
    assert any(0 < v < m for v, m, _ in seen), seen  # intermediate values were shown
    assert panel.progress.value == panel.progress.max == 60
    assert panel.progress.bar_style == "success"
    assert 'data-status="completed"' in panel.header.value
    assert "batch.results()" in panel.message.value
    assert panel.cancel_button.disabled and not panel.load_button.disabled
    assert repr(panel) == repr(batch) == "<Batch 'follow' completed 60/60 done, 0 failed · 1 part>"
    assert "0x" not in repr(panel)


def test_watcher_thread_drives_the_panel_and_stops(slow_gw: Any) -> None:
    batch = slow_gw.submit(requests(40, "watch"), name="watch")
    panel = widgets.StatusPanel(batch)
    snaps: list[Any] = []
    batch.add_listener(snaps.append)
    handle = panel.watch()
    assert panel.watch() is handle or handle.is_alive()  # a second display shares the watcher
    wait_until(lambda: panel.progress.value == 40 and "completed" in panel.header.value, "panel at 100%")
    assert snaps and snaps[-1].terminal
    wait_until(lambda: not handle.is_alive(), "watcher to stop at a terminal status")


def test_stop_stops_the_thread(tmp_path: Path) -> None:
    gw = connect(tmp_path, speed=0.05)  # minutes: still running when we stop
    try:
        batch = gw.submit(requests(20, "stop"), name="stop")
        panel = widgets.StatusPanel(batch)
        handle = panel.watch()
        assert handle.is_alive()
        panel.stop()
        wait_until(lambda: not handle.is_alive(), "watcher thread to end after stop()")
        assert not batch.snapshot().terminal
    finally:
        gw.close()


def test_cancel_needs_two_clicks(tmp_path: Path) -> None:
    gw = connect(tmp_path, speed=0.05)
    try:
        batch = gw.submit(requests(20, "cancel"), name="cancel")
        panel = widgets.StatusPanel(batch)
        panel.cancel_button.click()
        assert "again" in panel.cancel_button.description
        assert batch.refresh().status not in ("cancelling", "cancelled")
        panel.cancel_button.click()
        assert batch.refresh().status in ("cancelling", "cancelled")
        assert panel.cancel_button.disabled
        wait_until(lambda: batch.refresh().terminal, "the cancel to finish")
        panel.update(batch.snapshot())
        assert batch.status == "cancelled"
        assert panel.cancel_button.disabled and not panel.load_button.disabled
        assert 'data-status="cancelled"' in panel.header.value
    finally:
        gw.close()


def test_load_results_fills_the_output(fast_gw: Any) -> None:
    batch = fast_gw.submit(requests(12, "load"), name="load")
    panel = widgets.StatusPanel(batch)
    assert panel.load_button.disabled  # not terminal yet (or not known to be)
    batch.wait(timeout=DEADLINE_S)
    panel.update(batch.snapshot())
    assert not panel.load_button.disabled
    panel.load_button.click()
    assert len(panel.output.outputs) == 1
    html = panel.output.outputs[0]["data"]["text/html"]
    assert "<table" in html and "r000" in html and "r009" in html and "r010" not in html  # first 10 rows
    assert "Results: 12 rows" in panel.summary.value
    assert "12 completed" in panel.summary.value and "total tokens" in panel.summary.value


def test_watcher_survives_500s_and_the_panel_shows_them(tmp_path: Path) -> None:
    gw = connect(tmp_path, speed=2.0, faults=["http500@GET /batches=0.5"], fault_seed=0)
    try:
        batch = gw.submit(requests(30, "faults"), name="faults")
        panel = widgets.StatusPanel(batch)
        errors: list[str] = []
        panel.error.observe(lambda ch: errors.append(ch["new"]), names="value")
        handle = panel.watch()
        wait_until(lambda: batch.snapshot().terminal, "the batch to end despite 500s")
        wait_until(lambda: not handle.is_alive(), "the watcher to stop")
        assert batch.status == "completed"
        assert panel.progress.value == 30
        assert batch.snapshot().transient_errors > 0
        assert any("500" in e for e in errors), errors
    finally:
        gw.close()


def test_mimebundle_falls_back_to_text_and_html(fast_gw: Any) -> None:
    batch = fast_gw.submit(requests(3, "bundle"), name="bundle")
    batch.wait(timeout=DEADLINE_S)
    bundle = widgets.mimebundle(batch)
    assert bundle["text/plain"] == display.render_text(batch.snapshot())
    assert bundle["text/html"] == display.render_html(batch.snapshot())
    assert widgets.WIDGET_MIME in bundle
    assert widgets.panel_for(batch) is widgets.panel_for(batch)  # two displays, one widget model
    assert not widgets.available()  # no kernel here: the batch shows text / HTML itself


def test_dashboard_shows_every_job_newest_first(fast_gw: Any) -> None:
    first = fast_gw.submit(requests(2, "dash-1"), name="dash-1").wait(progress=False)
    second = fast_gw.submit(requests(3, "dash-2"), name="dash-2").wait(progress=False)
    dash = widgets.Dashboard(fast_gw)
    names = [p.batch.name for p in dash.panels()]
    assert names == ["dash-2", "dash-1"]
    assert repr(dash) == "<Dashboard 2 jobs>"
    assert "tfbatch-dashboard" in dash._dom_classes
    assert [repr(p) for p in dash.panels()] == [repr(second), repr(first)]
