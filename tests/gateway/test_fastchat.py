"""The byte template of plain chat lines says exactly what the general simulator path says."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tfbatch_nb.gateway._lines import usage_of
from tfbatch_nb.gateway._simulator import chat_bytes, chat_completion

SYSTEM = {"role": "system", "content": "Classify the SENTIMENT."}
BODIES: list[dict[str, Any]] = [
    {"model": "openai-main/m", "messages": [{"role": "user", "content": "Sentiment: I love it"}]},
    {
        "model": "openai-main/m",
        "messages": [SYSTEM, {"role": "user", "content": 'awful "q" \u00e9 \U0001f600'}],
    },
    {"model": "openai-main/m", "messages": [SYSTEM, {"role": "user", "content": "ok"}], "max_tokens": 1},
    {"model": "openai-main/m", "messages": [SYSTEM, {"role": "user", "content": "great"}], "max_tokens": 0},
    {"model": "openai-main/m", "messages": [{"role": "user", "content": "Tell me about cats"}], "n": 1},
    {"model": "openai-main/m", "messages": [{"role": "user", "content": "a b c d e f g h"}], "max_tokens": 3},
    {"model": "m", "messages": [{"role": "assistant", "content": "no user"}], "max_completion_tokens": 2},
    {"model": None, "messages": [{"content": ""}], "max_tokens": True},
    {"model": 7, "messages": [SYSTEM, {"role": "user", "content": "bad"}], "max_tokens": [1]},
]
GENERAL_ONLY: list[dict[str, Any]] = [
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2},
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": True},
    {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
    },
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    {"model": "m", "messages": []},
    {"model": "m", "messages": ["not a dict"]},
]


def _without_created(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(raw)
    out.pop("created")  # wall-clock time, the one field allowed to differ
    return out


@pytest.mark.parametrize("body", BODIES)
def test_template_bytes_equal_the_general_path(body: dict[str, Any]) -> None:
    for _ in range(2):  # the second call answers from the cache
        fast = chat_bytes(body)
        assert fast is not None
        general = chat_completion(body)
        assert fast[0] == orjson.dumps({**general, "created": orjson.loads(fast[0])["created"]})
        assert _without_created(fast[0]) == _without_created(orjson.dumps(general))
        assert fast[1:] == usage_of(general)


@pytest.mark.parametrize("body", GENERAL_ONLY)
def test_other_shapes_take_the_general_path(body: dict[str, Any]) -> None:
    assert chat_bytes(body) is None
