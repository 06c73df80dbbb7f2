"""The loader: existing JSONL batch lines -> a spool, every line checked (errors name file and line).

Examples
--------
>>> line = b'{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"hi"}}\\n'
>>> loaded = load_lines([("in.jsonl line 1", line)], endpoint=None, omit_routing=False, max_bytes=1000)
>>> loaded.endpoint, loaded.model, loaded.spool.custom_ids()
('/v1/embeddings', 'm', ['a'])
>>> load_lines([("in.jsonl line 1", b"[]")], endpoint=None, omit_routing=False, max_bytes=1000)
Traceback (most recent call last):
tfbatch_nb.errors.BatchInputError: invalid batch file:
  in.jsonl line 1: must be a JSON object, got list
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..errors import BatchInputError
from ._body import ENDPOINTS, MAX_EMBEDDING_INPUTS, schema_from_body
from ._cells import id_problem
from ._codec import escape_strings
from ._spool import Spool, join_ids

__all__ = ["Loaded", "load_lines"]

_MAX_REPORTED = 5
_FLUSH_LINES = 20_000


@dataclass
class Loaded:
    """Checked lines in a finished spool, and what they say about the job."""

    spool: Spool
    endpoint: str
    model: str | None
    schema: dict[str, Any] | None


def _inputs(body: dict[str, Any]) -> int:
    value = body.get("input")
    return len(value) if isinstance(value, list) else 1


def load_lines(
    sources: Iterable[tuple[str, bytes]], *, endpoint: str | None, omit_routing: bool, max_bytes: int
) -> Loaded:
    """Check and spool lines given as ``(where, raw_line)``; ``where`` is e.g. ``"a.jsonl line 3"``."""
    errors: list[str] = []
    seen: dict[str, str] = {}
    models: dict[str, str] = {}
    urls: dict[str, str] = {}
    schema: dict[str, Any] | None = None
    spool = Spool()
    buf: list[bytes] = []
    ids: list[str] = []
    inputs: list[int] = []

    def flush() -> None:
        lens = np.fromiter(map(len, buf), dtype=np.int64, count=len(buf))
        spool.append(b"".join(buf), lens, join_ids(escape_strings(ids)), np.asarray(inputs, dtype=np.int64))
        buf.clear()
        ids.clear()
        inputs.clear()

    def bad(where: str, message: str) -> None:
        errors.append(f"{where}: {message}")

    try:
        for where, raw in sources:
            if len(errors) >= _MAX_REPORTED:
                break
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                bad(where, "empty line (batch files must not contain empty lines)")
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                bad(where, f"not valid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                bad(where, f"must be a JSON object, got {type(obj).__name__}")
                continue
            cid, body = obj.get("custom_id"), obj.get("body")
            if not isinstance(cid, str) or not cid:
                bad(where, "custom_id must be a non-empty string")
                continue
            problem = id_problem(cid)
            if problem:
                bad(where, f"custom_id {cid!r} {problem}; custom_ids must be one line of plain text")
                continue
            if cid in seen:
                bad(where, f"duplicate custom_id {cid!r} (first at {seen[cid]})")
                continue
            seen[cid] = where
            if not (omit_routing and "method" not in obj) and obj.get("method") != "POST":
                bad(where, f"method must be 'POST', got {obj.get('method')!r}")
            if not isinstance(body, dict):
                bad(where, "body must be a JSON object")
                continue
            url = obj.get("url")
            if not (omit_routing and url is None):
                if url not in ENDPOINTS:
                    bad(where, f"url {url!r} is not a batch endpoint ({', '.join(ENDPOINTS)})")
                urls.setdefault(str(url), where)
            model = body.get("model")
            if not (omit_routing and model is None):
                if not isinstance(model, str) or not model:
                    bad(where, "body.model must be a non-empty string")
                else:
                    models.setdefault(model, where)
            if schema is None:
                schema = schema_from_body(body)
            n_in = _inputs(body)
            if url == "/v1/embeddings" and n_in > MAX_EMBEDDING_INPUTS:
                bad(where, f"{n_in} embedding inputs in one request, over the {MAX_EMBEDDING_INPUTS} limit")
            if len(line) + 1 > max_bytes:
                bad(where, f"line of {len(line) + 1} bytes is larger than max_bytes={max_bytes}")
            buf.append(line + b"\n")
            ids.append(cid)
            inputs.append(n_in)
            if len(buf) >= _FLUSH_LINES:
                flush()
        if len(urls) > 1:
            errors.append(
                f"more than one url in one file: {', '.join(f'{u!r} ({w})' for u, w in urls.items())}"
            )
        if endpoint is not None and urls and set(urls) != {endpoint}:
            errors.append(f"the lines' url {next(iter(urls))!r} does not match endpoint={endpoint!r}")
        if len(models) > 1:
            shown = ", ".join(f"{m!r} ({w})" for m, w in list(models.items())[:3])
            errors.append(f"more than one model in one file (one model per batch): {shown}")
        if errors:
            raise BatchInputError("invalid batch file:\n  " + "\n  ".join(errors[:_MAX_REPORTED]))
        if not seen:
            raise BatchInputError("empty input: the file has no request lines")
        if buf:
            flush()
    except BaseException:
        spool.discard()
        raise
    resolved = endpoint or (next(iter(urls)) if urls else "/v1/chat/completions")
    return Loaded(spool.finish(), resolved, next(iter(models), None), schema)


def file_lines(paths: Iterable[str | os.PathLike[str]]) -> Iterable[tuple[str, bytes]]:
    """Every line of the files, labelled ``name line N`` (1-based), streamed."""
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise BatchInputError(f"no such file: {p}")
        with p.open("rb") as f:
            for n, raw in enumerate(f, 1):
                yield f"{p.name} line {n}", raw
