"""A recording HTTP proxy put between the library and a real server, to see what goes over the wire.

Every request is forwarded to the upstream unchanged (paths too: the proxy's URL has the
upstream's path) and recorded as an :class:`Exchange`. Bodies are streamed both ways in chunks;
up to ``record_limit`` bytes of each request body are kept for the assertions. Faults a real
deployment can show are switchable per proxy:

- ``strip_metadata=True``: batch objects in answers (create, retrieve, cancel, list) lose their
  ``metadata`` field, as some proxies do;
- :meth:`RecordingProxy.drop_answer`: the N-th matching request is forwarded, its answer read from
  the upstream, then the client's connection is closed without an answer (a lost create);
- :meth:`RecordingProxy.inject`: a route is answered by the proxy with a status (and ``Retry-After``)
  the next N times, without reaching the upstream.

Pure stdlib (``http.server`` threads + ``http.client``), so it runs in the project's environment.
"""

from __future__ import annotations

import email.parser
import email.policy
import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

CHUNK = 64 * 1024
#: Request/response headers that belong to one hop, never forwarded as they are.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "content-length", "host"}
)  # fmt: skip
#: Answers at most this long, of type application/json, are buffered (and recorded, and may be edited).
JSON_LIMIT = 4 * 1024 * 1024
BATCH_ROUTE = re.compile(r"/batches(/[^/]+(/cancel)?)?$")


@dataclass
class Exchange:
    """One request the proxy received, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)
    status: int | None = None
    response: Any = None
    injected: bool = False
    dropped: bool = False

    @property
    def route(self) -> str:
        """The path without the query string."""
        return self.path.split("?", 1)[0]

    @property
    def json(self) -> Any:
        """The request body parsed as JSON (None when it is not JSON)."""
        if not self.headers.get("content-type", "").startswith("application/json"):
            return None
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, bytes]:
        """The parts of a multipart/form-data body: field name -> content (the uploaded file too)."""
        ctype = self.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return {}
        raw = f"Content-Type: {ctype}\r\n\r\n".encode() + self.body
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        parts: dict[str, bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                parts[name] = payload
        return parts


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    remaining: int = 0  # inject: answers left
    nth: int = 0  # drop: which match (1-based) loses its answer
    seen: int = 0
    status: int = 0
    retry_after: float | None = None

    def matches(self, method: str, route: str) -> bool:
        return method == self.method and self.pattern.search(route) is not None


class RecordingProxy:
    """Forward to ``upstream`` (a base URL such as ``http://127.0.0.1:4010/v1``) and record.

    Use as a context manager, or :meth:`start` / :meth:`stop`. ``url`` is the base URL to give a
    client instead of the upstream's.
    """

    def __init__(self, upstream: str, *, strip_metadata: bool = False, record_limit: int = 16 * 1024 * 1024):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._host, self._port = parts.hostname, parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self.strip_metadata = strip_metadata
        self.record_limit = record_limit
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._injects: list[_Rule] = []
        self._drops: list[_Rule] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> RecordingProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="recording-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self._prefix}"

    def inject(
        self, method: str, route: str, status: int, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer ``method`` on paths matching the regex ``route`` with ``status`` the next ``times`` times."""
        with self._lock:
            self._injects.append(_Rule(method, re.compile(route), remaining=times, status=status,
                                       retry_after=retry_after))  # fmt: skip

    def drop_answer(self, method: str, route: str, *, nth: int = 1) -> None:
        """Forward the ``nth`` request matching (counted from now), then close without answering."""
        with self._lock:
            self._drops.append(_Rule(method, re.compile(route), nth=nth))

    def requests(self, method: str | None = None, route: str | None = None) -> list[Exchange]:
        """The recorded exchanges, filtered by method and by a regex searched in the route."""
        with self._lock:
            found = list(self.exchanges)
        return [e for e in found if (method is None or e.method == method)
                and (route is None or re.search(route, e.route))]  # fmt: skip

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    # -- used by the handler ---------------------------------------------------------------------

    def admit(self, exchange: Exchange) -> tuple[_Rule | None, bool]:
        """Record ``exchange``; return the inject rule answering it, and whether its answer is dropped."""
        with self._lock:
            self.exchanges.append(exchange)
            for rule in self._injects:
                if rule.remaining > 0 and rule.matches(exchange.method, exchange.route):
                    rule.remaining -= 1
                    return rule, False
            drop = False
            for rule in self._drops:
                if rule.matches(exchange.method, exchange.route):
                    rule.seen += 1
                    drop = drop or rule.seen == rule.nth
            return None, drop

    def upstream_connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=120)

    def edit_answer(self, route: str, payload: Any) -> Any:
        """Apply the answer faults (metadata stripping) to a JSON answer."""
        if not self.strip_metadata or not BATCH_ROUTE.search(route) or not isinstance(payload, dict):
            return payload
        items = payload.get("data") if payload.get("object") == "list" else [payload]
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("object") == "batch":
                item.pop("metadata", None)
        return payload


