"""The simulated model: deterministic, plainly fake answers in the real response shapes.

Same request body, same answer (the body is hashed). Token counts are an estimate: **one token per
4 characters** of text (rounded up); prompt tokens count the text of every message / input.
Embeddings have ``dimensions`` components (default 64), unit norm, derived from the input text.
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
import time
from array import array
from collections.abc import Sequence
from typing import Any

import orjson

from .schema_gen import SchemaInstance

CHARS_PER_TOKEN = 4
DEFAULT_EMBEDDING_DIMENSIONS = 64
PREFIX = "[simulated]"

_POSITIVE = frozenset(
    [
        "good",
        "great",
        "love",
        "loved",
        "excellent",
        "amazing",
        "happy",
        "best",
        "wonderful",
        "fantastic",
        "nice",
        "perfect",
        "recommend",
        "enjoyed",
        "awesome",
        "like",
        "liked",
        "beautiful",
        "fast",
        "helpful",
        "works",
        "pleased",
        "delightful",
        "brilliant",
        "superb",
    ]
)
_NEGATIVE = frozenset(
    [
        "bad",
        "terrible",
        "awful",
        "hate",
        "hated",
        "worst",
        "poor",
        "disappointed",
        "disappointing",
        "broken",
        "boring",
        "horrible",
        "waste",
        "refund",
        "slow",
        "never",
        "useless",
        "crashes",
        "crashed",
        "rude",
        "cheap",
        "flimsy",
        "dirty",
        "late",
        "wrong",
        "fails",
        "failed",
    ]
)
_WORD = re.compile(r"[a-z']+")


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


def tokens(text: str) -> int:
    """Estimated tokens of ``text``: ceil(len / 4).

    Examples
    --------
    >>> tokens("12345")
    2
    """
    return -(-len(text) // CHARS_PER_TOKEN)


def request_hash(body: dict[str, Any]) -> bytes:
    """Stable 16-byte hash of a request body (key order does not matter)."""
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep only text
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def sentiment(text: str) -> str:
    """A plausible, deterministic sentiment label from a tiny word list.

    Examples
    --------
    >>> sentiment("I love it, works great")
    'positive'
    """
    words = _WORD.findall(text.lower())
    # set intersections count distinct words: cheaper per line than a generator, and close enough
    score = len(_POSITIVE.intersection(words)) - len(_NEGATIVE.intersection(words))
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


class _Answer:
    """Decides the answer text for one request (shared by chat, completions and responses)."""

    def __init__(self, prompt: str, last: str, seed: bytes) -> None:
        self.prompt, self.last, self.seed = prompt, last, seed
        self.sentiment = sentiment(last) if "sentiment" in prompt.lower() else None

    def text(self, choice: int = 0) -> str:
        suffix = f" (choice {choice + 1})" if choice else ""
        if self.sentiment is not None:
            return f"{PREFIX} {self.sentiment}{suffix}"
        words = self.last.split()
        snippet = " ".join(words[:6]) + (" ..." if len(words) > 6 else "")
        return f'{PREFIX} reply {self.seed.hex()[:6]} to "{snippet}"{suffix}'

    def field(self, name: str) -> str:
        return self.sentiment if self.sentiment and "sentiment" in name.lower() else f"{PREFIX} {name}"

    def prefer(self, values: Sequence[Any]) -> Any | None:
        if self.sentiment is None:
            return None
        lowered = {str(v).lower(): v for v in values}
        return lowered.get(self.sentiment)

    def structured(self, fmt: Any, choice: int) -> str | None:
        """JSON text for a ``response_format`` (chat) / ``text.format`` (responses), else None."""
        if not isinstance(fmt, dict):
            return None
        if fmt.get("type") == "json_object":
            return orjson.dumps({"answer": self.text(choice)}).decode()
        if fmt.get("type") == "json_schema":
            # chat nests the schema under json_schema; responses puts it at the top level
            nested = fmt.get("json_schema")
            spec: dict[str, Any] = nested if isinstance(nested, dict) else fmt
            gen = SchemaInstance(self.seed + bytes([choice % 256]), text=self.field, prefer=self.prefer)
            return orjson.dumps(gen.build(spec.get("schema", {}))).decode()
        return None


def _limit(text: str, max_tokens: Any) -> tuple[str, str]:
    valid = isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 0
    if valid and tokens(text) > max_tokens:
        return text[: max_tokens * CHARS_PER_TOKEN], "length"
    return text, "stop"


def _n(body: dict[str, Any]) -> int:
    n = body.get("n", 1)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise ResponderError(400, "n must be an integer between 1 and 128", param="n")
    return n


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` for a chat request body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ResponderError(400, "messages must be a non-empty array of message objects", param="messages")
    texts = [_content_text(m.get("content")) for m in messages]
    user = [t for m, t in zip(messages, texts, strict=True) if m.get("role") == "user"]
    prompt = "\n".join(texts)
    seed = request_hash(body)
    answer = _Answer(prompt, user[-1] if user else texts[-1], seed)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    choices, completion = [], 0
    for i in range(_n(body)):
        raw = answer.structured(body.get("response_format"), i) or answer.text(i)
        content, finish = _limit(raw, max_tokens)
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
        "id": f"chatcmpl-{seed.hex()[:24]}",
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
        answer = _Answer(p, p, seed + bytes([p_index % 256]))
        for i in range(_n(body)):
            text, finish = _limit(answer.text(i), body.get("max_tokens", 16))
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
    answer = _Answer(prompt, texts[-1], seed)
    fmt = body["text"].get("format") if isinstance(body.get("text"), dict) else None
    text, finish = _limit(answer.structured(fmt, 0) or answer.text(), body.get("max_output_tokens"))
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
