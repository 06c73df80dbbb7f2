"""Money: what a job cost (from its answers' usage) and what a whole batch will cost (from a trial).

Both price tokens with the build stage's table (``PRICES``, or ``connect(prices=...)`` first) and
the Batch API's discount; a model with no price says so instead of guessing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ..build import BATCH_DISCOUNT, match_price

__all__ = ["Cost", "Projection", "cost_of", "project"]

Prices = Mapping[str, tuple[float, float]]


def _price(model: str | None, prices: Prices | None, tokens_in: float, tokens_out: float) -> tuple[
    str | None, float | None, float | None, str
]:  # fmt: skip
    found = match_price(model, prices)
    if found is None:
        return (
            None,
            None,
            None,
            (
                f"no price for model {model!r}: add it with connect(prices={{{model!r}: (input, output)}}) "
                "or tfb.build.PRICES (USD per 1M tokens)"
            ),
        )
    key, (per_in, per_out) = found
    realtime = (tokens_in * per_in + tokens_out * per_out) / 1e6
    return key, realtime * BATCH_DISCOUNT, realtime, ""


def _table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:12px'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<div><b>{html.escape(title)}</b><table>{cells}</table></div>"


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


@dataclass(frozen=True)
class Cost:
    """What a finished job's answers cost: their measured usage at batch prices.

    Examples
    --------
    >>> c = Cost(rows=2, input_tokens=1000, output_tokens=100, model="m", price_key="m",
    ...          cost_usd=0.0001, realtime_usd=0.0002, note="")
    >>> c.cost_usd
    0.0001
    """

    rows: int
    input_tokens: int
    output_tokens: int
    model: str | None
    price_key: str | None
    cost_usd: float | None  # at batch prices (the discount applied)
    realtime_usd: float | None  # the same tokens at real-time prices
    note: str
    projected_usd: float | None = None  # what a trial of these requests projected, if one ran

    def lines(self) -> list[tuple[str, str]]:
        """The facts as (label, text) pairs, for the reprs and the panel."""
        out = [("rows", f"{self.rows:,}"), ("input tokens", f"{self.input_tokens:,}"),
               ("output tokens", f"{self.output_tokens:,}"),
               ("cost", f"{_usd(self.cost_usd)} at batch prices (real-time {_usd(self.realtime_usd)})"),
               ("projected", "" if self.projected_usd is None else f"~{_usd(self.projected_usd)} by the trial"),
               ("model", f"{self.model} (priced as {self.price_key})" if self.price_key else str(self.model))]  # fmt: skip
        return [(k, v) for k, v in out if v] + ([("note", self.note)] if self.note else [])

    def __repr__(self) -> str:
        return "<Cost " + "; ".join(f"{k}: {v}" for k, v in self.lines()) + ">"

    def _repr_html_(self) -> str:
        return _table("Cost", self.lines())


def _total(frame: pd.DataFrame, column: str) -> int:
    # Usage is nullable (a failed row has none): missing counts as nothing spent.
    if column not in frame.columns:
        return 0
    return int(pd.to_numeric(frame[column], errors="coerce").fillna(0).sum())


def cost_of(frame: pd.DataFrame, *, model: str | None, prices: Prices | None = None) -> Cost:
    """Price the usage of a results frame (``prompt_tokens``, ``completion_tokens``) at batch prices.

    Examples
    --------
    >>> res = pd.DataFrame({"prompt_tokens": [600, 400], "completion_tokens": [50, None]})
    >>> c = cost_of(res, model="openai-main/gpt-4o-mini")
    >>> c.input_tokens, c.output_tokens, round(c.cost_usd, 8)
    (1000, 50, 9e-05)
    """
    tokens_in, tokens_out = _total(frame, "prompt_tokens"), _total(frame, "completion_tokens")
    key, batch_usd, realtime_usd, note = _price(model, prices, tokens_in, tokens_out)
    return Cost(rows=len(frame), input_tokens=tokens_in, output_tokens=tokens_out, model=model, price_key=key,
                cost_usd=batch_usd, realtime_usd=realtime_usd, note=note)  # fmt: skip


@dataclass(frozen=True)
class Projection:
    """The whole batch projected from a trial's measured usage.

    Examples
    --------
    >>> Projection(rows=10, input_tokens=500, output_tokens=50, model="m", price_key=None, cost_usd=None,
    ...            realtime_usd=None, method="tokens per input character", note="").rows
    10
    """

    rows: int
    input_tokens: int
    output_tokens: int
    model: str | None
    price_key: str | None
    cost_usd: float | None
    realtime_usd: float | None
    method: str
    note: str

    def lines(self) -> list[tuple[str, str]]:
        """The facts as (label, text) pairs, for the reprs and the panel."""
        out = [("rows", f"{self.rows:,}"), ("input tokens", f"~{self.input_tokens:,}"),
               ("output tokens", f"~{self.output_tokens:,}"),
               ("cost", f"~{_usd(self.cost_usd)} at batch prices (real-time ~{_usd(self.realtime_usd)})"),
               ("model", f"{self.model} (priced as {self.price_key})" if self.price_key else str(self.model)),
               ("method", self.method)]  # fmt: skip
        return out + ([("note", self.note)] if self.note else [])

    def __repr__(self) -> str:
        return "<Projection " + "; ".join(f"{k}: {v}" for k, v in self.lines()) + ">"

    def _repr_html_(self) -> str:
        return _table("Projection of the whole batch", self.lines())


def project(
    *,
    trial_chars: Sequence[int],
    trial_input: Sequence[int],
    trial_output: Sequence[int],
    all_chars: Sequence[int],
    model: str | None,
    prices: Prices | None = None,
) -> Projection:
    """Scale a trial's measured tokens to every row: input by each row's length, output by the mean.

    Input tokens per character of the rows the trial ran, times each row's characters; output
    tokens as the trial's mean per row (an answer's length depends little on the prompt's).

    Examples
    --------
    >>> p = project(trial_chars=[100, 300], trial_input=[30, 70], trial_output=[5, 7],
    ...             all_chars=[100, 300, 600], model="openai-main/gpt-4o-mini")
    >>> p.input_tokens, p.output_tokens
    (250, 18)
    """
    chars = sum(trial_chars)
    per_char = sum(trial_input) / chars if chars else 0.0
    tokens_in = round(per_char * sum(all_chars))
    tokens_out = round(sum(trial_output) / len(trial_output) * len(all_chars)) if trial_output else 0
    key, batch_usd, realtime_usd, note = _price(model, prices, tokens_in, tokens_out)
    method = (
        f"{per_char:.3f} input tokens per character measured on {len(trial_input)} row(s), times each row's "
        "characters; output tokens: the trial's mean per row"
    )
    return Projection(rows=len(all_chars), input_tokens=tokens_in, output_tokens=tokens_out, model=model,
                      price_key=key, cost_usd=batch_usd, realtime_usd=realtime_usd, method=method, note=note)  # fmt: skip
