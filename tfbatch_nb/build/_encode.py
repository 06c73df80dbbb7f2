"""DataFrame chunks -> request lines in a :class:`~tfbatch_nb._jsonl.Spool`, checked block by block.

Rows are processed in blocks of at most ``BLOCK_ROWS`` so memory is bounded by the block, not by
the frame; each column is converted and escaped once per block (see ``_jsonl``), and every check
raises before the caller can write anything but the private spool, which is then discarded.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from ..errors import BatchInputError
from . import _arrow as _arrow_lines
from ._body import MAX_TOKEN_PARAMS
from ._jsonl import IntArray, LineTemplate, Spool, dumps, escape_strings, join_ids, raise_rows

__all__ = ["BuildSpec", "encode_frames"]

BLOCK_ROWS = 5_000  # small blocks reuse warm memory; big ones pay page faults on fresh allocations
MAX_EMBEDDING_INPUTS = 50_000  # per batch, per the OpenAI Batch API
LONG_ID = 64  # OpenAI-compatible services are reported to cap custom_id at 64 characters


class _Row(dict[str, Any]):
    """A row for a ``messages`` callable: ``row["text"]`` and ``row.text`` both work."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@dataclass
class BuildSpec:
    """What build_requests asked for, after argument checks."""

    endpoint: str
    model: str
    prompt: str | None
    messages: str | Callable[[Any], Any] | None
    system: str | None
    input: str | None
    id_column: str | None
    params: dict[str, Any]
    extra: dict[str, Any]  # the response_format fragment
    max_bytes: int
    warnings: list[str] = field(default_factory=list)


def _frames(data: Any) -> Iterator[pd.DataFrame]:
    if isinstance(data, pd.DataFrame):
        chunks: Iterable[Any] = [data]
    elif isinstance(data, str | bytes | dict | pd.Series) or not isinstance(data, Iterable):
        raise BatchInputError(
            f"data must be a DataFrame or an iterable of DataFrames, got {type(data).__name__}"
        )
    else:
        chunks = data
    for chunk in chunks:
        if not isinstance(chunk, pd.DataFrame):
            raise BatchInputError(f"every chunk of data must be a DataFrame, got {type(chunk).__name__}")
        for start in range(0, len(chunk), BLOCK_ROWS):
            yield chunk.iloc[start : start + BLOCK_ROWS]


