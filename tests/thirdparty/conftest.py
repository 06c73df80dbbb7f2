"""Fixtures for the tests on third-party servers: llmock and a litellm proxy in front of it.

Both run from their own virtual environment (``thirdparty_venv.py``), made once and reused; each
server is started on 127.0.0.1 and a free port for the session, and stopped at its end. Their logs
go to files whose tails are attached to the report of a failing test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import thirdparty_venv
from proxy import RecordingProxy

MODEL = "gpt-4o-mini"
LITELLM_KEY = "sk-litellm-master-0123"
LLMOCK_KEY = "sk-llmock-anything"
#: Servers started in this session, whose logs a failing test's report shows.
STARTED: list[Server] = []


@dataclass
class Server:
    """A third-party server running in a subprocess."""

    name: str
    url: str  # the OpenAI base URL, ending in /v1
    api_key: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self in STARTED:
            STARTED.remove(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def free_port() -> int:
    """A port nothing listens on right now (also what a dead URL points at)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(name: str, cmd: list[str], *, ready: str, url: str, api_key: str, log: Path,
                 env: dict[str, str] | None = None, timeout: float = 60) -> Server:  # fmt: skip
    """Start ``cmd``, then poll the ``ready`` URL until it answers 200; raise with the log if it does not."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent,
                                   env={**clean, **(env or {})})  # fmt: skip
    server = Server(name, url, api_key, log, process)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(ready, timeout=2) as answer:
                if answer.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            why = (
                f"exited with {process.returncode}"
                if process.returncode is not None
                else f"not ready in {timeout:g} s"
            )
            raise RuntimeError(f"{name} {why}: {' '.join(cmd)}\n--- {log}\n{server.log_tail()}")
        time.sleep(0.1)
    STARTED.append(server)
    return server


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


LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {upstream}
      api_key: {upstream_key}
files_settings:
  - custom_llm_provider: openai
    api_base: {upstream}
    api_key: {upstream_key}
general_settings:
  master_key: {master_key}
"""


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
