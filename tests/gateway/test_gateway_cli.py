"""``tfbatch gateway``: flags and their one-line errors, a forwarding server run as a user would, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from gateway_helpers import CHAT, Upstream

from tfbatch_nb.cli import main


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--forward-to", "http://127.0.0.1:9/v1", "--forward-model", "nonsense"], "expected IN=OUT"),
        (
            ["--forward-to", "http://127.0.0.1:9/v1", "--forward-model", "a=b", "--forward-model", "a=c"],
            "mapped twice",
        ),
        (["--forward-to", "http://127.0.0.1:9/v1", "--concurrency", "0"], "whole number >= 1"),
        (["--forward-to", "http://127.0.0.1:9/v1", "--forward-api-key-env", "TFB_TEST_UNSET"], "is not set"),
        (["--forward-to", "u", "--forward-api-key", "k", "--forward-api-key-env", "K"], "not allowed with"),
        (["--forward-model", "a=b"], "--forward-model needs --forward-to"),
        (["--concurrency", "2"], "--concurrency needs --forward-to"),
        (["--host", "0.0.0.0", "--port", "0"], "not a loopback address"),
    ],
)
def test_bad_values_are_one_line_errors(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ.pop("TFB_TEST_UNSET", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["gateway", *argv])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert exit_info.value.code == 2 and len(errors) == 1 and words in errors[0], err
    assert errors[0].startswith("tfbatch gateway: error:")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def test_a_forwarding_gateway_from_the_command_line(upstream: Upstream, tmp_path: object) -> None:
    env = {**os.environ, "MY_UPSTREAM_KEY": "sk-upstream-secret"}
    argv = [
        sys.executable, "-m", "tfbatch_nb", "gateway", "--port", "0", "--data-dir", str(tmp_path),
        "--api-key", "front-key", "--forward-to", upstream.url, "--forward-api-key-env", "MY_UPSTREAM_KEY",
        "--forward-model", "openai-main/fast=llama3.1:8b", "--concurrency", "2",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "forwarding to " + upstream.url in banner and "sk-upstream-secret" not in banner
        url = banner.split("serving ", 1)[1].split(" ", 1)[0]
        client = openai.OpenAI(base_url=url, api_key="front-key", max_retries=0)
        hi = [{"role": "user", "content": "hi"}]
        for model in ("openai-main/fast", "openai-main/gpt-4o-mini"):
            reply = client.chat.completions.create(model=model, messages=hi)  # type: ignore[arg-type]
            assert reply.choices[0].message.content is not None
        assert upstream.seen == [
            {"model": "llama3.1:8b", "authorization": "Bearer sk-upstream-secret"},
            {"model": "gpt-4o-mini", "authorization": "Bearer sk-upstream-secret"},
        ]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "sk-upstream-secret" not in out + err


def tfbatch(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``tfbatch ARGV`` in a child process, as a user starts it (this checkout's package)."""
    root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "tfbatch_nb", *argv]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--port", "99999"], "argument --port: expected a port number 0-65535"),
        (["--port", "abc"], "argument --port: expected a port number 0-65535"),
        (["--host", "0.0.0.0"], "pass --allow-remote"),
        (["--fault", "bogus=1"], "argument --fault: unknown fault kind 'bogus'"),
        (["--fault", "late_commit@/batches=2"], "argument --fault: fault rate must be within [0, 1]"),
        (["--speed", "-1"], "argument --speed: expected 'max' or a number > 0"),
        (["--max-upload-mb", "0"], "argument --max-upload-mb: expected a number > 0"),
        (["--late-commit-delay", "-1"], "argument --late-commit-delay: expected a number of seconds >= 0"),
    ],
)
def test_a_bad_flag_is_one_line_and_status_2(flags: list[str], words: str) -> None:
    proc = tfbatch("gateway", "--port", "0", *flags)
    out, err = proc.communicate(timeout=60)
    assert (
        proc.returncode == 2
        and err.count("\n") == 1
        and err.startswith("tfbatch gateway: error: ")
        and words in err
    ), err
    assert "Traceback" not in err and "allow_remote=True" not in err and out == ""


def test_a_taken_port_is_one_line_and_status_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = tfbatch("gateway", "--port", str(taken.getsockname()[1]))
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err.count("\n") == 1 and "Address already in use" in err, err


def test_help_says_where_the_key_belongs() -> None:
    out, _ = tfbatch("gateway", "--help").communicate(timeout=60)
    text = " ".join(out.split())
    assert "process list" in text and "$TFBATCH_GATEWAY_KEY" in text
    assert "--max-upload-mb" in text and "--late-commit-delay" in text


@pytest.mark.parametrize("forward", [False, True], ids=["simulated", "forwarding-to-a-slow-upstream"])
def test_sigterm_stops_the_gateway_at_once(forward: bool, tmp_path: Path) -> None:
    """SIGTERM with a keep-alive client connected and a batch running (forwarded: lines stuck upstream)."""
    data = tmp_path / "data"
    slow = Upstream(delay=30) if forward else None
    argv = ["gateway", "--port", "0", "--data-dir", str(data), "--speed", "0.2"]
    if slow is not None:
        argv += ["--forward-to", slow.url]
    env = {"TFBATCH_GATEWAY_KEY": ""}  # none given: a random key, written to <data-dir>/api_key
    proc = tfbatch(*argv, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("tfbatch gateway serving http://127.0.0.1:") and "Ctrl-C" in banner, banner
        url = banner.split("serving ", 1)[1].split(" ", 1)[0]
        key = (data / "api_key").read_text().strip()
        with openai.OpenAI(
            base_url=url, api_key=key, max_retries=0, default_headers={"x-tfy-provider-name": "openai-main"}
        ) as client:  # one keep-alive connection for all these requests
            lines = b"".join(
                b'{"custom_id": "%d", "method": "POST", "url": "/v1/chat/completions", "body": '
                b'{"model": "openai-main/m", "messages": [{"role": "user", "content": "hi"}]}}\n' % i
                for i in range(20)
            )
            file_id = client.files.create(file=("in.jsonl", lines), purpose="batch").id
            batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
            deadline = time.monotonic() + 30
            while client.batches.retrieve(batch.id).status != "in_progress":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            if slow is not None:
                while not slow.in_flight:  # lines are waiting on the upstream
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - started
        assert proc.returncode == 0 and took < 3.0, (took, err)  # a hang, not a speed: ~0.3 s here
        assert "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if slow is not None:
            slow.close()
    wrong = [
        p for p in [data, *data.rglob("*")] if p.stat().st_mode & 0o777 != (0o700 if p.is_dir() else 0o600)
    ]
    assert not wrong and (data / "api_key").exists()