def _column(block: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in block.columns:
        cols = ", ".join(repr(c) for c in list(block.columns)[:20])
        raise BatchInputError(f"{what} {name!r} is not a column of the data; columns: {cols}")
    col = block[name]
    if isinstance(col, pd.DataFrame):
        raise BatchInputError(f"{what} {name!r} names more than one column (duplicate column names)")
    return col


def _same(value: Any) -> Any:
    return value


def _texts(col: pd.Series, what: str, spec: str = "", conv: str | None = None) -> list[str]:
    """A column as strings (``format(value, spec)``), refusing nulls and empty text."""
    null = np.asarray(pd.isna(col), dtype=bool) if col.dtype == object else np.asarray(col.isna())
    if null.any():
        raise_rows(f"{what} is null/NaN where text is needed", col.index[null], int(null.sum()))
    values = col.tolist()
    if conv or spec or pd.api.types.infer_dtype(col, skipna=False) != "string":
        try:
            conv_fns: dict[str, Callable[[Any], Any]] = {"r": repr, "s": str, "a": ascii}
            conv_fn = conv_fns.get(conv or "", _same)
            values = [format(conv_fn(v), spec) for v in values]
        except (ValueError, TypeError) as exc:
            raise BatchInputError(f"{what}: format spec {spec!r} failed: {exc}") from None
    # C-level scans first; the per-row search below only runs when something is wrong.
    if all(values) and not any(map(str.isspace, values)):
        return values
    empty = [i for i, v in enumerate(values) if not v or v.isspace()]
    if empty:
        raise_rows(f"{what} is empty where text is needed", col.index[empty[:5]], len(empty))
    return values


def _escape(values: list[str], index: pd.Index, what: str) -> list[bytes]:
    try:
        return escape_strings(values)
    except ValueError as exc:
        raise_rows(f"{what} holds text that is not valid UTF-8 (a lone surrogate)", [index[exc.args[0]]])
        raise  # pragma: no cover - raise_rows always raises


def _check_messages(value: Any, label: Any, what: str) -> bytes:
    if not isinstance(value, list | tuple) or not value:
        raise_rows(f"{what} must be a non-empty list of messages, got {type(value).__name__}", [label])
    for m in value:
        if not isinstance(m, dict) or "role" not in m:
            raise_rows(
                f"{what}: every message must be a dict with 'role' and 'content', got {m!r:.80}", [label]
            )
    try:
        return dumps(list(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise_rows(f"{what} cannot be serialised to JSON ({exc})", [label])
        raise  # pragma: no cover


class _Encoder:
    """Builds the line template once and turns each block into (ids, slot columns, inputs)."""

    def __init__(self, spec: BuildSpec) -> None:
        self.spec = spec
        self.tpl = LineTemplate()
        # Templates splice only text slots (custom_id and prompt fields): those lines are built in
        # Arrow. messages/input payloads are whole JSON values per row, spliced from Python bytes.
        self.arrow = spec.prompt is not None
        self.fields: list[tuple[str, str, str, str | None]] = []  # slot, column, spec, conversion
        self.static_chars = len(spec.system or "")
        body: dict[str, Any] = {"model": spec.model}
        payload: Any
        if spec.prompt is not None:
            payload = self._template(spec.prompt)
        else:
            payload = self.tpl.slot("payload", inline=False)
        ep = spec.endpoint
        if ep == "/v1/chat/completions":
            msgs: Any = payload
            if spec.prompt is not None:
                msgs = [{"role": "user", "content": payload}]
                if spec.system is not None:
                    msgs.insert(0, {"role": "system", "content": spec.system})
            body["messages"] = msgs
        elif ep == "/v1/responses":
            if spec.system is not None:
                body["instructions"] = spec.system
            body["input"] = payload
        else:
            body["prompt" if ep == "/v1/completions" else "input"] = payload
        body.update(spec.params)
        body.update(spec.extra)
        cid = self.tpl.slot("custom_id", inline=True)
        self.tpl.compile({"custom_id": cid, "method": "POST", "url": ep, "body": body})

    def _template(self, prompt: str) -> str:
        out = []
        try:
            parsed = list(string.Formatter().parse(prompt))
        except ValueError as exc:
            raise BatchInputError(
                f"prompt template {prompt!r} is not a valid str.format template: {exc}"
            ) from None
        for literal, name, spec, conv in parsed:
            out.append(literal)
            self.static_chars += len(literal)
            if name is None:
                continue
            if name == "" or name.isdigit():
                raise BatchInputError(f"prompt field {{{name}}} must name a column, e.g. {{text}}")
            if "{" in (spec or ""):
                raise BatchInputError(
                    f"prompt field {{{name}}}: nested fields in format specs are not supported"
                )
            slot = f"f{len(self.fields)}"
            self.fields.append((slot, name, spec or "", conv))
            out.append(self.tpl.slot(slot, inline=True))
        return "".join(out)

    def ids(self, block: pd.DataFrame) -> tuple[list[bytes] | tuple[pa.Array, bytes], IntArray, bool, int]:
        """Escaped custom_ids, their duplicate keys, whether the keys are exact, and how many are long.

        Integer ids take a vectorised path: ``str(int)`` never needs escaping, so one orjson call
        over the numpy array gives every id (for Arrow lines, as a column and an id block), and the
        int64 values themselves are exact keys.
        Other ids are converted with ``str`` and keyed by their str hash (checked again on a match).
        """
        name = self.spec.id_column
        if name is None or (name not in block.columns and name == block.index.name):
            raw: Any = block.index.to_series(index=block.index)
            what = "the index" if name is None else f"index {name!r}"
        else:
            raw = _column(block, name, "id_column")
            what = f"id_column {name!r}"
        dtype = raw.dtype
        if isinstance(dtype, np.dtype) and (dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize < 8)):
            keys = np.ascontiguousarray(raw.to_numpy(), dtype=np.int64)
            if self.arrow:
                return _arrow_lines.ids_from_ints(keys), keys, True, 0
            return dumps(keys)[1:-1].split(b","), keys, True, 0
        null = np.asarray(pd.isna(raw))
        if null.any():
            raise_rows(f"{what} has null ids", block.index[null], int(null.sum()))
        ids = list(map(str, raw.tolist()))
        if not all(ids):
            empty = [i for i, v in enumerate(ids) if not v]
            raise_rows(f"{what} has empty ids", block.index[empty], len(empty))
        n_long = sum(len(i) > LONG_ID for i in ids) if max(map(len, ids)) > LONG_ID else 0
        # str hashes are cached C values; salted per process, which is fine for an in-process check.
        return (
            _escape(ids, block.index, what),
            np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids)),
            False,
            n_long,
        )

    def columns(self, block: pd.DataFrame) -> tuple[dict[str, list[bytes] | pa.Array], IntArray | None]:
        spec = self.spec
        cols: dict[str, list[bytes] | pa.Array] = {}
        for slot, name, fmt_spec, conv in self.fields:
            what = f"column {name!r} (prompt field {{{name}}})"
            col = _column(block, name, "prompt field")
            # Plain text columns go through Arrow; anything else (or any bad row) row by row, which
            # also words the errors.
            arr = _arrow_lines.text_column(col) if self.arrow and not (fmt_spec or conv) else None
            if arr is not None:
                cols[slot] = _arrow_lines.escape(arr)
                continue
            cols[slot] = _escape(_texts(col, what, fmt_spec, conv), block.index, what)
        n_inputs = None
        if spec.prompt is None and spec.input is not None:
            col = _column(block, spec.input, "input column")
            cols["payload"], n_inputs = self._inputs(col, f"input column {spec.input!r}")
        elif spec.prompt is None and isinstance(spec.messages, str):
            col = _column(block, spec.messages, "messages column")
            cols["payload"] = self._messages(col.tolist(), block.index, f"messages column {spec.messages!r}")
        elif spec.prompt is None and spec.messages is not None:
            fn, rows = (
                cast(Callable[[Any], Any], spec.messages),
                cast(list[dict[str, Any]], block.to_dict("records")),
            )
            values = []
            for label, row in zip(block.index, rows, strict=True):
                try:
                    values.append(fn(_Row(row)))
                except Exception as exc:
                    raise BatchInputError(f"messages callable failed at row {label!r}: {exc!r}") from exc
            cols["payload"] = self._messages(values, block.index, "messages callable result")
        elif spec.endpoint == "/v1/embeddings":
            n_inputs = np.ones(len(block), dtype=np.int64)
        return cols, n_inputs

    def render(
        self, ids: list[bytes] | tuple[pa.Array, bytes], cols: dict[str, list[bytes] | pa.Array], n: int
    ) -> tuple[bytes | memoryview, IntArray, bytes | memoryview, IntArray]:
        """A block's lines, their lengths, its spool id block and the ids' lengths."""
        if not self.arrow:
            assert isinstance(ids, list)
            lines, lens, slot_lens = self.tpl.render(
                {**cast(dict[str, list[bytes]], cols), "custom_id": ids}, n
            )
            return lines, lens, join_ids(ids), slot_lens["custom_id"]
        arrays = {k: v if isinstance(v, pa.Array) else _arrow_lines.from_escaped(v) for k, v in cols.items()}
        if isinstance(ids, tuple):  # integer ids: their column and id block came from the ints
            arrays["custom_id"], id_block = ids
        else:
            arrays["custom_id"], id_block = _arrow_lines.from_escaped(ids), join_ids(ids)
        lines_, lens_ = _arrow_lines.join_lines(self.tpl.pieces, [arrays[k] for k in self.tpl.order])
        return lines_, lens_, id_block, _arrow_lines.lengths(arrays["custom_id"])

    def _inputs(self, col: pd.Series, what: str) -> tuple[list[bytes], IntArray]:
        if pd.api.types.infer_dtype(col, skipna=False) == "string":
            esc = _escape(_texts(col, what), col.index, what)
            return [b'"' + e + b'"' for e in esc], np.ones(len(col), dtype=np.int64)
        out, counts = [], []
        for label, v in zip(col.index, col.tolist(), strict=True):
            if isinstance(v, np.ndarray):
                v = v.tolist()
            if isinstance(v, str):
                ok, k = bool(v.strip()), 1
            else:
                ok, k = isinstance(v, list) and len(v) > 0, len(v) if isinstance(v, list) else 0
            if not ok:
                raise_rows(f"{what} needs non-empty text or a non-empty list, got {v!r:.60}", [label])
            if k > MAX_EMBEDDING_INPUTS:
                raise_rows(
                    f"{what} has {k} inputs in one request, over the {MAX_EMBEDDING_INPUTS} limit", [label]
                )
            try:
                out.append(dumps(v))
            except (TypeError, orjson.JSONEncodeError) as exc:
                raise_rows(f"{what} cannot be serialised to JSON ({exc})", [label])
            counts.append(k)
        return out, np.asarray(counts, dtype=np.int64)

    def _messages(self, values: list[Any], index: pd.Index, what: str) -> list[bytes]:
        system = self.spec.system
        head = (
            [{"role": "system", "content": system}]
            if system is not None and self.spec.endpoint != "/v1/responses"
            else []
        )
        out = []
        for label, v in zip(index, values, strict=True):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                raise_rows(f"{what} is null where messages are needed", [label])
            out.append(
                _check_messages(head + list(v) if head and isinstance(v, list | tuple) else v, label, what)
            )
        return out


