"""The error tree of tfbatch_nb.

Every error this library raises on its own derives from :class:`TfBatchError`; errors from
the gateway itself (HTTP 4xx/5xx, connection failures) are the ``openai`` SDK's and pass
through unwrapped, so ``except openai.APIError`` keeps working::

    Exception
    └── TfBatchError
        ├── BatchInputError        (also ValueError)     bad rows, columns, files, options
        ├── BatchFailedError                             the job failed validation on the gateway
        ├── BatchTimeoutError      (also TimeoutError)   wait(timeout=...) ran out
        └── GatewayUnreachableError (also ConnectionError) nothing answers at the base URL

    openai.APIError  (not wrapped)
    ├── openai.APIConnectionError / APITimeoutError
    └── openai.APIStatusError -> BadRequestError, AuthenticationError, NotFoundError, RateLimitError, ...

No message ever contains an API key: messages are built from ids, names, counts and rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BatchFailedError",
    "BatchInputError",
    "BatchTimeoutError",
    "GatewayUnreachableError",
    "TfBatchError",
]


class TfBatchError(Exception):
    """Base class of every error raised by tfbatch_nb itself.

    Examples
    --------
    >>> import tfbatch_nb as tfb
    >>> issubclass(tfb.BatchInputError, tfb.TfBatchError)
    True
    """


class BatchInputError(TfBatchError, ValueError):
    """The input cannot become a valid batch: names the column and the first offending rows.

    Examples
    --------
    >>> import pandas as pd, tfbatch_nb as tfb
    >>> try:
    ...     tfb.build_requests(pd.DataFrame({"text": ["a"]}), model="openai-main/gpt-4o-mini", prompt="{txt}")
    ... except tfb.BatchInputError as exc:
    ...     print("txt" in str(exc))
    True
    """


class BatchFailedError(TfBatchError):
    """A job (or one of its parts) failed validation on the gateway.

    Parameters
    ----------
    message
        What failed, with the batch ids.
    errors
        The ``errors.data`` entries the gateway returned (``code``, ``message``, ``line``, ``param``).

    Examples
    --------
    >>> err = BatchFailedError("batch b1 failed", errors=[{"code": "invalid_json", "line": 3}])
    >>> err.errors[0]["line"]
    3
    """

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors]
        lines = [message]
        for e in self.errors[:5]:
            where = f"line {e['line']}: " if e.get("line") is not None else ""
            lines.append(f"  - {where}{e.get('code') or 'error'}: {e.get('message') or ''}".rstrip())
        if len(self.errors) > 5:
            lines.append(f"  ... and {len(self.errors) - 5} more (see .errors)")
        super().__init__("\n".join(lines))


class BatchTimeoutError(TfBatchError, TimeoutError):
    """``Batch.wait(timeout=...)`` ran out before the job reached a terminal status.

    The job keeps running on the gateway; call ``wait()`` again or ``gw.attach(name)`` later.

    Examples
    --------
    >>> issubclass(BatchTimeoutError, TimeoutError)
    True
    """


class GatewayUnreachableError(TfBatchError, ConnectionError):
    """Nothing answered at the gateway's URL (refused, unknown host, TLS failure, timeout).

    Raised after the SDK's own retries; the message names the URL (without credentials) and the
    cause. What was journaled stays: the same call again resumes where it stopped.

    Parameters
    ----------
    url
        The base URL, credentials removed.
    cause
        What the HTTP library said, in a few words.

    Examples
    --------
    >>> err = GatewayUnreachableError("http://127.0.0.1:9/v1", cause="Connection refused")
    >>> err.url, isinstance(err, ConnectionError)
    ('http://127.0.0.1:9/v1', True)
    """

    def __init__(self, url: str, *, cause: str) -> None:
        self.url = url
        super().__init__(
            f"cannot reach the gateway at {url} ({cause}): check the URL, that the server is running and "
            "that this machine can reach it; nothing journaled is lost, run the same call again when it answers"
        )
