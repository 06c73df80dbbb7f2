"""Benchmark: a 50,000-line batch through the local gateway at speed="max", upload to downloaded output.

Printed as a ratio to the baseline: reading, parsing (orjson) and writing the same lines once in
this process. Target: within 3x. Run: ``python bench/bench_gateway.py [--lines N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import openai
import orjson

from tfbatch_nb.gateway import LocalGateway

REVIEWS = [
    "I love this, works great",
    "Terrible, broke after a day",
    "It is fine I guess",
    "Best purchase ever",
]


def make_input(path: Path, n: int) -> None:
    with open(path, "wb") as fh:
        for i in range(n):
            body = {
                "model": "openai-main/gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Answer with one word."},
                    {
                        "role": "user",
                        "content": f"Classify the sentiment of this review: {REVIEWS[i % 4]} #{i}",
                    },
                ],
                "max_tokens": 5,
            }
            line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
            fh.write(orjson.dumps(line) + b"\n")


def baseline(src: Path, dst: Path) -> float:
    start = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for raw in fin:
            fout.write(orjson.dumps(orjson.loads(raw)) + b"\n")
    return time.perf_counter() - start


def through_gateway(src: Path, dst: Path) -> tuple[float, int]:
    with LocalGateway(speed="max") as gw:
        client = openai.OpenAI(
            base_url=gw.url, api_key=gw.api_key, default_headers={"x-tfy-provider-name": "openai-main"}
        )
        start = time.perf_counter()
        with open(src, "rb") as fh:
            file_id = client.files.create(file=("bench.jsonl", fh), purpose="batch").id
        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        while batch.status not in ("completed", "failed", "expired", "cancelled"):
            time.sleep(0.01)
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed" and batch.output_file_id, batch
        with client.files.with_streaming_response.content(batch.output_file_id) as resp:
            resp.stream_to_file(dst)
        elapsed = time.perf_counter() - start
        client.close()
    with open(dst, "rb") as fh:
        lines = sum(1 for _ in fh)
    return elapsed, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for both sides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        make_input(src, args.lines)
        base = min(baseline(src, out) for _ in range(args.repeat))
        runs = [through_gateway(src, out) for _ in range(args.repeat)]
        best = min(t for t, _ in runs)
        assert all(n == args.lines for _, n in runs)
        print(f"lines: {args.lines}, input {src.stat().st_size / 2**20:.1f} MiB")
        print(f"baseline read+parse+write: {base:.3f} s")
        print(f"gateway upload->create->complete->download: {best:.3f} s")
        print(f"ratio: {best / base:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
