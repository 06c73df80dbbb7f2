"""The simulated model: deterministic answers in the real response shapes, with token usage.

Same request body, same answer (the body is hashed, key order ignored). Token counts are an
estimate: **one token per 4 characters** of text (rounded up); prompt tokens count the text of
every message / input. A request that mentions "sentiment" gets a label from a tiny word list;
``response_format`` JSON schemas get a valid instance; embeddings have ``dimensions`` components
(default 64), unit norm, derived from the input text.

A plain chat line (one choice, string contents, no ``response_format``: what most batch lines
are) is also answered as bytes by :func:`chat_bytes`, one template with the per-line pieces
spliced in, because building the response dict and serialising it again was the biggest share of
a 50,000-line batch's time. ``tests/gateway/test_fastchat.py`` checks both byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import time
from array import array
from collections.abc import Sequence
from typing import Any

import orjson

from ._errors import ApiError
from ._json_schema import SchemaInstance

CHARS_PER_TOKEN = 4
PREFIX = "[simulated]"
DEFAULT_EMBEDDING_DIMENSIONS = 64

# Words as bytes: sentiment() splits an ASCII-folded byte string, which is several times cheaper
# per line than a regex over the str (this runs once per batch line).
POSITIVE_WORDS = frozenset(
    b"good great love loved excellent amazing happy best wonderful fantastic nice perfect recommend"
    b" enjoyed awesome like liked beautiful fast helpful works pleased delightful brilliant superb".split()
)
NEGATIVE_WORDS = frozenset(
    b"bad terrible awful hate hated worst poor disappointed disappointing broken boring horrible waste"
    b" refund slow never useless crashes crashed rude cheap flimsy dirty late wrong fails failed".split()
)
# Every byte that cannot be part of a word ([a-z']) becomes a space; UTF-8 bytes of non-ASCII
# characters are >= 0x80, so they separate words exactly like the regex [a-z']+ did.
_WORD_BYTES = bytes(c if 97 <= c <= 122 or c == 39 else 32 for c in range(256))
# One intersection with all the words, then a lookup per hit (usually 0-2), halves the cost of
# intersecting with each list. The two lists share no word.
_SCORE = {**dict.fromkeys(POSITIVE_WORDS, 1), **dict.fromkeys(NEGATIVE_WORDS, -1)}
_SCORED = frozenset(_SCORE)


def tokens(text: str) -> int:
    """Estimated tokens of ``text``: ceil(len / 4).

    Examples
    --------
    >>> tokens("12345")
    2
    """
    return -(-len(text) // CHARS_PER_TOKEN)


def request_hash(body: dict[str, Any]) -> bytes:
    """Stable 16-byte hash of a request body (key order does not matter).

    Examples
    --------
    >>> request_hash({"a": 1, "b": 2}) == request_hash({"b": 2, "a": 1})
    True
    """
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def sentiment(text: str) -> str:
    """A plausible, deterministic sentiment label from a tiny word list.

    Distinct words count: "good good bad" is neutral.

    Examples
    --------
    >>> sentiment("I love it, works great"), sentiment("Awful."), sentiment("ok")
    ('positive', 'negative', 'neutral')
    """
    words = text.lower().encode("utf-8", "replace").translate(_WORD_BYTES).split()
    score = 0
    for word in _SCORED.intersection(words):
        score += _SCORE[word]
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


class Answer:
    """Decides the answer text for one request (shared by chat, completions and responses).

    Examples
    --------
    >>> Answer("Sentiment?", "I love it", b"\\x00" * 16).text()
    '[simulated] positive'
    >>> Answer("Say hi", "hello there", bytes(range(16))).text(1)
    '[simulated] reply 000102 to "hello there" (choice 2)'
    """

    __slots__ = ("last", "prompt", "seed", "sentiment")

    def __init__(self, prompt: str, last: str, seed: bytes) -> None:
        self.prompt, self.last, self.seed = prompt, last, seed
        self.sentiment = sentiment(last) if "sentiment" in prompt.lower() else None

    def text(self, choice: int = 0) -> str:
        """The plain-text answer of choice ``choice`` (0-based)."""
        suffix = f" (choice {choice + 1})" if choice else ""
        if self.sentiment is not None:
            return f"{PREFIX} {self.sentiment}{suffix}"
        words = self.last.split()
        snippet = " ".join(words[:6]) + (" ..." if len(words) > 6 else "")
        return f'{PREFIX} reply {self.seed[:3].hex()} to "{snippet}"{suffix}'

    def field(self, name: str) -> str:
        """Text for a string field called ``name`` of a structured answer."""
        return self.sentiment if self.sentiment and "sentiment" in name.lower() else f"{PREFIX} {name}"

    def prefer(self, values: Sequence[Any]) -> Any | None:
        """The enum value matching the sentiment, if any."""
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


def limit(text: str, max_tokens: Any) -> tuple[str, str]:
    """Cut ``text`` to ``max_tokens`` (when a valid int); returns (text, finish_reason).

    Examples
    --------
    >>> limit("abcdefghij", 2), limit("abc", None)
    (('abcdefgh', 'length'), ('abc', 'stop'))
    """
    valid = isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 0
    if valid and len(text) > max_tokens * CHARS_PER_TOKEN:  # same as tokens(text) > max_tokens
        return text[: max_tokens * CHARS_PER_TOKEN], "length"
    return text, "stop"


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
        raise ApiError(400, "n must be an integer between 1 and 128", param="n")
    return n


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` for a chat request body.

    This runs once per batch line, so it walks the messages once and skips the structured-output
    machinery when there is no ``response_format``.

    Examples
    --------
    >>> fmt = {"type": "json_schema", "json_schema": {"schema": {"type": "object",
    ...        "properties": {"sentiment": {"enum": ["positive", "negative"]}}}}}
    >>> out = chat_completion({"model": "m", "response_format": fmt,
    ...                        "messages": [{"role": "user", "content": "Sentiment: awful"}]})
    >>> out["choices"][0]["message"]["content"], out["usage"]["prompt_tokens"]
    ('{"sentiment":"negative"}', 4)
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ApiError(400, "messages must be a non-empty array of message objects", param="messages")
    texts: list[str] = []
    last_user: str | None = None
    for m in messages:
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
        "usage": _usage(prompt_tokens, completion),
        "system_fingerprint": "fp_simulated",
    }


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """A ``text_completion`` for a legacy completions body (``prompt`` str or list of str).

    Examples
    --------
    >>> [c["finish_reason"] for c in completion({"prompt": ["a", "b"], "max_tokens": 1})["choices"]]
    ['length', 'length']
    """
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ApiError(400, "prompt must be a string or an array of strings", param="prompt")
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
        "usage": _usage(prompt_tokens, used),
    }


def response(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API ``response`` object (``input`` str or list of message items).

    Examples
    --------
    >>> response({"input": "Sentiment: great", "model": "m"})["output"][0]["content"][0]["text"]
    '[simulated] positive'
    """
    inp = body.get("input")
    if isinstance(inp, str):
        texts = [inp]
    elif isinstance(inp, list) and inp:
        texts = [_content_text(item.get("content")) if isinstance(item, dict) else "" for item in inp]
    else:
        raise ApiError(400, "input must be a string or a non-empty array of input items", param="input")
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
    """An embeddings ``list`` for ``input`` (str, list of str, or token lists).

    Examples
    --------
    >>> out = embeddings({"input": ["a", "b"], "dimensions": 3})
    >>> [len(d["embedding"]) for d in out["data"]], out["usage"]["prompt_tokens"]
    ([3, 3], 2)
    """
    inp = body.get("input")
    items: list[Any]
    if isinstance(inp, str) or (isinstance(inp, list) and inp and all(isinstance(x, int) for x in inp)):
        items = [inp]  # one text, or one token array
    else:
        items = inp if isinstance(inp, list) else []
    if not items or not all(isinstance(x, (str, list)) for x in items):
        raise ApiError(400, "input must be a non-empty string or array of strings", param="input")
    dims = body.get("dimensions", DEFAULT_EMBEDDING_DIMENSIONS)
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 8192:
        raise ApiError(400, "dimensions must be an integer between 1 and 8192", param="dimensions")
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


