"""Forwarding: each request sent on to a real-time OpenAI-compatible server, behind a circuit breaker.

The gateway's lines name catalog ids (``openai-main/gpt-4o-mini``); a plain server (vLLM, Ollama,
a litellm proxy) knows ``gpt-4o-mini``. So the model is mapped before it goes upstream: by default
the ``provider/`` prefix is dropped, or a dict / callable says what to send.

The circuit breaker sits in the HTTP client under the openai SDK, so it sees every connection
attempt, the SDK's retries included. Its rule:

- it *opens* when at least 3 connection attempts in a row failed (refused, DNS failure, no answer
  to connect within 5 s) over at least 1 s, with no HTTP answer in between: with the SDK's retries
  that is about 1.5 s after a dead upstream is first tried;
- while open, every request fails at once with HTTP 502 and ``code = "upstream_unreachable"``, its
  message naming the upstream URL (without credentials): a batch against a dead upstream ends in
  seconds, each row saying which server was down;
- every 5 s one request goes through as a probe; any HTTP answer (even an error status) closes it.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import openai
import orjson

from ._errors import ApiError

if TYPE_CHECKING:
    from httpx2 import Request, Response

#: What ``forward_model_map`` may be: ``{catalog id: upstream name}`` or ``catalog id -> upstream name``.
ModelMap = Mapping[str, str] | Callable[[str], str]

OPEN_AFTER_FAILURES = 3  # failed connection attempts in a row ...
OPEN_AFTER_SECONDS = 1.0  # ... spread over at least this long: one refused burst is not an outage
CONNECT_TIMEOUT = 5.0  # a host that does not even accept the connection in 5 s counts as down


def public_url(url: str) -> str:
    """``url`` without any ``user:password@``: safe to show in a message or a repr.

    Examples
    --------
    >>> public_url("http://me:s3cret@localhost:8000/v1")
    'http://localhost:8000/v1'
    """
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def strip_provider(model: str) -> str:
    """The default model mapping: drop the ``provider/`` prefix of a catalog id.

    Only the first segment goes, so upstream names with a slash survive.

    Examples
    --------
    >>> strip_provider("openai-main/gpt-4o-mini"), strip_provider("openai-main/Qwen/Qwen2.5-7B")
    ('gpt-4o-mini', 'Qwen/Qwen2.5-7B')
    >>> strip_provider("llama3")
    'llama3'
    """
    return model.partition("/")[2] or model


def model_mapper(model_map: ModelMap | None) -> Callable[[str], str]:
    """The function that turns a line's model into the name sent upstream.

    Parameters
    ----------
    model_map : Mapping[str, str], callable or None
        None strips the ``provider/`` prefix; a mapping looks the exact id up (ids it lacks are
        stripped); a callable decides alone (``lambda m: m`` sends ids unchanged).

    Raises
    ------
    TypeError
        ``model_map`` is neither, or a mapping has a key or value that is not a non-empty str.

    Examples
    --------
    >>> to = model_mapper({"openai-main/fast": "llama3.1:8b"})
    >>> to("openai-main/fast"), to("openai-main/gpt-4o-mini")
    ('llama3.1:8b', 'gpt-4o-mini')
    >>> model_mapper(str.upper)("a/b")
    'A/B'
    """
    if model_map is None:
        return strip_provider
    if isinstance(model_map, Mapping):
        table = dict(model_map)
        bad = [k for k, v in table.items() if not (isinstance(k, str) and isinstance(v, str) and k and v)]
        if bad:
            raise TypeError(f"forward_model_map: keys and values must be non-empty str, not {bad[0]!r}")
        return lambda model: table.get(model) or strip_provider(model)
    if callable(model_map):
        return model_map
    raise TypeError(f"forward_model_map must be a dict or a callable, not {type(model_map).__name__}")


def is_connect_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says no connection was made (httpx's or httpx2's, as the SDK uses either).

    Examples
    --------
    >>> is_connect_failure(ValueError("x"))
    False
    """
    return any(
        cls.__module__.split(".")[0] in ("httpx", "httpx2", "httpcore")
        and cls.__name__ in ("ConnectError", "ConnectTimeout")
        for cls in type(exc).__mro__
    )


