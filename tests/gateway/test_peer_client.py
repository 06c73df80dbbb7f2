"""A peer client nobody here wrote, `openai-batch`, runs its whole flow against the gateway."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from gateway_helpers import make_client

from tfbatch_nb.gateway import LocalGateway

openai_batch = pytest.importorskip("openai_batch")


def test_openai_batch_flow(gw: LocalGateway, tmp_path: Path) -> None:
    from openai_batch.batch import Batch
    from openai_batch.providers import Provider

    provider = Provider(name="tfy", display_name="TrueFoundry (local)", base_url=gw.url, api_key=gw.api_key)
    provider._client = make_client(gw)  # its documented cache: a client with our x-tfy-* headers
    source = tmp_path / "in.jsonl"
    # openai-batch 0.3.4 closes the file it wrote before reading it back in submit(), so build the
    # input with its add_to_batch first, then submit the finished file (its own flow, unchanged).
    with Batch(submission_input_file=source, provider=provider) as writer:
        for text in ("I love it", "terrible"):
            writer.add_to_batch(
                model="openai-main/gpt-4o-mini", messages=[{"role": "user", "content": f"Sentiment: {text}"}]
            )
    batch = Batch(
        submission_input_file=source,
        output_file=tmp_path / "out.jsonl",
        error_file=tmp_path / "err.jsonl",
        provider=provider,
    )
    result, output_path, error_path = batch.submit_wait_download(interval=0.05)
    assert result.status == "completed" and error_path is None
    lines = [orjson.loads(x) for x in Path(output_path).read_bytes().splitlines() if x]
    answers = {x["custom_id"]: x["response"]["body"]["choices"][0]["message"]["content"] for x in lines}
    assert answers == {"line-1": "[simulated] positive", "line-2": "[simulated] negative"}
