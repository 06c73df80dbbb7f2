"""``tfbatch gateway``: the forwarding flags, their one-line errors, and a forwarding server run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest
from gateway_helpers import Upstream

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
