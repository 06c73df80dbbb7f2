"""display.py: one deterministic text line and escaped static HTML from a Snapshot."""

from __future__ import annotations

from tfbatch_nb.ui import _display as display
from tfbatch_nb.ui._snapshot import PartSnapshot, Snapshot, make_snapshot


def snap(
    *parts: PartSnapshot,
    name: str | None = "reviews-v1",
    now: float = 100.0,
    finished_at: float | None = 50.0,
    last_error: str | None = None,
) -> Snapshot:
    return make_snapshot(
        job_id="job_1",
        name=name,
        provider="openai-main",
        model="openai-main/gpt-4o-mini",
        endpoint="/v1/chat/completions",
        parts=parts or (PartSnapshot(0, "batch_a", "completed", 37, 37, 0),),
        created_at=0.0,
        updated_at=now,
        finished_at=finished_at,
        now=now,
        last_error=last_error,
        transient_errors=1 if last_error else 0,
    )


def test_text_line() -> None:
    assert display.render_text(snap()) == "<Batch 'reviews-v1' completed 37/37 done, 0 failed · 1 part>"
    running = snap(PartSnapshot(0, "b0", "in_progress", 10, 3, 1), PartSnapshot(1, "b1", "validating", 10))
    assert display.render_text(running) == "<Batch 'reviews-v1' in_progress 4/20 done, 1 failed · 2 parts>"
    assert display.render_text(snap(name=None)).startswith("<Batch 'job_1' completed")


def test_terminal_snapshot_renders_the_same_at_any_time() -> None:
    early, late = snap(now=60.0, finished_at=50.0), snap(now=9999.0, finished_at=70.0)
    assert early.elapsed_s != late.elapsed_s
    assert display.render_text(early) == display.render_text(late)
    assert display.render_html(early) == display.render_html(late)
    assert "elapsed" not in display.render_html(early)
    assert "batch.results()" in display.render_html(early)


def test_running_snapshot_shows_time_and_no_hint() -> None:
    html = display.render_html(snap(PartSnapshot(0, "b0", "in_progress", 10, 4, 1)))
    assert "elapsed 1m 40s" in html and "ETA" in html
    assert "batch.results()" not in html
    assert 'data-status="in_progress"' in html


def test_everything_is_escaped() -> None:
    evil = "<script>alert('x')</script>"
    s = make_snapshot(
        job_id='job"1',
        name=evil,
        provider="<p>",
        model="m&m",
        endpoint="/v1/chat/completions",
        parts=[
            PartSnapshot(0, "<b>", "<i>nope", 1, 0, 0, errors=({"code": "<c>", "message": evil, "line": 1},))
        ],
        last_error=evil,
    )
    html = display.render_html(s)
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html and "<p>" not in html
    assert "&lt;script&gt;" in html and "m&amp;m" in html and "job&quot;1" in html
    assert "&lt;i&gt;nope" in html  # an unknown status is shown as it is (escaped)
    assert (
        display.render_text(s)
        == "<Batch \"<script>alert('x')</script>\" <i>nope 0/1 done, 0 failed · 1 part>"
    )


def test_failed_job_lists_its_validation_errors() -> None:
    errors = tuple({"code": "invalid_json", "message": f"bad line {i}", "line": i} for i in range(7))
    html = display.render_html(snap(PartSnapshot(0, "b0", "failed", 7, 0, 0, errors=errors)))
    assert "invalid_json: bad line 0 (line 0)" in html
    assert "and 2 more" in html
    assert display.status_color("failed") in html


def test_multi_part_rows_and_stacked_bar() -> None:
    s = snap(PartSnapshot(0, "b0", "completed", 10, 9, 1), PartSnapshot(1, "b1", "completed", 10, 10, 0))
    html = display.render_html(s)
    assert "part 1" in html and "part 2" in html and "b0" in html and "b1" in html
    assert "width:95.0%" in html and "width:5.0%" in html  # completed and failed segments
    assert "part 1" not in display.render_html(snap())


def test_polling_error_only_while_running() -> None:
    running = snap(PartSnapshot(0, "b0", "in_progress", 10, 4, 0), last_error="HTTP 500 from /batches")
    assert "HTTP 500 from /batches" in display.render_html(running)
    assert "HTTP 500" in display.problems_html(running)
    assert "HTTP 500" not in display.render_html(snap(last_error="HTTP 500 from /batches"))


def test_small_helpers() -> None:
    assert display.format_duration(5) == "5s"
    assert display.format_duration(3725) == "1h 02m"
    assert display.sparkline_svg([0.5]) == ""
    assert display.sparkline_svg([0.0, 0.5, 1.0]).count("<polyline") == 1
    assert display.status_color("something-new") == display.status_color(None)
    assert "&lt;" in display.message_html("<x>", kind="error")