def why(exc: BaseException) -> str:
    """An exception in a few words: its class and the first line of its message.

    Examples
    --------
    >>> why(ConnectionRefusedError(111, "Connection refused"))
    'ConnectionRefusedError: [Errno 111] Connection refused'
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__


class Breaker:
    """The circuit breaker of one upstream (the rule is in the module docstring).

    Examples
    --------
    >>> breaker = Breaker("http://127.0.0.1:9/v1")
    >>> breaker.admit(), breaker.is_open
    (True, False)
    """

    def __init__(self, url: str, *, probe_every: float = 5.0) -> None:
        self.url = url
        self.probe_every = probe_every
        self.cause = ""
        self._lock = threading.Lock()
        self._failures = 0
        self._since: float | None = None  # start of the current run of failed attempts
        self._opened: float | None = None  # when it opened, or when its last probe failed
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Whether requests are being refused."""
        return self._opened is not None

    def refuses(self) -> bool:
        """Whether the next attempt would be refused (open, and no probe due): fail without building it."""
        opened = self._opened  # read without the lock: a stale answer only takes the slower path
        return opened is not None and (self._probing or time.monotonic() - opened < self.probe_every)

    def message(self) -> str:
        """What a refused request says: the upstream, why, and when it is tried again."""
        return (
            f"upstream {self.url} is unreachable ({self.cause}); requests fail at once until it "
            f"answers again (retried every {self.probe_every:g} s)"
        )

    def admit(self) -> bool:
        """Whether an attempt may go out now: the breaker is closed, or this is its probe."""
        with self._lock:
            if self._opened is None:
                return True
            if self._probing or time.monotonic() - self._opened < self.probe_every:
                return False
            self._probing = True
            return True

    def failed(self, exc: Exception) -> bool:
        """Count a failed connection attempt; True when the breaker is now open."""
        now = time.monotonic()
        with self._lock:
            self.cause = why(exc)
            self._failures += 1
            self._since = now if self._since is None else self._since
            enough = self._failures >= OPEN_AFTER_FAILURES and now - self._since >= OPEN_AFTER_SECONDS
            if self._probing or enough or self._opened is not None:
                self._opened = now
            self._probing = False
            return self._opened is not None

    def answered(self) -> None:
        """The upstream answered (any status): close the breaker."""
        with self._lock:
            self._failures, self._since, self._opened, self._probing = 0, None, None, False

    def released(self) -> None:
        """An attempt ended otherwise (e.g. a read timeout): the next one may probe."""
        with self._lock:
            self._probing = False

    def refusal(self, request: Request) -> Response:
        """The answer while open: a 502 the SDK does not retry (``x-should-retry: false``)."""
        error = {
            "message": self.message(),
            "type": "server_error",
            "code": "upstream_unreachable",
            "param": None,
        }
        # the HTTP library of the request (httpx or httpx2): the SDK checks the response's type
        library = sys.modules[type(request).__module__.split(".")[0]]
        response: Response = library.Response(
            502,
            headers={"content-type": "application/json", "x-should-retry": "false"},
            content=orjson.dumps({"error": error}),
            request=request,
        )
        return response


class BreakerClient(openai.DefaultHttpxClient):
    """The SDK's HTTP client, with every request passing through a :class:`Breaker`.

    Examples
    --------
    >>> client = BreakerClient(Breaker("http://127.0.0.1:9/v1"))
    >>> client.breaker.is_open
    False
    >>> client.close()
    """

    def __init__(self, breaker: Breaker, **options: Any) -> None:
        super().__init__(**options)
        self.breaker = breaker

    def send(self, request: Request, **options: Any) -> Response:
        """Send ``request`` unless the breaker is open; count how the attempt went."""
        breaker = self.breaker
        if not breaker.admit():
            return breaker.refusal(request)
        try:
            response = super().send(request, **options)
        except Exception as exc:
            if is_connect_failure(exc):
                if breaker.failed(exc):
                    return breaker.refusal(request)
            else:
                breaker.released()
            raise
        except BaseException:
            breaker.released()
            raise
        breaker.answered()
        return response


