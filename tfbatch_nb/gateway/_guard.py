"""ASGI layer in front of the routes: bearer auth and injected HTTP faults.

It sits outside FastAPI so that auth covers every path (also unknown ones) and so that a ``drop``
fault can let the route do its work and then close the connection without an answer.
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
    """Hide uvicorn's complaint about the answer a ``drop`` fault deliberately never finishes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in str(record.msg)


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
    """

    def __init__(
        self, app: Any, *, api_key: str, faults: FaultSet, fault_delay: float, prefixes: tuple[str, ...]
    ) -> None:
        self.app, self.faults, self.fault_delay, self.prefixes = app, faults, fault_delay, prefixes
        self._key = f"Bearer {api_key}".encode()

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
        # drop: do the work, send the status line and headers, then never the body. Uvicorn closes
        # the connection, and the client sees a broken response (a connection error it may retry).
        started = False

        async def half_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                await send(message)

        await self.app(scope, receive, half_send)

    def _refuse(self, scope: Any, route: str) -> Response | None:
        """The answer for ``/health`` or a request without the right bearer token, else None."""
        if route == "/health":
            return Response(b'{"status":"ok"}', media_type="application/json")
        auth = dict(scope.get("headers") or ()).get(b"authorization", b"")
        if secrets.compare_digest(auth, self._key):
            return None
        message = (
            "Incorrect API key provided."
            if auth
            else "Missing bearer token: send 'Authorization: Bearer <your api key>'."
        )
        return ApiError(401, message, code="invalid_api_key").response()
