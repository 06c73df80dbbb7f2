"""The orjson path: batch output / error lines decoded and flattened into column lists.

Internal to :mod:`tfbatch_nb.results`; it reads every file the pyarrow fast path
(:mod:`tfbatch_nb._results_arrow`) declines, so it must handle every line shape correctly.

- :func:`read_lines` turns a file into parsed JSON objects, reading big blocks, splitting them into
  lines in C and decoding them in a list comprehension; only a block that holds a bad line is
  decoded again line by line, so the warning can name the line.
- :func:`extract` turns one ``BatchRequestOutput`` line (batch-api.md §2.5) into the flat fields
  of the results frame, for every endpoint shape (chat, completions, responses, embeddings).
- :class:`Collector` appends the fields of each line to column lists, unpacking the common shape
  (a successful chat completion) inline, with the garbage collector paused (:func:`no_gc`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

__all__ = ["FIELDS", "Collector", "Fields", "extract", "no_gc", "read_lines"]

# 8 MiB blocks: big enough that per-block costs vanish, small enough that the transient dicts of a
# block stay a rounding error next to the final frame (the memory target is 2x the frame).
BLOCK_BYTES = 8 * 2**20

#: The columns a file is flattened into, in the order of :data:`Fields` after the custom_id.
FIELDS = (
    "status",
    "status_code",
    "content",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
    "request_id",
    "embedding",
)
# (custom_id, *FIELDS)
Fields = tuple[Any, ...]

# Error codes the gateway writes for lines never run because the batch ended early; they become
# the row statuses `expired` / `cancelled` rather than `failed`, so retry logic can tell them apart.
_ENDED = {"batch_expired": "expired", "batch_cancelled": "cancelled"}


def _decode_block(block: bytes, path: os.PathLike[str] | str, first_line: int) -> list[Any]:
    """All JSON values of one block of whole lines; bad lines are warned about and skipped."""
    loads = orjson.loads
    try:
        # One call per line beats one call on the block joined into an array (measured: the
        # array form is ~2x slower); an empty or whitespace-only line lands in the slow path.
        return [loads(ln) for ln in block.split(b"\n") if ln]
    except orjson.JSONDecodeError:
        pass
    values: list[Any] = []
    for n, raw in enumerate(block.split(b"\n"), first_line):
        if not raw.strip():
            continue
        try:
            values.append(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            warnings.warn(
                f"{os.fspath(path)}:{n}: skipped a line that is not valid JSON ({exc})", stacklevel=5
            )
    return values


def read_lines(path: os.PathLike[str] | str) -> Iterator[list[Any]]:
    """Yield the decoded lines of a JSONL file, one list per block of about 8 MiB.

    Empty lines are skipped; a line that is not valid JSON is skipped with a warning naming the
    file and its 1-based line number.
    """
    line_no = 1
    tail = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(BLOCK_BYTES)
            if not chunk:
                break
            cut = chunk.rfind(b"\n")
            if cut < 0:  # a line longer than a block: keep accumulating
                tail += chunk
                continue
            block, tail = tail + chunk[:cut], chunk[cut + 1 :]
            yield _decode_block(block, path, line_no)
            line_no += block.count(b"\n") + 1
    if tail.strip():
        yield _decode_block(tail, path, line_no)


def _int(value: Any) -> int | None:
    # bool is an int subclass; a `true` token count is junk, not 1.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _usage(body: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None, None, None
    # Chat / completions / embeddings say prompt/completion; the Responses API says input/output.
    prompt = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    total = _int(usage.get("total_tokens"))
    if total is None and prompt is not None:
        total = prompt + (completion or 0)
    return prompt, completion, total


def _http_error(body: Any, status_code: int) -> tuple[str, str]:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type") or f"http_{status_code}"
        message = err.get("message") or _str(err)
        return str(code), str(message)
    text = _str(body) if body is not None else f"HTTP {status_code} with no body"
    return f"http_{status_code}", str(text)


def _responses_text(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Content and finish reason of a Responses API body: the output_text parts, joined."""
    parts: list[str] = []
    for item in body.get("output") or ():
        if isinstance(item, dict) and item.get("type", "message") == "message":
            for piece in item.get("content") or ():
                if isinstance(piece, dict) and isinstance(piece.get("text"), str):
                    parts.append(piece["text"])
    status = body.get("status")
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    # Mapped onto the chat vocabulary so one column means one thing across endpoints.
    finish = (
        "stop" if status == "completed" else ("length" if reason == "max_output_tokens" else reason or status)
    )
    return ("".join(parts) if parts else None), finish


