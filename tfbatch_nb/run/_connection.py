"""``connect()`` and :class:`Gateway`: the ``openai`` client, the provider headers, the journal.

A :class:`Gateway` is where jobs are submitted and found again: ``submit`` records the intent in
the journal before paying for anything, ``attach`` rebuilds a job after a kernel restart.
``connect()`` with no base URL configured starts the embedded local gateway in a background
thread, so tutorials run offline with no key.

Examples
--------
>>> import tempfile, tfbatch_nb as tfb
>>> with tfb.connect(local=True, gateway_options={"speed": "max"}, journal=tempfile.mkdtemp()) as gw:
...     print(repr(gw).startswith("<Gateway local simulated gateway"))
True
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import openai

from .. import providers as _providers
from ..build import BatchRequests
from ..errors import BatchInputError, TfBatchError
from . import _local
from ._batch import Batch
from ._context import Context, public_url, speaking_to, split_credentials
from ._journal import Journal
from ._submit import attach, claim, ensure_created
from ._trial import Trial, run_trial

if TYPE_CHECKING:
    from ..gateway import LocalGateway

__all__ = ["Gateway", "connect"]


def connect(
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    provider: _providers.Provider | str | None = None,
    local: bool | None = None,
    journal: str | os.PathLike[str] | None = None,
    gateway_options: Mapping[str, Any] | None = None,
    default_headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    reconcile_timeout: float = 10.0,
    quota_wait: float = 60.0,
    prices: Mapping[str, tuple[float, float]] | None = None,
    **client_options: Any,
) -> Gateway:
    """Connect to a TrueFoundry (or any OpenAI-compatible) gateway, or start the local one.

    Parameters
    ----------
    base_url
        The gateway's OpenAI base URL, e.g. ``https://<control-plane>/api/llm``; default
        ``$TFY_BASE_URL``.
    api_key
        The TrueFoundry API key (PAT or VAT); default ``$TFY_API_KEY``. Never shown or stored.
    provider
        A ``providers.*`` object or a TrueFoundry integration name; ``"plain"`` for any other
        OpenAI-compatible server (OpenAI, a litellm proxy, vLLM): no ``x-tfy-*`` headers, models
        sent as written. Default ``$TFY_PROVIDER``, else ``openai-main``.
    local
        True: start the embedded local gateway; None: only when no base URL is configured. A
        second connection to the same journal folder while the first is open shares its local
        gateway (with other ``gateway_options`` it raises: ``gw.close()`` the first one).
    journal
        The journal folder; default ``$TFBATCH_HOME``, else ``./.tfbatch``.
    gateway_options
        Options of the local :class:`~tfbatch_nb.gateway.LocalGateway`: ``speed`` (None = tutorial
        pace, a float multiplier, ``"max"``), ``faults``, ``fault_seed``, ``responder``,
        ``forward_to``, ``data_dir`` (default: ``<journal>/local-gateway``, so batches survive a
        kernel restart), ``providers``, ``limits``.
    default_headers
        Headers sent with every request, after the provider's own (e.g. a proxy's routing header).
    timeout, max_retries
        The one retry policy, the ``openai`` SDK's: seconds per request, and how many times a
        failed request (connection error, 408, 409, 429, 5xx) is tried again with its backoff and
        the server's ``Retry-After``. Default: the SDK's (600 s, 5 s to connect; 2 retries). A create is never
        repeated blindly: after a lost answer the batch list is searched for it first.
    reconcile_timeout
        Seconds to keep looking for the batch of a create whose answer was lost (a proxy's 504
        while the server commits later) before creating again.
    quota_wait
        Seconds a part refused for ``token_limit_exceeded`` waits before its next try when no
        other part of its job finishes first (doubling at each refusal, at most an hour).
    prices
        Prices of your own (USD per 1M input and output tokens, by model id or name), used by
        ``gw.trial``, ``batch.cost()`` before ``tfb.build.PRICES``: ``{"llama3": (0.1, 0.2)}``.
    **client_options
        Passed to ``openai.OpenAI`` (``http_client``, ``default_query``, ...).

    Returns
    -------
    Gateway

    Raises
    ------
    TfBatchError
        A remote gateway without an API key (before any request is made).

    Examples
    --------
    >>> import tempfile
    >>> gw = connect(local=True, gateway_options={"speed": "max"}, journal=tempfile.mkdtemp())
    >>> gw.provider.name
    'openai-main'
    >>> gw.close()
    """
    if timeout is not None:
        client_options["timeout"] = timeout
    if max_retries is not None:
        client_options["max_retries"] = max_retries
    base_url = base_url or os.environ.get("TFY_BASE_URL") or None
    if local is None:
        local = base_url is None
    if local and base_url is not None and os.environ.get("TFY_BASE_URL") != base_url:
        raise BatchInputError("give either base_url= or local=True, not both")
    prov = _providers.resolve(provider if provider is not None else os.environ.get("TFY_PROVIDER") or None)
    headers = {**prov.headers(), **(default_headers or {})}
    if not local:
        if base_url is None:  # only reachable with local=False and nothing configured
            raise TfBatchError("no gateway URL: pass base_url= or set TFY_BASE_URL (or use local=True)")
        base_url, url_secret, query = split_credentials(base_url)
        if query:  # a token in the query goes with every request, and is shown nowhere
            client_options["default_query"] = {**query, **dict(client_options.get("default_query") or {})}
        given = api_key or os.environ.get("TFY_API_KEY") or None
        if url_secret is not None and given is not None and given != url_secret:
            warnings.warn(
                "the base URL carries a user and password; they are not sent (the API key goes as a Bearer "
                "token, and Basic auth would replace it)",
                stacklevel=2,
            )
        api_key = given or url_secret
        if not api_key:
            what = (
                "a TrueFoundry personal or virtual access token"
                if prov.truefoundry
                else "the server's API key"
            )
            raise TfBatchError(
                f"no API key for the gateway at {public_url(base_url)}: pass api_key= or set TFY_API_KEY ({what})"
            )
        book = Journal(journal)
        client = openai.OpenAI(base_url=base_url, api_key=api_key, default_headers=headers, **client_options)
        return Gateway(client, provider=prov, journal=book, identity=base_url.rstrip("/"), poll_first=1.0,
                       reconcile_timeout=reconcile_timeout, quota_wait=quota_wait, prices=prices)  # fmt: skip
    book = Journal(journal)
    options = dict(gateway_options or {})
    options.setdefault("data_dir", book.folder / "local-gateway")
    try:
        # Shared with an open connection of this process on the same folder (see _local).
        server = _local.acquire(options)
    except BaseException:
        book.close()
        raise
    try:
        client = openai.OpenAI(
            base_url=server.url, api_key=server.api_key, default_headers=headers, **client_options
        )
    except BaseException:
        _local.release(server)
        book.close()
        raise
    # The local port changes on every start; its data folder is what identifies the gateway.
    identity = f"local:{Path(server.data_dir or '').resolve()}"
    # The local gateway answers in milliseconds: poll it fast so tutorials feel live.
    return Gateway(
        client,
        provider=prov,
        journal=book,
        identity=identity,
        local_gateway=server,
        poll_first=0.25,
        reconcile_timeout=reconcile_timeout,
        quota_wait=quota_wait,
        prices=prices,
    )


class Gateway:
    """A connection to a gateway: submit jobs, find them again, list the journal.

    Made by :func:`connect`. Owns (and :meth:`close` stops) the local gateway it started.

    Attributes
    ----------
    client : openai.OpenAI
        The SDK client, carrying the provider's ``x-tfy-*`` headers.
    provider : Provider
        The provider integration every call is routed to.
    journal : Journal
        The local record of jobs.
    local : LocalGateway or None
        The embedded gateway, when this connection started one.

    Examples
    --------
    >>> import tempfile
    >>> with connect(local=True, gateway_options={"speed": "max"}, journal=tempfile.mkdtemp()) as gw:
    ...     len(gw.batches())
    0
    """

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        provider: _providers.Provider,
        journal: Journal,
        identity: str,
        local_gateway: LocalGateway | None = None,
        poll_first: float = 1.0,
        reconcile_timeout: float = 10.0,
        quota_wait: float = 60.0,
        prices: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.journal = journal
        self.local = local_gateway
        self.identity = identity
        self._ctx = Context(client=client, provider=provider, journal=journal, identity=identity,
                            poll_first=poll_first, reconcile_timeout=reconcile_timeout, quota_wait=quota_wait,
                            prices=dict(prices or {}))  # fmt: skip
        self._batches: dict[str, Batch] = {}
        self._lock = threading.RLock()
        self._closed = False
        _OPEN.add(self)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL the client talks to."""
        return str(self.client.base_url).rstrip("/")

    def __repr__(self) -> str:
        where = self.base_url
        if self.local is not None:
            kind = self.local.model_kind
            # "simulated" keeps the words a newcomer reads in the quickstart; other kinds say what answers.
            where = (
                f"local simulated gateway {self.base_url}"
                if kind == "simulated"
                else f"local gateway {self.base_url} ({kind})"
            )
        state = " closed" if self._closed else ""
        return f"<Gateway {where} provider={self.provider.name!r}{state}>"

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(repr(self))}</code>"

    # -- jobs -----------------------------------------------------------------------------
    def _batch(self, job_id: str) -> Batch:
        # One Batch object per job and connection: every display of a job shares one watcher.
        with self._lock:
            found = self._batches.get(job_id)
            if found is None:
                found = Batch(self._ctx, job_id, open_job=self._batch, submit_job=self._submit)
                self._batches[job_id] = found
            return found

    def _submit(
        self,
        requests: BatchRequests,
        *,
        name: str | None,
        completion_window: str,
        metadata: Mapping[str, str] | None,
        force: bool,
        parent_job: str | None = None,
        id_column: str | None = None,
        output_expires_after: int | None = None,
        max_enqueued_tokens: int | None = None,
    ) -> Batch:
        # The one submit path: gw.submit and batch.retry_failed both come here.
        self._check_open()
        job_id = claim(self._ctx, requests, name=name, completion_window=completion_window, metadata=metadata,
                       force=force, parent_job=parent_job, id_column=id_column,
                       output_expires_after=output_expires_after, max_enqueued_tokens=max_enqueued_tokens)  # fmt: skip
        batch = self._batch(job_id)
        with speaking_to(self.client):
            ensure_created(self._ctx, job_id, on_error=batch.note_error)
        batch.reload()
        return batch

    def submit(
        self,
        requests: BatchRequests,
        *,
        name: str | None = None,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        force: bool = False,
        output_expires_after: int | None = None,
        max_enqueued_tokens: int | None = None,
    ) -> Batch:
        """Upload and create one provider batch per part, once; returns the job.

        The intent is journaled before the upload and each id as soon as it exists. The same
        requests (same hash), or the same name, on this gateway return the existing job: nothing
        is uploaded or paid for again unless ``force=True``.

        Parameters
        ----------
        requests
            From :func:`~tfbatch_nb.build_requests` or ``BatchRequests.from_jsonl``.
        name
            A name to find the job by later (``gw.attach(name)``); sent as ``job_name`` to TrueFoundry.
        completion_window
            ``"24h"`` (the only value OpenAI accepts).
        metadata
            Your own batch metadata (at most 13 pairs: three keys are used to tag the batch).
        force
            Submit again even when the journal has this job.
        output_expires_after
            Seconds after the batch's creation when the server may delete its output and error
            files (3600 to 2592000); default: the server's own rule.
        max_enqueued_tokens
            Your quota of enqueued input tokens for this model: parts are created in order while
            the job's running parts stay under it, the next ones as earlier parts finish (the
            watcher or ``wait()`` does it; a restart loses nothing). Without it, a part refused
            with ``token_limit_exceeded`` is created again once another part finishes.

        Returns
        -------
        Batch

        Raises
        ------
        BatchInputError
            Same name with different requests (pick a new name or ``force=True``), bad metadata, a
            model that is not a catalog id ``integration/model`` on TrueFoundry.

        Examples
        --------
        >>> batch = gw.submit(reqs, name="reviews-v1")
        >>> gw.submit(reqs, name="reviews-v1") is batch  # the same requests again: the same job
        True
        """
        return self._submit(requests, name=name, completion_window=completion_window, metadata=metadata,
                            force=force, output_expires_after=output_expires_after,
                            max_enqueued_tokens=max_enqueued_tokens)  # fmt: skip

    def trial(self, requests: BatchRequests, *, n: int = 5, rows: Sequence[str] | None = None) -> Trial:
        """Try the first ``n`` requests (or ``rows``, by custom_id) in real time, and project the whole batch.

        The answers come back now, through this connection (same headers, the SDK's retries), at
        real-time prices; ``trial.results`` is shaped like ``batch.results()`` and a request that
        fails shows its error there. ``trial.projection`` scales the measured tokens to every row
        and prices them at batch prices; ``batch.cost()`` of these requests shows it beside the
        actual cost.

        Examples
        --------
        >>> trial = gw.trial(reqs, n=2)
        >>> trial.results["status"].tolist()
        ['completed', 'completed']
        """
        self._check_open()
        with speaking_to(self.client):
            found = run_trial(self._ctx, requests, n=n, rows=rows, prices=self._ctx.prices)
        self._ctx.projections[requests.sha256] = found.projection
        return found

    def attach(self, id_or_name: str) -> Batch:
        """Find a job again: by name, job id or provider batch id (also in a fresh process).

        A job whose submit was interrupted (intent journaled, batch not created yet) is finished
        now, after checking the gateway for a batch the interrupted run created. A batch id the
        journal never saw is fetched from the gateway and journaled.

        Parameters
        ----------
        id_or_name
            The job's name, its ``job_...`` id or a provider batch id.

        Returns
        -------
        Batch

        Raises
        ------
        TfBatchError
            Nothing of that name or id in the journal, and no such batch on the gateway.

        Examples
        --------
        >>> gw.attach("reviews-v1").name
        'reviews-v1'
        """
        self._check_open()
        with speaking_to(self.client):
            job_id = attach(self._ctx, id_or_name)
        batch = self._batch(job_id)
        batch.reload()
        return batch

    def batches(self) -> Any:
        """The journal of this gateway as a DataFrame, newest first.

        Columns: name, job_id, ids (provider batch ids), status, total, completed, failed,
        created, endpoint, model, provider, parent_job (the job a retry came from).

        Examples
        --------
        >>> gw.batches()[["name", "status"]].values.tolist()
        [['reviews-v1', 'completed']]
        """
        return self.journal.jobs_frame(base_url=self.identity, provider=self.provider.name)

    def dashboard(self) -> Any:
        """A live panel per job in the journal (needs ipywidgets).

        Examples
        --------
        >>> [panel.batch.name for panel in gw.dashboard().panels()]
        ['reviews-v1']
        """
        from ..ui import widgets

        return widgets.Dashboard(self)

    def _check_open(self) -> None:
        if self._closed:
            raise TfBatchError("this gateway connection is closed; call tfb.connect() again")

    def close(self) -> None:
        """Stop watchers, close the client, stop the local gateway this connection started.

        A local gateway shared with another open connection to the same journal folder keeps
        running until that one closes too. Connections still open at interpreter exit are
        closed then.

        Examples
        --------
        >>> import tempfile
        >>> other = connect(local=True, gateway_options={"speed": "max"}, journal=tempfile.mkdtemp())
        >>> other.close()
        >>> repr(other).endswith("closed>")
        True
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            batches = list(self._batches.values())
        _OPEN.discard(self)
        for batch in batches:
            batch.stop_watching()
        self.client.close()
        if self.local is not None:
            _local.release(self.local)  # stops it unless another open connection shares it
        self.journal.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# Connections not closed by the user, closed at interpreter exit: watcher threads stop polling
# and the local gateway's batch threads stop cleanly instead of dying mid-write with the process.
_OPEN: weakref.WeakSet[Gateway] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - runs at interpreter exit
    for gw in list(_OPEN):
        with contextlib.suppress(Exception):  # exit must go on whatever one connection does
            gw.close()
