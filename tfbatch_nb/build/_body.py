"""What the Batch API accepts: endpoints, limits, and the checked pieces of a request body.

Body parameters must serialise exactly; ``response_format`` becomes the endpoint's body fragment
plus the JSON schema kept for parsing results.

Examples
--------
>>> check_params({"max_tokens": 5})
{'max_tokens': 5}
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..errors import BatchInputError
from ._codec import NotExactJSON, dumps_exact, schema_nulls, surrogate_at

__all__ = [
    "BUILD_ENDPOINTS",
    "ENDPOINTS",
    "MAX_EMBEDDING_INPUTS",
    "MAX_TOKEN_PARAMS",
    "check_limit",
    "check_params",
    "check_sources",
    "check_text",
    "normalise_endpoint",
    "response_format_body",
    "schema_from_body",
]

#: Every endpoint the Batch API accepts (SDK 3.x); ``from_jsonl`` takes files for any of them.
ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
#: The endpoints ``build_requests`` knows the body shape of.
BUILD_ENDPOINTS = ENDPOINTS[:4]
#: Body keys that have their own argument: passing them in ``**params`` would build a second copy.
_RESERVED = {"model": "model", "messages": "messages", "input": "input", "prompt": "prompt"}
#: Where the output-length parameter lives, to compare prompts against it.
MAX_TOKEN_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
#: Embedding inputs allowed in one request and in one batch (the OpenAI Batch API's limit).
MAX_EMBEDDING_INPUTS = 50_000


def normalise_endpoint(endpoint: str | None, *, embeddings: bool, allowed: tuple[str, ...]) -> str:
    """``None`` -> chat completions (embeddings when ``input=`` names a column); ``"embeddings"`` -> ``/v1/embeddings``.

    Examples
    --------
    >>> normalise_endpoint("embeddings", embeddings=False, allowed=ENDPOINTS)
    '/v1/embeddings'
    """
    if endpoint is None:
        return "/v1/embeddings" if embeddings else "/v1/chat/completions"
    if not isinstance(endpoint, str):
        raise BatchInputError(f"endpoint= must be a string like '/v1/chat/completions', got {endpoint!r}")
    path = "/" + endpoint.strip().strip("/")
    if not path.startswith("/v1/"):
        path = "/v1" + path
    if path not in allowed:
        raise BatchInputError(f"unknown endpoint {endpoint!r}; supported: {', '.join(allowed)}")
    return path


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Check every body parameter serialises exactly; name the first one that does not.

    ``None`` is refused (it would be sent as null: leave the parameter out for the default), and so
    are NaN, infinity, pandas' missing values and lone surrogates anywhere inside a value (except
    nulls that are data of a JSON schema, e.g. in a tool's ``enum``).

    Examples
    --------
    >>> check_params({"temperature": float("nan")})
    Traceback (most recent call last):
    tfbatch_nb.errors.BatchInputError: parameter temperature=nan holds nan (JSON has no NaN or infinity); use a finite number, or fill or drop missing values first (df.fillna / df.dropna)
    """
    for key, value in params.items():
        if key in _RESERVED:
            raise BatchInputError(f"pass {key}= as build_requests' own argument, not as a body parameter")
        if value is None:
            raise BatchInputError(
                f"parameter {key}=None would be sent as null; leave it out to use the service's default"
            )
        try:
            dumps_exact(value, schema_nulls)
        except NotExactJSON as exc:
            raise BatchInputError(f"parameter {key}={value!r:.60} holds {exc}") from None
    return dict(params)


