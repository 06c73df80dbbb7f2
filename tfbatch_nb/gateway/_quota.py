"""The enqueued-token limit: how many input tokens of unfinished batches a model may hold.

OpenAI caps, per model, the prompt tokens of an organisation's batches that are ``validating``,
``in_progress`` or ``finalizing``. A batch that would take them past the cap is created, then
ends ``failed`` with a ``token_limit_exceeded`` error and no output or error file; its tokens are
never held. A batch's tokens are released when it ends (completed, failed, expired, cancelled).

The gateway's count of a batch is the sum, over its lines, of the ``prompt_tokens`` the simulated
model reports for that line (:func:`~._simulator.prompt_tokens`: about one token per 4 characters
of message text), whatever answers the lines. The model is the lines' ``body.model`` (or the
model a provider header names), as the lines spell it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import orjson

from ._simulator import prompt_tokens
from ._store import Obj

ORGANIZATION = "org-local"


def limit_error(model: str, limit: int) -> Obj:
    """The ``errors.data`` entry of a batch refused by the limit, worded as OpenAI words it.

    Examples
    --------
    >>> limit_error("openai-main/gpt-4o-mini", 1000)["message"]
    'Enqueued token limit reached for openai-main/gpt-4o-mini in organization org-local. Limit: 1000 enqueued tokens. Please try submitting your batch again later.'
    """
    return {
        "code": "token_limit_exceeded",
        "message": (
            f"Enqueued token limit reached for {model} in organization {ORGANIZATION}. "
            f"Limit: {limit} enqueued tokens. Please try submitting your batch again later."
        ),
        "line": None,
        "param": None,
    }


def count_file(path: Path, endpoint: str, *, header_model: str | None = None) -> tuple[str, int]:
    """The model of a batch input file and its input tokens (lines that are not requests count 0).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> line = {"custom_id": "a", "body": {"model": "openai-main/m", "messages": [
    ...     {"role": "user", "content": "x" * 40}]}}
    >>> _ = p.write_bytes(orjson.dumps(line) + b"\\nnot json\\n" + orjson.dumps(line) + b"\\n")
    >>> count_file(p, "/v1/chat/completions")
    ('openai-main/m', 20)
    """
    model: str | None = None
    total = 0
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            body = line.get("body") if isinstance(line, dict) else None
            if not isinstance(body, dict):
                continue
            if model is None:
                named = body.get("model", header_model)
                model = named if isinstance(named, str) else None
            total += prompt_tokens(endpoint, body)
    return model or header_model or "unknown", total


class Quota:
    """The tokens each unfinished batch holds against the limit of its model (thread-safe).

    Parameters
    ----------
    limit : int or None
        Enqueued input tokens allowed per model; None = no limit.

    Examples
    --------
    >>> quota = Quota(100)
    >>> quota.admit("b1", "m", 60), quota.admit("b2", "m", 60), quota.admit("b3", "other", 60)
    (True, False, True)
    >>> quota.release("b1"); quota.admit("b2", "m", 60), quota.enqueued("m")
    (True, 60)
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._held: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def admit(self, batch_id: str, model: str, tokens: int, *, force: bool = False) -> bool:
        """Hold ``tokens`` for ``batch_id`` if they fit under the limit with those already held
        for ``model`` (``force``: hold them anyway, for a batch already running); False if not."""
        with self._lock:
            if not force and self.limit is not None and self._sum(model) + tokens > self.limit:
                return False
            self._held[batch_id] = (model, tokens)
            return True

    def release(self, batch_id: str) -> None:
        """Give back what ``batch_id`` held (nothing when it held nothing)."""
        with self._lock:
            self._held.pop(batch_id, None)

    def holds(self, batch_id: str) -> bool:
        """Whether ``batch_id`` holds tokens."""
        with self._lock:
            return batch_id in self._held

    def enqueued(self, model: str) -> int:
        """The tokens held for ``model``."""
        with self._lock:
            return self._sum(model)

    def _sum(self, model: str) -> int:
        return sum(n for m, n in self._held.values() if m == model)