def _success(body: dict[str, Any]) -> tuple[str | None, str | None, Any, str | None, str | None]:
    """(content, finish_reason, embedding, error_code, error_message) of a successful body."""
    choices = body.get("choices")
    if isinstance(choices, list) and choices:
        # n > 1: the frame has one row per request, so it carries choice 0 (the first the model
        # produced); the other choices stay in the downloaded file.
        c0 = next((c for c in choices if isinstance(c, dict) and c.get("index") == 0), choices[0])
        if not isinstance(c0, dict):
            return None, None, None, None, None
        finish = c0.get("finish_reason")
        message = c0.get("message")
        if isinstance(message, dict):
            refusal = message.get("refusal")
            if message.get("content") is None and refusal:
                return None, finish, None, "refusal", str(refusal)
            return _str(message.get("content")), finish, None, None, None
        return _str(c0.get("text")), finish, None, None, None
    data = body.get("data")
    if body.get("object") == "list" and isinstance(data, list):
        vectors = [
            np.asarray(d["embedding"], dtype=np.float64)
            for d in data
            if isinstance(d, dict) and "embedding" in d
        ]
        # One input per request (what build_requests writes) gives one vector; a request with
        # several inputs keeps them all, in input order, rather than silently dropping some.
        embedding = vectors[0] if len(vectors) == 1 else (vectors or None)
        return None, None, embedding, None, None
    if "output" in body:
        content, finish = _responses_text(body)
        return content, finish, None, None, None
    return None, None, None, None, None


def extract(line: Any) -> Fields | None:
    """The frame fields of one output/error line, or None when the line has no usable custom_id.

    A line failed when ``error`` is set or ``response.status_code >= 400`` (batch-api.md §2.5);
    then error code and message come from ``error`` or from ``response.body.error``.
    """
    if not isinstance(line, dict):
        return None
    cid = line.get("custom_id")
    if cid is None or isinstance(cid, (dict, list)):
        return None
    cid = str(cid)
    resp = line.get("response")
    error = line.get("error")
    if not isinstance(resp, dict):
        resp = {}
    status_code = _int(resp.get("status_code"))
    request_id = _str(resp.get("request_id"))
    body = resp.get("body")
    if error is not None:
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
        else:
            code, message = None, error
        status = _ENDED.get(str(code), "failed")
        if code is None and status_code is not None and status_code >= 400:
            code, message = _http_error(body, status_code)
        return (
            cid,
            status,
            status_code,
            None,
            None,
            None,
            None,
            None,
            _str(code) or "error",
            _str(message),
            request_id,
            None,
        )
    if status_code is not None and status_code >= 400:
        code, message = _http_error(body, status_code)
        return (
            cid,
            "failed",
            status_code,
            None,
            None,
            *_usage(body if isinstance(body, dict) else {}),
            code,
            message,
            request_id,
            None,
        )
    if not isinstance(body, dict):
        # No answer to show: calling it completed would hide a lost row from retry_failed.
        what = "no response" if not resp else "a response without a body"
        return (
            cid,
            "failed",
            status_code,
            None,
            None,
            None,
            None,
            None,
            "missing_body",
            f"the line has {what}",
            request_id,
            None,
        )
    content, finish, embedding, code, message = _success(body)
    return (
        cid,
        "completed",
        status_code,
        content,
        finish,
        *_usage(body),
        code,
        message,
        request_id,
        embedding,
    )


class Collector:
    """Column lists (``custom_id`` and :data:`FIELDS`) of decoded lines, one entry per line.

    Duplicated custom_ids are kept here, in file order; the frame builder decides which wins.
    """

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {name: [] for name in ("custom_id", *FIELDS)}

    def consume(self, values: list[Any]) -> None:
        """Add a block of decoded lines. Inlines the common shape (successful chat completion)."""
        c = self.cols
        apps = [c[name].append for name in ("custom_id", *FIELDS)]
        a_cid, a_status, a_code, a_content, a_finish, a_pt, a_ct, a_tt, a_ec, a_em, a_rid, a_emb = apps
        for d in values:
            # Each check mirrors what extract() would decide, so both paths give identical rows;
            # anything unusual (None content, refusals, bad types, errors) takes extract().
            try:
                resp = d["response"]
                sc = resp["status_code"]
                body = resp["body"]
                c0 = body["choices"][0]
                content = c0["message"]["content"]
                usage = body["usage"]
                pt, ct, tt = usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]
                cid = d["custom_id"]
                rid = resp.get("request_id")
                fast = (
                    d["error"] is None
                    and type(sc) is int
                    and sc < 400
                    and c0.get("index") == 0
                    and type(content) is str
                    and type(pt) is int
                    and type(ct) is int
                    and type(tt) is int
                    and type(cid) is str
                    and (rid is None or type(rid) is str)
                )
            except (KeyError, TypeError, IndexError):
                fast = False
            if fast:
                a_cid(cid)
                a_status("completed")
                a_code(sc)
                a_content(content)
                a_finish(c0.get("finish_reason"))
                a_pt(pt)
                a_ct(ct)
                a_tt(tt)
                a_ec(None)
                a_em(None)
                a_rid(rid)
                a_emb(None)
                continue
            fields = extract(d)
            if fields is None:
                warnings.warn(f"skipped a result line without a custom_id: {str(d)[:80]}", stacklevel=5)
                continue
            for append, value in zip(apps, fields, strict=True):
                append(value)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while parsing.

    Decoding creates millions of dicts and lists that all stay alive until the block is consumed;
    each allocation burst triggers a collection that walks every live container, which measured
    at more than half the parse time. JSON values cannot form reference cycles, so nothing is
    lost by pausing; the collector is re-enabled afterwards (process-wide, hence only if it was on).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
