"""The batch state machine and its worker threads.

One daemon thread per running batch walks ``validating -> in_progress -> finalizing -> completed``
(or ``failed`` / ``cancelling -> cancelled`` / ``expired``). Output and error lines are appended to
scratch files as they are produced, so a stopped gateway resumes a batch where it left off: on
restart the scratch files tell how many lines are done.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from . import responders
from .catalog import Limits, ProviderIntegration
from .faults import FaultSet
from .simulator import ResponderError
from .store import Obj, Store
from .validation import validate_file

log = logging.getLogger("tfbatch_nb.gateway")

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
WINDOW_S = 24 * 3600.0


class _Stopped(Exception):
    """The gateway is shutting down: leave the batch as it is, to be resumed later."""


@dataclass(frozen=True)
class Pace:
    """How long each phase takes; ``factor`` None means as fast as possible.

    At factor 1 (the tutorial pace) validating and finalizing take 1 s each and a line 40 ms, with
    the whole ``in_progress`` phase capped at 20 s, so 100 lines take about 6 s.

    Examples
    --------
    >>> Pace.parse("max").per_line(100), Pace.parse(None).per_line(100)
    (0.0, 0.04)
    """

    factor: float | None

    @classmethod
    def parse(cls, speed: float | str | None) -> Pace:
        if speed is None:
            return cls(1.0)
        if isinstance(speed, str):
            if speed.strip().lower() == "max":
                return cls(None)
            speed = float(speed)
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive number or 'max', got {speed!r}")
        return cls(float(speed))

    def _scale(self, seconds: float) -> float:
        return 0.0 if self.factor is None else seconds / self.factor

    @property
    def phase(self) -> float:
        return self._scale(1.0)

    def per_line(self, total: int) -> float:
        return self._scale(min(0.04, 20.0 / max(total, 1)))

    @property
    def window(self) -> float:
        return WINDOW_S if self.factor is None else WINDOW_S / self.factor


class _Sink:
    """An append-only JSONL scratch file, opened on first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: Any = None

    def write(self, data: bytes) -> None:
        if self._fh is None:
            self._fh = open(self.path, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self._fh.write(data)
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

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


def _usage(body: Any) -> tuple[int, int]:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    i = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    o = usage.get("completion_tokens", usage.get("output_tokens", 0))
    return (i if isinstance(i, int) else 0), (o if isinstance(o, int) else 0)


class Runner:
    """Runs batches in worker threads and owns their live state.

    Examples
    --------
    >>> Pace.parse(2.0).phase
    0.5
    """

    def __init__(
        self,
        store: Store,
        *,
        catalog: Mapping[str, ProviderIntegration],
        responder: responders.Responder,
        faults: FaultSet,
        pace: Pace,
        limits: Limits,
        concurrency: int = 1,
    ) -> None:
        self.store, self.catalog, self.responder = store, catalog, responder
        self.faults, self.pace, self.limits = faults, pace, limits
        self.concurrency = max(1, int(getattr(responder, "concurrency", concurrency)))
        self._lock = threading.Lock()
        self._active: dict[str, Obj] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()

    # -- API used by the HTTP routes -----------------------------------------------------
    def create(self, obj: Obj, meta: Obj) -> Obj:
        self.store.add_batch(obj, meta)
        with self._lock:
            self._active[obj["id"]] = obj
            out = self._copy(obj)
        self._spawn(obj["id"])
        return out

    def get(self, batch_id: str) -> Obj | None:
        with self._lock:
            obj = self._active.get(batch_id)
            if obj is not None:
                return self._copy(obj)
        return self.store.get_batch(batch_id)

    def cancel(self, batch_id: str) -> Obj | None:
        """Request cancellation; raises ValueError for a batch that already ended otherwise."""
        with self._lock:
            obj = self._active.get(batch_id) or self.store.get_batch(batch_id)
            if obj is None:
                return None
            status = obj["status"]
            if status in TERMINAL and status != "cancelled":
                raise ValueError(f"Cannot cancel a batch with status {status!r}.")
            if status not in ("cancelling", "cancelled"):
                obj["status"], obj["cancelling_at"] = "cancelling", int(time.time())
                self.store.save_batch(obj)
            return self._copy(obj)

    def list_batches(self, *, after: str | None, limit: int) -> tuple[list[Obj], bool] | None:
        page = self.store.list_batches(after=after, limit=limit)
        if page is None:
            return None
        with self._lock:  # running batches: report live counts, not the last saved ones
            objs = [self._copy(self._active[o["id"]]) if o["id"] in self._active else o for o in page[0]]
        return objs, page[1]

    # -- lifecycle -----------------------------------------------------------------------
    def resume(self) -> None:
        """Pick up batches a previous run left unfinished (after a restart)."""
        for batch_id in self.store.unfinished_batch_ids(TERMINAL):
            obj = self.store.get_batch(batch_id)
            if obj is None:  # pragma: no cover - deleted concurrently
                continue
            with self._lock:
                self._active[batch_id] = obj
            self._spawn(batch_id)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        close = getattr(self.responder, "close", None)
        if callable(close):
            close()

    def _spawn(self, batch_id: str) -> None:
        thread = threading.Thread(
            target=self._job, args=(batch_id,), name=f"tfbatch-gw-{batch_id}", daemon=True
        )
        with self._lock:
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[batch_id] = thread
        thread.start()

    @staticmethod
    def _copy(obj: Obj) -> Obj:
        out = dict(obj)
        for key in ("request_counts", "usage", "metadata", "errors"):
            if isinstance(out.get(key), dict):
                out[key] = dict(out[key])
        return out

    def _set(self, obj: Obj, status: str, **fields: Any) -> bool:
        """Move to ``status`` unless a cancel came first; persist. False when cancelled meanwhile."""
        with self._lock:
            if obj["status"] == "cancelling" and status not in ("cancelled", "cancelling"):
                if status not in TERMINAL:
                    return False
                # A cancel won the race against the end of the batch: it ends cancelled.
                fields = {k: v for k, v in fields.items() if not k.endswith("_at")}
                status, fields["cancelled_at"] = "cancelled", int(time.time())
            obj["status"] = status
            obj.update(fields)
            self.store.save_batch(obj)
            if status in TERMINAL:
                self._active.pop(obj["id"], None)
        return True

    def _wait(self, seconds: float, obj: Obj) -> None:
        """Sleep for pacing; wake early on stop (raise) or cancel (return)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and obj["status"] != "cancelling":
            if self._stop.wait(min(left, 0.05)):
                raise _Stopped
        if self._stop.is_set():
            raise _Stopped

    # -- the job -------------------------------------------------------------------------
    def _job(self, batch_id: str) -> None:
        obj = self._active.get(batch_id)
        if obj is None:  # pragma: no cover - defensive
            return
        try:
            self._run(obj, self.store.batch_meta(batch_id))
        except _Stopped:
            pass
        except Exception as exc:  # never let one batch kill the gateway; fail it visibly instead
            log.exception("batch %s crashed", batch_id)
            error = {
                "code": "internal_error",
                "message": f"{type(exc).__name__}: {exc}",
                "param": None,
                "line": None,
            }
            self._set(obj, "failed", failed_at=int(time.time()), errors={"object": "list", "data": [error]})

    def _run(self, obj: Obj, meta: Obj) -> None:
        out = _Sink(self.store.tmp_path(f"{obj['id']}-output.jsonl"))
        err = _Sink(self.store.tmp_path(f"{obj['id']}-errors.jsonl"))
        usage = [0, 0]
        done = self._recover(out, err, usage)  # lines a previous run of the gateway finished
        if obj["status"] == "validating":
            self._wait(self.pace.phase, obj)
        if obj["status"] == "cancelling":
            return self._end(obj, out, err, "cancelled", done, usage)
        if time.time() >= obj["expires_at"]:
            return self._end(obj, out, err, "expired", done, usage)
        path = self.store.file_path(obj["input_file_id"])
        integration = self.catalog.get(meta.get("provider", ""))
        if not path.exists() or integration is None:
            what = "input file was deleted" if integration else "provider integration is no longer configured"
            return self._fail(
                obj, [{"code": "invalid_file", "message": f"The {what}.", "param": None, "line": None}]
            )
        if meta.get("fail"):
            fault = {
                "code": "validation_failed",
                "message": "Validation failed (injected fault).",
                "param": None,
            }
            return self._fail(obj, [{**fault, "line": None}])
        check = validate_file(
            path,
            endpoint=obj["endpoint"],
            integration=integration,
            catalog=self.catalog,
            limits=self.limits,
            header_model=meta.get("header_model"),
        )
        if check.errors:
            return self._fail(obj, check.errors)
        counts = {"total": check.total, "completed": out.count, "failed": err.count}
        if obj["status"] == "validating":
            started = self._set(obj, "in_progress", in_progress_at=int(time.time()), model=check.model)
            obj["request_counts"] = counts
            if not started:
                return self._end(obj, out, err, "cancelled", done, usage)
        obj["request_counts"] = counts
        done = self._process(obj, meta, path, out, err, done, usage)
        if obj["status"] in ("cancelling", "expired") or done < check.total:
            status = "cancelled" if obj["status"] == "cancelling" else "expired"
            return self._end(obj, out, err, status, done, usage)
        if self._set(obj, "finalizing", finalizing_at=int(time.time())):
            self._wait(self.pace.phase, obj)
        return self._end(
            obj, out, err, "cancelled" if obj["status"] == "cancelling" else "completed", done, usage
        )

    def _recover(self, out: _Sink, err: _Sink, usage: list[int]) -> int:
        for record in out.recover():
            i, o = _usage((record.get("response") or {}).get("body"))
            usage[0] += i
            usage[1] += o
        for _ in err.recover():
            pass
        return out.count + err.count

    def _process(
        self, obj: Obj, meta: Obj, path: Path, out: _Sink, err: _Sink, done: int, usage: list[int]
    ) -> int:
        endpoint, batch_id = obj["endpoint"], obj["id"]
        total = obj["request_counts"]["total"]
        frac = meta.get("expire_fraction")
        expire_after = math.floor(frac * total) if isinstance(frac, (int, float)) else None
        per_line = self.pace.per_line(total)
        rate = self.faults.line_error_rate(endpoint)
        header_model = meta.get("header_model")
        counts = obj["request_counts"]
        stamp = batch_id.removeprefix("batch_")[:12]
        started, first = time.monotonic(), done

        key = str(meta.get("fault_key", batch_id))

        def answer(item: tuple[int, bytes]) -> tuple[bytes, bool, int, int]:
            return self._answer(endpoint, stamp, header_model, rate, key, *item)

        pool = ThreadPoolExecutor(self.concurrency) if self.concurrency > 1 else None
        chunk = self.concurrency * 4 if pool else 1
        try:
            with open(path, "rb") as fh:
                lines = islice(enumerate(fh, 1), done, None)
                while items := list(islice(lines, chunk)):
                    if self._stop.is_set():
                        raise _Stopped
                    if obj["status"] == "cancelling":
                        break
                    if (expire_after is not None and done >= expire_after) or time.time() >= obj[
                        "expires_at"
                    ]:
                        break
                    results = pool.map(answer, items) if pool else map(answer, items)
                    for record, ok, i, o in results:
                        (out if ok else err).write(record)
                        counts["completed" if ok else "failed"] += 1
                        usage[0] += i
                        usage[1] += o
                        done += 1
                    if per_line:
                        obj["usage"] = self._usage_obj(usage)
                        self._wait((done - first) * per_line - (time.monotonic() - started), obj)
        finally:
            out.close()
            err.close()
            if pool:
                pool.shutdown(wait=True)
        obj["usage"] = self._usage_obj(usage)
        return done

    def _answer(
        self, endpoint: str, stamp: str, header_model: str | None, rate: float, key: str, n: int, raw: bytes
    ) -> tuple[bytes, bool, int, int]:
        line = orjson.loads(raw)
        body = line["body"]
        if "model" not in body and header_model:
            body["model"] = header_model
        request_id = f"req_{stamp}{n:08d}"
        response: Obj | None = None
        error: Obj | None = None
        ok, i, o = False, 0, 0
        if self.faults.line_fails(rate, key, n):
            fault = ResponderError(
                500, "The model failed on this request (injected fault).", code="line_error"
            )
            response = {"status_code": 500, "request_id": request_id, "body": fault.body()}
        else:
            try:
                result = responders.call(self.responder, endpoint, body)
            except ResponderError as exc:
                response = {"status_code": exc.status_code, "request_id": request_id, "body": exc.body()}
            except Exception as exc:  # a user responder may raise anything: the line fails, not the batch
                error = {"code": "responder_error", "message": f"{type(exc).__name__}: {exc}"}
            else:
                response = {"status_code": 200, "request_id": request_id, "body": result}
                ok = True
                i, o = _usage(result)
        record = {
            "id": f"batch_req_{stamp}{n:08d}",
            "custom_id": line["custom_id"],
            "response": response,
            "error": error,
        }
        return orjson.dumps(record) + b"\n", ok, i, o

    @staticmethod
    def _usage_obj(usage: list[int]) -> Obj:
        return {
            "input_tokens": usage[0],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage[1],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage[0] + usage[1],
        }

    def _fail(self, obj: Obj, errors: list[Obj]) -> None:
        if not self._set(
            obj, "failed", failed_at=int(time.time()), errors={"object": "list", "data": errors}
        ):
            self._set(obj, "cancelled", cancelled_at=int(time.time()))

    def _end(self, obj: Obj, out: _Sink, err: _Sink, status: str, done: int, usage: list[int]) -> None:
        """Write the lines never run into the error file, register both files, set the final status."""
        if status in ("cancelled", "expired") and (obj.get("request_counts") or {}).get("total"):
            code = "batch_cancelled" if status == "cancelled" else "batch_expired"
            message = (
                "This request was not executed because the batch was cancelled."
                if status == "cancelled"
                else "This request could not be executed before the completion window expired."
            )
            with open(self.store.file_path(obj["input_file_id"]), "rb") as fh:
                for n, raw in islice(enumerate(fh, 1), done, None):
                    cid = orjson.loads(raw).get("custom_id")
                    stamp = obj["id"].removeprefix("batch_")[:12]
                    record = {"id": f"batch_req_{stamp}{n:08d}", "custom_id": cid, "response": None}
                    err.write(orjson.dumps({**record, "error": {"code": code, "message": message}}) + b"\n")
            err.close()
        files: dict[str, str | None] = {}
        provider = self.store.batch_meta(obj["id"]).get("provider")
        for key, sink, suffix in (("output_file_id", out, "output"), ("error_file_id", err, "error")):
            files[key] = None
            if sink.path.exists() and sink.path.stat().st_size > 0:
                name = f"{obj['id']}_{suffix}.jsonl"
                files[key] = self.store.register_file(
                    sink.path, filename=name, purpose="batch_output", provider=provider
                )["id"]
            else:
                sink.path.unlink(missing_ok=True)
        obj["usage"] = self._usage_obj(usage)
        self._set(obj, status, **{f"{status}_at": int(time.time())}, **files)
