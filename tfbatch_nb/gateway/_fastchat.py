"""The simulated ``chat.completion`` of a plain chat line, serialised straight to bytes.

A batch line is usually a single-choice chat request with string contents and no
``response_format``. For those, building the response dict of :func:`.simulator.chat_completion`
and serialising it again was the biggest share of a 50,000-line batch's time; here the same bytes
come from one template with the per-line pieces spliced in. Anything else returns None and takes
the general path, so the template only has to be right for this one shape, and
``tests/gateway/test_fastchat.py`` checks it against the general path byte for byte.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .answers import CHARS_PER_TOKEN, PREFIX, Answer, limit, request_hash, sentiment, tokens

__all__ = ["chat_bytes"]

# orjson.dumps(chat_completion(body)) for one choice, keys in the order the dict builds them.
_TEMPLATE = (
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


def _finish(text: str, max_tokens: Any) -> tuple[bytes, bytes, int]:
    content, finish = limit(text, max_tokens)
    return orjson.dumps(content), finish.encode(), tokens(content)


def chat_bytes(body: dict[str, Any]) -> tuple[bytes, int, int] | None:
    """``(orjson.dumps(chat_completion(body)), prompt_tokens, completion_tokens)``, or None.

    None means "not the plain shape" (several choices, a ``response_format``, content parts,
    malformed messages): the caller then runs :func:`.simulator.chat_completion`, which also
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
            done_ = _finish(text, max_tokens)
            if key and len(_DONE) < 4096:
                _DONE[key] = done_
    else:
        done_ = _finish(Answer(prompt, last, seed).text(0), max_tokens)
    content, finish, done = done_
    prompt_tokens = max(1, -(-len(prompt) // CHARS_PER_TOKEN))  # answers.tokens(), inlined
    raw = _TEMPLATE % (
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
