"""Benchmark: build + write batch JSONL three ways in one process, and peak memory of chunked input.

Run: ``python bench/bench_build.py [--rows 100000] [--memory-rows 1000000] [--chunk 50000]``

1. seed-style loop: ``iterrows`` + ``json.dumps`` of each request + ``write`` per line
2. per-row ``json.dumps`` loop over column lists (no pandas per row)
3. ``tfbatch_nb.build_requests(...).to_jsonl(...)``

Prints rows/s of each and the ratios of ours against the two baselines (targets: >= 50x the seed
loop, >= 5x the json.dumps loop), the time of ours for the same rows given as a pyarrow Table and as
a polars DataFrame (when polars is installed) as ratios to the pandas frame, then the peak memory (tracemalloc's Python peak plus Arrow's pool peak, in a fresh process) for
a chunked input of ``--memory-rows``.

Fairness: every method runs ``--repeat`` times, in interleaved rounds (so load from other processes
hits all three alike), each into a fresh path (the previous output is deleted outside the timer, so
no run pays for truncating the last one), and the figures are medians of wall and of CPU time
(user + system of this process, which is steadier than wall on a shared machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

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


def timed(fn: Callable[[Any, Path], None], df: Any, path: Path) -> tuple[float, float]:
    """One run: (wall s, CPU s); the output of the previous run is removed first, untimed."""
    for old in path.parent.glob(f"{path.stem}*"):
        old.unlink()
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    fn(df, path)
    return time.perf_counter() - t0, time.process_time() - c0


def chunks(total: int, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, total, size):
        yield make_frame(min(size, total - start), seed=start, start=start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--memory-rows", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--memory-only", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_only:
        memory_only(args.memory_only, args.chunk)
        return
    df = make_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        methods = {
            "seed loop (iterrows+json.dumps)": seed_loop,
            "json.dumps loop": dumps_loop,
            "tfbatch_nb": ours,
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
        for _ in range(args.repeat):
            for name, fn in methods.items():
                runs[name].append(timed(fn, df, d / f"{fn.__name__}.jsonl"))
        wall = {name: statistics.median(w for w, _ in r) for name, r in runs.items()}
        cpu = {name: statistics.median(c for _, c in r) for name, r in runs.items()}
        # ours respects max_lines=50,000, so 100,000 rows are two files ours-001.jsonl, ours-002.jsonl
        mine = [json.loads(x) for p in sorted(d.glob("ours*.jsonl")) for x in p.open()]
        same = [json.loads(x) for x in (d / "seed_loop.jsonl").open()] == mine
        print(f"rows: {args.rows:,} (30-word reviews + system prompt); same requests: {same}; "
              f"medians of {args.repeat} interleaved runs")  # fmt: skip
        for name in methods:
            print(f"  {name:34s} wall {wall[name]:7.3f} s {args.rows / wall[name]:>11,.0f} rows/s"
                  f" | CPU {cpu[name]:7.3f} s")  # fmt: skip
        seed, dumps_, me = methods
        for label, base, target in (("seed loop", seed, 50), ("json.dumps loop", dumps_, 5)):
            print(f"  speed-up vs {label + ':':17s} wall {wall[base] / wall[me]:5.1f}x, "
                  f"CPU {cpu[base] / cpu[me]:5.1f}x (target >= {target}x)")  # fmt: skip
        arrow_inputs(df, d, args.repeat)

    for total in (args.memory_rows // 10, args.memory_rows) if args.memory_rows else ():  # 0: skip
        # A fresh process each, so Arrow's pool peak (which tracemalloc cannot see) is this run's own.
        subprocess.run(
            [sys.executable, __file__, "--memory-only", str(total), "--chunk", str(args.chunk)], check=True
        )


def arrow_inputs(df: pd.DataFrame, d: Path, repeat: int) -> None:
    """Ours on the same rows as a pandas frame, a pyarrow Table and a polars DataFrame (if installed).

    The conversions happen before the timer: the figures are those of ``build_requests`` itself.
    """
    forms: dict[str, Any] = {
        "pandas DataFrame": df,
        "pyarrow Table": pa.Table.from_pandas(df, preserve_index=False),
    }
    try:
        import polars as pl  # optional: only this line of the bench needs it
    except ImportError:
        pl = None
    if pl is not None:
        forms["polars DataFrame"] = pl.from_pandas(df)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in forms}
    shas: dict[str, str] = {}
    for _ in range(repeat):
        for i, (name, data) in enumerate(forms.items()):
            runs[name].append(timed(ours, data, d / f"form{i}.jsonl"))
            shas[name] = "".join(sorted(p.read_text() for p in d.glob(f"form{i}*.jsonl")))
    same = len(set(shas.values())) == 1
    base = runs["pandas DataFrame"]
    print(f"  the same rows from other inputs (same bytes: {same}; ratio = time / pandas frame's time):")
    for name, r in runs.items():
        w, c = statistics.median(x for x, _ in r), statistics.median(x for _, x in r)
        bw, bc = statistics.median(x for x, _ in base), statistics.median(x for _, x in base)
        print(f"    {name:32s} wall {w:7.3f} s ({w / bw:4.2f}x) | CPU {c:7.3f} s ({c / bc:4.2f}x)")
    if pl is None:
        print("    polars DataFrame: not installed (pip install polars)")


def memory_only(total: int, chunk: int) -> None:
    """Build ``total`` rows from chunks into a file and print the peak of Python and Arrow memory."""
    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        reqs = tfb.build_requests(chunks(total, chunk), model=MODEL, prompt=PROMPT, system=SYSTEM,
                                  id_column="review_id", max_tokens=5)  # fmt: skip
        reqs.to_jsonl(Path(tmp) / "big.jsonl")
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        arrow = pa.default_memory_pool().max_memory()
        print(f"chunked {total:,} rows (chunks of {chunk:,}): {len(reqs.parts)} parts, "
              f"{reqs.nbytes / 1e6:,.0f} MB on disk, peak memory {peak / 1e6:,.1f} MB Python "
              f"+ {arrow / 1e6:,.1f} MB Arrow, {elapsed:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
