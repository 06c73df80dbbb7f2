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

from ._catalog import Limits, ProviderIntegration, check_model


@dataclass
class Validation:
    """Outcome of validating one input file."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    model: str | None = None


def _err(code: str, message: str, *, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


class LineChecker:
    """Checks the lines of one batch input file, one at a time, collecting ``errors``.

    Streaming lets the runner validate and answer in the same pass over the file (at
    ``speed="max"``), so every line is parsed once; :func:`validate_file` is the plain loop.

    Examples
    --------
    >>> from tfbatch_nb.gateway._catalog import build_catalog
    >>> cat = build_catalog(None)
    >>> check = LineChecker(endpoint="/v1/embeddings", integration=cat["openai-main"], catalog=cat,
    ...                     limits=Limits())
    >>> check.line(1, b"not json") is None, check.errors[0]["code"]
    (True, 'invalid_json')
    >>> check.fresh().errors, check.fresh().endpoint
    ([], '/v1/embeddings')
    """

    def __init__(
        self,
        *,
        endpoint: str,
        integration: ProviderIntegration,
        catalog: Mapping[str, ProviderIntegration],
        limits: Limits,
        header_model: str | None = None,
    ) -> None:
        self.endpoint, self.integration, self.catalog = endpoint, integration, catalog
        self.limits, self.header_model = limits, header_model
        self.out = Validation()
        self.errors = self.out.errors
        self.full = False  # True once reading further lines cannot change the outcome
        self._seen: set[str] = set()
        self._embedding_inputs = 0
        self._omit = integration.omit_routing  # a property: read once, not per line

    def fresh(self) -> LineChecker:
        """A checker for the same batch that has seen no line yet."""
        return LineChecker(
            endpoint=self.endpoint,
            integration=self.integration,
            catalog=self.catalog,
            limits=self.limits,
            header_model=self.header_model,
        )

    def line(self, n: int, raw: bytes) -> dict[str, Any] | None:
        """Check line ``n`` (1-based); returns the parsed line when it is a JSON object, else None."""
        errors, limits, endpoint = self.errors, self.limits, self.endpoint
        if len(errors) >= limits.max_errors:
            self.full = True
            return None
        self.out.total = n
        if n > limits.max_lines:
            msg = f"The input file has more than {limits.max_lines} requests."
            errors.append(_err("too_many_requests", msg, line=n))
            self.full = True
            return None
        try:
            obj = orjson.loads(raw)  # orjson ignores surrounding whitespace: no strip() copy
        except orjson.JSONDecodeError as exc:
            if not raw.strip():
                errors.append(_err("empty_line", "Empty line: every line must be one JSON request.", line=n))
            else:
                errors.append(_err("invalid_json", f"Line is not valid JSON: {exc}", line=n))
            return None
        if not isinstance(obj, dict):
            errors.append(_err("invalid_request", "Each line must be a JSON object.", line=n))
            return None
        cid = obj.get("custom_id")
        if not isinstance(cid, str) or not cid:
            msg = "custom_id is required (a non-empty string)."
            errors.append(_err("missing_custom_id", msg, line=n, param="custom_id"))
        elif cid in self._seen:
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
            self._seen.add(cid)
        omit = self._omit
        # The usual line passes on the first comparison; the omit rule is only looked at after.
        if obj.get("method") != "POST" and not (omit and "method" not in obj):
            msg = f"method must be 'POST', got {obj.get('method')!r}."
            errors.append(_err("invalid_method", msg, line=n, param="method"))
        if obj.get("url") != endpoint and not (omit and "url" not in obj):
            msg = f"url {obj.get('url')!r} does not match the batch endpoint {endpoint!r}."
            errors.append(_err("mismatched_url", msg, line=n, param="url"))
        body = obj.get("body")
        if not isinstance(body, dict):
            errors.append(_err("invalid_body", "body must be a JSON object.", line=n, param="body"))
            return obj
        model = body.get("model")
        if model is None and self.header_model is not None:
            model = self.header_model
        if model is not None and model == self.out.model:
            pass  # the usual case: the model already accepted on an earlier line
        elif model is None:
            errors.append(_err("missing_model", "body.model is required.", line=n, param="body.model"))
        elif problem := check_model(model, self.catalog):
            errors.append(_err("invalid_model", problem, line=n, param="body.model"))
        elif not str(model).startswith(self.integration.name + "/"):
            errors.append(
                _err(
                    "invalid_model",
                    f"model {model!r} does not belong to the provider integration "
                    f"{self.integration.name!r} named by x-tfy-provider-name.",
                    line=n,
                    param="body.model",
                )
            )
        elif self.out.model is None:
            self.out.model = str(model)
        else:
            errors.append(
                _err(
                    "multiple_models",
                    f"A batch may use one model; line uses {model!r} but earlier lines use {self.out.model!r}.",
                    line=n,
                    param="body.model",
                )
            )
        if endpoint == "/v1/embeddings":
            inp = body.get("input")
            self._embedding_inputs += (
                len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
            )
        return obj

    def finish(self) -> Validation:
        """The outcome, once every line was given (whole-file rules are checked here)."""
        out, errors, limits, n = self.out, self.errors, self.limits, self.out.total
        if not errors:
            if n == 0:
                errors.append(_err("empty_file", "The input file has no requests."))
            elif self.integration.kind == "bedrock" and n < limits.bedrock_min_records:
                errors.append(
                    _err(
                        "too_few_requests",
                        f"Bedrock batch jobs need at least {limits.bedrock_min_records} records; the file has {n}.",
                    )
                )
            elif self._embedding_inputs > limits.max_embedding_inputs:
                errors.append(
                    _err(
                        "too_many_embedding_inputs",
                        f"The batch has {self._embedding_inputs} embedding inputs; "
                        f"the limit is {limits.max_embedding_inputs}.",
                    )
                )
        return out


def size_error(path: Path, limits: Limits) -> dict[str, Any] | None:
    """The ``file_too_large`` error when the file is over the byte limit, else None.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> _ = p.write_bytes(b"{}\\n" * 10)
    >>> size_error(p, Limits(max_bytes=5))["code"], size_error(p, Limits())
    ('file_too_large', None)
    """
    size = path.stat().st_size
    if size > limits.max_bytes:
        return _err(
            "file_too_large", f"The input file is {size} bytes; the limit is {limits.max_bytes} bytes."
        )
    return None


def validate_file(path: Path, checker: LineChecker) -> Validation:
    """Check every line of a batch input file with ``checker`` (one that has seen no line yet).

    Returns
    -------
    Validation
        ``errors`` (empty when valid), ``total`` lines and the single ``model``.

    Examples
    --------
    >>> import tempfile
    >>> from tfbatch_nb.gateway._catalog import build_catalog
    >>> p = Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> _ = p.write_text('{"custom_id": "a"}\\n')
    >>> cat = build_catalog(None)
    >>> checker = LineChecker(endpoint="/v1/chat/completions", integration=cat["openai-main"],
    ...                       catalog=cat, limits=Limits())
    >>> [(e["code"], e["line"]) for e in validate_file(p, checker).errors]
    [('invalid_method', 1), ('mismatched_url', 1), ('invalid_body', 1)]
    """
    too_large = size_error(path, checker.limits)
    if too_large is not None:
        return Validation(errors=[too_large])
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            checker.line(n, raw)
            if checker.full:
                break
    return checker.finish()