def check_limit(name: str, value: Any) -> int:
    """A part limit (``max_lines``/``max_bytes``) as a positive ``int``; a bool is not a count.

    Examples
    --------
    >>> check_limit("max_lines", True)
    Traceback (most recent call last):
    tfbatch_nb.errors.BatchInputError: max_lines= must be a positive integer (a count, not a bool), got True
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < 1:
        raise BatchInputError(f"{name}= must be a positive integer (a count, not a bool), got {value!r}")
    return int(value)


def check_text(name: str, value: Any, example: str) -> None:
    """A text argument (``model``, ``prompt``, ``system``): a ``str`` that is not blank and is valid Unicode.

    Examples
    --------
    >>> check_text("prompt", "  ", "prompt='Classify: {text}'")
    Traceback (most recent call last):
    tfbatch_nb.errors.BatchInputError: prompt= is empty; give the text, e.g. prompt='Classify: {text}'
    """
    if not isinstance(value, str):
        raise BatchInputError(f"{name}= must be a str, e.g. {example}; got {type(value).__name__}")
    if not value.strip():
        raise BatchInputError(f"{name}= is empty; give the text, e.g. {example}")
    at = surrogate_at(value)
    if at is not None:
        raise BatchInputError(
            f"{name}= holds a lone surrogate {value[at]!r} at character {at} (not valid Unicode); "
            f"repair the text, e.g. {name}.encode('utf-8', 'replace').decode()"
        )


def _strict(schema: Any) -> Any:
    # OpenAI strict mode: every object closes its properties and requires all of them; defaults
    # are not allowed. pydantic's schema marks fields with defaults as optional, so fix that here.
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if k != "default"}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
            out["required"] = list(out["properties"])
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _is_pydantic_model(value: Any) -> bool:
    return isinstance(value, type) and hasattr(value, "model_json_schema")


#: Keywords one of which any JSON schema dict has (an empty or foreign dict is refused, not wrapped).
_SCHEMA_KEYWORDS = frozenset(
    {"type", "properties", "items", "anyOf", "oneOf", "allOf", "$ref", "enum", "const"}
)
_JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_EXPECTED = (
    "response_format= takes a pydantic model class, a JSON-schema dict (e.g. {'type': 'object', "
    "'properties': {...}}), {'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}, "
    "'json_object' or 'text' (plain text, the default)"
)


def _schema_type_ok(kind: Any) -> bool:
    kinds = kind if isinstance(kind, list) else [kind]
    return bool(kinds) and all(isinstance(k, str) and k in _JSON_TYPES for k in kinds)


def response_format_body(response_format: Any, endpoint: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The body fragment for ``response_format`` and the JSON schema kept for parsing results.

    Accepts a pydantic model class (strict ``json_schema``), a JSON-schema dict, a full
    ``response_format`` dict (``{"type": "json_schema", ...}`` or ``{"type": "json_object"}``),
    ``"json_object"``, or ``"text"`` / ``{"type": "text"}``: plain text, the default, so nothing is
    added to the body. Anything else (``{}``, a dict that is neither a schema nor a wrapper, a
    schema holding NaN or infinity) is refused.

    Examples
    --------
    >>> response_format_body("json_object", "/v1/responses")
    ({'text': {'format': {'type': 'json_object'}}}, None)
    >>> response_format_body({"type": "text"}, "/v1/chat/completions")
    ({}, None)
    """
    if response_format is None:
        return {}, None
    if endpoint not in ("/v1/chat/completions", "/v1/responses"):
        raise BatchInputError(f"response_format= is not supported by {endpoint}")
    schema: dict[str, Any] | None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if _is_pydantic_model(response_format):
        schema = _strict(response_format.model_json_schema())
        fmt: dict[str, Any] = {"type": "json_schema", "json_schema": {
            "name": response_format.__name__, "schema": schema, "strict": True}}  # fmt: skip
    elif response_format == "text" or response_format == {"type": "text"}:
        return {}, None  # plain text is what the endpoint answers without a response_format
    elif response_format == "json_object" or response_format == {"type": "json_object"}:
        fmt, schema = {"type": "json_object"}, None
    elif kind == "json_schema":
        inner = response_format.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, dict) else None
        if not isinstance(schema, dict) or not isinstance(inner.get("name"), str) or not inner["name"]:
            raise BatchInputError(
                "response_format={'type': 'json_schema', ...} needs json_schema.name (a str) and "
                "json_schema.schema (a dict), e.g. {'type': 'json_schema', 'json_schema': "
                "{'name': 'answer', 'schema': {'type': 'object', 'properties': {...}}}}"
            )
        fmt = copy.deepcopy(response_format)
    elif isinstance(response_format, dict) and not response_format:
        raise BatchInputError(f"response_format={{}} is empty; {_EXPECTED}")
    elif isinstance(response_format, dict):
        if (
            kind in ("text", "json_object")
            or not _SCHEMA_KEYWORDS.intersection(response_format)
            or ("type" in response_format and not _schema_type_ok(kind))
        ):
            raise BatchInputError(
                f"response_format={response_format!r:.80} is neither a JSON schema nor a response_format; "
                f"{_EXPECTED}"
            )
        schema = copy.deepcopy(response_format)
        name = str(schema.get("title") or "response").replace(" ", "_")[:64]
        # A plain dict schema is sent as given: strict mode would reject most hand-written schemas.
        fmt = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
    else:
        raise BatchInputError(f"{_EXPECTED}; got {response_format!r:.80}")
    try:
        dumps_exact(fmt, schema_nulls)
    except NotExactJSON as exc:
        raise BatchInputError(f"response_format= holds {exc}") from None
    if endpoint == "/v1/responses":
        # The Responses API flattens the json_schema object into text.format.
        flat = {"type": fmt["type"], **fmt.get("json_schema", {})}
        return {"text": {"format": flat}}, schema
    return {"response_format": fmt}, schema


