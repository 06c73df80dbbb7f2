"""Structured outputs: the JSON schema of a request, and each completed row's content checked against it.

:func:`validate` covers the JSON-schema subset used by OpenAI strict structured outputs (``type``,
``properties``, ``required``, ``enum``, ``const``, ``items``, ``additionalProperties``, ``anyOf``,
``$ref`` into ``$defs``), nested; a full validator (jsonschema) would be a dependency for a handful
of keywords.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["apply_schema", "normalize_schema", "validate"]


def normalize_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The bare JSON schema from a schema, a ``json_schema`` wrapper or a whole ``response_format``.

    ``{"type": "json_object"}`` (JSON mode) becomes ``{}``: parse, but accept any JSON value.

    Examples
    --------
    >>> normalize_schema({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}})
    {'type': 'object'}
    >>> normalize_schema({"type": "json_object"})
    {}
    """
    if schema is None:
        return None
    if schema.get("type") == "json_object":
        return {}
    if isinstance(schema.get("json_schema"), dict):  # response_format={"type": "json_schema", ...}
        schema = schema["json_schema"]
    if isinstance(schema.get("schema"), dict) and "properties" not in schema:  # {"name", "schema", "strict"}
        schema = schema["schema"]
    return schema


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False  # JSON true is not a number, although Python's bool is an int
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/") if ref != "#" else ():
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node if isinstance(node, dict) else {}


def validate(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$"
) -> str | None:
    """The first way ``value`` breaks ``schema`` as a short message, or None when it conforms.

    Examples
    --------
    >>> validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "string"}}})
    '$.a: expected string, got int'
    """
    root = schema if root is None else root
    if "$ref" in schema:
        return validate(value, _resolve(schema["$ref"], root), root, path)
    if "anyOf" in schema and not any(validate(value, s, root, path) is None for s in schema["anyOf"]):
        return f"{path}: matches none of anyOf"
    kinds = schema.get("type")
    if kinds is not None:
        names: Sequence[str] = [kinds] if isinstance(kinds, str) else kinds
        if not any(_type_ok(value, k) for k in names):
            return f"{path}: expected {'|'.join(names)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']!r}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}"
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in value:
                return f"{path}: missing required property {key!r}"
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                problem = validate(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                problem = f"{path}: unexpected property {key!r}"
            elif isinstance(extra, dict):
                problem = validate(item, extra, root, f"{path}.{key}")
            else:
                problem = None
            if problem:
                return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = validate(item, schema["items"], root, f"{path}[{i}]")
            if problem:
                return problem
    return None


def apply_schema(cols: dict[str, list[Any]], schema: dict[str, Any]) -> list[Any]:
    """Parse and validate each completed row's content; failures keep the text and a note.

    ``cols`` holds the lists ``status``, ``content``, ``error_code`` and ``error_message``;
    the last two are updated in place. Returns the ``parsed`` column.

    Examples
    --------
    >>> cols = {"status": ["completed"] * 2, "content": ['{"v": 1}', "oops"],
    ...         "error_code": [None, None], "error_message": [None, None]}
    >>> apply_schema(cols, {"type": "object"}), cols["error_code"]
    ([{'v': 1}, None], [None, 'parse_error'])
    """
    status, content, codes, messages = (
        cols["status"],
        cols["content"],
        cols["error_code"],
        cols["error_message"],
    )
    parsed: list[Any] = [None] * len(status)
    for i, text in enumerate(content):
        if status[i] != "completed" or codes[i] is not None:  # failed rows and refusals already say why
            continue
        if not isinstance(text, str):
            codes[i], messages[i] = "parse_error", "no content to parse"
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            codes[i], messages[i] = "parse_error", f"content is not valid JSON: {exc}"
            continue
        problem = validate(value, schema) if schema else None
        if problem:
            codes[i], messages[i] = "parse_error", f"content does not match the schema: {problem}"
        else:
            parsed[i] = value
    return parsed
