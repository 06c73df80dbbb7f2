"""Benchmark: parse a batch output file three ways, in one process, and print the ratios.

1. ``pd.read_json(lines=True)`` + ``pd.json_normalize`` (what a notebook user writes first),
2. a ``json.loads`` loop building row dicts, then ``pd.DataFrame``,
3. ``tfbatch_nb.read_results``.

Targets (issue 5): read_results >= 20x pandas and >= 3x the loop on 200,000 lines, with equal
values in the key columns; and a peak traced memory, for 1,000,000 lines, of at most twice the
final frame (``DataFrame.memory_usage(deep=True)``).

Run::

    python bench/bench_results.py                  # 200,000 lines + the 1,000,000-line memory run
    python bench/bench_results.py --lines 50000 --memory-lines 0
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from tfbatch_nb.results import _read, read_results

WORDS = [
    "the",
    "service",
    "was",
    "quick",
    "and",
    "friendly",
    "but",
    "the",
    "food",
    "arrived",
    "cold",
    "and",
    "the",
    "manager",
    "apologised",
    "politely",
    "offering",
    "a",
    "discount",
    "next",
    "time",
    "which",
    "we",
    "gladly",
    "accepted",
    "overall",
    "positive",
    "experience",
]
KEY_COLUMNS = [
    "status_code",
    "content",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "request_id",
]


def make_file(path: Path, n: int, *, seed: int = 0) -> None:
    """Write ``n`` successful chat-completion output lines shaped like the gateway's."""
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        buf: list[bytes] = []
        for i in range(n):
            words = rng.randint(5, 40)
            text = " ".join(rng.choice(WORDS) for _ in range(words))
            pt = rng.randint(10, 400)
            body = {
                "id": f"chatcmpl-{i:024x}",
                "object": "chat.completion",
                "created": 1764300000 + i,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                        "logprobs": None,
                        "finish_reason": "stop" if words < 38 else "length",
                    }
                ],
                "usage": {"prompt_tokens": pt, "completion_tokens": words, "total_tokens": pt + words},
                "system_fingerprint": "fp_simulated",
            }
            line = {
                "id": f"batch_req_{i:016x}",
                "custom_id": f"row-{i}",
                "response": {"status_code": 200, "request_id": f"req_{i:020x}", "body": body},
                "error": None,
            }
            buf.append(orjson.dumps(line))
            if len(buf) >= 10_000:
                fh.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            fh.write(b"\n".join(buf) + b"\n")


def with_pandas(path: Path) -> pd.DataFrame:
    raw = pd.read_json(path, lines=True, dtype=False)
    flat = pd.json_normalize(raw.to_dict("records"))
    first = flat["response.body.choices"].map(lambda c: c[0])
    return pd.DataFrame(
        {
            "status_code": flat["response.status_code"],
            "content": first.map(lambda c: c["message"]["content"]),
            "finish_reason": first.map(lambda c: c["finish_reason"]),
            "prompt_tokens": flat["response.body.usage.prompt_tokens"],
            "completion_tokens": flat["response.body.usage.completion_tokens"],
            "total_tokens": flat["response.body.usage.total_tokens"],
            "request_id": flat["response.request_id"],
        }
    ).set_axis(pd.Index(flat["custom_id"].astype(str), name="custom_id"))


def with_loop(path: Path) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            d = json.loads(line)
            resp = d.get("response") or {}
            body = resp.get("body") or {}
            choice = (body.get("choices") or [{}])[0]
            usage = body.get("usage") or {}
            rows.append(
                {
                    "custom_id": d["custom_id"],
                    "status_code": resp.get("status_code"),
                    "content": (choice.get("message") or {}).get("content"),
                    "finish_reason": choice.get("finish_reason"),
                    "prompt_tokens": usage.get("prompt_tokens"),
                    "completion_tokens": usage.get("completion_tokens"),
                    "total_tokens": usage.get("total_tokens"),
                    "request_id": resp.get("request_id"),
                    "error": d.get("error"),
                }
            )
    return pd.DataFrame(rows).set_index("custom_id")


def with_tfbatch(path: Path) -> pd.DataFrame:
    return read_results(path)


def median_of(fn: Callable[[Path], pd.DataFrame], path: Path, repeat: int) -> tuple[float, pd.DataFrame]:
    """Median wall time of ``repeat`` calls (the machine is shared: the minimum flatters)."""
    times, out = [], pd.DataFrame()
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def check_equal(ref: pd.DataFrame, got: pd.DataFrame, name: str) -> None:
    assert list(ref.index) == list(got.index), f"{name}: index differs"
    for col in KEY_COLUMNS:
        a, b = ref[col].tolist(), got[col].tolist()
        assert a == b, f"{name}: column {col} differs"


def _arrow_peak() -> int:
    """High-water mark of pyarrow's memory pool (0 without pyarrow), which tracemalloc misses."""
    pa = sys.modules.get("pyarrow")
    return int(pa.default_memory_pool().max_memory()) if pa is not None else 0


def memory_run(path: Path) -> tuple[int, int, int]:
    """(peak traced bytes, peak pyarrow pool bytes, final frame bytes) for one read_results call.

    The two peaks are added in the ratio: an upper bound of the real peak, since they need not
    happen at the same moment. Run first in a fresh process so no earlier run sets the arrow mark.
    """
    gc.collect()
    tracemalloc.start()
    frame = read_results(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = int(frame.memory_usage(deep=True, index=True).sum())
    return peak, _arrow_peak(), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--memory-lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--orjson-only", action="store_true", help="read line by line (FAST_PATH off)")
    args = ap.parse_args()
    if args.orjson_only:
        _read.FAST_PATH = False
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "output.jsonl"
        if args.memory_lines:  # first, so the arrow pool's high-water mark is this run's alone
            make_file(path, args.memory_lines, seed=1)
            peak, arrow_peak, size = memory_run(path)
            print(
                f"memory, {args.memory_lines:,} lines: peak {peak / 2**20:,.0f} MiB traced"
                f" + {arrow_peak / 2**20:,.0f} MiB pyarrow pool, frame {size / 2**20:,.0f} MiB,"
                f" ratio {(peak + arrow_peak) / size:.2f} (target <= 2)"
            )
        make_file(path, args.lines)
        mb = path.stat().st_size / 2**20
        print(f"{args.lines:,} lines, {mb:.1f} MiB")
        t_pd, df_pd = median_of(with_pandas, path, 1)  # tens of seconds per repeat: once is enough
        t_loop, df_loop = median_of(with_loop, path, args.repeat)
        t_tfb, df_tfb = median_of(with_tfbatch, path, args.repeat)
        check_equal(df_loop, df_tfb, "read_results vs loop")
        check_equal(df_pd, df_tfb, "read_results vs pandas")
        assert (df_tfb["status"] == "completed").all()
        for name, t in (
            ("pandas read_json+json_normalize", t_pd),
            ("json.loads loop", t_loop),
            ("read_results", t_tfb),
        ):
            print(f"  {name:34s} {t:7.3f} s  {args.lines / t:>11,.0f} lines/s")
        print(
            f"  read_results speed-up: {t_pd / t_tfb:5.1f}x pandas (target >= 20x), {t_loop / t_tfb:4.1f}x loop (target >= 3x)"
        )


if __name__ == "__main__":
    main()
