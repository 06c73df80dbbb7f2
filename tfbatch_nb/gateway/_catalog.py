"""Provider integrations and limits the local gateway enforces, as TrueFoundry does.

A TrueFoundry gateway routes each Files / Batches call to a *provider integration* named by the
``x-tfy-provider-name`` header; some provider kinds need more headers (where to stage files, which
model to run). Models are addressed by catalog id ``integration/model``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Extra headers each provider kind needs on upload and batch create, with a hint for the message.
REQUIRED_HEADERS: dict[str, tuple[str, ...]] = {
    "openai": (),
    "azure": ("x-tfy-azure-api-version",),
    "vertex": ("x-tfy-vertex-storage-bucket-name", "x-tfy-vertex-region", "x-tfy-provider-model"),
    "bedrock": ("x-tfy-aws-s3-bucket", "x-tfy-aws-bedrock-model"),
}

#: The header that names the model for kinds whose lines may omit ``body.model``.
MODEL_HEADER: dict[str, str] = {"vertex": "x-tfy-provider-model", "bedrock": "x-tfy-aws-bedrock-model"}

#: Endpoints a batch may target (the SDK's list); the simulator answers the first four.
BATCH_ENDPOINTS: tuple[str, ...] = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)

DEFAULT_PROVIDERS: dict[str, str] = {
    "openai-main": "openai",
    "azure-main": "azure",
    "google-main": "vertex",
    "bedrock-main": "bedrock",
}


#: Models ``GET /models`` lists per provider kind (the simulator answers any model name).
MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small"),
    "azure": ("gpt-4o-mini", "gpt-4o"),
    "vertex": ("gemini-2.0-flash",),
    "bedrock": ("claude-3-haiku",),
}
_LISTED_SINCE = 1_700_000_000  # a fixed ``created``: the listing is the same on every run


@dataclass(frozen=True)
class Limits:
    """Limits a batch input file must respect (OpenAI's published values by default).

    Examples
    --------
    >>> Limits(max_lines=10).max_lines
    10
    """

    max_lines: int = 50_000
    max_bytes: int = 200 * 2**20
    max_embedding_inputs: int = 50_000
    bedrock_min_records: int = 100
    max_errors: int = 100  # errors listed in errors.data; a broken 50k-line file must not answer 50k entries


@dataclass(frozen=True)
class ProviderIntegration:
    """One configured provider integration: its TrueFoundry name and its kind.

    Examples
    --------
    >>> ProviderIntegration("azure-main", "azure").required_headers
    ('x-tfy-azure-api-version',)
    """

    name: str
    kind: str
    required_headers: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in REQUIRED_HEADERS:
            raise ValueError(
                f"unknown provider kind {self.kind!r}; expected one of {sorted(REQUIRED_HEADERS)}"
            )
        object.__setattr__(self, "required_headers", REQUIRED_HEADERS[self.kind])

    @property
    def omit_routing(self) -> bool:
        """Whether lines may omit ``method``, ``url`` and ``body.model`` (Vertex)."""
        return self.kind == "vertex"


def build_catalog(providers: Mapping[str, str] | None) -> dict[str, ProviderIntegration]:
    """Turn a ``{name: kind}`` mapping (None = the demo defaults) into integrations.

    Examples
    --------
    >>> sorted(build_catalog(None))
    ['azure-main', 'bedrock-main', 'google-main', 'openai-main']
    """
    mapping = DEFAULT_PROVIDERS if providers is None else providers
    return {name: ProviderIntegration(name, kind) for name, kind in mapping.items()}


def header_model(integration: ProviderIntegration, headers: Mapping[str, str]) -> str | None:
    """The catalog id named by a provider's model header, if the kind has one and it was sent.

    Examples
    --------
    >>> header_model(ProviderIntegration("google-main", "vertex"), {"x-tfy-provider-model": "gemini"})
    'google-main/gemini'
    """
    name = MODEL_HEADER.get(integration.kind)
    value = headers.get(name) if name else None
    if not value:
        return None
    # The header may carry the bare provider model ("gemini-2.0-flash") or the catalog id.
    return value if "/" in value else f"{integration.name}/{value}"


def check_model(model: object, catalog: Mapping[str, ProviderIntegration]) -> str | None:
    """Return an error message when ``model`` is not a usable catalog id, else None.

    Examples
    --------
    >>> check_model("gpt-4o", build_catalog(None)) is not None
    True
    >>> check_model("openai-main/gpt-4o", build_catalog(None)) is None
    True
    """
    if not isinstance(model, str) or not model:
        return "body.model must be a non-empty string"
    integration, sep, rest = model.partition("/")
    if not sep or not integration or not rest:
        return (
            f"model {model!r} is not a catalog id: use 'integration/model', "
            f"e.g. 'openai-main/{model or 'gpt-4o-mini'}'"
        )
    if integration not in catalog:
        return (
            f"model {model!r}: {integration!r} is not a provider integration of this gateway "
            f"(known: {', '.join(sorted(catalog))}); batches need a real catalog model, not a Virtual Model"
        )
    return None


def model_objects(integrations: Iterable[ProviderIntegration]) -> list[dict[str, object]]:
    """The OpenAI model objects of ``GET /models``: catalog ids of each integration's models.

    Examples
    --------
    >>> [m["id"] for m in model_objects(build_catalog({"google-main": "vertex"}).values())]
    ['google-main/gemini-2.0-flash']
    """
    return [
        {
            "id": f"{integration.name}/{model}",
            "object": "model",
            "created": _LISTED_SINCE,
            "owned_by": integration.name,
        }
        for integration in integrations
        for model in MODELS[integration.kind]
    ]
