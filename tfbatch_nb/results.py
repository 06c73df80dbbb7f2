"""Streaming download and parsing of batch output / error files into the results frame.

The results frame (DESIGN.md, "The results frame") has the index ``custom_id`` and exactly one
row per request, whatever happened to it:

==================  =========================================================================
column              meaning
==================  =========================================================================
status              completed / failed / expired / cancelled / missing (or the ``unlisted`` value)
status_code         HTTP status of the line (``Int64``, NA when the line never ran)
content             the model's text (chat: choice 0; completions: ``choices[0].text``;
                    responses: the ``output_text`` parts joined)
finish_reason       ``stop``, ``length``, ... (responses API statuses are mapped onto these)
parsed              the structured output as a dict when a schema was given, validated
prompt_tokens,      token usage (``Int64``); the Responses API's input/output tokens land here
completion_tokens,
total_tokens
error_code,         why a row failed (or ``parse_error`` / ``refusal`` on a completed row whose
error_message       structured output is unusable: the text is kept, ``parsed`` is None)
request_id          the provider's request id, for support tickets
==================  =========================================================================

Embedding batches have an ``embedding`` column (a float64 numpy array per row) instead of
``content``, ``finish_reason`` and ``parsed``.

Speed: files are read in 8 MiB blocks; a block is decoded in one call by msgspec into structs
holding only the needed fields when msgspec is installed, else line by line by orjson, with the
garbage collector paused; the common line shape (a successful chat completion) is unpacked by an
inlined fast path straight into column lists, every other shape goes through
:func:`tfbatch_nb._parse.extract`. See ``bench/bench_results.py``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from . import _parse

if TYPE_CHECKING:  # pragma: no cover - the SDK is only needed for its type here
    import openai

__all__ = ["EMBEDDING_COLUMNS", "RESULT_COLUMNS", "download_file", "parse_results", "read_results"]

log = logging.getLogger(__name__)

#: Columns of the results frame for text endpoints (chat, completions, responses), in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "status",
    "status_code",
    "content",
    "finish_reason",
    "parsed",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
    "request_id",
)
#: Columns of the results frame for ``/v1/embeddings`` batches, in order.
EMBEDDING_COLUMNS: tuple[str, ...] = (
    "status",
    "status_code",
    "embedding",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
    "request_id",
)
_FIELDS = (
    "status",
    "status_code",
    "content",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
    "request_id",
    "embedding",
)
_INT_COLUMNS = ("status_code", "prompt_tokens", "completion_tokens", "total_tokens")
# Which of two lines for one custom_id wins: a success over anything (a retried request's success
# is the answer the user paid for), a real failure over "never ran"; on a tie the later line wins,
# because callers list a retry's files after the original's.
_RANK = {"completed": 2, "failed": 1}

PathLike = str | os.PathLike[str]


def download_file(client: openai.OpenAI, file_id: str, dest: PathLike) -> Path:
    """Stream a file's content from the gateway to ``dest``, atomically; skip if ``dest`` exists.

    The body goes to a temporary file next to ``dest`` and is renamed into place only when
    complete, so a dropped connection never leaves a truncated file that a later call would
    trust. Memory use is one chunk, whatever the file size (``files.content()`` would load it all).

    Parameters
    ----------
    client
        An ``openai.OpenAI`` client carrying the provider headers.
    file_id
        The gateway's file id (a batch's ``output_file_id`` or ``error_file_id``).
    dest
        Where the file goes. Its folder is created if needed.

    Returns
    -------
    Path
        ``dest``.

    Examples
    --------
    >>> path = download_file(client, batch.output_file_id, "out.jsonl")  # doctest: +SKIP
    >>> read_results(path)  # doctest: +SKIP
    """
    dest = Path(dest)
    if dest.exists():  # downloaded before: files are immutable once written, never fetch twice
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh, client.files.with_streaming_response.content(file_id) as response:
            for chunk in response.iter_bytes(2**20):
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())  # the rename below must never publish data still in the page cache only
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


class _Collector:
    """Column lists of the frame being built, one entry per distinct custom_id."""

    def __init__(self) -> None:
        self.pos: dict[str, int] = {}
        self.ids: list[str] = []
        self.cols: dict[str, list[Any]] = {name: [] for name in _FIELDS}

    def add(self, fields: _parse.Fields) -> None:
        cid = fields[0]
        at = self.pos.get(cid)
        if at is None:
            self.pos[cid] = len(self.ids)
            self.ids.append(cid)
            for name, value in zip(_FIELDS, fields[1:], strict=True):
                self.cols[name].append(value)
            return
        if _RANK.get(fields[1], 0) >= _RANK.get(self.cols["status"][at], 0):
            log.debug("custom_id %r appears more than once; the line with status %s wins", cid, fields[1])
            for name, value in zip(_FIELDS, fields[1:], strict=True):
                self.cols[name][at] = value

    def consume(self, values: list[Any]) -> None:
        """Add one decoded block of dicts or of typed structs (see ``_parse.read_lines``)."""
        if values and not isinstance(values[0], dict) and hasattr(values[0], "custom_id"):
            self._consume_typed(values)
        else:
            self._consume_dicts(values)

    def _slow(self, d: Any) -> None:
        fields = _parse.extract(d)
        if fields is None:
            warnings.warn(f"skipped a result line without a custom_id: {str(d)[:80]}", stacklevel=6)
        else:
            self.add(fields)

    def _consume_typed(self, values: list[Any]) -> None:
        """The msgspec twin of :meth:`_consume_dicts`: attribute access instead of item access."""
        pos, ids = self.pos, self.ids
        c = self.cols
        apps = [c[name].append for name in _FIELDS]
        a_status, a_code, a_content, a_finish, a_pt, a_ct, a_tt, a_ec, a_em, a_rid, a_emb = apps
        to_dict = _parse.to_dict
        for d in values:
            try:
                resp = d.response
                sc = resp.status_code
                body = resp.body
                c0 = body.choices[0]
                content = c0.message.content
                usage = body.usage
                pt, ct, tt = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
                cid = d.custom_id
                rid = resp.request_id
                fast = (
                    d.error is None
                    and type(sc) is int
                    and sc < 400
                    and c0.index == 0
                    and type(content) is str
                    and type(pt) is int
                    and type(ct) is int
                    and type(tt) is int
                    and type(cid) is str
                    and (rid is None or type(rid) is str)
                    and cid not in pos
                )
            except (AttributeError, TypeError, IndexError):
                fast = False
            if fast:
                pos[cid] = len(ids)
                ids.append(cid)
                a_status("completed")
                a_code(sc)
                a_content(content)
                a_finish(c0.finish_reason)
                a_pt(pt)
                a_ct(ct)
                a_tt(tt)
                a_ec(None)
                a_em(None)
                a_rid(rid)
                a_emb(None)
            else:
                self._slow(to_dict(d))

    def _consume_dicts(self, values: list[Any]) -> None:
        """Add a block of dicts. Inlines the common shape (successful chat completion)."""
        pos, ids = self.pos, self.ids
        c = self.cols
        apps = [c[name].append for name in _FIELDS]
        a_status, a_code, a_content, a_finish, a_pt, a_ct, a_tt, a_ec, a_em, a_rid, a_emb = apps
        for d in values:
            # Each check mirrors what extract() would decide, so both paths give identical rows;
            # anything unusual (None content, refusals, bad types, errors) takes the slow path.
            try:
                resp = d["response"]
                sc = resp["status_code"]
                body = resp["body"]
                c0 = body["choices"][0]
                msg = c0["message"]
                content = msg["content"]
                usage = body["usage"]
                pt, ct, tt = usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]
                cid = d["custom_id"]
                rid = resp.get("request_id")
                fast = (
                    d["error"] is None
                    and type(sc) is int
                    and sc < 400
                    and c0.get("index") == 0
                    and type(content) is str
                    and type(pt) is int
                    and type(ct) is int
                    and type(tt) is int
                    and type(cid) is str
                    and (rid is None or type(rid) is str)
                    and cid not in pos
                )
            except (KeyError, TypeError, IndexError):
                fast = False
            if fast:
                pos[cid] = len(ids)
                ids.append(cid)
                a_status("completed")
                a_code(sc)
                a_content(content)
                a_finish(c0.get("finish_reason"))
                a_pt(pt)
                a_ct(ct)
                a_tt(tt)
                a_ec(None)
                a_em(None)
                a_rid(rid)
                a_emb(None)
            else:
                self._slow(d)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while parsing.

    Decoding creates millions of dicts and lists that all stay alive until the block is consumed;
    each allocation burst triggers a collection that walks every live container, which measured
    at more than half the parse time. JSON values cannot form reference cycles, so nothing is
    lost by pausing; the collector is re-enabled afterwards (process-wide, hence only if it was on).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _int_array(values: list[Any]) -> pd.api.extensions.ExtensionArray:
    try:  # the common case, no gaps: one C-level conversion
        data = np.array(values, dtype=np.int64)
        mask = np.zeros(len(values), dtype=bool)
    except (TypeError, ValueError, OverflowError):
        mask = np.fromiter((type(v) is not int for v in values), dtype=bool, count=len(values))
        data = np.fromiter((v if type(v) is int else 0 for v in values), dtype=np.int64, count=len(values))
    return pd.arrays.IntegerArray(data, mask)


def _object_array(values: list[Any], *, nested: bool = False) -> np.ndarray[Any, np.dtype[Any]]:
    if not nested:  # strings and None only: one C-level conversion
        return np.array(values, dtype=object)
    out = np.empty(len(values), dtype=object)
    # Item by item: np.array would turn equal-length lists/arrays (embeddings) into a 2-D array.
    for i, v in enumerate(values):
        out[i] = v
    return out


def _apply_schema(cols: dict[str, list[Any]], schema: dict[str, Any]) -> list[Any]:
    """Parse and validate each completed row's content; failures keep the text and a note."""
    parsed: list[Any] = [None] * len(cols["status"])
    status, content, codes, messages = (
        cols["status"],
        cols["content"],
        cols["error_code"],
        cols["error_message"],
    )
    for i, text in enumerate(content):
        if status[i] != "completed" or codes[i] is not None:  # failed rows and refusals already say why
            continue
        if not isinstance(text, str):
            codes[i], messages[i] = "parse_error", "no content to parse"
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            codes[i], messages[i] = "parse_error", f"content is not valid JSON: {exc}"
            continue
        problem = _parse.validate(value, schema) if schema else None
        if problem:
            codes[i], messages[i] = "parse_error", f"content does not match the schema: {problem}"
        else:
            parsed[i] = value
    return parsed


