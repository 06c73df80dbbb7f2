"""The batch state machine and its worker threads.

One daemon thread per running batch walks ``validating -> in_progress -> finalizing -> completed``
(or ``failed`` / ``cancelling -> cancelled`` / ``expired``). Output and error lines are appended to
scratch files as they are produced, so a stopped gateway resumes a batch where it left off: on
restart the scratch files tell how many lines are done.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitTimeout
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._catalog import Limits, ProviderIntegration
from ._faults import FaultSet
from ._lines import LineAnswerer, Sink, usage_obj, usage_of, write_unrun
from ._pace import Pace
from ._quota import Quota, count_file, limit_error
from ._responders import Responder
from ._simulator import simulate
from ._store import Obj, Store
from ._validation import LineChecker, Validation, size_error, validate_file

if TYPE_CHECKING:
    from ._columnar import PlainFile

log = logging.getLogger("tfbatch_nb.gateway")

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_CHECK_EVERY = 1024  # lines between looks at stop / cancel in the one-pass path
_PLAIN_BLOCK = 8192  # lines answered at once (between looks at stop / cancel) on the columnar path


class _Stopped(Exception):
    """The gateway is shutting down: leave the batch as it is, to be resumed later."""


class Workers:
    """Daemon threads that answer lines, whose results are waited for only until ``stop`` is set.

    Not a ThreadPoolExecutor: the interpreter waits at exit for those threads, so a gateway stopped
    while a responder (a slow upstream) is still answering would not end until it answered.
    Abandoned lines are simply not written; a restarted gateway answers them again.

    Examples
    --------
    >>> stop = threading.Event()
    >>> workers = Workers(2, stop)
    >>> list(workers.map(lambda x: x * 10, [1, 2, 3]))
    [10, 20, 30]
    >>> workers.close()
    """

    def __init__(self, size: int, stop: threading.Event) -> None:
        self._stop = stop
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[Any], Any], Any] | None] = (
            queue.SimpleQueue()
        )
        self._size = size
        for i in range(size):
            threading.Thread(target=self._work, name=f"tfbatch-gw-worker-{i}", daemon=True).start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, item = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(item))
            except BaseException as exc:  # handed to the waiting runner thread, as an executor does
                future.set_exception(exc)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn`` over ``items`` in the threads, results in order; raises ``_Stopped`` once stopped."""
        futures: list[Future[Any]] = []
        for item in items:
            futures.append(Future())
            self._jobs.put((futures[-1], fn, item))
        for future in futures:
            while True:
                try:
                    result = future.result(timeout=0.1)
                    break
                except WaitTimeout:  # the builtin TimeoutError only from Python 3.11 on
                    if future.done():  # the line's own TimeoutError
                        raise
                    if self._stop.is_set():
                        for pending in futures:
                            pending.cancel()
                        raise _Stopped from None
            yield result

    def close(self) -> None:
        """Let the threads end once their current line is answered (not waited for)."""
        for _ in range(self._size):
            self._jobs.put(None)