def schema_from_body(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a request body's structured-output setting, if any (for ``from_jsonl``)."""
    rf = body.get("response_format")
    if isinstance(rf, dict) and isinstance(rf.get("json_schema"), dict):
        schema = rf["json_schema"].get("schema")
        return schema if isinstance(schema, dict) else None
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        schema = text["format"].get("schema")
        return schema if isinstance(schema, dict) else None
    return None


#: How to refer to integer column names, which only prompt templates (``{0}``) can name as they are.
_RENAME = " (for integer column names, rename them: df.rename(columns=str), then e.g. '0')"


def check_sources(
    ep: str, *, prompt: Any, messages: Any, system: Any, input: Any, id_column: Any = None
) -> None:
    """Check that exactly one source of the request text is given, that the endpoint takes it, and the column names."""
    given = [n for n, v in (("prompt", prompt), ("messages", messages), ("input", input)) if v is not None]
    if len(given) != 1:
        need = {"/v1/embeddings": "input= (or prompt=)", "/v1/completions": "prompt= (or input=)"}.get(
            ep, "prompt= or messages=")  # fmt: skip
        raise BatchInputError(f"{ep} needs exactly one of {need}; got {', '.join(given) or 'none'}")
    if prompt is not None and not isinstance(prompt, str):
        raise BatchInputError(f"prompt= must be a str.format template, got {type(prompt).__name__}")
    if input is not None and not isinstance(input, str):
        raise BatchInputError(f"input= must name a column by a str, got {input!r}{_RENAME}")
    if messages is not None and not (isinstance(messages, str) or callable(messages)):
        raise BatchInputError(
            f"messages= must name a column by a str or be a callable row -> messages, got {messages!r}{_RENAME}"
        )
    if id_column is not None and not isinstance(id_column, str):
        raise BatchInputError(
            f"id_column= must name a column (or the index) by a str, got {id_column!r}{_RENAME}"
        )
    if messages is not None and ep in ("/v1/embeddings", "/v1/completions"):
        raise BatchInputError(f"messages= is not supported by {ep}")
    if system is not None and (ep in ("/v1/embeddings", "/v1/completions") or not isinstance(system, str)):
        raise BatchInputError(f"system= must be a str and is not supported by {ep}" if isinstance(system, str)
                              else f"system= must be a str, got {type(system).__name__}")  # fmt: skip
