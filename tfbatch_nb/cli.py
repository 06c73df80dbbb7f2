"""The ``tfbatch`` command.

``tfbatch demo [--rows N]``
    The quickstart flow, headless: a frame of reviews -> requests -> the embedded local
    gateway -> wait -> the joined results table, printed. Needs no API key and no network.
``tfbatch gateway [--host] [--port] [--data-dir] [--api-key] [--forward-to URL] [--speed S] [--fault SPEC]``
    Serves the local gateway in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

__all__ = ["main"]

DEMO_MODEL = "openai-main/gpt-4o-mini"
DEMO_PROMPT = "Classify the sentiment of this review: {text}"
DEMO_SYSTEM = "Answer with one word: positive, negative or neutral."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfbatch",
        description="Batch predictions through the TrueFoundry AI Gateway (or the embedded local one).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the quickstart flow on the local gateway and print the table")
    demo.add_argument("--rows", type=int, default=20, help="how many sample reviews to send (default 20)")
    demo.add_argument(
        "--speed",
        default="max",
        help='gateway speed: "max" (default), or a multiplier of the tutorial pace (e.g. 1)',
    )

    gw = sub.add_parser("gateway", help="serve the local gateway in the foreground")
    gw.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    gw.add_argument("--port", type=int, default=8008, help="port (default 8008; 0 picks a free one)")
    gw.add_argument("--data-dir", default=None, help="folder for files and batch state (default: temporary)")
    gw.add_argument(
        "--api-key",
        default=None,
        help="bearer token clients must send (default: $TFBATCH_GATEWAY_KEY, else a random one written to <data-dir>/api_key, mode 0600)",
    )
    gw.add_argument("--forward-to", default=None, help="run each line against this OpenAI-compatible URL")
    gw.add_argument(
        "--forward-api-key", default=None, help="key for --forward-to (default: $FORWARD_API_KEY)"
    )
    gw.add_argument("--speed", default=None, help='"max", or a multiplier of the tutorial pace')
    gw.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[@ROUTE]=RATE",
        help="inject faults, e.g. http500@/batches=0.3 (repeatable)",
    )
    gw.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    return parser


def _speed(value: str | None) -> float | str | None:
    if value is None or value == "max":
        return value
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"tfbatch: --speed must be 'max' or a number, got {value!r}") from None


def _demo(rows: int, speed: float | str | None) -> int:
    import pandas as pd

    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews

    if rows < 1:
        print("tfbatch demo: --rows must be at least 1", file=sys.stderr)
        return 2
    df = load_reviews(rows)
    # A throw-away journal: the demo must not leave a .tfbatch/ folder wherever it is run.
    with (
        tempfile.TemporaryDirectory(prefix="tfbatch-demo-") as journal,
        tfb.connect(local=True, journal=journal, gateway_options={"speed": speed}) as gw,
    ):
        print(f"gateway: {gw!r}")
        reqs = tfb.build_requests(
            df, model=DEMO_MODEL, prompt=DEMO_PROMPT, system=DEMO_SYSTEM, id_column="review_id", max_tokens=5
        )
        print(f"requests: {len(reqs)} lines, {len(reqs.parts)} part(s)")
        batch = gw.submit(reqs, name="demo")
        batch.wait()
        print(f"batch: {batch!r}")
        table = batch.results(join=df)
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 48):
            print(
                table[["review_id", "text", "label", "status", "content", "total_tokens"]].to_string(
                    index=False
                )
            )
        done = int((table["status"] == "completed").sum())
        print(f"{done} of {len(table)} rows answered")
        return 0 if done == len(table) else 1


def _gateway(args: argparse.Namespace) -> int:
    from tfbatch_nb.gateway import serve

    serve(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        api_key=args.api_key or os.environ.get("TFBATCH_GATEWAY_KEY"),
        forward_to=args.forward_to,
        forward_api_key=args.forward_api_key or os.environ.get("FORWARD_API_KEY"),
        speed=_speed(args.speed),
        faults=list(args.fault),
        allow_remote=args.allow_remote,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tfbatch`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    int
        The process exit status.

    Examples
    --------
    >>> main(["demo", "--rows", "2", "--speed", "max"])
    gateway: <Gateway local simulated gateway http://127.0.0.1:.../api/llm provider='openai-main'>
    requests: 2 lines, 1 part(s)
    ...
    2 of 2 rows answered
    0
    """
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args.rows, _speed(args.speed))
    return _gateway(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
