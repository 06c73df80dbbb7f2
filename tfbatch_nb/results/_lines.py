"""The per-line path: any output / error file decoded with orjson, line by line, into column lists.

It reads every file the pyarrow fast path declines, so it handles every line shape: chat,
completions, responses and embeddings answers, HTTP errors, ``error`` objects, bad lines. Big
blocks are split into lines in C and decoded in a list comprehension (only a block holding a bad
line is decoded again line by line, so the warning can name the line); the common shape, a plain
successful chat completion, is unpacked inline, every other line becomes a :class:`Row`.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from ._frame import FIELDS, Row

__all__ = ["BLOCK_BYTES", "read_lines"]

# 8 MiB blocks: big enough that per-block costs vanish, small enough that the transient dicts of a
# block stay a rounding error next to the final frame (the memory target is 2x the frame).
BLOCK_BYTES = 8 * 2**20

# Error codes the gateway writes for lines never run because the batch ended early; they become
# the row statuses `expired` / `cancelled` rather than `failed`, so retry logic can tell them apart.
_ENDED = {"batch_expired": "expired", "batch_cancelled": "cancelled"}

# Warnings name the caller of parse_results: warn() <- read_lines <- parse_results <- caller.
_STACKLEVEL = 3


def _where(path: os.PathLike[str] | str, line_no: int) -> str:
    """How a row's message names a line: the file's name, without the (often temporary) folder."""
    return f"line {line_no} of {os.path.basename(os.fspath(path))}"


def _custom_id(line: Any) -> str | None:
    """A decoded line's custom_id as a string, or None when it has none (missing, null, an object).

    A number or boolean id is kept as its JSON text (``7`` -> ``"7"``, ``true`` -> ``"true"``).
    """
    cid = line.get("custom_id") if isinstance(line, dict) else None
    if cid is None or isinstance(cid, str):
        return cid
    if isinstance(cid, bool):
        return "true" if cid else "false"
    if isinstance(cid, int):
        return str(cid)
    if isinstance(cid, float):
        return orjson.dumps(cid).decode()
    return None


def _lenient(raw: bytes) -> Any:
    """The value of a line orjson refuses only for ``NaN`` / ``Infinity`` tokens, else None.

    pyarrow (the fast path) reads them, and Python servers write them (``json.dumps`` of a NaN
    logprob), so the per-line path reads them too, with the standard library. Anything else it
    would take beyond orjson (a lone surrogate escape) still counts as a bad line.
    """
    if b"NaN" not in raw and b"Infinity" not in raw:
        return None
    try:
        value = json.loads(raw)
        orjson.dumps(value)  # refuses a string with a lone surrogate, as orjson.loads did
    except (ValueError, TypeError, RecursionError):
        return None
    return value


def _invalid_utf8(raw: bytes, path: os.PathLike[str] | str, line_no: int) -> tuple[bool, Row | None]:
    """(whether the line is not valid UTF-8, its failed row or None without a readable custom_id).

    The line is decoded with U+FFFD for the bad bytes to find its custom_id; an id that came out
    with a U+FFFD the file does not hold is itself damaged, and the line is skipped with a warning.
    """
    try:
        raw.decode()
        return False, None
    except UnicodeDecodeError as exc:
        byte, at = raw[exc.start], exc.start + 1
    what = f"not valid UTF-8 (byte 0x{byte:02x} at byte {at} of the line)"
    try:
        cid = _custom_id(orjson.loads(raw.decode(errors="replace")))
    except orjson.JSONDecodeError:
        cid = None
    if cid is None or ("\ufffd" in cid and cid.encode() not in raw):
        msg = f"{os.fspath(path)}:{line_no}: skipped a line that is {what} and has no readable custom_id"
        warnings.warn(msg, stacklevel=_STACKLEVEL + 3)  # + _invalid_utf8, _decode_block, _blocks
        return True, None
    message = f"{_where(path, line_no)} is {what}: the answer cannot be read"
    return True, Row(cid, "failed", error_code="invalid_utf8", error_message=message)


def _decode_block(
    block: bytes, path: os.PathLike[str] | str, first_line: int, *, last: bool = False
) -> tuple[list[Any], list[int] | None]:
    """(the JSON values of one block of whole lines, their line numbers); bad lines are warned about.

    The line numbers are None when every non-empty line gave a value (the common case), in order.
    A line that is not valid UTF-8 gives its failed :class:`Row` in place of a value. ``last``: the
    block ends without a line break (a truncated file, perhaps).
    """
    loads = orjson.loads
    try:
        # One call per line beats one call on the block joined into an array (measured: the
        # array form is ~2x slower); an empty or whitespace-only line lands in the slow path.
        return [loads(ln) for ln in block.split(b"\n") if ln], None
    except orjson.JSONDecodeError:
        pass
    values: list[Any] = []
    numbers: list[int] = []
    lines = block.split(b"\n")
    for n, raw in enumerate(lines, first_line):
        if not raw.strip():
            continue
        try:
            values.append(orjson.loads(raw))
            numbers.append(n)
            continue
        except orjson.JSONDecodeError as exc:
            error = exc
        value = _lenient(raw)
        if value is not None:
            values.append(value)
            numbers.append(n)
            continue
        invalid, row = _invalid_utf8(raw, path, n)
        if row is not None:
            values.append(row)
            numbers.append(n)
        if not invalid:
            end = last and n == first_line + len(lines) - 1
            cut = " (the file ends inside this line: is it truncated?)" if end else ""
            msg = f"{os.fspath(path)}:{n}: skipped a line that is not valid JSON ({error}){cut}"
            warnings.warn(msg, stacklevel=_STACKLEVEL + 2)  # + _decode_block, + _blocks
    return values, numbers


def _blocks(path: os.PathLike[str] | str) -> Iterator[tuple[list[Any], list[int] | None, bytes, int]]:
    """Per block of about :data:`BLOCK_BYTES`: :func:`_decode_block`'s pair, the block, its first line.

    LF, CRLF and CR all end a line, and a UTF-8 byte order mark at the start is skipped (both as
    the fast path reads them), so line numbers are the ones an editor shows.
    """
    line_no = 1
    tail = b""
    with open(path, "rb") as fh:
        chunk = fh.read(BLOCK_BYTES)
        chunk = chunk[len(codecs.BOM_UTF8) :] if chunk.startswith(codecs.BOM_UTF8) else chunk
        while chunk:
            if chunk.endswith(b"\r"):
                chunk += fh.read(1)  # keep a CRLF in one piece: one line break, not two
            if b"\r" in chunk:
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            cut = chunk.rfind(b"\n")
            if cut < 0:  # a line longer than a block: keep accumulating
                tail += chunk
            else:
                block, tail = tail + chunk[:cut], chunk[cut + 1 :]
                yield *_decode_block(block, path, line_no), block, line_no
                line_no += block.count(b"\n") + 1
            chunk = fh.read(BLOCK_BYTES)
    if tail.strip():
        yield *_decode_block(tail, path, line_no, last=True), tail, line_no


def _line_of(block: bytes, first_line: int, numbers: list[int] | None, k: int) -> int:
    """The number of the line that gave value ``k`` of a block (``numbers`` from :func:`_decode_block`)."""
    if numbers is not None:
        return numbers[k]
    for n, raw in enumerate(block.split(b"\n"), first_line):
        if raw:
            if k == 0:
                return n
            k -= 1
    return first_line  # not reached: without numbers, each non-empty line gave one value


def _int(value: Any) -> int | None:
    # bool is an int subclass; a `true` token count is junk, not 1.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _usage(body: Any) -> tuple[int | None, int | None, int | None]:
    """(prompt_tokens, completion_tokens, total_tokens) from a body's ``usage``."""
    usage = body.get("usage") if isinstance(body, dict) else None
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
    """(error_code, error_message) of a response with an HTTP error status."""
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


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    """The answer fields of :class:`Row` from a successful body (a refusal sets the error fields)."""
    choices = body.get("choices")
    if isinstance(choices, list) and choices:
        # n > 1: the frame has one row per request, so it carries choice 0 (the first the model
        # produced); the other choices stay in the downloaded file.
        c0 = next((c for c in choices if isinstance(c, dict) and c.get("index") == 0), choices[0])
        if not isinstance(c0, dict):
            return {}
        finish = c0.get("finish_reason")
        message = c0.get("message")
        if not isinstance(message, dict):
            return {"content": _str(c0.get("text")), "finish_reason": finish}  # completions
        refusal = message.get("refusal")
        if message.get("content") is None and refusal:
            return {"finish_reason": finish, "error_code": "refusal", "error_message": str(refusal)}
        return {"content": _str(message.get("content")), "finish_reason": finish}
    data = body.get("data")
    if body.get("object") == "list" and isinstance(data, list):
        vectors = [
            np.asarray(d["embedding"], dtype=np.float64)
            for d in data
            if isinstance(d, dict) and "embedding" in d
        ]
        # One input per request (what build_requests writes) gives one vector; a request with
        # several inputs keeps them all, in input order, rather than silently dropping some.
        return {"embedding": vectors[0] if len(vectors) == 1 else (vectors or None)}
    if "output" in body:
        content, finish = _responses_text(body)
        return {"content": content, "finish_reason": finish}
    return {}