def encode_frames(data: Any, spec: BuildSpec) -> tuple[Spool, list[tuple[IntArray, bool]]]:
    """Encode all rows into a finished spool; returns it with each block's custom_id keys.

    A block's keys are its int64 ids (exact) or the hashes of its str ids; see :func:`find_duplicates`.
    """
    enc = _Encoder(spec)
    spool = Spool()
    keys: list[tuple[IntArray, bool]] = []
    long_ids, longest = 0, (0, None)
    try:
        for block in _frames(data):
            if not len(block):
                continue
            esc_ids, block_keys, exact, n_long = enc.ids(block)
            cols, n_inputs = enc.columns(block)
            lines, lens, id_block, id_lens = enc.render(esc_ids, cols, len(block))
            big = np.flatnonzero(lens > spec.max_bytes)
            if len(big):
                raise_rows(
                    f"a line is larger than max_bytes={spec.max_bytes} ({int(lens[big[0]])} bytes)",
                    block.index[big[:5]], len(big),
                )  # fmt: skip
            long_ids += n_long
            text = lens - enc.tpl.const_len - id_lens
            at = int(text.argmax())
            if int(text[at]) > longest[0]:
                longest = (int(text[at]), block.index[at])
            keys.append((block_keys, exact))
            spool.append(lines, lens, id_block, n_inputs)
    except BaseException:
        spool.discard()
        raise
    if long_ids:
        spec.warnings.append(
            f"{long_ids} custom_id(s) are longer than {LONG_ID} characters; some services refuse them"
        )
    max_tokens = next((spec.params[k] for k in MAX_TOKEN_PARAMS if k in spec.params), None)
    prompt_tokens = (longest[0] + enc.static_chars) // 4
    if isinstance(max_tokens, int | np.integer) and prompt_tokens > max(1000, 100 * int(max_tokens)):
        spec.warnings.append(
            f"the longest prompt (row {longest[1]!r}, ~{prompt_tokens} tokens by chars/4) is over 100x "
            f"max_tokens={int(max_tokens)}: check the prompt template and max_tokens"
        )
    return spool.finish(), keys


