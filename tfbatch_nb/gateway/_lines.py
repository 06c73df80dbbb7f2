"""One batch line in, one output record out: the answering of lines and the scratch files they go to.

A record is the Batch API's output line ``{id, custom_id, response: {status_code, request_id,
body}, error}``. Successful records are spliced from byte pieces around the serialised response
body: the envelope is the same for every line, and building and re-serialising a dict for it
per line was a measurable share of a 50,000-line batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from ._errors import ApiError
from ._faults import FaultSet
from ._responders import Responder, respond
from ._simulator import chat_bytes, simulate
from ._store import open_private

Obj = dict[str, Any]

_UNRUN = {
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
}

# A successful record around its head (id + custom_id), request id and serialised body.
OK_RECORD = b'%s,"response":{"status_code":200,"request_id":"req_%s","body":%s},"error":null}\n'


class Sink:
    """An append-only JSONL scratch file, opened on first write, written in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile
    >>> sink = Sink(Path(tempfile.mkdtemp()) / "out.jsonl")
    >>> sink.write(b'{"a":1}\\n'); sink.close(); sink.count
    1
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: Any = None

    def write(self, data: bytes | memoryview, count: int = 1) -> None:
        """Append ``count`` records (``data`` is their JSON lines, each ending in a newline)."""
        if self._fh is None:
            self._fh = open_private(self.path, "ab", buffering=1 << 20)  # closed in close()
        self._fh.write(data)
        self.count += count

    def close(self) -> None:
        """Flush and close (idempotent); the next write reopens for appending."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        """Close, delete the file and forget its records."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.count = 0

    def recover(self) -> Iterator[Obj]:
        """Records already written (a torn last line from a crash is cut off)."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data[: data.rfind(b"\n") + 1]
        if len(keep) != len(data):
            self.path.write_bytes(keep)
        for line in keep.splitlines():
            if line:
                self.count += 1
                yield orjson.loads(line)


def usage_of(body: Any) -> tuple[int, int]:
    """(input, output) tokens of a response body; (0, 0) when it has no usable ``usage``.

    Examples
    --------
    >>> usage_of({"usage": {"input_tokens": 3, "output_tokens": 1}}), usage_of({})
    ((3, 1), (0, 0))
    """
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    i = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    o = usage.get("completion_tokens", usage.get("output_tokens", 0))
    return (i if isinstance(i, int) else 0), (o if isinstance(o, int) else 0)


def usage_obj(usage: list[int]) -> Obj:
    """The Batch object's ``usage`` from running [input, output] token totals.

    Examples
    --------
    >>> usage_obj([3, 1])["total_tokens"]
    4
    """
    return {
        "input_tokens": usage[0],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage[1],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage[0] + usage[1],
    }


def stamp_of(batch_id: str) -> str:
    """The per-batch part of request ids: ``batch_req_<stamp><line:08d>``.

    Examples
    --------
    >>> stamp_of("batch_0123456789abcdef")
    '0123456789ab'
    """
    return batch_id.removeprefix("batch_")[:12]


class LineAnswerer:
    """Answers the lines of one batch with its responder, line faults and request ids.

    Calling it with ``(n, line)`` (1-based line number, parsed line) returns
    ``(record bytes, ok, input_tokens, output_tokens)``; ok records go to the output file, the
    others to the error file.

    Examples
    --------
    >>> answer = LineAnswerer(simulate, FaultSet(), endpoint="/v1/embeddings",
    ...                       batch_id="batch_abc", header_model=None, fault_key="b1")
    >>> record, ok, _, _ = answer(1, {"custom_id": "a", "body": {"model": "m", "input": "x"}})
    >>> ok, orjson.loads(record)["id"]
    (True, 'batch_req_abc00000001')
    """

    def __init__(
        self,
        responder: Responder,
        faults: FaultSet,
        *,
        endpoint: str,
        batch_id: str,
        header_model: str | None,
        fault_key: str,
    ) -> None:
        self.responder, self.faults, self.endpoint = responder, faults, endpoint
        self.header_model, self.fault_key = header_model, fault_key
        self.stamp = stamp_of(batch_id)
        self._stamp = self.stamp.encode()
        self.rate = faults.line_error_rate(endpoint)
        # The simulator's plain chat lines skip the response dict (see chat_bytes); a user
        # responder always gets the body and its answer is serialised as given.
        self._fast = responder is simulate and endpoint == "/v1/chat/completions"

    def raw(self, item: tuple[int, bytes]) -> tuple[bytes, bool, int, int]:
        """Answer an unparsed ``(n, line bytes)`` item (the resumable, paced path)."""
        return self(item[0], orjson.loads(item[1]))

    def __call__(self, n: int, line: Obj) -> tuple[bytes, bool, int, int]:
        body = line["body"]
        if "model" not in body and self.header_model:
            body["model"] = self.header_model
        ids = b"%s%08d" % (self._stamp, n)
        head = b'{"id":"batch_req_' + ids + b'","custom_id":' + orjson.dumps(line["custom_id"])
        if self.rate and self.faults.line_fails(self.rate, self.fault_key, n):
            fault = ApiError(500, "The model failed on this request (injected fault).", code="line_error")
            return self._failed(head, ids, 500, fault.body()), False, 0, 0
        if self._fast and (fast := chat_bytes(body)) is not None:
            return OK_RECORD % (head, ids, fast[0]), True, fast[1], fast[2]
        try:
            result = respond(self.responder, self.endpoint, body)
        except ApiError as exc:
            return self._failed(head, ids, exc.status_code, exc.body()), False, 0, 0
        except Exception as exc:  # a user responder may raise anything: the line fails, not the batch
            error = orjson.dumps({"code": "responder_error", "message": f"{type(exc).__name__}: {exc}"})
            return head + b',"response":null,"error":' + error + b"}\n", False, 0, 0
        i, o = usage_of(result)
        return OK_RECORD % (head, ids, orjson.dumps(result)), True, i, o

    @staticmethod
    def _failed(head: bytes, ids: bytes, status: int, body: Obj) -> bytes:
        response = orjson.dumps({"status_code": status, "request_id": "req_" + ids.decode(), "body": body})
        return head + b',"response":' + response + b',"error":null}\n'


def write_unrun(input_path: Path, err: Sink, *, batch_id: str, done: int, status: str) -> None:
    """Add every line after the first ``done`` to the error file as not run (cancelled / expired)."""
    code, message = _UNRUN[status]
    tail = orjson.dumps({"code": code, "message": message})
    stamp = stamp_of(batch_id)
    with open(input_path, "rb") as fh:
        for n, raw in islice(enumerate(fh, 1), done, None):
            cid = orjson.loads(raw).get("custom_id")
            head = {"id": f"batch_req_{stamp}{n:08d}", "custom_id": cid, "response": None}
            err.write(orjson.dumps(head)[:-1] + b',"error":' + tail + b"}\n")
    err.close()