def _row(line: Any) -> Row | None:
    """The :class:`Row` of one decoded output / error line, or None without a usable custom_id.

    A line failed when ``error`` is set or ``response.status_code >= 400``; then error code and
    message come from ``error`` or from ``response.body.error``.

    Examples
    --------
    >>> _row({"custom_id": "a", "response": {"status_code": 429, "body": {"error": {"code": "rate"}}}})[:3]
    ('a', 'failed', 429)
    >>> _row({"custom_id": "b", "error": {"code": "batch_expired", "message": "expired"}}).status
    'expired'
    """
    if isinstance(line, Row):
        return line  # made by _decode_block for a line that is not valid UTF-8
    cid = _custom_id(line)
    if cid is None:
        return None
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
        return Row(
            cid,
            status,
            status_code,
            error_code=_str(code) or "error",
            error_message=_str(message),
            request_id=request_id,
        )
    if status_code is not None and status_code >= 400:
        code, message = _http_error(body, status_code)
        pt, ct, tt = _usage(body)
        return Row(
            cid,
            "failed",
            status_code,
            prompt_tokens=pt,
            completion_tokens=ct,
            total_tokens=tt,
            error_code=code,
            error_message=message,
            request_id=request_id,
        )
    if not isinstance(body, dict):
        # No answer to show: calling it completed would hide a lost row from retry_failed.
        what = "no response" if not resp else "a response without a body"
        return Row(
            cid,
            "failed",
            status_code,
            error_code="missing_body",
            error_message=f"the line has {what}",
            request_id=request_id,
        )
    pt, ct, tt = _usage(body)
    return Row(
        cid,
        "completed",
        status_code,
        prompt_tokens=pt,
        completion_tokens=ct,
        total_tokens=tt,
        request_id=request_id,
        **_answer(body),
    )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
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


