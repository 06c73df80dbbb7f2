"""Validation of a batch input file, streamed line by line (a 200 MB file is never loaded whole).

Every problem becomes a ``BatchError``-shaped dict ``{code, message, param, line}`` with a 1-based
line number, as the batch's ``errors.data`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .catalog import Limits, ProviderIntegration, check_model


@dataclass
class Validation:
    """Outcome of validating one input file."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    model: str | None = None


def _err(code: str, message: str, *, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def validate_file(
    path: Path,
    *,
    endpoint: str,
    integration: ProviderIntegration,
    catalog: Mapping[str, ProviderIntegration],
    limits: Limits,
    header_model: str | None = None,
) -> Validation:
    """Check every line of a batch input file.

    Parameters
    ----------
    path : Path
        The JSONL input file.
    endpoint : str
        The batch endpoint every line's ``url`` must equal.
    integration : ProviderIntegration
        The provider integration the batch was created through.
    catalog : Mapping[str, ProviderIntegration]
        All integrations (to tell an unknown integration from a mismatched one).
    limits : Limits
        Line, byte, embedding-input and record-count limits.
    header_model : str or None
        The model named by a provider header (Vertex, Bedrock), used when lines omit ``body.model``.

    Returns
    -------
    Validation
        ``errors`` (empty when valid), ``total`` lines and the single ``model``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from tfbatch_nb.gateway.catalog import build_catalog, Limits
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> _ = p.write_text('{"custom_id": "a"}\\n')
    >>> cat = build_catalog(None)
    >>> v = validate_file(p, endpoint="/v1/chat/completions", integration=cat["openai-main"],
    ...                   catalog=cat, limits=Limits())
    >>> [(e["code"], e["line"]) for e in v.errors]
    [('invalid_method', 1), ('mismatched_url', 1), ('invalid_body', 1)]
    """
    out = Validation()
    size = path.stat().st_size
    if size > limits.max_bytes:
        out.errors.append(
            _err("file_too_large", f"The input file is {size} bytes; the limit is {limits.max_bytes} bytes.")
        )
        return out
    errors = out.errors
    seen: set[str] = set()
    embedding_inputs = 0
    omit = integration.omit_routing
    n = 0
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if len(errors) >= limits.max_errors:
                break
            if n > limits.max_lines:
                errors.append(
                    _err(
                        "too_many_requests",
                        f"The input file has more than {limits.max_lines} requests.",
                        line=n,
                    )
                )
                break
            text = raw.strip()
            if not text:
                errors.append(_err("empty_line", "Empty line: every line must be one JSON request.", line=n))
                continue
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                errors.append(_err("invalid_json", f"Line is not valid JSON: {exc}", line=n))
                continue
            if not isinstance(obj, dict):
                errors.append(_err("invalid_request", "Each line must be a JSON object.", line=n))
                continue
            cid = obj.get("custom_id")
            if not isinstance(cid, str) or not cid:
                errors.append(
                    _err(
                        "missing_custom_id",
                        "custom_id is required (a non-empty string).",
                        line=n,
                        param="custom_id",
                    )
                )
            elif cid in seen:
                errors.append(
                    _err(
                        "duplicate_custom_id",
                        f"The custom_id {cid!r} for this request is a duplicate of another request. "
                        "The custom_id parameter must be unique for each request in a batch.",
                        line=n,
                        param="custom_id",
                    )
                )
            else:
                seen.add(cid)
            if not (omit and "method" not in obj) and obj.get("method") != "POST":
                errors.append(
                    _err(
                        "invalid_method",
                        f"method must be 'POST', got {obj.get('method')!r}.",
                        line=n,
                        param="method",
                    )
                )
            if not (omit and "url" not in obj) and obj.get("url") != endpoint:
                errors.append(
                    _err(
                        "mismatched_url",
                        f"url {obj.get('url')!r} does not match the batch endpoint {endpoint!r}.",
                        line=n,
                        param="url",
                    )
                )
            body = obj.get("body")
            if not isinstance(body, dict):
                errors.append(_err("invalid_body", "body must be a JSON object.", line=n, param="body"))
                continue
            model = body.get("model")
            if model is None and header_model is not None:
                model = header_model
            if model is None:
                errors.append(_err("missing_model", "body.model is required.", line=n, param="body.model"))
            elif problem := check_model(model, catalog):
                errors.append(_err("invalid_model", problem, line=n, param="body.model"))
            elif not str(model).startswith(integration.name + "/"):
                errors.append(
                    _err(
                        "invalid_model",
                        f"model {model!r} does not belong to the provider integration {integration.name!r} "
                        "named by x-tfy-provider-name.",
                        line=n,
                        param="body.model",
                    )
                )
            elif out.model is None:
                out.model = str(model)
            elif model != out.model:
                errors.append(
                    _err(
                        "multiple_models",
                        f"A batch may use one model; line uses {model!r} but earlier lines use {out.model!r}.",
                        line=n,
                        param="body.model",
                    )
                )
            if endpoint == "/v1/embeddings":
                inp = body.get("input")
                embedding_inputs += (
                    len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
                )
    out.total = n
    if not errors:
        if n == 0:
            errors.append(_err("empty_file", "The input file has no requests."))
        elif integration.kind == "bedrock" and n < limits.bedrock_min_records:
            errors.append(
                _err(
                    "too_few_requests",
                    f"Bedrock batch jobs need at least {limits.bedrock_min_records} records; the file has {n}.",
                )
            )
        elif embedding_inputs > limits.max_embedding_inputs:
            errors.append(
                _err(
                    "too_many_embedding_inputs",
                    f"The batch has {embedding_inputs} embedding inputs; the limit is {limits.max_embedding_inputs}.",
                )
            )
    return out
