"""Benchmark: a big job under an enqueued-token quota, end to end, as a user runs it.

200,000 rows in 10 parts through the local gateway (a separate process, at ``--speed max``) with a
quota that fits 3 parts at once: the job is submitted with ``max_enqueued_tokens``, waited for and
read into the results frame. Printed: wall time, the requests the client made (by kind), the
client's peak RSS against the final frame's size (target: peak <= 3x the frame + 400 MB) and the
check that every row came back exactly once. Run: ``python bench/bench_scale.py [--rows N]
[--parts P] [--fit F]``; ``--rows 1000000 --parts 20`` for the big one.

Not a test: machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import openai
import pandas as pd

import tfbatch_nb as tfb
from tfbatch_nb.build import estimate_lines

WORDS = [
    "great",
    "awful",
    "fine",
    "broken",
    "love",
    "returned",
    "cheap",
    "sturdy",
    "slow",
    "fast",
    "quiet",
    "loud",
]


def frame(rows: int) -> pd.DataFrame:
    texts = [f"review {i}: {WORDS[i % 12]} {WORDS[(i * 7) % 12]} and {WORDS[(i * 5) % 12]}" * (1 + i % 3)
             for i in range(rows)]  # fmt: skip
    return pd.DataFrame({"review_id": [f"r{i:07d}" for i in range(rows)], "text": texts})


def start_gateway(limit: int, folder: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = secrets.token_hex(16)
    env = {**os.environ, "TFBATCH_GATEWAY_KEY": key}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfbatch_nb", "gateway", "--port", str(port), "--speed", "max",
         "--data-dir", str(folder), "--enqueued-token-limit", str(limit)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/llm"
    for _ in range(200):
        try:
            urllib.request.urlopen(
                urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {key}"})
            )
            break
        except Exception:
            time.sleep(0.1)
    return proc, url, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--fit", type=int, default=3, help="how many parts the quota holds at once")
    args = parser.parse_args()

    df = frame(args.rows)
    reqs = tfb.build_requests(df, model="openai-main/gpt-4o-mini", prompt="Classify: {text}", system="One word.",
                              id_column="review_id", max_tokens=5, max_lines=-(-args.rows // args.parts))  # fmt: skip
    per_part = []
    for part in reqs.parts:
        with part.open() as fh:
            per_part.append(estimate_lines(fh, endpoint=reqs.endpoint, model=reqs.model).prompt_tokens)
    budget = sum(sorted(per_part)[-args.fit :])  # the largest parts: any `fit` of them fit
    seen: collections.Counter[str] = collections.Counter()

    def count(request: object) -> None:
        method, path = request.method, request.url.path  # type: ignore[attr-defined]
        kind = (
            "poll"
            if method == "GET" and "/batches/" in path
            else f"{method} {path.rsplit('/api/llm', 1)[-1]}"
        )
        seen["file content" if path.endswith("/content") else kind] += 1

    with tempfile.TemporaryDirectory() as tmp:
        proc, url, key = start_gateway(budget, Path(tmp) / "gateway")
        try:
            http = openai.DefaultHttpxClient(event_hooks={"request": [count]})
            with tfb.connect(url, key, journal=Path(tmp) / "journal", http_client=http) as gw:
                started = time.perf_counter()
                batch = gw.submit(reqs, name="scale", max_enqueued_tokens=budget)
                queued_at_start = int((batch.parts()["status"] == "queued").sum())
                res = batch.wait(progress=False).results()
                wall = time.perf_counter() - started
                parts = batch.parts()
        finally:
            proc.terminate()
            proc.wait(10)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frame_mb = res.memory_usage(deep=True).sum() / 2**20
    once = len(res) == args.rows and res.index.is_unique and res["status"].eq("completed").all()
    print(
        f"rows {args.rows:,} in {len(reqs.parts)} parts; quota {budget:,} tokens = the {args.fit} largest parts"
    )
    print(f"queued at submit: {queued_at_start} parts; quota retries: {int(parts['quota retries'].sum())}")
    print(f"wall time, submit to results frame: {wall:.1f} s")
    print(f"requests: {sum(seen.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(seen.items()))})")
    print(f"client peak RSS {peak_mb:,.0f} MB; results frame {frame_mb:,.0f} MB; "
          f"target <= {3 * frame_mb + 400:,.0f} MB: {'OK' if peak_mb <= 3 * frame_mb + 400 else 'OVER'}")  # fmt: skip
    print(f"every row exactly once, completed: {'yes' if once else 'NO'}")


if __name__ == "__main__":
    main()
