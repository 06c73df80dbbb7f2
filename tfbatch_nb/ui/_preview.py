"""Deterministic text and HTML views of a ``BatchRequests`` (no addresses, no temp paths)."""

from __future__ import annotations

import html as _html
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

if TYPE_CHECKING:
    from ..build._requests import BatchRequests

__all__ = ["html", "preview", "request_text", "size", "text"]

_CUT = 60  # characters kept of each long string in an example line
_EXCERPT = 80


def size(n: int) -> str:
    """Human-readable byte count, e.g. ``'1.2 MB'`` (decimal units, fixed precision)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _cut(value: Any, limit: int = _CUT) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    if isinstance(value, dict):
        return {k: _cut(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v, limit) for v in value[:8]] + (["…"] if len(value) > 8 else [])
    return value


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep text, mark the rest
        return " ".join(
            p.get("text", f"[{p.get('type', 'part')}]") if isinstance(p, dict) else str(p) for p in content
        )
    return "" if content is None else str(content)


def request_text(body: dict[str, Any]) -> str:
    """The text a request sends to the model (messages, input or prompt), for previews and estimates."""
    parts = []
    if isinstance(body.get("instructions"), str):
        parts.append(body["instructions"])
    msgs = body.get("messages")
    if (
        msgs is None
        and isinstance(body.get("input"), list)
        and body["input"]
        and isinstance(body["input"][0], dict)
    ):
        msgs = body["input"]
    if isinstance(msgs, list):
        parts += [_content_text(m.get("content")) for m in msgs if isinstance(m, dict)]
    else:
        for key in ("input", "prompt"):
            if key in body:
                value = body[key]
                parts += [str(v) for v in value] if isinstance(value, list) else [_content_text(value)]
    return "\n".join(parts)


def _excerpt(body: dict[str, Any]) -> str:
    msgs = body.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict):
        text = _content_text(msgs[-1].get("content"))  # the user turn says more than the shared system prompt
    else:
        text = request_text(body)
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def preview(lines: Iterator[bytes], n: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for line in lines:
        if len(rows) >= n:
            break
        obj = orjson.loads(line)
        rows.append(
            {"custom_id": obj["custom_id"], "prompt": _excerpt(obj.get("body") or {}), "bytes": len(line)}
        )
    frame: pd.DataFrame = pd.DataFrame(rows, columns=["custom_id", "prompt", "bytes"])
    return frame


def _examples(reqs: BatchRequests, n: int = 3) -> list[str]:
    out: list[str] = []
    for line in reqs.iter_lines():
        if len(out) >= n:
            break
        out.append(orjson.dumps(_cut(orjson.loads(line))).decode())
    return out


def _facts(reqs: BatchRequests) -> list[tuple[str, str]]:
    prov = reqs.provider
    return [
        ("rows", f"{len(reqs):,}"),
        ("parts", f"{len(reqs.parts)} (max {reqs.max_lines:,} lines, {size(reqs.max_bytes)} each)"),
        ("bytes", size(reqs.nbytes)),
        ("endpoint", reqs.endpoint),
        ("model", reqs.model or "(not in lines)"),
        ("provider", f"{prov.name} ({prov.kind})" if prov is not None else "gateway default"),
        ("structured output", "json_schema" if reqs.response_schema is not None else "no"),
        ("sha256", reqs.sha256[:12]),
    ]


def text(reqs: BatchRequests) -> str:
    head = f"<BatchRequests {len(reqs):,} rows, {len(reqs.parts)} part{'s' * (len(reqs.parts) != 1)}, " \
           f"{size(reqs.nbytes)}, {reqs.endpoint}, model {reqs.model!r}>"  # fmt: skip
    lines = [head]
    lines += [f"  {k}: {v}" for k, v in _facts(reqs)[4:]]
    lines.append("  first lines:")
    lines += [f"    {ex}" for ex in _examples(reqs)]
    lines += [f"  warning: {w}" for w in reqs.warnings]
    return "\n".join(lines)


def html(reqs: BatchRequests) -> str:
    esc = _html.escape
    rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td style='text-align:left'>{esc(v)}</td></tr>"
                   for k, v in _facts(reqs))  # fmt: skip
    examples = "\n".join(esc(ex) for ex in _examples(reqs))
    warns = "".join(f"<li>{esc(w)}</li>" for w in reqs.warnings)
    return (
        "<div class='tfbatch-requests'><b>BatchRequests</b>"
        f"<table>{rows}</table>"
        f"<details open><summary>first lines</summary><pre style='white-space:pre-wrap'>{examples}</pre></details>"
        + (f"<ul style='color:#a15c00'>{warns}</ul>" if warns else "")
        + "</div>"
    )
