"""Approximate token counts and cost of a batch, from an editable price table.

Tokens are estimated as characters / 4 (plus 4 tokens of overhead per message), the usual
rule of thumb for English text with OpenAI tokenizers: typically within about ±25% for prose,
worse for code, numbers and non-Latin scripts. No tokenizer is downloaded. Output tokens are the
upper bound ``max_tokens × n`` when a limit is set, otherwise unknown.

Examples
--------
>>> PRICES["my-finetune"] = (1.0, 2.0)   # add or correct a price: USD per 1M input, output tokens
>>> match_price("openai-main/my-finetune")
('my-finetune', (1.0, 2.0))
>>> del PRICES["my-finetune"]
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..ui import request_text

__all__ = ["BATCH_DISCOUNT", "CHARS_PER_TOKEN", "PRICES", "Estimate", "estimate_lines", "match_price"]

#: USD per 1M tokens (input, output) at standard, non-batch list prices; edit or extend freely.
#: Figures are OpenAI list prices as published in 2025 and may be out of date.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}
#: The Batch API bills half the standard price.
BATCH_DISCOUNT = 0.5
CHARS_PER_TOKEN = 4.0
_PER_MESSAGE = 4  # role and separators each message costs in chat formats
METHOD = "chars/4 + 4 per message (typical error about ±25% for English prose)"


def match_price(
    model: str | None, prices: Mapping[str, tuple[float, float]] | None = None
) -> tuple[str, tuple[float, float]] | None:
    """The price-table entry for a model id: exact name, else the longest matching prefix.

    ``"openai-main/gpt-4o-mini-2024-07-18"`` matches ``"gpt-4o-mini"`` (the provider prefix is dropped).
    ``prices`` (a connection's own, e.g. ``connect(prices=...)``) is looked at before :data:`PRICES`.

    Examples
    --------
    >>> match_price("openai-main/gpt-4o-2024-08-06")[0]
    'gpt-4o'
    >>> match_price("acme/llama") is None
    True
    """
    if not model:
        return None
    for table in (prices or {}, PRICES):
        for key in (model, model.rsplit("/", 1)[-1]):  # the whole id first: a connection may price it so
            if key in table:
                return key, table[key]
        name = model.rsplit("/", 1)[-1]
        keys = [k for k in table if name.startswith(k + "-")]
        if keys:
            return max(keys, key=len), table[max(keys, key=len)]
    return None


@dataclass(frozen=True)
class Estimate:
    """Approximate tokens and cost of a batch; see the module docstring for the method.

    Examples
    --------
    >>> Estimate(rows=2, prompt_tokens=100, output_tokens=None, model="m", price_key=None,
    ...          cost_usd=None, batch_cost_usd=None, note="no price for 'm'").prompt_tokens
    100
    """

    rows: int
    prompt_tokens: int
    output_tokens: int | None  # upper bound from max_tokens x n; None when no limit is set
    model: str | None
    price_key: str | None
    cost_usd: float | None  # at standard prices
    batch_cost_usd: float | None  # with the batch discount
    note: str
    method: str = METHOD

    def _lines(self) -> list[tuple[str, str]]:
        out = [("rows", f"{self.rows:,}"), ("prompt tokens", f"~{self.prompt_tokens:,}"),
               ("output tokens", f"<= {self.output_tokens:,}" if self.output_tokens is not None else "unknown (no max_tokens)")]  # fmt: skip
        if self.batch_cost_usd is not None and self.cost_usd is not None:
            out.append(
                (
                    "batch cost",
                    f"~${self.batch_cost_usd:,.4f} (standard ${self.cost_usd:,.4f}, {BATCH_DISCOUNT:.0%} off)",
                )
            )
        else:
            out.append(("batch cost", "unknown"))
        out += [("model", f"{self.model} (priced as {self.price_key})" if self.price_key else str(self.model)),
                ("method", self.method), ("note", self.note)]  # fmt: skip
        return [(k, v) for k, v in out if v]

    def __repr__(self) -> str:
        return "<Estimate\n" + "\n".join(f"  {k}: {v}" for k, v in self._lines()) + ">"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
                       for k, v in self._lines())  # fmt: skip
        return f"<div><b>Estimate</b><table>{rows}</table></div>"


def _output_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        if isinstance(body.get(key), int):
            return int(body[key]) * int(body.get("n") or 1)
    return None


def estimate_lines(lines: Iterable[bytes], *, endpoint: str, model: str | None) -> Estimate:
    """Estimate tokens and cost from request lines (used by ``BatchRequests.estimate``)."""
    rows, chars, messages, out_total, out_known = 0, 0, 0, 0, True
    for line in lines:
        body = orjson.loads(line).get("body") or {}
        rows += 1
        chars += len(request_text(body))
        msgs = body.get("messages")
        messages += len(msgs) if isinstance(msgs, list) else 1
        if endpoint != "/v1/embeddings":
            out = _output_tokens(body)
            out_known = out_known and out is not None
            out_total += out or 0
    prompt_tokens = math.ceil(chars / CHARS_PER_TOKEN) + _PER_MESSAGE * messages * (
        endpoint != "/v1/embeddings"
    )
    output_tokens = 0 if endpoint == "/v1/embeddings" else (out_total if out_known else None)
    match = match_price(model)
    if match is None:
        return Estimate(rows, prompt_tokens, output_tokens, model, None, None, None,
                        f"no price for model {model!r}: add it to tfbatch_nb.build.PRICES")  # fmt: skip
    key, (p_in, p_out) = match
    cost = prompt_tokens * p_in / 1e6 + (output_tokens or 0) * p_out / 1e6
    note = "" if output_tokens is not None else "cost covers input only: set max_tokens for an output bound"
    return Estimate(rows, prompt_tokens, output_tokens, model, key, cost, cost * (1 - BATCH_DISCOUNT), note)