class Runner:
    """Runs batches in worker threads and owns their live state.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(Path(tempfile.mkdtemp()))
    >>> runner = Runner(store, catalog={}, responder=simulate, faults=FaultSet(), pace=Pace.parse("max"),
    ...                 limits=Limits(), quota=Quota(None))
    >>> runner.get("batch_unknown") is None, runner.list_batches(after=None, limit=10)
    (True, ([], False))
    >>> runner.stop(); store.close()
    """

    def __init__(
        self,
        store: Store,
        *,
        catalog: Mapping[str, ProviderIntegration],
        responder: Responder,
        faults: FaultSet,
        pace: Pace,
        limits: Limits,
        quota: Quota,
        concurrency: int = 1,
    ) -> None:
        self.store, self.catalog, self.responder = store, catalog, responder
        self.faults, self.pace, self.limits, self.quota = faults, pace, limits, quota
        self.concurrency = max(1, int(concurrency))
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
        objs = [obj for i in self.store.unfinished_batch_ids(TERMINAL) if (obj := self.store.get_batch(i))]
        for obj in objs:  # batches past validating hold their tokens again before any is admitted
            if obj["status"] != "validating":
                self._enqueue(obj, self.store.batch_meta(obj["id"]))
        for obj in objs:
            with self._lock:
                self._active[obj["id"]] = obj
            self._spawn(obj["id"])

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
                self.quota.release(obj["id"])
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
        out = Sink(self.store.tmp_path(f"{obj['id']}-output.jsonl"))
        err = Sink(self.store.tmp_path(f"{obj['id']}-errors.jsonl"))
        usage = [0, 0]
        done = self._recover(out, err, usage)  # lines a previous run of the gateway finished
        refused = self._enqueue(obj, meta)  # before the wait: a validating batch holds its tokens
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
        if refused is not None:
            return self._fail(obj, [refused])
        checker = LineChecker(
            endpoint=obj["endpoint"],
            integration=integration,
            catalog=self.catalog,
            limits=self.limits,
            header_model=meta.get("header_model"),
        )
        if self._one_pass(obj, meta, done):
            check = self._validate_and_answer(obj, meta, path, checker, out, err, usage)
            if check is None:  # cancelled while validating: nothing ran, as in the two-pass path
                return self._end(obj, out, err, "cancelled", 0, usage)
            done = out.count + err.count
        else:
            check = validate_file(path, checker)
        if check.errors:
            out.discard()
            err.discard()
            return self._fail(obj, check.errors)
        counts = {"total": check.total, "completed": out.count, "failed": err.count}
        if obj["status"] == "validating":
            started = self._set(obj, "in_progress", in_progress_at=int(time.time()), model=check.model)
            obj["request_counts"] = counts
            if not started:
                return self._end(obj, out, err, "cancelled", done, usage)
        obj["request_counts"] = counts
        if done < check.total:
            done = self._process(obj, meta, path, out, err, done, usage)
        obj["usage"] = usage_obj(usage)
        if obj["status"] in ("cancelling", "expired") or done < check.total:
            status = "cancelled" if obj["status"] == "cancelling" else "expired"
            return self._end(obj, out, err, status, done, usage)
        if self._set(obj, "finalizing", finalizing_at=int(time.time())):
            self._wait(self.pace.phase, obj)
        return self._end(
            obj, out, err, "cancelled" if obj["status"] == "cancelling" else "completed", done, usage
        )

    def _enqueue(self, obj: Obj, meta: Obj) -> Obj | None:
        """Hold the batch's input tokens against the enqueued-token limit of its model.

        Returns the ``token_limit_exceeded`` error when a validating batch does not fit (or a
        ``token_limit`` fault hit it), else None. A batch past validating (a restart) holds its
        tokens whatever the others hold; one that already holds them is not counted again.
        """
        limit, path = self.quota.limit, self.store.file_path(obj["input_file_id"])
        unlimited = limit is None and not meta.get("token_limit")
        if unlimited or self.quota.holds(obj["id"]) or not path.exists():
            return None  # a deleted input file fails the batch later, for that reason
        model, tokens = count_file(path, obj["endpoint"], header_model=meta.get("header_model"))
        if meta.get("token_limit"):
            return limit_error(model, limit or 0)
        admitted = self.quota.admit(obj["id"], model, tokens, force=obj["status"] != "validating")
        return None if admitted else limit_error(model, limit or 0)

    def _one_pass(self, obj: Obj, meta: Obj, done: int) -> bool:
        """Whether to validate and answer in one pass over the file (parsing each line once).

        Only at ``speed="max"`` (no pacing to show, so answering while validating is invisible),
        only with the simulator (pure: answering a line of a file that then fails validation has
        no effect anywhere), on a fresh start and without an ``expire`` fault (which stops midway).
        """
        return (
            self.pace.factor is None
            and self.responder is simulate
            and done == 0
            and meta.get("expire_fraction") is None
        )

    def _validate_and_answer(
        self, obj: Obj, meta: Obj, path: Path, checker: LineChecker, out: Sink, err: Sink, usage: list[int]
    ) -> Validation | None:
        """Validate every line and answer it while it is parsed; None when cancelled meanwhile.

        Answers go straight to the scratch files; a file that fails validation discards them. A
        stop leaves them for the restarted gateway, which counts them as done and validates again.
        """
        too_large = size_error(path, self.limits)
        if too_large is not None:
            return Validation(errors=[too_large])
        answer = self._answerer(obj, meta)
        if obj["endpoint"] == "/v1/chat/completions" and not answer.rate:
            # pyarrow: imported when first needed, not with the gateway
            from ._columnar import NotPlain, PlainFile

            plain = PlainFile.open(path, endpoint=obj["endpoint"], max_lines=self.limits.max_lines)
            check = self._check_plain(plain, checker) if plain is not None else None
            if plain is not None and check is not None:
                try:
                    return self._answer_plain(obj, plain, check, answer.stamp, out, err, usage)
                except NotPlain:  # found out midway: start again, line by line
                    out.discard()
                    usage[0] = usage[1] = 0
        errors, check_line = checker.errors, checker.line
        out_write, err_write = out.write, err.write
        try:
            with open(path, "rb") as fh:
                for n, raw in enumerate(fh, 1):
                    line = check_line(n, raw)
                    if errors:
                        if checker.full:
                            break
                        continue  # keep collecting errors; answers are no longer needed
                    if n % _CHECK_EVERY == 0:
                        if self._stop.is_set():
                            raise _Stopped
                        if obj["status"] == "cancelling":
                            out.discard()
                            err.discard()
                            usage[0] = usage[1] = 0
                            return None
                    assert line is not None  # a line without errors is a parsed object
                    record, ok, i, o = answer(n, line)
                    if ok:
                        out_write(record)
                        usage[0] += i
                        usage[1] += o
                    else:
                        err_write(record)
        finally:
            out.close()
            err.close()
        return checker.finish()

    @staticmethod
    def _check_plain(plain: PlainFile, checker: LineChecker) -> Validation | None:
        """The validation of a plain file, or None when it has an error (the per-line path words it).

        Answering checks what the lines could disagree on (ids, method, url, one model); line 1
        under a fresh checker and the whole-file rules check the rest: the model itself.
        """
        probe = checker.fresh()  # the per-line path may still need `checker` untouched
        probe.line(1, plain.first_line)
        probe.out.total = plain.rows
        check = probe.finish()
        return None if check.errors else check

    def _answer_plain(
        self,
        obj: Obj,
        plain: PlainFile,
        check: Validation,
        stamp: str,
        out: Sink,
        err: Sink,
        usage: list[int],
    ) -> Validation | None:
        """Answer a valid plain file a block at a time (see ._columnar); None when cancelled meanwhile."""
        try:
            for records, lines, i, o in plain.answers(stamp=stamp, size=_PLAIN_BLOCK):
                if self._stop.is_set():
                    raise _Stopped
                if obj["status"] == "cancelling":
                    out.discard()
                    usage[0] = usage[1] = 0
                    return None
                out.write(memoryview(records), lines)
                usage[0] += i
                usage[1] += o
        finally:
            out.close()
            err.close()
        return check

    def _answerer(self, obj: Obj, meta: Obj) -> LineAnswerer:
        return LineAnswerer(
            self.responder,
            self.faults,
            endpoint=obj["endpoint"],
            batch_id=obj["id"],
            header_model=meta.get("header_model"),
            fault_key=str(meta.get("fault_key", obj["id"])),
        )

    def _recover(self, out: Sink, err: Sink, usage: list[int]) -> int:
        for record in out.recover():
            i, o = usage_of((record.get("response") or {}).get("body"))
            usage[0] += i
            usage[1] += o
        for _ in err.recover():
            pass
        return out.count + err.count

    def _process(
        self, obj: Obj, meta: Obj, path: Path, out: Sink, err: Sink, done: int, usage: list[int]
    ) -> int:
        """Answer lines ``done + 1 ...`` at the configured pace; returns how many lines are done."""
        total = obj["request_counts"]["total"]
        frac = meta.get("expire_fraction")
        expire_after = math.floor(frac * total) if isinstance(frac, (int, float)) else None
        per_line = self.pace.per_line(total)
        counts = obj["request_counts"]
        started, first = time.monotonic(), done
        answer = self._answerer(obj, meta)
        # A responder other than the simulator may block (an upstream): it answers in worker
        # threads, so a stop is not held up by a line in flight.
        pool = Workers(self.concurrency, self._stop) if self.responder is not simulate else None
        # Unpaced, take lines in blocks so stop / cancel / expiry are looked at every block, not
        # every line; paced, one line (or one round of the pool) at a time keeps progress visible.
        chunk = self.concurrency * 4 if self.concurrency > 1 else 1 if per_line else 256
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
                    if expire_after is not None:
                        items = items[: max(0, expire_after - done)]
                    results = pool.map(answer.raw, items) if pool else map(answer.raw, items)
                    for record, ok, i, o in results:
                        (out if ok else err).write(record)
                        counts["completed" if ok else "failed"] += 1
                        usage[0] += i
                        usage[1] += o
                        done += 1
                    if per_line:
                        obj["usage"] = usage_obj(usage)
                        self._wait((done - first) * per_line - (time.monotonic() - started), obj)
        finally:
            out.close()
            err.close()
            if pool:
                pool.close()
        return done

    def _fail(self, obj: Obj, errors: list[Obj]) -> None:
        if not self._set(
            obj, "failed", failed_at=int(time.time()), errors={"object": "list", "data": errors}
        ):
            self._set(obj, "cancelled", cancelled_at=int(time.time()))

    def _end(self, obj: Obj, out: Sink, err: Sink, status: str, done: int, usage: list[int]) -> None:
        """Write the lines never run into the error file, register both files, set the final status."""
        if status in ("cancelled", "expired") and (obj.get("request_counts") or {}).get("total"):
            path = self.store.file_path(obj["input_file_id"])
            write_unrun(path, err, batch_id=obj["id"], done=done, status=status)
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
        obj["usage"] = usage_obj(usage)
        self._set(obj, status, **{f"{status}_at": int(time.time())}, **files)