_SHAPES = {
    "/v1/chat/completions": chat_completion,
    "/v1/completions": completion,
    "/v1/responses": response,
    "/v1/embeddings": embeddings,
}


def prompt_tokens(endpoint: str, body: Any) -> int:
    """The ``prompt_tokens`` (``input_tokens``) the simulated model reports for ``body``, without answering.

    Chat: ``max(1, ceil(L / 4))`` with L the characters of every message's text (a string
    content, or its text parts joined by one space) plus one per message after the first (the
    newlines joining them). Completions: ``max(1, sum(ceil(len(p) / 4)))`` over the prompts.
    Responses: as chat, over ``instructions`` (``""`` when absent) and each input item. Embeddings:
    ``ceil(len / 4)`` per text input, plus the length of token-array inputs. A body the model
    refuses (no messages, say) counts 0.

    Examples
    --------
    >>> body = {"messages": [{"role": "system", "content": "Be brief."},
    ...                      {"role": "user", "content": "Sentiment: great"}]}
    >>> prompt_tokens("/v1/chat/completions", body), chat_completion(body)["usage"]["prompt_tokens"]
    (7, 7)
    >>> prompt_tokens("/v1/embeddings", {"input": ["abcde", [1, 2, 3]]}), prompt_tokens("/v1/chat/completions", {})
    (5, 0)
    """
    if not isinstance(body, dict):
        return 0
    if endpoint == "/v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return 0
        chars = len(messages) - 1
        for m in messages:
            content = m.get("content")
            chars += len(content) if isinstance(content, str) else len(_content_text(content))
        return max(1, -(-chars // CHARS_PER_TOKEN))
    if endpoint == "/v1/completions":
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            return 0
        return max(1, sum(tokens(p) for p in prompts))
    if endpoint == "/v1/responses":
        inp, given = body.get("input"), body.get("instructions")
        if isinstance(inp, str):
            chars = len(inp)
        elif isinstance(inp, list) and inp:
            chars = (
                len(inp) - 1 + sum(len(_content_text(i.get("content"))) for i in inp if isinstance(i, dict))
            )
        else:
            return 0
        chars += 1 + (len(given) if isinstance(given, str) else 0)  # "\n".join([instructions, *texts])
        return max(1, -(-chars // CHARS_PER_TOKEN))
    if endpoint == "/v1/embeddings":
        inp = body.get("input")
        if isinstance(inp, str) or (isinstance(inp, list) and inp and all(isinstance(x, int) for x in inp)):
            inp = [inp]
        if not isinstance(inp, list) or not inp or not all(isinstance(x, (str, list)) for x in inp):
            return 0
        return sum(tokens(x) if isinstance(x, str) else len(x) for x in inp)
    return 0


def simulate(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """Answer ``body`` for ``endpoint`` with the simulated model: the gateway's default responder.

    Raises
    ------
    ApiError
        400 for a malformed body, 404 for an endpoint the simulator does not serve.

    Examples
    --------
    >>> out = simulate("/v1/chat/completions", {"model": "openai-main/m", "messages": [
    ...     {"role": "user", "content": "Sentiment of: I love it"}]})
    >>> out["choices"][0]["message"]["content"]
    '[simulated] positive'
    """
    handler = _SHAPES.get(endpoint)
    if handler is None:
        raise ApiError(404, f"the simulated model does not serve {endpoint}", code="unsupported_endpoint")
    return handler(body)


# orjson.dumps(chat_completion(body)) for one choice, keys in the order the dict builds them.
CHAT_TEMPLATE = (
    b'{"id":"chatcmpl-%s","object":"chat.completion","created":%d,"model":%s,'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":null,'
    b'"annotations":[]},"logprobs":null,"finish_reason":"%s"}],'
    b'"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d},'
    b'"system_fingerprint":"fp_simulated"}'
)

# (answer text, max_tokens) -> (content as JSON, finish_reason, completion tokens). Sentiment
# answers are one of three texts, so batches hit this for nearly every line; other answers carry
# the request hash and are not cached. Bounded by the few texts x the max_tokens values seen.
_DONE: dict[tuple[str, int | None], tuple[bytes, bytes, int]] = {}


def chat_content(text: str, max_tokens: Any) -> tuple[bytes, bytes, int]:
    """The answer ``text`` cut to ``max_tokens``: (content as JSON, finish_reason, completion tokens).

    Examples
    --------
    >>> chat_content("[simulated] positive", 2)
    (b'"[simulat"', b'length', 2)
    """
    content, finish = limit(text, max_tokens)
    return orjson.dumps(content), finish.encode(), tokens(content)


def chat_bytes(body: dict[str, Any]) -> tuple[bytes, int, int] | None:
    """``(orjson.dumps(chat_completion(body)), prompt_tokens, completion_tokens)``, or None.

    None means "not the plain shape" (several choices, a ``response_format``, content parts,
    malformed messages): the caller then runs :func:`chat_completion`, which also
    raises the 400s for malformed bodies.

    Examples
    --------
    >>> body = {"model": "m", "messages": [{"role": "user", "content": "Sentiment: great"}]}
    >>> raw, i, o = chat_bytes(body)
    >>> orjson.loads(raw)["choices"][0]["message"]["content"], i, o
    ('[simulated] positive', 4, 5)
    """
    messages = body.get("messages")
    if type(messages) is not list or not messages or body.get("response_format") is not None:
        return None
    n = body.get("n")
    if n is not None and (type(n) is not int or n != 1):  # type(): True == 1 but is invalid
        return None
    texts: list[str] = []
    last_user: str | None = None
    for m in messages:
        if type(m) is not dict:
            return None
        content = m.get("content")
        if type(content) is not str:
            return None
        texts.append(content)
        if m.get("role") == "user":
            last_user = content
    prompt = "\n".join(texts)
    seed = request_hash(body)
    last = texts[-1] if last_user is None else last_user
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if "sentiment" in prompt.lower():  # Answer.text(0) of a sentiment request, without its object
        text = f"{PREFIX} {sentiment(last)}"
        key = (text, max_tokens) if max_tokens is None or type(max_tokens) is int else None
        done_ = _DONE.get(key) if key else None
        if done_ is None:
            done_ = chat_content(text, max_tokens)
            if key and len(_DONE) < 4096:
                _DONE[key] = done_
    else:
        done_ = chat_content(Answer(prompt, last, seed).text(0), max_tokens)
    content, finish, done = done_
    prompt_tokens = max(1, -(-len(prompt) // CHARS_PER_TOKEN))  # tokens(), inlined
    raw = CHAT_TEMPLATE % (
        seed[:12].hex().encode(),
        int(time.time()),
        orjson.dumps(body.get("model")),
        content,
        finish,
        prompt_tokens,
        done,
        prompt_tokens + done,
    )
    return raw, prompt_tokens, done
