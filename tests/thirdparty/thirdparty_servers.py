"""Third-party servers in subprocesses: start one, wait until it answers, stop it, show its log.

Kept out of ``conftest.py`` so test modules import these names from a module of their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

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
