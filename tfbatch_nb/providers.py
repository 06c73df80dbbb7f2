"""Where requests go: a TrueFoundry provider integration (its ``x-tfy-*`` headers and JSONL rules), or plain.

A provider object names a TrueFoundry *integration* (the account the gateway routes to, such as
``"openai-main"``) and carries the settings that integration needs on every file and batch call.
The request builder reads the JSONL rules from it (``min_records``, ``omit_routing``); the
connection sends ``headers()`` with each call.

:func:`plain` is for any other OpenAI-compatible server (OpenAI itself, a litellm proxy, vLLM):
no ``x-tfy-*`` header, only OpenAI's fields in a create, and model names sent as written.

Examples
--------
>>> from tfbatch_nb import providers
>>> providers.VertexAI("google-main", bucket="b", region="europe-west4", model="gemini-2-0-flash").headers()
... # doctest: +NORMALIZE_WHITESPACE
{'x-tfy-provider-name': 'google-main', 'x-tfy-vertex-storage-bucket-name': 'b',
 'x-tfy-vertex-region': 'europe-west4', 'x-tfy-provider-model': 'gemini-2-0-flash'}
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from .errors import BatchInputError

__all__ = ["AzureOpenAI", "Bedrock", "OpenAI", "Plain", "Provider", "VertexAI", "plain", "resolve"]


@dataclass(frozen=True)
class Provider:
    """Base of the provider integrations: an integration name plus per-kind settings.

    Parameters
    ----------
    name
        The TrueFoundry provider-integration name, sent as ``x-tfy-provider-name``.

    Attributes
    ----------
    kind
        ``"openai"``, ``"azure"``, ``"vertex"``, ``"bedrock"`` or ``"plain"``.
    truefoundry
        Whether the server is a TrueFoundry gateway: ``x-tfy-*`` headers, ``job_name`` in a create,
        and catalog model ids ``integration/model``.
    min_records
        The fewest lines a batch file of this provider may hold (Bedrock refuses fewer than 100).
    omit_routing
        Whether lines may leave out ``method``, ``url`` and ``body.model`` (Vertex ignores them).

    Examples
    --------
    >>> OpenAI("openai-main").headers()
    {'x-tfy-provider-name': 'openai-main'}
    """

    name: str
    kind: ClassVar[str] = "openai"
    truefoundry: ClassVar[bool] = True
    min_records: ClassVar[int] = 1
    omit_routing: ClassVar[bool] = False
    # dataclass field name -> header; subclasses list only their own settings.
    _HEADERS: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        # Fail when the object is made, not 24 hours later on the gateway: every setting is required.
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) or not value.strip():
                raise BatchInputError(
                    f"{type(self).__name__}({self.name!r}) needs a non-empty {f.name}=, got {value!r}"
                )

    def headers(self) -> dict[str, str]:
        """The ``x-tfy-*`` headers to send on every file and batch call for this integration.

        Returns
        -------
        dict[str, str]
            Always contains ``x-tfy-provider-name``; plus the kind's own settings.

        Examples
        --------
        >>> AzureOpenAI("azure-main", api_version="2024-10-21").headers()["x-tfy-azure-api-version"]
        '2024-10-21'
        """
        out = {"x-tfy-provider-name": self.name}
        for attr, header in self._HEADERS.items():
            out[header] = getattr(self, attr)
        return out

    def __repr__(self) -> str:
        extra = "".join(f", {attr}={getattr(self, attr)!r}" for attr in self._HEADERS)
        return f"{type(self).__name__}({self.name!r}{extra})"


@dataclass(frozen=True, repr=False, kw_only=True)
class OpenAI(Provider):
    """An OpenAI integration: only ``x-tfy-provider-name``.

    Examples
    --------
    >>> OpenAI("openai-main")
    OpenAI('openai-main')
    """


@dataclass(frozen=True, repr=False, kw_only=True)
class AzureOpenAI(Provider):
    """An Azure OpenAI integration; needs the deployment's API version.

    Parameters
    ----------
    name
        The integration name, e.g. ``"azure-main"``.
    api_version
        Sent as ``x-tfy-azure-api-version``.

    Examples
    --------
    >>> AzureOpenAI("azure-main", api_version="2024-10-21").kind
    'azure'
    """

    api_version: str = ""
    kind: ClassVar[str] = "azure"
    _HEADERS: ClassVar[dict[str, str]] = {"api_version": "x-tfy-azure-api-version"}


@dataclass(frozen=True, repr=False, kw_only=True)
class VertexAI(Provider):
    """A Google Vertex AI integration; needs a GCS bucket, a region and the provider model.

    Vertex ignores ``method``, ``url`` and ``body.model`` in the lines (``omit_routing``); the builder
    still writes them, and ``BatchRequests.from_jsonl`` accepts files without them.

    Parameters
    ----------
    name
        The integration name, e.g. ``"google-main"``.
    bucket
        Sent as ``x-tfy-vertex-storage-bucket-name``; must be in the model's region.
    region
        Sent as ``x-tfy-vertex-region``, e.g. ``"europe-west4"``.
    model
        Sent as ``x-tfy-provider-model``, e.g. ``"gemini-2-0-flash"``.

    Examples
    --------
    >>> VertexAI("google-main", bucket="b", region="us-central1", model="gemini-2-0-flash").omit_routing
    True
    """

    bucket: str = ""
    region: str = ""
    model: str = ""
    kind: ClassVar[str] = "vertex"
    omit_routing: ClassVar[bool] = True
    _HEADERS: ClassVar[dict[str, str]] = {
        "bucket": "x-tfy-vertex-storage-bucket-name",
        "region": "x-tfy-vertex-region",
        "model": "x-tfy-provider-model",
    }


@dataclass(frozen=True, repr=False, kw_only=True)
class Bedrock(Provider):
    """An AWS Bedrock integration; needs an S3 bucket and the Bedrock model; at least 100 records.

    Parameters
    ----------
    name
        The integration name, e.g. ``"bedrock-main"``.
    s3_bucket
        Sent as ``x-tfy-aws-s3-bucket``.
    model
        Sent as ``x-tfy-aws-bedrock-model``.

    Examples
    --------
    >>> Bedrock("bedrock-main", s3_bucket="s3b", model="anthropic.claude-3-haiku").min_records
    100
    """

    s3_bucket: str = ""
    model: str = ""
    kind: ClassVar[str] = "bedrock"
    min_records: ClassVar[int] = 100
    _HEADERS: ClassVar[dict[str, str]] = {
        "s3_bucket": "x-tfy-aws-s3-bucket",
        "model": "x-tfy-aws-bedrock-model",
    }


@dataclass(frozen=True, repr=False, kw_only=True)
class Plain(Provider):
    """Any OpenAI-compatible server that is not TrueFoundry: no headers, models as written.

    Made by :func:`plain` (or ``provider="plain"``, ``TFY_PROVIDER=plain``).

    Examples
    --------
    >>> plain().headers(), plain().truefoundry
    ({}, False)
    """

    kind: ClassVar[str] = "plain"
    truefoundry: ClassVar[bool] = False

    def headers(self) -> dict[str, str]:
        """No ``x-tfy-*`` header: a plain server has no provider integrations.

        Examples
        --------
        >>> plain().headers()
        {}
        """
        return {}


def plain() -> Plain:
    """The plain OpenAI-compatible mode: OpenAI itself, a litellm proxy, vLLM, llmock.

    Examples
    --------
    >>> plain()
    Plain('plain')
    """
    return Plain("plain")


def resolve(provider: Provider | str | None, *, default: str = "openai-main") -> Provider:
    """Turn what a user passed as ``provider=`` into a :class:`Provider`.

    Parameters
    ----------
    provider
        A provider object (returned as is), ``"plain"`` (:func:`plain`), an integration name (an
        :class:`OpenAI` integration of that name) or ``None`` (the ``default`` name).
    default
        The integration name used when ``provider`` is ``None``.

    Returns
    -------
    Provider

    Examples
    --------
    >>> resolve(None)
    OpenAI('openai-main')
    >>> resolve("openai-eu")
    OpenAI('openai-eu')
    >>> resolve("plain")
    Plain('plain')
    """
    if provider is None:
        provider = default
    if provider == "plain":
        return plain()
    if provider == "":
        raise BatchInputError(
            "provider= is empty: name a TrueFoundry provider integration (e.g. 'openai-main'), "
            "or pass 'plain' for any other OpenAI-compatible server"
        )
    if isinstance(provider, Provider):
        return provider
    if isinstance(provider, str):
        return OpenAI(provider)
    raise BatchInputError(
        f"provider= must be a providers.* object or an integration name, got {type(provider).__name__}"
    )