def parse_results(
    outputs: Sequence[PathLike],
    errors: Sequence[PathLike] = (),
    *,
    custom_ids: Sequence[str] | None = None,
    schema: dict[str, Any] | None = None,
    unlisted: str = "missing",
    endpoint: str | None = None,
) -> pd.DataFrame:
    """Parse output and error files into the results frame: one row per request.

    Parameters
    ----------
    outputs, errors
        JSONL files of ``BatchRequestOutput`` lines; both are read the same way (a line's own
        ``error`` / ``status_code`` decides whether it failed, not the file it came from).
    custom_ids
        The requests' ids in input order. The frame has exactly these rows, in this order;
        ids found in the files but not listed are appended after them, with a warning.
    schema
        A JSON schema (bare, ``json_schema`` wrapper or whole ``response_format``): each completed
        row's content is parsed into ``parsed`` and validated; ``{"type": "json_object"}`` only parses.
    unlisted
        Status of listed rows that no file mentions: ``"missing"`` (warned about), or
        ``"expired"`` / ``"cancelled"`` when the batch ended that way.
    endpoint
        The batch endpoint; ``/v1/embeddings`` gives the embedding columns even when no line
        succeeded (otherwise they are detected from the answers).

    Returns
    -------
    pandas.DataFrame
        Index ``custom_id``; columns :data:`RESULT_COLUMNS` or :data:`EMBEDDING_COLUMNS`.

    Notes
    -----
    A custom_id seen twice keeps its successful line (a retried request's success is the answer),
    else a failure over a never-run line, else the later line. Chat answers with ``n > 1`` keep
    choice 0. A line that is not JSON is skipped with a warning naming file and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> _ = p.write_text('{"custom_id": "a", "error": null, "response": {"status_code": 200, '
    ...     '"body": {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}}}\\n')
    >>> df = parse_results([p], custom_ids=["a", "b"], unlisted="expired")
    >>> df[["status", "content"]].to_dict("index")
    {'a': {'status': 'completed', 'content': 'hi'}, 'b': {'status': 'expired', 'content': nan}}
    """
    acc = _Collector()
    with _no_gc():
        for path in [*outputs, *errors]:
            for block in _parse.read_lines(path):
                acc.consume(block)
    cols = acc.cols
    embeddings = (endpoint or "").rstrip("/").endswith("embeddings") or any(
        v is not None for v in cols["embedding"]
    )
    bare = _parse.normalize_schema(schema)
    parsed = _apply_schema(cols, bare) if bare is not None and not embeddings else [None] * len(acc.ids)
    cols["parsed"] = parsed

    take: np.ndarray[Any, np.dtype[np.intp]] | None = None
    ids: list[str] = acc.ids
    n_missing = 0
    if custom_ids is not None:
        wanted = [str(c) for c in custom_ids]
        sentinel = len(acc.ids)  # the extra "all empty" entry appended to every column below
        positions = [acc.pos.get(c, sentinel) for c in wanted]
        n_missing = positions.count(sentinel)
        listed = set(wanted)
        extra = (
            [i for i, c in enumerate(acc.ids) if c not in listed]
            if len(listed) - n_missing < len(acc.ids)
            else []
        )
        if extra:
            warnings.warn(
                f"{len(extra)} custom_id(s) in the result files are not among the {len(wanted)} requests "
                f"(e.g. {acc.ids[extra[0]]!r}); kept them at the end of the frame",
                stacklevel=2,
            )
        if n_missing or extra or positions != list(range(len(acc.ids))):
            take = np.asarray(positions + extra, dtype=np.intp)
            ids = wanted + [acc.ids[i] for i in extra]
    if n_missing and unlisted == "missing":
        warnings.warn(
            f"{n_missing} of {len(ids)} request(s) appear in no result file; their rows have status 'missing'",
            stacklevel=2,
        )

    data: dict[str, Any] = {}
    names = EMBEDDING_COLUMNS if embeddings else RESULT_COLUMNS
    for name in names:
        values = cols[name]
        if take is not None:
            values.append(unlisted if name == "status" else None)
        arr: Any = (
            _int_array(values)
            if name in _INT_COLUMNS
            else _object_array(values, nested=name in ("parsed", "embedding"))
        )
        if take is not None:
            arr = arr.take(take)
        data[name] = arr
        cols[name] = []  # drop the list now: keeps the peak near one copy of each column
    frame: pd.DataFrame = pd.DataFrame(data, index=pd.Index(ids, name="custom_id"))
    for name in ("parsed", "embedding"):  # python objects: keep them as they are, never as strings
        if name in frame and frame[name].dtype != object:
            frame[name] = frame[name].astype(object)
    return frame