class Forwarder:
    """Send each request to a real-time OpenAI-compatible server (vLLM, Ollama, litellm, a gateway).

    Parameters
    ----------
    base_url : str
        The server's OpenAI base URL, e.g. ``http://localhost:11434/v1``; ``/v1/chat/completions``
        lines go to ``{base_url}/chat/completions``.
    api_key : str or None
        Bearer token for the server (never shown).
    concurrency : int
        At most this many requests in flight upstream at once, over all batches and real-time calls.
    max_retries : int
        Retries on connection errors, 408, 409, 429 and 5xx (the openai SDK's policy and backoff,
        honouring ``Retry-After``); the circuit breaker cuts connection retries short.
    headers : Mapping[str, str] or None
        Extra headers sent upstream (e.g. ``x-tfy-provider-name``).
    timeout : float
        Per-request timeout in seconds (connecting: at most 5 s).
    model_map : Mapping[str, str], callable or None
        What ``body.model`` becomes upstream (see :func:`model_mapper`); None strips the
        ``provider/`` prefix.
    probe_every : float
        Seconds between probes of an open circuit breaker.

    Examples
    --------
    >>> fwd = Forwarder("http://127.0.0.1:9/v1", concurrency=4, max_retries=0)
    >>> fwd.concurrency, fwd.upstream_model("openai-main/gpt-4o-mini")
    (4, 'gpt-4o-mini')
    >>> fwd("/v1/chat/completions", {"model": "openai-main/gpt-4o-mini", "messages": []})
    Traceback (most recent call last):
    tfbatch_nb.gateway._errors.ApiError: upstream http://127.0.0.1:9/v1 is unreachable (ConnectError: ...
    >>> fwd.close()
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 4,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        model_map: ModelMap | None = None,
        probe_every: float = 5.0,
    ) -> None:
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.base_url = base_url.rstrip("/")
        self.url = public_url(self.base_url)
        self.concurrency = int(concurrency)
        self.upstream_model = model_mapper(model_map)
        self.timeout = timeout
        self.breaker = Breaker(self.url, probe_every=probe_every)
        self._slots = threading.BoundedSemaphore(self.concurrency)
        # the SDK brings retries, backoff and Retry-After handling; the breaker sits under it
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or "unused",
            max_retries=max_retries,
            timeout=openai.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
            default_headers=dict(headers or {}),
            http_client=BreakerClient(self.breaker),
        )

    def __repr__(self) -> str:
        return f"Forwarder({self.url!r}, concurrency={self.concurrency})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __call__(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one request with the upstream's answer; its errors raise :class:`ApiError`."""
        path = endpoint.removeprefix("/v1") or "/"
        if isinstance(body.get("model"), str):
            body = {**body, "model": self.upstream_model(body["model"])}
        result = self._send("post", path, body)
        if not isinstance(result, dict):
            raise ApiError(502, f"upstream {self.url} returned a non-object body", code="bad_upstream_answer")
        return result

    def models(self) -> list[dict[str, Any]]:
        """The upstream's model objects (``GET /models``); empty when it lists none or fails.

        Examples
        --------
        >>> Forwarder("http://127.0.0.1:9/v1", max_retries=0).models()
        []
        """
        try:
            page = self._send("get", "/models", None, max_retries=1)
        except ApiError:
            return []
        data = page.get("data") if isinstance(page, dict) else None
        if not isinstance(data, list):
            return []
        return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]

    def _send(self, method: str, path: str, body: dict[str, Any] | None, **options: Any) -> Any:
        """One call through the SDK (its retries), within the concurrency bound; errors as ApiError."""
        if self.breaker.refuses():  # the same answer as the breaker's, without the SDK's work
            raise ApiError(502, self.breaker.message(), code="upstream_unreachable")
        client = self._client.with_options(**options) if options else self._client
        with self._slots:
            try:
                if method == "get":
                    return client.get(path, cast_to=object)
                return client.post(path, body=body, cast_to=object)
            except openai.APIStatusError as exc:
                error = exc.body if isinstance(exc.body, dict) else {}
                raise ApiError(
                    exc.status_code,
                    str(error.get("message") or exc.message),
                    type=error.get("type") if isinstance(error.get("type"), str) else None,
                    code=error.get("code") if isinstance(error.get("code"), str) else None,
                    param=error.get("param") if isinstance(error.get("param"), str) else None,
                ) from None
            except openai.APITimeoutError:
                raise ApiError(
                    504,
                    f"upstream {self.url} did not answer within {self.timeout:g} s",
                    code="upstream_timeout",
                ) from None
            except openai.APIConnectionError as exc:
                # retries exhausted before the breaker opened (e.g. max_retries=0): the same words
                cause = why(exc.__cause__ or exc)
                raise ApiError(
                    502, f"upstream {self.url} is unreachable ({cause})", code="upstream_unreachable"
                ) from None
