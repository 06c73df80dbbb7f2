"""The simulated model's responses: the real response shapes around :mod:`.answers`' content.

Same request body, same answer. Token counts follow :func:`.answers.tokens` (4 characters per
token); prompt tokens count the text of every message / input. Embeddings have ``dimensions``
components (default 64), unit norm, derived from the input text.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import time
from array import array
from typing import Any

import orjson

from .answers import CHARS_PER_TOKEN, PREFIX, Answer, limit, request_hash, sentiment, tokens

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_EMBEDDING_DIMENSIONS",
    "PREFIX",
    "ResponderError",
    "chat_completion",
    "completion",
    "embedding_vector",
    "embeddings",
    "request_hash",
    "response",
    "sentiment",
    "simulate",
    "tokens",
]

DEFAULT_EMBEDDING_DIMENSIONS = 64


class ResponderError(Exception):
    """Raised by a responder to answer one request with an HTTP error.

    In a batch the line lands in the error file with ``response.status_code`` set to
    ``status_code`` and the OpenAI-shaped error as ``response.body``; on the realtime routes the
    client gets that status.

    Examples
    --------
    >>> def responder(endpoint, body):
    ...     raise ResponderError(400, "prompt too long", code="context_length_exceeded")
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = int(status_code)
        self.message = message
        self.type = type or ("invalid_request_error" if self.status_code < 500 else "server_error")
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """The OpenAI-shaped error body."""
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep only text
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _n(body: dict[str, Any]) -> int:
    n = body.get("n", 1)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise ResponderError(400, "n must be an integer between 1 and 128", param="n")
    return n


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` for a chat request body.

    This runs once per batch line, so it walks the messages once and skips the structured-output
    machinery when there is no ``response_format``.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ResponderError(400, "messages must be a non-empty array of message objects", param="messages")
    texts: list[str] = []
    last_user: str | None = None
    for m in messages:
        if not isinstance(m, dict):
            raise ResponderError(
                400, "messages must be a non-empty array of message objects", param="messages"
            )
        content = m.get("content")
        text = content if isinstance(content, str) else _content_text(content)
        texts.append(text)
        if m.get("role") == "user":
            last_user = text
    prompt = "\n".join(texts)
    seed = request_hash(body)
    answer = Answer(prompt, texts[-1] if last_user is None else last_user, seed)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    fmt = body.get("response_format")
    choices, completion = [], 0
    for i in range(_n(body)):
        raw = (answer.structured(fmt, i) if fmt is not None else None) or answer.text(i)
        content, finish = limit(raw, max_tokens)
        completion += tokens(content)
        choices.append(
            {
                "index": i,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish,
            }
        )
    prompt_tokens = max(1, tokens(prompt))
    return {
        "id": f"chatcmpl-{seed[:12].hex()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
        "system_fingerprint": "fp_simulated",
    }


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """A ``text_completion`` for a legacy completions body (``prompt`` str or list of str)."""
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ResponderError(400, "prompt must be a string or an array of strings", param="prompt")
    seed = request_hash(body)
    choices: list[dict[str, Any]] = []
    used = 0
    for p_index, p in enumerate(prompts):
        answer = Answer(p, p, seed + bytes([p_index % 256]))
        for i in range(_n(body)):
            text, finish = limit(answer.text(i), body.get("max_tokens", 16))
            used += tokens(text)
            choices.append({"text": text, "index": len(choices), "logprobs": None, "finish_reason": finish})
    prompt_tokens = max(1, sum(tokens(p) for p in prompts))
    return {
        "id": f"cmpl-{seed.hex()[:24]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": used,
            "total_tokens": prompt_tokens + used,
        },
    }


def response(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API ``response`` object (``input`` str or list of message items)."""
    inp = body.get("input")
    if isinstance(inp, str):
        texts = [inp]
    elif isinstance(inp, list) and inp:
        texts = [_content_text(item.get("content")) if isinstance(item, dict) else "" for item in inp]
    else:
        raise ResponderError(400, "input must be a string or a non-empty array of input items", param="input")
    given = body.get("instructions")
    instructions = given if isinstance(given, str) else ""
    prompt = "\n".join([instructions, *texts])
    seed = request_hash(body)
    answer = Answer(prompt, texts[-1], seed)
    fmt = body["text"].get("format") if isinstance(body.get("text"), dict) else None
    text, finish = limit(answer.structured(fmt, 0) or answer.text(), body.get("max_output_tokens"))
    out_tokens, in_tokens = tokens(text), max(1, tokens(prompt))
    return {
        "id": f"resp_{seed.hex()[:24]}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed" if finish == "stop" else "incomplete",
        "incomplete_details": None if finish == "stop" else {"reason": "max_output_tokens"},
        "model": body.get("model"),
        "output": [
            {
                "type": "message",
                "id": f"msg_{seed.hex()[:24]}",
                "status": "completed" if finish == "stop" else "incomplete",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": in_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": in_tokens + out_tokens,
        },
    }


def embedding_vector(text: str, dimensions: int, model: str = "") -> list[float]:
    """A deterministic unit-norm vector for ``text``.

    Examples
    --------
    >>> v = embedding_vector("hello", 8)
    >>> len(v), round(sum(x * x for x in v), 6)
    (8, 1.0)
    """
    raw = hashlib.shake_128(f"{model}\0{text}".encode()).digest(2 * dimensions)
    values = [x - 32767.5 for x in array("H", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """An embeddings ``list`` for ``input`` (str, list of str, or token lists)."""
    inp = body.get("input")
    items: list[Any]
    if isinstance(inp, str) or (isinstance(inp, list) and inp and all(isinstance(x, int) for x in inp)):
        items = [inp]  # one text, or one token array
    else:
        items = inp if isinstance(inp, list) else []
    if not items or not all(isinstance(x, (str, list)) for x in items):
        raise ResponderError(400, "input must be a non-empty string or array of strings", param="input")
    dims = body.get("dimensions", DEFAULT_EMBEDDING_DIMENSIONS)
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 8192:
        raise ResponderError(400, "dimensions must be an integer between 1 and 8192", param="dimensions")
    b64 = body.get("encoding_format") == "base64"
    data, used = [], 0
    for i, item in enumerate(items):
        text = item if isinstance(item, str) else orjson.dumps(item).decode()
        used += tokens(text) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
        vec = embedding_vector(text, dims, str(body.get("model", "")))
        value: Any = vec
        if b64:  # the openai SDK asks for base64 float32 by default and decodes it itself
            packed = array("f", vec)
            if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
                packed.byteswap()
            value = base64.b64encode(packed.tobytes()).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }


SIMULATED = {
    "/v1/chat/completions": chat_completion,
    "/v1/completions": completion,
    "/v1/responses": response,
    "/v1/embeddings": embeddings,
}


def simulate(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """Answer ``body`` for ``endpoint`` with the simulated model.

    Raises
    ------
    ResponderError
        400 for a malformed body, 404 for an endpoint the simulator does not serve.

    Examples
    --------
    >>> out = simulate("/v1/chat/completions", {"model": "openai-main/m", "messages": [
    ...     {"role": "user", "content": "Sentiment of: I love it"}]})
    >>> out["choices"][0]["message"]["content"]
    '[simulated] positive'
    """
    handler = SIMULATED.get(endpoint)
    if handler is None:
        raise ResponderError(
            404, f"the simulated model does not serve {endpoint}", code="unsupported_endpoint"
        )
    return handler(body)