def _paths(value: PathLike | Sequence[PathLike] | None) -> list[PathLike]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


def read_results(
    output: PathLike | Sequence[PathLike] | None,
    errors: PathLike | Sequence[PathLike] | None = None,
    *,
    requests: Any = None,
) -> pd.DataFrame:
    """Read batch output / error files you already have into the results frame.

    Parameters
    ----------
    output
        The output file, a list of them, or None (a batch where every line failed has none).
    errors
        The error file, a list of them, or None.
    requests
        The :class:`~tfbatch_nb.BatchRequests` the batch was built from. With it the frame has
        exactly one row per request, in input order (``missing`` rows for requests no file
        mentions), and structured outputs are parsed against its ``response_format`` schema.

    Returns
    -------
    pandas.DataFrame
        The results frame (see :func:`parse_results` and :data:`RESULT_COLUMNS`).

    Examples
    --------
    >>> import tfbatch_nb as tfb
    >>> res = tfb.read_results("batch_output.jsonl", "batch_errors.jsonl", requests=reqs)  # doctest: +SKIP
    >>> res.status.value_counts()  # doctest: +SKIP
    """
    custom_ids = getattr(requests, "custom_ids", None)
    return parse_results(
        _paths(output),
        _paths(errors),
        custom_ids=list(custom_ids) if custom_ids is not None else None,
        schema=getattr(requests, "response_schema", None),
        endpoint=getattr(requests, "endpoint", None),
    )
