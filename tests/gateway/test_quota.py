"""The enqueued-token limit (OpenAI's per-model batch quota), over real HTTP with the openai SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_helpers import MODEL, chat_line, make_client, read_lines, run, submit, wait

from tfbatch_nb.gateway import LocalGateway, prompt_tokens
from tfbatch_nb.gateway._simulator import simulate

TERMINAL = ("completed", "failed", "expired", "cancelled")
# 10 lines of 40 characters: 10 prompt tokens each, 100 a batch; two batches do not fit in 150.
LINES = [chat_line(i, f"Say something about item number {i:07d}.") for i in range(10)]
LIMIT = 150


def refusal(model: str, limit: int) -> dict[str, Any]:
    message = (
        f"Enqueued token limit reached for {model} in organization org-local. Limit: {limit} enqueued tokens."
        " Please try submitting your batch again later."
    )
    return {
        "object": "list",
        "data": [{"code": "token_limit_exceeded", "message": message, "line": None, "param": None}],
    }


def assert_refused(batch: Any, model: str = MODEL, limit: int = LIMIT) -> None:
    assert batch.status == "failed", batch
    assert batch.errors.model_dump() == refusal(model, limit)
    assert batch.output_file_id is None and batch.error_file_id is None


def test_the_gateway_counts_what_the_simulated_model_reports() -> None:
    parts = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": "x"}}]
    bodies = {
        "/v1/chat/completions": [
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi there"},
                ]
            },
            {"messages": [{"role": "user", "content": parts}], "n": 3},
            {"messages": [{"role": "user", "content": ""}]},
        ],
        "/v1/completions": [{"prompt": "abcdefghi"}, {"prompt": ["a", "bcdef", "g" * 13]}],
        "/v1/responses": [
            {"input": "Sentiment: great"},
            {
                "input": [{"role": "user", "content": "one"}, "odd", {"content": parts}],
                "instructions": "Be kind",
            },
        ],
        "/v1/embeddings": [{"input": "abcde"}, {"input": ["abc", "defghij"]}, {"input": [5, 6, 7]}],
    }
    for endpoint, cases in bodies.items():
        for body in cases:
            usage = simulate(endpoint, {"model": "m", **body})["usage"]
            assert prompt_tokens(endpoint, body) == usage.get("prompt_tokens", usage.get("input_tokens")), (
                body
            )
    assert prompt_tokens("/v1/chat/completions", {"messages": []}) == 0  # refused by the model: no usage


def test_a_batch_that_does_not_fit_fails_while_the_first_runs_and_fits_once_it_ended() -> None:
    with LocalGateway(speed=1.0, enqueued_token_limit=LIMIT) as gw:
        client = make_client(gw, max_retries=0)
        first = submit(client, LINES)
        second = submit(client, LINES)
        assert second.status == "validating"  # accepted at create, as OpenAI does
        assert_refused(wait(client, second.id))
        assert client.batches.retrieve(first.id).status not in TERMINAL  # refused while the first holds
        done = wait(client, first.id)
        assert done.status == "completed" and done.usage is not None
        assert done.usage.input_tokens == 100  # the count the limit used is the usage reported
        third = wait(client, submit(client, LINES).id)
        assert third.status == "completed" and len(read_lines(client, third.output_file_id)) == 10


def test_the_limit_is_per_model() -> None:
    with LocalGateway(speed=2.0, enqueued_token_limit=LIMIT) as gw:
        client = make_client(gw, max_retries=0)
        mini = submit(client, LINES)
        big = submit(
            client,
            [
                chat_line(i, f"Say something about item number {i:07d}.", model="openai-main/gpt-4o")
                for i in range(10)
            ],
        )
        again = submit(client, LINES)
        assert wait(client, mini.id).status == "completed"
        assert wait(client, big.id).status == "completed"
        assert_refused(wait(client, again.id))


def test_the_count_is_inclusive_and_exact() -> None:
    """100 tokens fit a limit of 100 and not one of 99: the client can predict the count exactly."""
    for limit, status in ((100, "completed"), (99, "failed")):
        with LocalGateway(speed="max", enqueued_token_limit=limit) as gw:
            client = make_client(gw, max_retries=0)
            batch = run(client, LINES)
            assert batch.status == status
            if status == "failed":
                assert_refused(batch, limit=limit)


def test_the_token_limit_fault_fails_a_batch_whatever_the_limit() -> None:
    with LocalGateway(speed="max", faults=["token_limit@/v1/chat/completions=1#1"]) as gw:
        client = make_client(gw, max_retries=0)
        assert_refused(run(client, LINES), limit=0)  # no limit configured: it reads 0
        assert run(client, LINES).status == "completed"  # the fault fired once
    with LocalGateway(speed="max", enqueued_token_limit=10**6, faults=["token_limit=1"]) as gw:
        assert_refused(run(make_client(gw, max_retries=0), LINES), limit=10**6)


def test_batches_past_validating_hold_their_tokens_again_after_a_restart(tmp_path: Path) -> None:
    with LocalGateway(speed=0.5, data_dir=tmp_path, enqueued_token_limit=LIMIT) as gw:
        client = make_client(gw, max_retries=0)
        first = submit(client, LINES)
        wait(client, first.id, until=("in_progress",))
    with LocalGateway(speed=0.5, data_dir=tmp_path, enqueued_token_limit=LIMIT) as gw:
        client = make_client(gw, max_retries=0)
        assert_refused(wait(client, submit(client, LINES).id))
        assert wait(client, first.id).status == "completed"


@pytest.mark.parametrize("value", ["0", "-5", "many", "1.5"])
def test_a_bad_limit_on_the_command_line_is_a_one_line_error(value: str) -> None:
    argv = [sys.executable, "-m", "tfbatch_nb", "gateway", "--port", "0", "--enqueued-token-limit", value]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr
    assert "--enqueued-token-limit" in errors[0] and "whole number >= 1" in errors[0]


def test_the_limit_from_the_command_line(tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "tfbatch_nb", "gateway", "--port", "0", "--data-dir", str(tmp_path),
        "--api-key", "k", "--speed", "1", "--enqueued-token-limit", str(LIMIT),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("serving ", 1)[1].split(" ", 1)[0]
        client = openai.OpenAI(
            base_url=url, api_key="k", max_retries=0, default_headers={"x-tfy-provider-name": "openai-main"}
        )
        first, second = submit(client, LINES), submit(client, LINES)
        assert_refused(wait(client, second.id))
        assert wait(client, first.id).status == "completed"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "100"])
def test_a_bad_limit_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="enqueued_token_limit"):
        LocalGateway(enqueued_token_limit=value)
