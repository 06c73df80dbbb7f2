"""Generate a JSON instance that validates against a JSON schema, deterministically.

Covers what structured-output schemas use (OpenAI strict mode and pydantic models): ``type``
(also lists), ``enum``, ``const``, ``properties`` / ``required`` (all properties are emitted, as strict
mode requires), ``items`` / ``prefixItems`` / ``minItems`` / ``maxItems``, ``anyOf`` / ``oneOf`` /
``allOf``, ``$ref`` into ``$defs`` / ``definitions``, string ``format`` / length bounds and numeric
bounds. ``pattern`` is not honoured (no regex inversion).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "simulated@example.com",
    "uri": "https://example.com/simulated",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 8


class SchemaInstance:
    """Builds instances; ``choose`` makes every decision from the request hash.

    Parameters
    ----------
    seed : bytes
        Hash of the request; the same seed gives the same instance.
    text : Callable[[str], str]
        Makes the string for a property name (the simulator passes its answer maker).
    prefer : Callable[[Sequence[Any]], Any | None]
        Optional hook to pick among enum values (e.g. the plausible sentiment label).

    Examples
    --------
    >>> gen = SchemaInstance(b"seed", text=lambda name: f"sim {name}")
    >>> gen.build({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]})
    {'n': 3}
    """

    def __init__(
        self,
        seed: bytes,
        *,
        text: Callable[[str], str],
        prefer: Callable[[Sequence[Any]], Any | None] | None = None,
    ) -> None:
        self._seed = seed or b"\0"
        self._counter = 0
        self._text = text
        self._prefer = prefer
        self._root: dict[str, Any] = {}

    def choose(self, n: int) -> int:
        """A deterministic index in ``range(n)``."""
        self._counter += 1
        return (self._seed[self._counter % len(self._seed)] + self._counter) % max(n, 1)

    def build(self, schema: Any) -> Any:
        """An instance of ``schema`` (a dict or a boolean schema)."""
        self._root = schema if isinstance(schema, dict) else {}
        return self._value(schema, "value", 0)

    def _resolve(self, ref: str) -> Any:
        node: Any = self._root
        if not ref.startswith("#"):
            return {}
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return {}
            node = node[part]
        return node

    def _value(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return self._text(name)  # `true` / missing schema: anything goes
        if isinstance(schema.get("$ref"), str):
            target = self._resolve(schema["$ref"])
            if depth > _MAX_DEPTH * 2:
                return None
            return self._value(target, name, depth + 1)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            preferred = self._prefer(enum) if self._prefer else None
            return preferred if preferred is not None else enum[self.choose(len(enum))]
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self._resolve(part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
                if isinstance(part, dict):
                    for key, val in part.items():
                        if key == "properties" and isinstance(val, dict):
                            merged["properties"] = {**merged.get("properties", {}), **val}
                        elif key == "required" and isinstance(val, list):
                            merged["required"] = [*merged.get("required", []), *val]
                        else:
                            merged.setdefault(key, val)
            return self._value(merged, name, depth + 1)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # Prefer a non-null branch: an all-null answer is valid but useless to show.
                real = [
                    o for o in options if not (isinstance(o, dict) and o.get("type") == "null")
                ] or options
                return self._value(real[self.choose(len(real))], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = non_null[0] if non_null else "null"
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return self._typed(kind, schema, name, depth)

    def _typed(self, kind: str, schema: dict[str, Any], name: str, depth: int) -> Any:
        if kind == "object":
            raw_props, raw_required = schema.get("properties"), schema.get("required")
            props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
            required: list[Any] = raw_required if isinstance(raw_required, list) else []
            keys = list(props) if depth < _MAX_DEPTH else [k for k in props if k in required]
            out = {k: self._value(props[k], k, depth + 1) for k in keys}
            for k in required:  # required but not described: any value validates
                if k not in out:
                    out[k] = self._text(str(k))
            return out
        if kind == "array":
            raw_prefix = schema.get("prefixItems")
            prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
            lo = int(schema.get("minItems", 0) or 0)
            hi = schema.get("maxItems")
            n = max(lo, len(prefix), 0 if depth >= _MAX_DEPTH else 2)
            if isinstance(hi, int):
                n = min(n, hi)
            items = schema.get("items", {})
            out_list = [
                self._value(prefix[i] if i < len(prefix) else items, name, depth + 1) for i in range(n)
            ]
            if schema.get("uniqueItems") and len({repr(v) for v in out_list}) < len(out_list):
                out_list = out_list[:1]  # one item is always unique; fine unless minItems > 1
            return out_list
        if kind in ("integer", "number"):
            return self._number(kind, schema)
        if kind == "boolean":
            return self.choose(2) == 1
        if kind == "null":
            return None
        return self._string(schema, name)

    def _number(self, kind: str, schema: dict[str, Any]) -> int | float:
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if isinstance(schema.get("exclusiveMinimum"), (int, float)):
            lo = schema["exclusiveMinimum"] + (1 if kind == "integer" else 1e-6)
        if isinstance(schema.get("exclusiveMaximum"), (int, float)):
            hi = schema["exclusiveMaximum"] - (1 if kind == "integer" else 1e-6)
        value: float = float(self.choose(10))
        if isinstance(lo, (int, float)):
            value = max(value, lo)
        if isinstance(hi, (int, float)):
            value = min(value, hi)
        if kind == "integer":
            ivalue = math.ceil(value) if isinstance(lo, (int, float)) and value == lo else math.floor(value)
            return int(ivalue)
        return float(value)

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        text = _FORMATS[fmt] if isinstance(fmt, str) and fmt in _FORMATS else self._text(name)
        lo, hi = schema.get("minLength"), schema.get("maxLength")
        if isinstance(lo, int) and len(text) < lo:
            text = text + "." * (lo - len(text))
        if isinstance(hi, int) and len(text) > hi:
            text = text[: max(hi, 0)]
        return text
