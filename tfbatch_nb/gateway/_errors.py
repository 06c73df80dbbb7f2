"""The gateway's one error: an HTTP status with an OpenAI-shaped error body.

Routes raise it for bad requests; responders raise it (as ``ResponderError``) to fail one
request, which then lands in the batch's error file with that status, or reaches a realtime
client as that HTTP answer.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

# The OpenAI error ``type`` for a status, as the openai SDK's exception classes expect them.
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
    """An error answer: HTTP ``status_code`` plus the OpenAI error fields.

    A responder raises it (under its public name ``ResponderError``) to fail one request.

    Examples
    --------
    >>> ApiError(404, "No such file").body()
    {'error': {'message': 'No such file', 'type': 'invalid_request_error', 'code': None, 'param': None}}
    >>> ApiError(503, "busy").type
    'server_error'
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
        self.status_code = int(status_code)
        self.message = message
        self.type = type or _TYPES.get(
            self.status_code, "server_error" if self.status_code >= 500 else "invalid_request_error"
        )
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The OpenAI-shaped error body."""
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}

    def response(self) -> Response:
        """The HTTP answer: the body as JSON, the status and the headers.

        Examples
        --------
        >>> ApiError(429, "slow down", headers={"retry-after": "1"}).response().headers["retry-after"]
        '1'
        """
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status_code,
            media_type="application/json",
            headers=self.headers,
        )


# Its name where users meet it: a responder callable raises ``ResponderError`` to fail a request.
ResponderError = ApiError
