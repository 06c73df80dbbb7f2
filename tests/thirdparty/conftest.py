"""Fixtures for the tests on third-party servers: llmock and a litellm proxy in front of it.

Both run from their own virtual environment (``thirdparty_venv.py``), made once and reused; each
server is started on 127.0.0.1 and a free port for the session, and stopped at its end. Their logs
go to files whose tails are attached to the report of a failing test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import thirdparty_venv
from proxy import RecordingProxy
from thirdparty_servers import (
    LITELLM_CONFIG,
    LITELLM_KEY,
    LLMOCK_KEY,
    MODEL,
    STARTED,
    Server,
    free_port,
    start_server,
)


@pytest.fixture(scope="session")
def thirdparty_venv_root() -> Path:
    """The venv with llmock and litellm: made if missing (skip locally, fail under CI when that fails)."""
    try:
        return thirdparty_venv.ensure()
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(
                f"the third-party venv could not be made (run `python tests/thirdparty/thirdparty_venv.py`): {exc}"
            )
        pytest.skip(f"the third-party venv could not be made ({thirdparty_venv.location()}): {exc}")


@pytest.fixture(scope="session")
def llmock(thirdparty_venv_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """llmock on 127.0.0.1: every OpenAI route under /v1; batches complete ~3 s after create."""
    port, where = free_port(), tmp_path_factory.mktemp("llmock")
    exe = str(thirdparty_venv.executable(thirdparty_venv_root, "llmock"))
    server = start_server("llmock", [exe, "serve", "--host", "127.0.0.1", "--port", str(port)],
                          ready=f"http://127.0.0.1:{port}/health", url=f"http://127.0.0.1:{port}/v1",
                          api_key=LLMOCK_KEY, log=where / "llmock.log")  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="session")
def litellm(
    thirdparty_venv_root: Path, llmock: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A litellm proxy passing files and batches through to llmock; real-time chat of ``MODEL`` too."""
    port, where = free_port(), tmp_path_factory.mktemp("litellm")
    config = where / "config.yaml"
    config.write_text(LITELLM_CONFIG.format(model=MODEL, upstream=llmock.url, upstream_key=llmock.api_key,
                                            master_key=LITELLM_KEY))  # fmt: skip
    exe = str(thirdparty_venv.executable(thirdparty_venv_root, "litellm"))
    env = {
        "OPENAI_API_BASE": llmock.url,  # litellm.acreate_batch reads the backend from here
        "OPENAI_API_KEY": llmock.api_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from GitHub (CI reaches registries only)
        "LITELLM_TELEMETRY": "False",
    }
    server = start_server("litellm", [exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                          ready=f"http://127.0.0.1:{port}/health/liveliness", url=f"http://127.0.0.1:{port}/v1",
                          api_key=LITELLM_KEY, log=where / "litellm.log", env=env)  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(params=["llmock", "litellm"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each third-party server in turn."""
    found: Server = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def make_proxy(server: Server) -> Iterator[Callable[..., RecordingProxy]]:
    """Start recording proxies in front of ``server`` (options as :class:`RecordingProxy`'s)."""
    started: list[RecordingProxy] = []

    def make(**options: Any) -> RecordingProxy:
        proxy = RecordingProxy(server.url, **options).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def proxy(make_proxy: Callable[..., RecordingProxy]) -> RecordingProxy:
    """A plain recording proxy in front of ``server``."""
    return make_proxy()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in STARTED:
            report.sections.append((f"{server.name} log ({server.log})", server.log_tail()))
