"""Benchmark: build + write batch JSONL three ways in one process, and peak memory of chunked input.

Run: ``python bench/bench_build.py [--rows 100000] [--memory-rows 1000000] [--chunk 50000]``

1. seed-style loop: ``iterrows`` + ``json.dumps`` of each request + ``write`` per line
2. per-row ``json.dumps`` loop over column lists (no pandas per row)
3. ``tfbatch_nb.build_requests(...).to_jsonl(...)``

Prints rows/s of each and the ratios of ours against the two baselines (targets: >= 50x the seed
loop, >= 5x the json.dumps loop), then tracemalloc's peak for a chunked input of ``--memory-rows``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

import tfbatch_nb as tfb

MODEL = "openai-main/gpt-4o-mini"
SYSTEM = "You are a sentiment classifier. Answer with exactly one word: positive, negative or neutral."
PROMPT = "Classify the sentiment of this review: {text}"
WORDS = ["good", "bad", "great", "awful", "product", "works", "broke", "love", "hate", "fine", "quality", "price", "delivery", "fast", "slow", "recommend", "never", "again", "excellent", "poor", "value", "box", "battery", "screen", '"quoted"', "café", "naïve"]  # fmt: skip


def make_frame(rows: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rnd = random.Random(seed)
    texts = [" ".join(rnd.choices(WORDS, k=30)) for _ in range(rows)]
    return pd.DataFrame({"review_id": range(start, start + rows), "text": texts})


def seed_loop(df: pd.DataFrame, path: Path) -> None:
    with path.open("w") as f:
        for _, row in df.iterrows():
            line = {"custom_id": str(row["review_id"]), "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": MODEL, "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": PROMPT.format(text=row["text"])}], "max_tokens": 5}}  # fmt: skip
            f.write(json.dumps(line) + "\n")


def dumps_loop(df: pd.DataFrame, path: Path) -> None:
    ids, texts = df["review_id"].tolist(), df["text"].tolist()
    with path.open("w") as f:
        for i, t in zip(ids, texts, strict=True):
            line = {"custom_id": str(i), "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": MODEL, "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": PROMPT.format(text=t)}], "max_tokens": 5}}  # fmt: skip
            f.write(json.dumps(line) + "\n")


def ours(df: pd.DataFrame, path: Path) -> None:
    reqs = tfb.build_requests(
        df, model=MODEL, prompt=PROMPT, system=SYSTEM, id_column="review_id", max_tokens=5
    )
    reqs.to_jsonl(path)


def timed(fn: Callable[[pd.DataFrame, Path], None], df: pd.DataFrame, path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn(df, path)
        best = min(best, time.perf_counter() - t0)
    return best


def chunks(total: int, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, total, size):
        yield make_frame(min(size, total - start), seed=start, start=start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--memory-rows", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    args = ap.parse_args()
    df = make_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t_seed = timed(seed_loop, df, d / "seed.jsonl", 1)
        t_dumps = timed(dumps_loop, df, d / "dumps.jsonl", 3)
        t_ours = timed(ours, df, d / "ours.jsonl", 5)
        # ours respects max_lines=50,000, so 100,000 rows are two files ours-001.jsonl, ours-002.jsonl
        mine = [json.loads(x) for p in sorted(d.glob("ours*.jsonl")) for x in p.open()]
        same = [json.loads(x) for x in (d / "seed.jsonl").open()] == mine
        print(f"rows: {args.rows:,} (30-word reviews + system prompt); same requests: {same}")
        for name, t in (
            ("seed loop (iterrows+json.dumps)", t_seed),
            ("json.dumps loop", t_dumps),
            ("tfbatch_nb", t_ours),
        ):
            print(f"  {name:34s} {t:8.3f} s  {args.rows / t:>12,.0f} rows/s")
        print(f"  speed-up vs seed loop:        {t_seed / t_ours:6.1f}x (target >= 50x)")
        print(f"  speed-up vs json.dumps loop:  {t_dumps / t_ours:6.1f}x (target >= 5x)")

        for total in (args.memory_rows // 10, args.memory_rows):
            gc.collect()
            tracemalloc.start()
            t0 = time.perf_counter()
            reqs = tfb.build_requests(chunks(total, args.chunk), model=MODEL, prompt=PROMPT, system=SYSTEM,
                                      id_column="review_id", max_tokens=5)  # fmt: skip
            reqs.to_jsonl(d / "big.jsonl")
            elapsed = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"chunked {total:,} rows (chunks of {args.chunk:,}): {len(reqs.parts)} parts, "
                  f"{reqs.nbytes / 1e6:,.0f} MB on disk, peak Python memory {peak / 1e6:,.1f} MB, {elapsed:.1f} s")  # fmt: skip
            del reqs


if __name__ == "__main__":
    main()
