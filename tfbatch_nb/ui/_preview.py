"""Request previews: a job's plain facts and first lines -> text, HTML and a small DataFrame.

The build stage fills a :class:`RequestsPreview`; the renderers here never see the requests object,
so the views are deterministic (no addresses, no temp paths) and the UI imports nothing from build.

Examples
--------
>>> line = b'{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"hi"}}\\n'
>>> facts = RequestsPreview(rows=1, parts=1, max_lines=50_000, max_bytes=2_000_000, nbytes=len(line),
...                         endpoint="/v1/embeddings", model="m", provider=None, structured=False,
...                         sha256="ab" * 32, first_lines=(line,))
>>> print(preview_text(facts))
<BatchRequests 1 rows, 1 part, 91 B, /v1/embeddings, model 'm'>
  model: m
  provider: gateway default
  structured output: no
  sha256: abababababab
  first lines:
    {"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"hi"}}
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd

__all__ = ["RequestsPreview", "format_bytes", "preview_frame", "preview_html", "preview_text", "request_text"]

_CUT = 60  # characters kept of each long string in an example line
_EXCERPT = 80


@dataclass(frozen=True)
class RequestsPreview:
    """What a preview of batch requests shows: counts, limits, settings and the first lines.

    Attributes
    ----------
    rows, parts, nbytes : int
        Request lines, parts and bytes of the job.
    max_lines, max_bytes : int
        The limits of one part.
    endpoint : str
    model : str or None
        ``body.model`` of the lines (``None``: not in the lines).
    provider : str or None
        A label such as ``"openai-main (openai)"`` (``None``: the gateway's default).
    structured : bool
        Whether the requests ask for a JSON-schema ``response_format``.
    sha256 : str
        The job's hash (hex).
    first_lines : tuple of bytes
        The lines to show as examples (long strings are cut).
    warnings : tuple of str

    Examples
    --------
    >>> RequestsPreview(rows=0, parts=0, max_lines=1, max_bytes=1, nbytes=0, endpoint="/v1/embeddings",
    ...                 model=None, provider=None, structured=False, sha256="").first_lines
    ()
    """

    rows: int
    parts: int
    max_lines: int
    max_bytes: int
    nbytes: int
    endpoint: str
    model: str | None
    provider: str | None
    structured: bool
    sha256: str
    first_lines: tuple[bytes, ...] = ()
    warnings: tuple[str, ...] = ()


def format_bytes(n: int) -> str:
    """A human-readable byte count in decimal units with fixed precision.

    Examples
    --------
    >>> format_bytes(999), format_bytes(1_234_567)
    ('999 B', '1.2 MB')
    """
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


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
    """The text a request sends to the model (instructions, messages, input or prompt).

    Examples
    --------
    >>> request_text({"messages": [{"role": "system", "content": "Be brief."},
    ...                            {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
    'Be brief.\\nHi'
    >>> request_text({"input": ["a", "b"]})
    'a\\nb'
    """
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


def preview_frame(lines: Iterable[bytes], n: int) -> pd.DataFrame:
    """The first ``n`` request lines as a DataFrame: custom_id, prompt excerpt, bytes.

    Examples
    --------
    >>> preview_frame([b'{"custom_id":"a","body":{"input":"hi"}}\\n'], 3)
      custom_id prompt  bytes
    0         a     hi     40
    """
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


def _examples(facts: RequestsPreview) -> list[str]:
    return [orjson.dumps(_cut(orjson.loads(line))).decode() for line in facts.first_lines]


def _facts(p: RequestsPreview) -> list[tuple[str, str]]:
    return [
        ("rows", f"{p.rows:,}"),
        ("parts", f"{p.parts} (max {p.max_lines:,} lines, {format_bytes(p.max_bytes)} each)"),
        ("bytes", format_bytes(p.nbytes)),
        ("endpoint", p.endpoint),
        ("model", p.model or "(not in lines)"),
        ("provider", p.provider or "gateway default"),
        ("structured output", "json_schema" if p.structured else "no"),
        ("sha256", p.sha256[:12]),
    ]


def preview_text(facts: RequestsPreview) -> str:
    """The text repr of batch requests: a head line, the settings, the first lines, the warnings.

    Examples
    --------
    >>> facts = RequestsPreview(rows=2, parts=1, max_lines=9, max_bytes=9_000, nbytes=300, endpoint="/v1/x",
    ...                         model="m", provider="p (openai)", structured=True, sha256="0" * 64,
    ...                         warnings=("long ids",))
    >>> print(preview_text(facts))
    <BatchRequests 2 rows, 1 part, 300 B, /v1/x, model 'm'>
      model: m
      provider: p (openai)
      structured output: json_schema
      sha256: 000000000000
      first lines:
      warning: long ids
    """
    p = facts
    head = f"<BatchRequests {p.rows:,} rows, {p.parts} part{'s' * (p.parts != 1)}, " \
           f"{format_bytes(p.nbytes)}, {p.endpoint}, model {p.model!r}>"  # fmt: skip
    lines = [head]
    lines += [f"  {k}: {v}" for k, v in _facts(p)[4:]]
    lines.append("  first lines:")
    lines += [f"    {ex}" for ex in _examples(p)]
    lines += [f"  warning: {w}" for w in p.warnings]
    return "\n".join(lines)


def preview_html(facts: RequestsPreview) -> str:
    """The HTML repr of batch requests: a table of the facts, the first lines, the warnings.

    Examples
    --------
    >>> facts = RequestsPreview(rows=2, parts=1, max_lines=9, max_bytes=9_000, nbytes=300, endpoint="/v1/x",
    ...                         model="m", provider=None, structured=False, sha256="0" * 64)
    >>> preview_html(facts).startswith("<div class='tfbatch-requests'><b>BatchRequests</b><table><tr>")
    True
    """
    esc = html.escape
    rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td style='text-align:left'>{esc(v)}</td></tr>"
                   for k, v in _facts(facts))  # fmt: skip
    examples = "\n".join(esc(ex) for ex in _examples(facts))
    warns = "".join(f"<li>{esc(w)}</li>" for w in facts.warnings)
    return (
        "<div class='tfbatch-requests'><b>BatchRequests</b>"
        f"<table>{rows}</table>"
        f"<details open><summary>first lines</summary><pre style='white-space:pre-wrap'>{examples}</pre></details>"
        + (f"<ul style='color:#a15c00'>{warns}</ul>" if warns else "")
        + "</div>"
    )
