"""ASGI layer in front of the routes: bearer auth and injected HTTP faults.

It sits outside FastAPI so that auth covers every path (also unknown ones), so that a ``drop``
fault can let the route do its work and then close the connection without an answer, and so that a
``late_commit`` fault can answer first and let the route do its work later.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from starlette.responses import Response

from ._errors import ApiError
from ._faults import FaultSet


class _QuietDrop(logging.Filter):
    """Hide uvicorn's complaints that are no news: the answer a ``drop`` fault deliberately never
    finishes, and the requests a shutdown cancelled (their clients see the connection close)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "without completing response" in str(record.msg):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


_drop_filter = _QuietDrop()
logging.getLogger("uvicorn.error").addFilter(_drop_filter)


class Guard:
    """Pure ASGI middleware: ``/health`` is open; everything else needs the bearer token.

    Parameters
    ----------
    app : ASGI app
        The FastAPI app.
    api_key : str
        The bearer token every request but ``/health`` must send.
    faults : FaultSet
        Where the HTTP-level faults (``http500``, ``http429``, ``drop``, ``slow``) are drawn.
    fault_delay : float
        Seconds a ``slow`` fault waits before the route runs.
    prefixes : tuple of str
        Base paths under which routes live (stripped to match fault routes).
    late_commit_delay : float
        Seconds after its 504 that a request hit by ``late_commit`` is carried out.
    """

    def __init__(
        self,
        app: Any,
        *,
        api_key: str,
        faults: FaultSet,
        fault_delay: float,
        prefixes: tuple[str, ...],
        late_commit_delay: float = 2.0,
    ) -> None:
        self.app, self.faults, self.fault_delay, self.prefixes = app, faults, fault_delay, prefixes
        self.late_commit_delay = late_commit_delay
        self._key = api_key.encode()
        self._late: set[asyncio.Task[None]] = set()  # late commits under way (a task needs a reference)

    def _route(self, path: str) -> str:
        for prefix in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return path[len(prefix) :] or "/"
        return path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route(scope.get("path", ""))
        answer = self._refuse(scope, route)
        if answer is not None:
            await answer(scope, receive, send)
            return
        fault = self.faults.http(scope.get("method", "GET"), route)
        if fault is None or fault.kind == "slow":
            if fault is not None:
                await asyncio.sleep(self.fault_delay)
            await self.app(scope, receive, send)
            return
        if fault.kind == "http500":
            exc = ApiError(
                500, "The server had an error processing your request (injected fault).", type="server_error"
            )
            await exc.response()(scope, receive, send)
            return
        if fault.kind == "http429":
            # retry-after-ms is read first by the openai SDK: clients retry after 0.1 s, tests stay fast
            headers = {"retry-after": "1", "retry-after-ms": "100"}
            exc = ApiError(
                429, "Rate limit reached (injected fault).", code="rate_limit_exceeded", headers=headers
            )
            await exc.response()(scope, receive, send)
            return
        if fault.kind == "late_commit":
            await self._late_commit(scope, receive, send)
            return
        # drop: do the work, send the status line and headers, then never the body. Uvicorn closes
        # the connection, and the client sees a broken response (a connection error it may retry).
        started = False

        async def half_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                await send(message)

        await self.app(scope, receive, half_send)

    async def _late_commit(self, scope: Any, receive: Any, send: Any) -> None:
        """Read the whole request, answer 504 at once, and hand the request to the routes later."""
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending it all: there is nothing to carry out
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        timeout = ApiError(504, "gateway timeout (injected fault)", code="gateway_timeout")
        await timeout.response()(scope, receive, send)
        task = asyncio.create_task(self._replay(dict(scope), b"".join(chunks)))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _replay(self, scope: Any, body: bytes) -> None:
        """Carry out a request whose client was already told 504; its answer goes nowhere."""
        await asyncio.sleep(self.late_commit_delay)
        messages: list[dict[str, Any]] = [
            {"type": "http.disconnect"},
            {"type": "http.request", "body": body, "more_body": False},
        ]

        async def receive() -> dict[str, Any]:
            # the body, then what is true by now: the client is gone
            return messages.pop() if len(messages) > 1 else messages[0]

        async def discard(message: Any) -> None:
            pass

        await self.app(scope, receive, discard)

    def _refuse(self, scope: Any, route: str) -> Response | None:
        """The answer for ``/health`` or a request without the right bearer token, else None."""
        if route == "/health":
            return Response(b'{"status":"ok"}', media_type="application/json")
        auth = dict(scope.get("headers") or ()).get(b"authorization", b"")
        scheme, _, token = auth.partition(b" ")
        # RFC 7235: the scheme is case-insensitive ("bearer" is as good as "Bearer")
        if scheme.lower() == b"bearer" and secrets.compare_digest(token.strip(b" "), self._key):
            return None
        message = (
            "Incorrect API key provided."
            if auth
            else "Missing bearer token: send 'Authorization: Bearer <your api key>'."
        )
        return ApiError(401, message, code="invalid_api_key").response()
