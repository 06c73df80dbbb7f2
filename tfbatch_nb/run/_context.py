"""What the run stage's helpers need of a connection: its parts as plain data, not the ``Gateway``.

Submit, attach, polling and results collection each take a :class:`Context` (and callbacks)
instead of a ``Gateway`` or a ``Batch``, so none of them imports the objects that call them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import openai

from ..errors import GatewayUnreachableError
from ..providers import Provider
from ._journal import Journal

__all__ = ["Context", "public_url", "speaking_to", "split_credentials"]


def _netloc(parts: SplitResult) -> str:
    # Host and port only: no user or password. An IPv6 literal keeps its brackets.
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def public_url(url: str) -> str:
    """A URL fit to show: no user or password, no query value (it may be a token).

    Examples
    --------
    >>> public_url("https://user:pw@gw.example.com/api/llm?api-key=s3cret&x=1")
    'https://gw.example.com/api/llm?api-key=***&x=***'
    >>> public_url("http://127.0.0.1:8000/v1")
    'http://127.0.0.1:8000/v1'
    """
    try:
        parts = urlsplit(str(url))
        netloc = _netloc(parts)
    except ValueError:  # not a URL at all: show nothing of it
        return "<invalid URL>"
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@dataclass(frozen=True)
class Context:
    """One connection's client, provider, journal and identity.

    Attributes
    ----------
    client : openai.OpenAI
        The SDK client: its ``max_retries`` and backoff are the one retry policy.
    provider : Provider
        The provider integration every call is routed to.
    journal : Journal
        The local record of jobs.
    identity : str
        The gateway as the journal knows it: its base URL, or ``local:<data dir>``.
    poll_first : float
        The first delay between polls (the local gateway answers in milliseconds).
    reconcile_timeout : float
        How long to look for the batch of a create whose answer was lost before creating again.
    quota_wait : float
        Seconds a part refused for ``token_limit_exceeded`` waits before its next try when no
        other part of its job finishes first (doubling at each refusal, at most an hour).
    prices : dict
        This connection's own prices (USD per 1M input, output tokens), looked at before ``PRICES``.
    projections : dict
        The latest trial's projection of each set of requests, by their hash (cost() shows it beside
        the actual cost).

    Examples
    --------
    >>> import tempfile, openai
    >>> from tfbatch_nb.providers import resolve
    >>> ctx = Context(client=openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k"),
    ...               provider=resolve(None), journal=Journal(tempfile.mkdtemp()), identity="u", poll_first=1.0)
    >>> ctx.provider.name
    'openai-main'
    """

    client: openai.OpenAI
    provider: Provider
    journal: Journal
    identity: str
    poll_first: float
    reconcile_timeout: float = 10.0
    quota_wait: float = 60.0
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    projections: dict[str, Any] = field(default_factory=dict)


def split_credentials(url: str) -> tuple[str, str | None, dict[str, str]]:
    """Cut a base URL into what may be shown and what must not: (clean URL, key from userinfo, query).

    httpx turns ``user:pw@`` into Basic auth, which would replace the Bearer key; a query may
    carry a token. The clean URL is what the client, the journal and every message see; the
    query goes with each request as the client's ``default_query``.

    Examples
    --------
    >>> split_credentials("https://me:s3cret@gw.example.com/api/llm?api-version=1&token=t")
    ('https://gw.example.com/api/llm', 's3cret', {'api-version': '1', 'token': 't'})
    >>> split_credentials("http://127.0.0.1:8000/v1")
    ('http://127.0.0.1:8000/v1', None, {})
    """
    parts = urlsplit(url)
    netloc = _netloc(parts)
    secret = unquote(parts.password or parts.username or "") or None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), secret, query


def _cause(exc: BaseException) -> str:
    # The HTTP library's words under the SDK's bare "Connection error.", first line only.
    inner = exc.__cause__ or exc.__context__ or exc
    lines = str(inner).strip().splitlines()
    return lines[0][:160] if lines else type(inner).__name__


@contextmanager
def speaking_to(client: openai.OpenAI) -> Iterator[None]:
    """Errors of the calls inside, made to say where they went.

    A connection that never got an answer (after the SDK's retries) becomes a
    :class:`~tfbatch_nb.GatewayUnreachableError` naming the base URL; an HTTP error stays the SDK's
    own class, with a note naming the method and URL it answered (credentials removed).

    Examples
    --------
    >>> client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
    >>> with speaking_to(client):
    ...     client.models.list()
    Traceback (most recent call last):
    tfbatch_nb.errors.GatewayUnreachableError: cannot reach the gateway at http://127.0.0.1:9/v1 (...
    """
    try:
        yield
    except openai.APITimeoutError as exc:
        raise GatewayUnreachableError(
            public_url(str(client.base_url).rstrip("/")), cause="timed out"
        ) from exc
    except openai.APIConnectionError as exc:
        raise GatewayUnreachableError(
            public_url(str(client.base_url).rstrip("/")), cause=_cause(exc)
        ) from exc
    except openai.APIStatusError as exc:
        request = exc.response.request
        add_note = getattr(exc, "add_note", None)  # Python >= 3.11; the traceback shows the note
        if add_note is not None:
            add_note(f"{request.method} {public_url(str(request.url))} answered HTTP {exc.status_code}")
        raise