def find_duplicates(spool: Spool, keys: list[tuple[IntArray, bool]], what: str) -> None:
    """Raise when two rows share a custom_id (compared as strings, so 1 and "1" collide)."""
    if not keys:
        return
    if all(exact for _, exact in keys):
        h = np.concatenate([k for k, _ in keys])  # int ids only: the values are the ids, no hashing
    else:
        # Mixed chunks (ints here, strings there): key every block by the hash of its str ids.
        h = np.concatenate([
            np.fromiter(map(hash, map(str, k.tolist())), dtype=np.int64, count=len(k)) if exact else k
            for k, exact in keys
        ])  # fmt: skip
    if not (np.diff(np.sort(h)) == 0).any():  # the common case: one sort, no argsort
        return
    order = np.argsort(h, kind="stable")
    same = np.flatnonzero(h[order][1:] == h[order][:-1])
    if not len(same):
        return
    ids = spool.custom_ids()  # only read back on a key match, which is almost always a real duplicate
    pairs = [(int(order[i]), int(order[i + 1])) for i in same]
    real = [(a, b) for a, b in pairs if ids[a] == ids[b]]
    if real:
        a, b = min(real)
        raise_rows(
            f"{what} has duplicate custom_ids after conversion to str (so 1 and '1' collide), "
            f"first {ids[a]!r} at row positions {a} and {b}; duplicated",
            sorted({x for p in real for x in p}), len({x for p in real for x in p}),
        )  # fmt: skip
