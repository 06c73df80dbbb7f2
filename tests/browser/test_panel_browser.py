"""The live panel in a real browser: JupyterLab 4 and Notebook 7 in headless Chromium.

Runs ``panel.ipynb`` (local gateway at a pace where a batch takes about 10 s) with Run All and
checks what a newcomer sees: the panel is the batch cell's output, the next cell runs at once
while the job is still going, the panel reaches 100 % and ``completed`` by itself, and Load
results shows a table. Screenshots land in ``artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Kernel really ready: a kernel name in the toolbar AND an idle indicator (a fresh page shows a
# false "idle" for about a second while the toolbar still says "No Kernel"; reference §4.4).
KERNEL_READY_JS = """() => {
  const n = document.querySelector('.jp-Toolbar-kernelName');
  const i = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return !!(n && i && n.getAttribute('aria-label') !== 'No Kernel' && i.dataset.status === 'idle');
}"""
TERMINAL = ("completed", "failed", "expired", "cancelled")
TIMEOUT_MS = 60_000


def _run_all_cells(page: Any) -> None:
    # The menu path has the same DOM in Lab 4 and Notebook 7.
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


@pytest.mark.parametrize(
    ("path", "label"),
    [("/lab/tree/lab/panel.ipynb?reset", "lab4"), ("/notebooks/nb7/panel.ipynb", "notebook7")],
    ids=["lab4", "notebook7"],
)
def test_panel_lives_in_the_browser(
    lab_server: tuple[str, str, Path], browser: Any, artifacts: Path, path: str, label: str
) -> None:
    url, token, _root = lab_server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{url}{path}{'&' if '?' in path else '?'}token={token}")
        page.wait_for_function(KERNEL_READY_JS, timeout=TIMEOUT_MS)
        _run_all_cells(page)

        # 1. the panel is the output of the batch cell (the second code cell)
        panel = page.locator(".jp-OutputArea-output .tfbatch-panel")
        panel.wait_for(timeout=TIMEOUT_MS)
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        assert cells.nth(1).locator(".tfbatch-panel").count() == 1

        # 2. the next cell ran while the job was still running: the kernel is free
        nxt = page.locator(".jp-OutputArea-output", has_text="next cell ran while the batch was")
        nxt.wait_for(timeout=TIMEOUT_MS)
        status_then = nxt.inner_text().rsplit(" ", 1)[-1].strip()
        assert status_then not in TERMINAL, status_then
        assert "width: 100%" not in (
            panel.locator(".tfbatch-progress .progress-bar").get_attribute("style") or ""
        )
        page.screenshot(path=str(artifacts / f"panel-{label}-running.png"))

        # 3. with no further cell run, the panel follows the job to the end
        panel.locator(".tfbatch-badge[data-status='completed']").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_function(
            """() => (document.querySelector('.tfbatch-panel .tfbatch-progress .progress-bar')
                      ?.getAttribute('style') || '').includes('width: 100%')""",
            timeout=TIMEOUT_MS,
        )
        panel.locator(".tfbatch-message", has_text="batch.results()").wait_for(timeout=TIMEOUT_MS)

        # 4. Load results shows a table and a summary inside the panel
        load = panel.locator("button", has_text="Load results")
        page.wait_for_function(
            """() => { const b = [...document.querySelectorAll('.tfbatch-panel button')]
                         .find(b => b.textContent.includes('Load results'));
                       return !!b && !b.disabled; }""",
            timeout=TIMEOUT_MS,
        )
        load.click()
        # Wait for the table or the panel's own error line, so a failure says why at once.
        page.wait_for_function(
            """() => !!document.querySelector('.tfbatch-panel .tfbatch-output table.dataframe')
                     || (document.querySelector('.tfbatch-panel .tfbatch-summary')?.textContent || '')
                        .includes('could not load results')""",
            timeout=TIMEOUT_MS,
        )
        table = panel.locator(".tfbatch-output table.dataframe")
        assert table.count() == 1, panel.locator(".tfbatch-summary").inner_text()
        assert table.locator("tbody tr").count() == 10
        assert "50 rows" in panel.locator(".tfbatch-summary").inner_text()
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"panel-{label}.png"))
        panel.screenshot(path=str(artifacts / f"panel-{label}-panel.png"))
    except Exception:
        page.screenshot(path=str(artifacts / f"panel-{label}-failure.png"))  # what the user would see
        raise
    finally:
        page.close()
    # Notebook 7 has harmless page errors of its own; only widget errors count.
    assert [e for e in errors if "widget" in e.lower() or "tfbatch" in e.lower()] == []


@pytest.mark.parametrize(
    ("path", "label"),
    [("/lab/tree/lab/await.ipynb?reset", "lab4"), ("/notebooks/nb7/await.ipynb", "notebook7")],
    ids=["lab4", "notebook7"],
)
def test_await_and_on_done_in_the_browser(
    lab_server: tuple[str, str, Path], browser: Any, artifacts: Path, path: str, label: str
) -> None:
    # `res = await batch` returns the frame while the event loop keeps running (a ticker task
    # ticks meanwhile), and on_done's print lands in the cell that asked for it once the job ends.
    url, token, _root = lab_server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"{url}{path}{'&' if '?' in path else '?'}token={token}")
        page.wait_for_function(KERNEL_READY_JS, timeout=TIMEOUT_MS)
        _run_all_cells(page)
        awaited = page.locator(".jp-OutputArea-output", has_text="awaited 20 rows")
        awaited.wait_for(timeout=TIMEOUT_MS)
        text = awaited.inner_text()
        assert "20 completed" in text, text
        assert int(text.rsplit(":", 1)[-1].strip()) > 0, text  # the loop ran while awaiting
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        done = cells.nth(1).locator(".jp-OutputArea-output", has_text="on_done says: completed")
        done.wait_for(timeout=TIMEOUT_MS)
        assert done.count() == 1
        # notify=True ran its script in the page (a headless browser may deny the notification itself)
        page.wait_for_function(
            "() => (document.body.dataset.tfbatchNotified || '').startsWith('tfbatch: await-')",
            timeout=TIMEOUT_MS,
        )
        page.screenshot(path=str(artifacts / f"await-{label}.png"))
    except Exception:
        page.screenshot(path=str(artifacts / f"await-{label}-failure.png"))
        raise
    finally:
        page.close()
