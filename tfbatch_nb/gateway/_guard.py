"""ASGI layer in front of the routes: bearer auth, injected HTTP faults, OpenAI-shaped errors.

It sits outside FastAPI so that auth covers every path (also unknown ones) and so that a ``drop``
fault can let the route do its work and then close the connection without an answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

if TYPE_CHECKING:
    from .app import State

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error answer: HTTP status plus the OpenAI error fields.

    Examples
    --------
    >>> ApiError(404, "No such file").type
    'invalid_request_error'
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type or _TYPES.get(
            status_code, "server_error" if status_code >= 500 else "invalid_request_error"
        )
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_response(exc: ApiError) -> Response:
    """The OpenAI-shaped JSON response for ``exc``."""
    body = {"error": {"message": exc.message, "type": exc.type, "code": exc.code, "param": exc.param}}
    return Response(
        orjson.dumps(body), status_code=exc.status_code, media_type="application/json", headers=exc.headers
    )


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
    state : State
        Gives the api key, the faults and the pace.
    prefixes : tuple of str
        Base paths under which routes live (stripped to match fault routes).
    """

    def __init__(self, app: Any, *, state: State, prefixes: tuple[str, ...]) -> None:
        self.app, self.state, self.prefixes = app, state, prefixes
        self._key = f"Bearer {state.api_key}".encode()

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
        fault = self.state.faults.http(scope.get("method", "GET"), route)
        if fault is None or fault.kind == "slow":
            if fault is not None:
                await asyncio.sleep(self.state.fault_delay)
            await self.app(scope, receive, send)
            return
        if fault.kind == "http500":
            exc = ApiError(
                500, "The server had an error processing your request (injected fault).", type="server_error"
            )
            await error_response(exc)(scope, receive, send)
            return
        if fault.kind == "http429":
            # retry-after-ms is read first by the openai SDK: clients retry after 0.1 s, tests stay fast
            headers = {"retry-after": "1", "retry-after-ms": "100"}
            exc = ApiError(
                429, "Rate limit reached (injected fault).", code="rate_limit_exceeded", headers=headers
            )
            await error_response(exc)(scope, receive, send)
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
        return error_response(ApiError(401, message, code="invalid_api_key"))
