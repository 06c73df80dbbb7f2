"""The ``tfbatch`` command.

``tfbatch --version``
    Prints ``tfbatch_nb <version>``.
``tfbatch demo [--rows N]``
    The quickstart flow, headless: a frame of reviews -> requests -> the embedded local
    gateway -> wait -> the joined results table, printed. Needs no API key and no network.
``tfbatch gateway [--host] [--port] [--data-dir] [--speed S] [--fault SPEC] [--max-upload-mb N] [--enqueued-token-limit N]``
    Serves the local gateway in the foreground until Ctrl-C or SIGTERM (it stops within about a
    second). The bearer token comes from ``$TFBATCH_GATEWAY_KEY`` (``--api-key`` works too, but
    shows the key in the process list). With ``--forward-to URL [--forward-api-key-env NAME]
    [--forward-model IN=OUT ...] [--concurrency N]`` each request goes on to that real-time
    OpenAI-compatible server (vLLM, Ollama, a litellm proxy).

A bad flag is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__

__all__ = ["main"]

DEMO_MODEL = "openai-main/gpt-4o-mini"
DEMO_PROMPT = "Classify the sentiment of this review: {text}"
DEMO_SYSTEM = "Answer with one word: positive, negative or neutral."


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what is wrong, and where the usage is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tfbatch",
        description="Batch predictions through the TrueFoundry AI Gateway (or the embedded local one).",
    )
    parser.add_argument("--version", action="version", version=f"tfbatch_nb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the quickstart flow on the local gateway and print the table")
    demo.add_argument(
        "--rows", type=_positive, default=20, metavar="N", help="how many sample reviews to send (default 20)"
    )
    demo.add_argument(
        "--speed",
        default="max",
        type=_speed,
        help='gateway speed: "max" (default), or a multiplier of the tutorial pace (e.g. 1)',
    )

    gw = sub.add_parser("gateway", help="serve the local gateway in the foreground")
    gw.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    gw.add_argument("--port", type=_port, default=8008, help="port (default 8008; 0 picks a free one)")
    gw.add_argument(
        "--data-dir",
        default=None,
        help="folder for files and batch state, made 0700 (default: a temporary one)",
    )
    gw.add_argument(
        "--api-key",
        default=None,
        help="bearer token clients must send. Visible to every user in the process list (ps): prefer "
        "the environment variable $TFBATCH_GATEWAY_KEY. Default: $TFBATCH_GATEWAY_KEY, else a random "
        "one written to <data-dir>/api_key (mode 0600)",
    )
    gw.add_argument(
        "--forward-to", default=None, metavar="URL", help="send each request on to this OpenAI-compatible URL"
    )
    key = gw.add_mutually_exclusive_group()
    key.add_argument(
        "--forward-api-key",
        default=None,
        help="key for --forward-to (default: $FORWARD_API_KEY); visible in the process list, prefer --forward-api-key-env",
    )
    key.add_argument(
        "--forward-api-key-env", default=None, metavar="NAME", help="read the key for --forward-to from $NAME"
    )
    gw.add_argument(
        "--forward-model",
        action="append",
        default=[],
        type=_model_pair,
        metavar="IN=OUT",
        help="send model IN upstream as OUT, e.g. openai-main/fast=llama3.1:8b (repeatable; "
        "default: drop the provider/ prefix)",
    )
    gw.add_argument(
        "--concurrency",
        type=_positive,
        default=None,
        metavar="N",
        help="requests in flight upstream at once (default 8)",
    )
    gw.add_argument("--speed", default=None, type=_speed, help='"max", or a multiplier of the tutorial pace')
    gw.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault,
        metavar="KIND[@ROUTE]=RATE",
        help="inject faults, e.g. http500@/batches=0.3 or late_commit@POST /batches=1#1 (repeatable)",
    )
    gw.add_argument(
        "--late-commit-delay",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how long after its 504 a late_commit fault carries the request out (default 2)",
    )
    gw.add_argument(
        "--max-upload-mb",
        type=_positive_number,
        default=512,
        metavar="MB",
        help="refuse larger uploads with 413 (default 512, as TrueFoundry)",
    )
    gw.add_argument(
        "--enqueued-token-limit",
        type=_positive,
        default=None,
        metavar="N",
        help="input tokens the unfinished batches of one model may hold, as OpenAI's quota: a batch "
        "past it fails with token_limit_exceeded (default: no limit)",
    )
    gw.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    gw.set_defaults(error=gw.error)  # errors found after parsing print this command's usage
    return parser


def _model_pair(value: str) -> tuple[str, str]:
    name, sep, upstream = value.partition("=")
    if not sep or not name.strip() or not upstream.strip():
        raise argparse.ArgumentTypeError(
            f"expected IN=OUT, e.g. openai-main/gpt-4o-mini=gpt-4o-mini, got {value!r}"
        )
    return name.strip(), upstream.strip()


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port number 0-65535 (0 picks a free one), got {value!r}"
        )
    return port


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    return number if math.isfinite(number) else math.nan


def _positive_number(value: str) -> float:
    number = _number(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value!r}")
    return number


def _seconds(value: str) -> float:
    number = _number(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {value!r}")
    return number


def _speed(value: str) -> float | str:
    if value.strip().lower() == "max":
        return "max"
    number = _number(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected 'max' or a number > 0, got {value!r}")
    return number


def _fault(value: str) -> str:
    from tfbatch_nb.gateway import parse_fault

    try:
        parse_fault(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _demo(rows: int, speed: float | str | None) -> int:
    import pandas as pd

    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews

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


def _forwarding(args: argparse.Namespace) -> dict[str, Any]:
    """The forwarding options of ``serve``; a bad combination is a one-line usage error."""
    if args.forward_to is None:
        given = [flag for flag, value in (("--forward-api-key", args.forward_api_key),
                 ("--forward-api-key-env", args.forward_api_key_env), ("--forward-model", args.forward_model),
                 ("--concurrency", args.concurrency)) if value]  # fmt: skip
        if given:
            args.error(f"{given[0]} needs --forward-to URL")
        return {}
    key = args.forward_api_key
    if args.forward_api_key_env is not None:
        key = os.environ.get(args.forward_api_key_env)
        if not key:
            args.error(f"--forward-api-key-env: ${args.forward_api_key_env} is not set")
    model_map: dict[str, str] = {}
    for name, upstream in args.forward_model:
        if model_map.get(name, upstream) != upstream:
            args.error(f"--forward-model: {name!r} is mapped twice ({model_map[name]!r} and {upstream!r})")
        model_map[name] = upstream
    return {
        "forward_to": args.forward_to,
        "forward_api_key": key or os.environ.get("FORWARD_API_KEY"),
        "forward_model_map": model_map or None,
        "concurrency": args.concurrency,
    }


def _gateway(args: argparse.Namespace) -> int:
    from tfbatch_nb.gateway import is_loopback, serve

    if not args.allow_remote and not is_loopback(args.host):
        args.error(
            f"--host {args.host}: not a loopback address; pass --allow-remote to serve other machines too"
        )
    forwarding = _forwarding(args)
    if args.api_key:
        print(
            "tfbatch gateway: warning: --api-key is visible in the process list; "
            "prefer the environment variable TFBATCH_GATEWAY_KEY",
            file=sys.stderr,
        )
    try:
        serve(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            api_key=args.api_key or os.environ.get("TFBATCH_GATEWAY_KEY"),
            speed=args.speed,
            faults=list(args.fault),
            allow_remote=args.allow_remote,
            max_upload_mb=args.max_upload_mb,
            late_commit_delay=args.late_commit_delay,
            enqueued_token_limit=args.enqueued_token_limit,
            **forwarding,
        )
    except ValueError as exc:  # what only the gateway can tell: one line, no traceback
        args.error(str(exc))
    except OSError as exc:  # the port is taken, the data folder is not writable
        args.error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
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
        return _demo(args.rows, args.speed)
    return _gateway(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
