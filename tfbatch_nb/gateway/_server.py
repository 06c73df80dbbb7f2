"""LocalGateway: the local gateway served by uvicorn in a daemon thread, plus the CLI's ``serve``."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ._app import State, create_app
from ._catalog import Limits, build_catalog
from ._faults import Fault, FaultSet
from ._forwarder import Forwarder, ModelMap, model_mapper, public_url
from ._pace import Pace
from ._quota import Quota
from ._responders import Responder
from ._runner import Runner
from ._simulator import simulate
from ._store import Store

log = logging.getLogger("tfbatch_nb.gateway")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts local connections.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalGateway:
    """An OpenAI-compatible Files + Batches server with TrueFoundry's rules, in a background thread.

    Parameters
    ----------
    host : str
        Interface to bind; loopback only unless ``allow_remote``.
    port : int
        Port; 0 picks a free one (read :attr:`port` / :attr:`url` after :meth:`start`).
    data_dir : str or Path or None
        Where files and batches persist; None = a temporary directory removed by :meth:`stop`.
    api_key : str or None
        The bearer token clients must send; None = a random one (:attr:`api_key`).
    responder : callable or None
        ``(endpoint, body) -> dict | str`` answering each request, or raising
        ``ResponderError(status_code, message)`` to fail it; None = the simulated model.
    forward_to : str or None
        Base URL of a real-time OpenAI-compatible server (vLLM, Ollama, a litellm proxy) to send
        each request to instead; it also answers ``GET /models``. A dead server fails a batch in
        seconds, each row naming it (the circuit breaker of :class:`Forwarder`).
    forward_api_key : str or None
        Bearer token for ``forward_to`` (never shown).
    forward_model_map : Mapping[str, str], callable or None
        What a line's model becomes upstream: None drops the ``provider/`` prefix
        (``openai-main/gpt-4o-mini`` -> ``gpt-4o-mini``); a dict maps exact ids (others are
        stripped); a callable decides alone (``lambda m: m`` keeps ids as they are).
    concurrency : int or None
        Requests answered at once by ``forward_to`` (at most this many in flight upstream, over all
        batches; None = 8) or by a ``responder`` (per batch; None = 1, or a Forwarder's own).
    forward_max_retries : int
        Retries of a forwarded request on connection errors, 429 and 5xx.
    speed : float, "max" or None
        None = tutorial pace (100 lines in about 6 s); a float divides every delay; "max" = no delays.
    faults : list of str or Fault, or None
        Fault specs ``KIND[@ROUTE]=RATE[#LIMIT]`` (see :func:`parse_fault`).
    providers : Mapping[str, str] or None
        Provider integrations ``{name: kind}``; None = openai-main, azure-main, google-main, bedrock-main.
    fault_seed : int
        Seed of the fault draws (same seed, same faults).
    fault_delay : float or None
        Delay of a ``slow`` fault in seconds; None = 2 s scaled by speed (0.2 s at "max").
    limits : Limits or None
        Batch input limits; None = 50,000 lines, 200 MB, 50,000 embedding inputs.
    max_upload_mb : float
        Largest upload in MB (2**20 bytes), as TrueFoundry's 512 by default: a larger one is refused
        with 413 while it streams in, and nothing of it is kept. Batch input files are held to
        ``limits`` when a batch is created.
    late_commit_delay : float
        Seconds after its 504 that a request hit by a ``late_commit`` fault is carried out.
    enqueued_token_limit : int or None
        Input tokens that the batches of one model may hold while ``validating``, ``in_progress`` or
        ``finalizing``, as OpenAI's per-model quota (None = no limit). A batch that would take its
        model past it is created, then ends ``failed`` with a ``token_limit_exceeded`` error and no
        output or error file; tokens come back when a batch ends. A batch's tokens are the sum over
        its lines of :func:`prompt_tokens` (what the simulated model reports: for chat,
        ``max(1, ceil((characters of the messages' text + messages - 1) / 4))``), whatever
        answers the lines. A ``token_limit`` fault fails a batch so whatever the limit.
    allow_remote : bool
        Allow binding a non-loopback host.

    Examples
    --------
    >>> import openai
    >>> with LocalGateway(speed="max") as gw:
    ...     client = openai.OpenAI(base_url=gw.url, api_key=gw.api_key,
    ...                            default_headers={"x-tfy-provider-name": "openai-main"})
    ...     reply = client.chat.completions.create(
    ...         model="openai-main/gpt-4o-mini", messages=[{"role": "user", "content": "Sentiment: I love it"}])
    >>> reply.choices[0].message.content
    '[simulated] positive'
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        responder: Responder | None = None,
        forward_to: str | None = None,
        forward_api_key: str | None = None,
        forward_model_map: ModelMap | None = None,
        concurrency: int | None = None,
        forward_max_retries: int = 4,
        speed: float | str | None = None,
        faults: Iterable[str | Fault] | str | None = None,
        providers: Mapping[str, str] | None = None,
        fault_seed: int = 0,
        fault_delay: float | None = None,
        limits: Limits | None = None,
        max_upload_mb: float = 512,
        late_commit_delay: float = 2.0,
        enqueued_token_limit: int | None = None,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to bind {host!r}: not a loopback address (pass allow_remote=True)")
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port must be within 0-65535 (0 picks a free one), got {port!r}")
        if not max_upload_mb > 0:  # also refuses NaN
            raise ValueError(f"max_upload_mb must be a positive number, got {max_upload_mb!r}")
        if not late_commit_delay >= 0:
            raise ValueError(f"late_commit_delay must be a number of seconds >= 0, got {late_commit_delay!r}")
        if enqueued_token_limit is not None and (
            isinstance(enqueued_token_limit, bool)
            or not isinstance(enqueued_token_limit, int)
            or enqueued_token_limit < 1
        ):
            raise ValueError(
                f"enqueued_token_limit must be a whole number of tokens >= 1 (or None), got {enqueued_token_limit!r}"
            )
        if responder is not None and forward_to is not None:
            raise ValueError("give either responder= or forward_to=, not both")
        if forward_model_map is not None and forward_to is None:
            raise ValueError("forward_model_map= needs forward_to=")
        if concurrency is not None and int(concurrency) < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        model_mapper(forward_model_map)  # a bad map is an error now, not at start()
        self.host, self._port = host, port
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._api_key = api_key or secrets.token_urlsafe(32)
        self._responder = responder
        self._forward = (forward_to, forward_api_key, forward_model_map, forward_max_retries)
        self._concurrency = concurrency
        self._forwarder: Forwarder | None = None  # the one start() built for forward_to (closed by stop)
        self._responder_given = responder is not None
        self.pace = Pace.parse(speed)
        self._catalog = build_catalog(providers)
        self.faults = FaultSet(faults, seed=fault_seed)
        self._fault_delay = fault_delay
        self.limits = limits or Limits()
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.late_commit_delay = float(late_commit_delay)
        self.enqueued_token_limit = enqueued_token_limit
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._runner: Runner | None = None
        self._store: Store | None = None
        self._tmp_dir: Path | None = None

    # -- properties ----------------------------------------------------------------------
    @property
    def model_kind(self) -> str:
        """What answers the lines: ``"simulated"``, ``"responder"`` or ``"forwarding to <url>"``.

        Examples
        --------
        >>> LocalGateway(speed="max").model_kind
        'simulated'
        """
        forward_to = self._forward[0]
        if forward_to:
            return f"forwarding to {public_url(forward_to)}"  # a repr never shows a credential
        return "responder" if self._responder_given else "simulated"

    @property
    def api_key(self) -> str:
        """The bearer token clients must send."""
        return self._api_key

    @property
    def port(self) -> int:
        """The bound port (the real one once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The OpenAI ``base_url``: ``http://127.0.0.1:PORT/api/llm`` (routes also answer under ``/v1``)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}/api/llm"

    @property
    def data_dir(self) -> Path | None:
        """Where files and batches are stored (a temporary directory when none was given)."""
        return self._data_dir or self._tmp_dir

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalGateway {self.url if self.running else self.host} api_key='****' {state}>"

    def set_faults(self, faults: Iterable[str | Fault] | str | None) -> None:
        """Replace the active faults while running (e.g. turn on ``drop`` after the upload).

        Examples
        --------
        >>> gw = LocalGateway(speed="max")
        >>> gw.set_faults(["drop@POST /batches=1#1"])
        >>> [f.kind for f in gw.faults.faults]
        ['drop']
        """
        self.faults.replace(faults)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> LocalGateway:
        """Start serving; returns once the server accepts connections.

        Returns
        -------
        LocalGateway
            ``self``, so ``gw = LocalGateway().start()`` works.
        """
        if self.running:
            return self
        import uvicorn

        if self._data_dir is None:
            self._tmp_dir = Path(tempfile.mkdtemp(prefix="tfbatch-gateway-"))
        data_dir = self.data_dir
        assert data_dir is not None
        self._store = Store(data_dir)
        forward_to, forward_key, model_map, retries = self._forward
        responder: Responder
        concurrency = self._concurrency
        if forward_to:
            self._forwarder = Forwarder(
                forward_to,
                api_key=forward_key,
                concurrency=concurrency or 8,
                max_retries=retries,
                model_map=model_map,
            )
            responder, concurrency = self._forwarder, self._forwarder.concurrency
        else:
            responder = self._responder or simulate
        if concurrency is None:
            concurrency = responder.concurrency if isinstance(responder, Forwarder) else 1
        self._runner = Runner(
            self._store,
            catalog=self._catalog,
            responder=responder,
            faults=self.faults,
            pace=self.pace,
            limits=self.limits,
            quota=Quota(self.enqueued_token_limit),
            concurrency=1 if responder is simulate else concurrency,
        )
        delay = self._fault_delay
        if delay is None:
            delay = 0.2 if self.pace.factor is None else 2.0 / self.pace.factor
        state = State(
            api_key=self._api_key,
            store=self._store,
            runner=self._runner,
            catalog=self._catalog,
            faults=self.faults,
            responder=responder,
            limits=self.limits,
            pace=self.pace,
            fault_delay=delay,
            forwarder=responder if isinstance(responder, Forwarder) else None,
            max_upload_bytes=self.max_upload_bytes,
            late_commit_delay=self.late_commit_delay,
        )
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP.
        # Without it Nagle holds back the second write of each response (uvicorn writes headers
        # and body apart) until the client's delayed ACK: every request took ~45 ms longer.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            self._cleanup()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(state),
            log_level="warning",
            access_log=False,
            log_config=None,  # do not reconfigure the host's (the notebook's) logging
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="tfbatch-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local gateway failed to start")
            time.sleep(0.005)
        self._runner.resume()
        return self

    def stop(self) -> None:
        """Stop the worker threads and the server; remove the temporary data directory, if any.

        Takes about a second at most: requests still running get 1 s to finish, and lines still
        being answered are left to a restarted gateway.
        """
        if self._server is not None:  # first, so the server winds down while the runner stops
            self._server.should_exit = True
        if self._runner is not None:
            self._runner.stop()
        if self._thread is not None:
            self._thread.join(10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._store is not None:
            self._store.close()
        if self._forwarder is not None:
            self._forwarder.close()
        self._server = self._thread = self._runner = self._store = self._forwarder = None
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    forward_to: str | None = None,
    speed: float | str | None = None,
    faults: Iterable[str] | None = None,
    allow_remote: bool = False,
    forward_api_key: str | None = None,
    forward_model_map: ModelMap | None = None,
    concurrency: int | None = None,
    max_upload_mb: float = 512,
    late_commit_delay: float = 2.0,
    enqueued_token_limit: int | None = None,
) -> None:
    """Serve the local gateway in the foreground until Ctrl-C / SIGTERM (``tfbatch gateway``).

    The keyword arguments are :class:`LocalGateway`'s. The API keys are never printed: when none
    is given, a random one is written to ``<data_dir>/api_key`` (mode 0600) and that path is printed.

    Raises
    ------
    ValueError
        For a non-loopback ``host`` without ``allow_remote``, a port outside 0-65535, or a bad
        fault spec, speed, ``max_upload_mb``, ``late_commit_delay`` or ``enqueued_token_limit``.
    OSError
        When the port is taken.

    Examples
    --------
    >>> serve(host="0.0.0.0", port=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: refusing to bind '0.0.0.0': not a loopback address (pass allow_remote=True)
    """
    gw = LocalGateway(
        host=host,
        port=port,
        data_dir=data_dir,
        api_key=api_key,
        forward_to=forward_to,
        forward_api_key=forward_api_key,
        forward_model_map=forward_model_map,
        concurrency=concurrency,
        speed=speed,
        faults=list(faults or []),
        allow_remote=allow_remote,
        max_upload_mb=max_upload_mb,
        late_commit_delay=late_commit_delay,
        enqueued_token_limit=enqueued_token_limit,
    )
    gw.start()
    where = gw.data_dir
    assert where is not None
    if api_key:
        key_note = "api key: the one given"
    else:
        key_file = where / "api_key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an older version keeps its mode through O_TRUNC
        with os.fdopen(fd, "w") as fh:
            fh.write(gw.api_key + "\n")
        key_note = f"api key: in {key_file}"
    what = "" if gw.model_kind == "simulated" else f"; {gw.model_kind}"
    print(
        f"tfbatch gateway serving {gw.url} (data in {where}; {key_note}{what}). Ctrl-C to stop.", flush=True
    )
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            if not gw.running:
                break
    except KeyboardInterrupt:
        pass
    finally:
        gw.stop()