class _Handler(BaseHTTPRequestHandler):
    owner: RecordingProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's client expects
    timeout = 60  # an idle kept-alive connection is let go after this

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the exchanges are the log

    def do_GET(self) -> None:
        self._proxy()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _body_chunks(self) -> Any:
        """The request body, as it arrives (Content-Length or chunked)."""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        left = int(self.headers.get("content-length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def _proxy(self) -> None:
        owner = self.owner
        headers = {k.lower(): v for k, v in self.headers.items()}
        exchange = Exchange(self.command, self.path, headers)
        rule, drop = owner.admit(exchange)
        if rule is not None:
            for chunk in self._body_chunks():
                self._keep(exchange, chunk)
            self._answer_injected(exchange, rule)
            return
        conn = owner.upstream_connection()
        try:
            try:
                response = self._forward(conn, exchange)
            except OSError as exc:
                self._send_json(exchange, 502, {"error": {"message": f"recording proxy: upstream {owner.upstream} "
                                                                     f"unreachable: {exc}", "type": "proxy_error"}})  # fmt: skip
                return
            if drop:
                response.read()  # the upstream has done the work; the client never hears of it
                exchange.dropped = True
                self.close_connection = True
                return
            self._relay(exchange, response)
        finally:
            conn.close()

    def _keep(self, exchange: Exchange, chunk: bytes) -> None:
        room = self.owner.record_limit - len(exchange.body)
        if room > 0:
            exchange.body += chunk[:room]

    def _forward(self, conn: http.client.HTTPConnection, exchange: Exchange) -> http.client.HTTPResponse:
        # The proxy's URL carries the upstream's path prefix, so paths go through unchanged.
        conn.putrequest(self.command, self.path, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                conn.putheader(name, value)
        length = self.headers.get("content-length")
        chunked = length is None and self.headers.get("transfer-encoding", "").lower() == "chunked"
        if length is not None:
            conn.putheader("Content-Length", length)
        elif chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in self._body_chunks():
            self._keep(exchange, chunk)
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            conn.send(b"0\r\n\r\n")
        return conn.getresponse()

    def _relay(self, exchange: Exchange, response: http.client.HTTPResponse) -> None:
        ctype = response.getheader("content-type", "")
        length = response.getheader("content-length")
        no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        is_json = ctype.split(";", 1)[0].strip().lower() == "application/json"
        if is_json and not no_body and (length is None or int(length) <= JSON_LIMIT):
            raw = response.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            else:
                exchange.response = payload = self.owner.edit_answer(exchange.route, payload)
                raw = json.dumps(payload).encode()
            self._start(exchange, response, length=len(raw))
            self.wfile.write(raw)
            return
        if no_body:
            self._start(exchange, response, length=None if self.command == "HEAD" else 0, keep_length=True)
            return
        self._start(exchange, response, length=None if length is None else int(length))
        while chunk := response.read1(CHUNK) if length is None else response.read(CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if length is None else chunk)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")

    def _start(self, exchange: Exchange, response: http.client.HTTPResponse, *, length: int | None,
               keep_length: bool = False) -> None:  # fmt: skip
        exchange.status = response.status
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP or (keep_length and name.lower() == "content-length"):
                self.send_header(name, value)
        if not keep_length:
            self.send_header(*(("Content-Length", str(length)) if length is not None
                               else ("Transfer-Encoding", "chunked")))  # fmt: skip
        self.end_headers()

    def _answer_injected(self, exchange: Exchange, rule: _Rule) -> None:
        exchange.injected = True
        extra = {} if rule.retry_after is None else {"Retry-After": f"{rule.retry_after:g}"}
        self._send_json(exchange, rule.status, {"error": {
            "message": f"injected by the recording proxy: {rule.status} on {self.command} {exchange.route}",
            "type": "rate_limit_error" if rule.status == 429 else "server_error", "code": None, "param": None,
        }}, extra)  # fmt: skip

    def _send_json(
        self, exchange: Exchange, status: int, payload: Any, extra: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(payload).encode()
        exchange.status, exchange.response = status, payload
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)
