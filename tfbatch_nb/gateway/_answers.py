"""What the simulated model says: token estimates, the request hash, sentiment and answer text.

The response *shapes* live in :mod:`.simulator`; this module decides the *content*. Same request
body, same answer (the body is hashed, key order ignored). Token counts are an estimate: **one
token per 4 characters** of text (rounded up).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from .schema_gen import SchemaInstance

CHARS_PER_TOKEN = 4
PREFIX = "[simulated]"

# Words as bytes: sentiment() splits an ASCII-folded byte string, which is several times cheaper
# per line than a regex over the str (this runs once per batch line).
_POSITIVE = frozenset(
    b"good great love loved excellent amazing happy best wonderful fantastic nice perfect recommend"
    b" enjoyed awesome like liked beautiful fast helpful works pleased delightful brilliant superb".split()
)
_NEGATIVE = frozenset(
    b"bad terrible awful hate hated worst poor disappointed disappointing broken boring horrible waste"
    b" refund slow never useless crashes crashed rude cheap flimsy dirty late wrong fails failed".split()
)
# Every byte that cannot be part of a word ([a-z']) becomes a space; UTF-8 bytes of non-ASCII
# characters are >= 0x80, so they separate words exactly like the regex [a-z']+ did.
_WORD_BYTES = bytes(c if 97 <= c <= 122 or c == 39 else 32 for c in range(256))
# One intersection with all the words, then a lookup per hit (usually 0-2), halves the cost of
# intersecting with each list. The two lists share no word.
_SCORE = {**dict.fromkeys(_POSITIVE, 1), **dict.fromkeys(_NEGATIVE, -1)}
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