def read_lines(path: os.PathLike[str] | str) -> dict[str, list[Any]]:
    """The columns (:data:`~tfbatch_nb.results._frame.FIELDS`) of one file, one entry per line.

    Blank lines are skipped; a line that is not valid JSON, or has no custom_id (not an object,
    ``null``), is skipped with a warning naming the file and 1-based line number. A line that is not
    valid UTF-8 is a ``failed`` row (``invalid_utf8``) when its custom_id is readable, else skipped
    with such a warning. Duplicated custom_ids are kept, in file order: the frame builder decides
    which wins.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "errors.jsonl"
    >>> _ = p.write_text('{"custom_id": "a", "error": {"code": "batch_expired", "message": "m"}}\\n')
    >>> cols = read_lines(p)
    >>> cols["custom_id"], cols["status"], cols["error_code"]
    (['a'], ['expired'], ['batch_expired'])
    """
    cols: dict[str, list[Any]] = {name: [] for name in FIELDS}
    apps = [cols[name].append for name in FIELDS]  # in Row's order:
    a_cid, a_status, a_code, a_content, a_finish, a_pt, a_ct, a_tt, a_ec, a_em, a_rid, a_emb = apps
    with _no_gc():
        for values, numbers, block, first_line in _blocks(path):
            for d in values:
                # Each check mirrors what _row() would decide, so both give identical columns;
                # anything unusual (None content, refusals, bad types, errors) takes _row().
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
                fields = _row(d)
                if fields is None:
                    k = next(i for i, v in enumerate(values) if v is d)  # rare: no cost per good line
                    at = f"{os.fspath(path)}:{_line_of(block, first_line, numbers, k)}"
                    what = "without a custom_id" if isinstance(d, dict) else "that is not a JSON object"
                    excerpt = orjson.dumps(d)[:80].decode(errors="replace")
                    warnings.warn(f"{at}: skipped a result line {what}: {excerpt}", stacklevel=_STACKLEVEL)
                    continue
                for append, value in zip(apps, fields, strict=True):
                    append(value)
    return cols
