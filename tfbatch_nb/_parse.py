"""Line-level parsing of batch output / error files and a small JSON-schema validator.

Internal to :mod:`tfbatch_nb.results`. Two concerns live here because both run once per line:

- :func:`read_lines` turns files into parsed JSON objects, reading big blocks, splitting them into
  lines in C and decoding them in a list comprehension; only a block that holds a bad line is
  decoded again line by line, so the warning can name the line.
- :func:`extract` turns one ``BatchRequestOutput`` line (batch-api.md §2.5) into the flat fields
  of the results frame, for every endpoint shape (chat, completions, responses, embeddings).
- :func:`validate` checks a value against the JSON-schema subset used by OpenAI strict structured
  outputs (``type``, ``properties``, ``required``, ``enum``, ``const``, ``items``,
  ``additionalProperties``, ``anyOf``, ``$ref`` into ``$defs``), nested.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson

__all__ = ["Fields", "extract", "normalize_schema", "read_lines", "validate"]

# 8 MiB blocks: big enough that per-block costs vanish, small enough that the transient dicts of a
# block stay a rounding error next to the final frame (the memory target is 2x the frame).
BLOCK_BYTES = 8 * 2**20

# (custom_id, status, status_code, content, finish_reason, prompt_tokens, completion_tokens,
#  total_tokens, error_code, error_message, request_id, embedding)
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
                f"{os.fspath(path)}:{n}: skipped a line that is not valid JSON ({exc})", stacklevel=4
            )
    return values


def read_lines(path: os.PathLike[str] | str, *, typed: bool = True) -> Iterator[list[Any]]:
    """Yield the decoded lines of a JSONL file, one list per block of about 8 MiB.

    With msgspec installed (and ``typed``), a block decodes in one call into :data:`LINE_TYPE`
    structs holding only the fields the frame needs; a block that does not fit those types, or
    holds a bad line, falls back to orjson dicts. Empty lines are skipped; a line that is not
    valid JSON is skipped with a warning naming the file and its 1-based line number.
    """
    decoder = _typed_decoder() if typed else None
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
            yield _decode_typed(decoder, block) or _decode_block(block, path, line_no)
            line_no += block.count(b"\n") + 1
    if tail.strip():
        yield _decode_typed(decoder, tail) or _decode_block(tail, path, line_no)


# --------------------------------------------------------------------------- optional msgspec path

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens")
_DECODER: list[Any] = []  # [decoder or None], built on first use


def _typed_decoder() -> Any:
    """A msgspec decoder for output lines, or None when msgspec is not installed.

    Measured on 200,000 chat lines: orjson builds every dict and string of every line (about
    2.7 us a line); msgspec decodes into structs with only the fields below, skipping the rest
    without building it, in about half the time. Unknown fields are ignored, unexpected types
    raise, and that block is then decoded by orjson instead, so the typed path never changes a row.
    """
    if not _DECODER:
        try:
            msgspec: Any = importlib.import_module("msgspec")
        except ImportError:
            _DECODER.append(None)
            return None

        # omit_defaults: to_builtins() then gives the dict orjson would have given, minus the
        # fields nobody reads, so extract() sees the same values on both paths. defstruct, not
        # class statements: string annotations (PEP 563) could not see these local names.
        def struct(name: str, fields: dict[str, Any]) -> Any:
            return msgspec.defstruct(name, [(k, t, None) for k, t in fields.items()], omit_defaults=True)

        anything = dict.fromkeys
        message = struct("Message", anything(("content", "refusal"), Any))
        choice = struct(
            "Choice", {**anything(("index", "text", "finish_reason"), Any), "message": message | None}
        )
        usage = struct("Usage", anything(_USAGE_KEYS, Any))
        body = struct(
            "Body",
            {
                **anything(("object", "data", "output", "status", "incomplete_details", "error"), Any),
                "choices": list[choice] | None,  # type: ignore[valid-type]
                "usage": usage | None,
            },
        )
        response = struct("Response", {"status_code": Any, "request_id": Any, "body": body | str | None})
        line = struct("Line", {"custom_id": Any, "error": Any, "response": response | None})
        _DECODER.append((msgspec.json.Decoder(line).decode_lines, msgspec.to_builtins, msgspec.DecodeError))
    return _DECODER[0]


def _decode_typed(decoder: Any, block: bytes) -> list[Any] | None:
    if decoder is None:
        return None
    decode_lines, _, error = decoder
    try:
        values: list[Any] = decode_lines(block)
    except error:
        return None
    return values or None


def to_dict(struct: Any) -> Any:
    """The plain-dict form of a typed line (for :func:`extract`)."""
    return _typed_decoder()[1](struct)


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


# --------------------------------------------------------------------------- JSON schema subset


def normalize_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The bare JSON schema from a schema, a ``json_schema`` wrapper or a whole ``response_format``.

    ``{"type": "json_object"}`` (JSON mode) becomes ``{}``: parse, but accept any JSON value.
    """
    if schema is None:
        return None
    if schema.get("type") == "json_object":
        return {}
    if isinstance(schema.get("json_schema"), dict):  # response_format={"type": "json_schema", ...}
        schema = schema["json_schema"]
    if isinstance(schema.get("schema"), dict) and "properties" not in schema:  # {"name", "schema", "strict"}
        schema = schema["schema"]
    return schema


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False  # JSON true is not a number, although Python's bool is an int
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/") if ref != "#" else ():
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node if isinstance(node, dict) else {}


def validate(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$"
) -> str | None:
    """The first way ``value`` breaks ``schema`` as a short message, or None when it conforms.

    Examples
    --------
    >>> validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "string"}}})
    '$.a: expected string, got int'
    """
    root = schema if root is None else root
    if "$ref" in schema:
        return validate(value, _resolve(schema["$ref"], root), root, path)
    if "anyOf" in schema and not any(validate(value, s, root, path) is None for s in schema["anyOf"]):
        return f"{path}: matches none of anyOf"
    kinds = schema.get("type")
    if kinds is not None:
        names: Sequence[str] = [kinds] if isinstance(kinds, str) else kinds
        if not any(_type_ok(value, k) for k in names):
            return f"{path}: expected {'|'.join(names)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']!r}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}"
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in value:
                return f"{path}: missing required property {key!r}"
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                problem = validate(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                problem = f"{path}: unexpected property {key!r}"
            elif isinstance(extra, dict):
                problem = validate(item, extra, root, f"{path}.{key}")
            else:
                problem = None
            if problem:
                return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = validate(item, schema["items"], root, f"{path}[{i}]")
            if problem:
                return problem
    return None
