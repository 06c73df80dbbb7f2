"""Benchmark: how much a watcher polling a running batch slows a CPU-bound cell.

The user keeps working while the panel follows a job in a background thread. That thread shares
the GIL with the user's code, so its cost must stay small. This times a pure-Python CPU-bound
function with and without a watcher (plus a live ``StatusPanel`` listening to it) polling a
batch that keeps running for the whole measurement, and prints the slowdown ratio.

The gateway runs in a separate process, as a real gateway would: its own work must not be
charged to the watcher. Rounds alternate (without, with, without, ...) so drift in machine load
hits both sides; the ratio compares the best round of each. Target: ratio <= 1.05.

Run: ``python bench/bench_watch.py [--rounds 5] [--work 15000000]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd

import tfbatch_nb as tfb
from tfbatch_nb.ui import widgets

LINES = 2000


def cpu_bound(n: int) -> int:
    """Pure-Python arithmetic: holds the GIL the whole time, like a busy notebook cell."""
    total = 0
    for i in range(n):
        total += (i * i) % 7
    return total


def timed(n: int) -> float:
    start = time.perf_counter()
    cpu_bound(n)
    return time.perf_counter() - start


def start_gateway(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = secrets.token_hex(16)
    env = dict(os.environ, TFBATCH_GATEWAY_KEY=key)  # in the environment, not on the command line
    # speed 0.5 with 2,000 lines: 2 s validating, then ~40 s of counts growing at every poll, so the
    # watcher polls at its fastest (progress resets its backoff) for the whole measurement.
    cmd = [sys.executable, "-m", "tfbatch_nb", "gateway", "--port", str(port), "--speed", "0.5"]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(workdir / "gw")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers: up (the route may need auth or not exist)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("the gateway did not start") from None
            time.sleep(0.2)
    return proc, f"{base}/api/llm", key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--work", type=int, default=15_000_000, help="loop iterations of the CPU-bound function"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        proc, url, key = start_gateway(Path(tmp))
        try:
            gw = tfb.connect(url, key, journal=Path(tmp) / "journal")
            df = pd.DataFrame(
                {"id": [f"r{i}" for i in range(LINES)], "text": [f"review {i}" for i in range(LINES)]}
            )
            reqs = tfb.build_requests(
                df,
                model="openai-main/gpt-4o-mini",
                prompt="Sentiment of: {text}",
                id_column="id",
                max_tokens=5,
            )
            batch = gw.submit(reqs, name="bench-watch")
            panel = widgets.StatusPanel(batch)  # a live panel listening, as in a notebook
            while batch.refresh().status != "in_progress":  # measure while counts move
                time.sleep(0.2)
            timed(args.work // 10)  # warm up
            without: list[float] = []
            with_watch: list[float] = []
            for _ in range(args.rounds):
                without.append(timed(args.work))
                handle = panel.watch()
                time.sleep(0.5)  # let the watcher make its first polls
                with_watch.append(timed(args.work))
                handle.stop()
            snap = batch.snapshot()
            if snap.terminal:
                print("warning: the batch ended during the benchmark", file=sys.stderr)
            ratio = min(with_watch) / min(without)
            print(f"cpu-bound without watcher: best {min(without):.3f} s of {args.rounds}")
            print(f"cpu-bound with watcher:    best {min(with_watch):.3f} s of {args.rounds}")
            print(
                f"watcher polls made: {snap.polls}; batch status {snap.status} {snap.completed}/{snap.total}"
            )
            print(f"slowdown ratio: {ratio:.3f} (target <= 1.05) {'OK' if ratio <= 1.05 else 'OVER'}")
            gw.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
