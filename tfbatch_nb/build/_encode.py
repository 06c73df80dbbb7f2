"""The frame encoder: blocks of rows (from :mod:`._input`) -> request lines in a spool, checked block by block.

Data flows one way. The request is compiled once into a line template (:mod:`._template`); then
each block of at most ``BLOCK_ROWS`` rows gives its custom_ids and, per template slot, one escaped
value a row (checked in :mod:`._cells`, or by the Arrow fast path :mod:`._arrow` for plain text
columns); the template joins them into lines, which go to the spool (:mod:`._spool`). Memory is
bounded by the block, not by the frame, and every check raises before anything but the private
spool is written; the spool is then discarded.

Examples
--------
>>> import pandas as pd
>>> spec = BuildSpec(endpoint="/v1/embeddings", model="m", prompt=None, messages=None, system=None,
...                  input="doc", id_column=None, params={}, extra={}, max_bytes=1000)
>>> spool, warnings = encode_frames(pd.DataFrame({"doc": ["a b"]}), spec)
>>> next(spool.iter_lines()), warnings
(b'{"custom_id":"0","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"a b"}}\\n', [])
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from ..errors import BatchInputError
from . import _arrow
from ._body import MAX_TOKEN_PARAMS
from ._cells import (
    RowsError,
    column,
    embedding_inputs,
    escape_texts,
    id_texts,
    message_lists,
    raise_rows,
    texts,
)
from ._codec import IntArray, dumps
from ._input import blocks
from ._spool import Spool, join_ids
from ._template import LineTemplate

__all__ = ["BuildSpec", "encode_frames"]

LONG_ID = 64  # OpenAI-compatible services are reported to cap custom_id at 64 characters

# A block's custom_ids: escaped bytes a row, or (integer ids) an Arrow column with its spool id block.
Ids: TypeAlias = list[bytes] | tuple[pa.Array, bytes]
# A block's slot values: escaped bytes a row, or an Arrow column already escaped.
Cells: TypeAlias = list[bytes] | pa.Array


class _Row(dict[str, Any]):
    """A row for a ``messages`` callable: ``row["text"]`` and ``row.text`` both work."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@dataclass(frozen=True)
class BuildSpec:
    """What ``build_requests`` asked for, after its argument checks."""

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


class _Encoder:
    """The line template of a spec, and a block's ids, slot values and lines under it."""

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
            payload = self._prompt_slots(spec.prompt)
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

    def _prompt_slots(self, prompt: str) -> str:
        """The prompt with a template slot for each ``{column}`` field."""
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
            if name == "":
                raise BatchInputError(
                    "prompt field {} must name a column, e.g. {text} (positional fields are not supported)"
                )
            if conv not in (None, "r", "s", "a"):
                raise BatchInputError(
                    f"prompt field {{{name}!{conv}}}: unknown conversion !{conv}; use !r, !s or !a, or none"
                )
            if "{" in (spec or ""):
                raise BatchInputError(
                    f"prompt field {{{name}}}: nested fields in format specs are not supported"
                )
            slot = f"f{len(self.fields)}"
            self.fields.append((slot, name, spec or "", conv))
            out.append(self.tpl.slot(slot, inline=True))
        return "".join(out)

    @property
    def columns(self) -> set[str] | None:
        """The columns the request reads (None: all of them, for a ``messages`` callable)."""
        spec = self.spec
        if callable(spec.messages):
            return None
        named = [spec.id_column, spec.input, spec.messages, *(name for _, name, _, _ in self.fields)]
        return {c for c in named if isinstance(c, str)}

    def ids(self, block: pd.DataFrame, first: int) -> tuple[Ids, IntArray, bool, int]:
        """Escaped custom_ids, their duplicate keys, whether the keys are exact, and how many are long.

        Integer ids take a vectorised path: ``str(int)`` never needs escaping, so one orjson call
        over the numpy array gives every id (for Arrow lines, as a column and an id block), and the
        int64 values themselves are exact keys.
        Other ids are converted with ``str`` and keyed by their str hash (checked again on a match).
        ``first`` is the position of the block's first row in the data, for error messages.
        """
        name = self.spec.id_column
        if name is None or (name not in block.columns and name == block.index.name):
            # Keep the index's dtype: inferring one would choke on a lone surrogate before we can name it.
            raw: Any = pd.Series(block.index.array, index=block.index, dtype=block.index.dtype, copy=False)
            what = "the index" if name is None else f"index {name!r}"
        else:
            raw = column(block, name, "id_column")
            what = f"id_column {name!r}"
        dtype = raw.dtype
        if isinstance(dtype, np.dtype) and (dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize < 8)):
            keys = np.ascontiguousarray(raw.to_numpy(), dtype=np.int64)
            if self.arrow:
                return _arrow.ids_from_ints(keys), keys, True, 0
            return dumps(keys)[1:-1].split(b","), keys, True, 0
        ids = id_texts(raw, block.index, what, first)
        n_long = sum(len(i) > LONG_ID for i in ids) if max(map(len, ids)) > LONG_ID else 0
        # str hashes are cached C values; salted per process, which is fine for an in-process check.
        return (
            escape_texts(ids, block.index, what),
            np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids)),
            False,
            n_long,
        )

    def cells(self, block: pd.DataFrame) -> tuple[dict[str, Cells], IntArray | None]:
        """Each slot's values for the block, and each row's embedding inputs (embeddings only)."""
        spec = self.spec
        cols: dict[str, Cells] = {}
        for slot, name, fmt_spec, conv in self.fields:
            what = f"column {name!r} (prompt field {{{name}}})"
            col = column(block, name, "prompt field", digits=True)
            # Plain text columns go through Arrow; anything else (or any bad row) row by row, which
            # also words the errors.
            arr = _arrow.text_column(col) if self.arrow and not (fmt_spec or conv) else None
            if arr is not None:
                cols[slot] = _arrow.escape(arr)
                continue
            cols[slot] = escape_texts(texts(col, what, fmt_spec, conv), block.index, what)
        n_inputs = None
        if spec.prompt is None and spec.input is not None:
            col = column(block, spec.input, "input column")
            cols["payload"], n_inputs = embedding_inputs(col, f"input column {spec.input!r}")
        elif spec.prompt is None and spec.messages is not None:
            if isinstance(spec.messages, str):
                values = column(block, spec.messages, "messages column").tolist()
                what = f"messages column {spec.messages!r}"
            else:
                values, what = self._call_messages(block), "messages callable result"
            # Chat messages carry the system prompt; /v1/responses has it as instructions.
            chat_system = spec.system is not None and spec.endpoint != "/v1/responses"
            head = [{"role": "system", "content": spec.system}] if chat_system else []
            cols["payload"] = message_lists(values, block.index, what, head)
        elif spec.endpoint == "/v1/embeddings":
            n_inputs = np.ones(len(block), dtype=np.int64)
        return cols, n_inputs

    def _call_messages(self, block: pd.DataFrame) -> list[Any]:
        fn = cast(Callable[[Any], Any], self.spec.messages)
        rows = cast(list[dict[str, Any]], block.to_dict("records"))
        values = []
        for label, row in zip(block.index, rows, strict=True):
            try:
                values.append(fn(_Row(row)))
            except Exception as exc:
                raise BatchInputError(f"messages callable failed at row {label!r}: {exc!r}") from exc
        return values

    def render(
        self, ids: Ids, cols: dict[str, Cells], n: int
    ) -> tuple[bytes | memoryview, IntArray, bytes | memoryview, IntArray]:
        """A block's lines, their lengths, its spool id block and the ids' lengths."""
        if not self.arrow:
            assert isinstance(ids, list)
            lines, lens, slot_lens = self.tpl.render(
                {**cast(dict[str, list[bytes]], cols), "custom_id": ids}, n
            )
            return lines, lens, join_ids(ids), slot_lens["custom_id"]
        arrays = {k: v if isinstance(v, pa.Array) else _arrow.from_escaped(v) for k, v in cols.items()}
        if isinstance(ids, tuple):  # integer ids: their column and id block came from the ints
            arrays["custom_id"], id_block = ids
        else:
            arrays["custom_id"], id_block = _arrow.from_escaped(ids), join_ids(ids)
        lines_, lens_ = _arrow.join_lines(self.tpl.pieces, [arrays[k] for k in self.tpl.order])
        return lines_, lens_, id_block, _arrow.lengths(arrays["custom_id"])


def encode_frames(data: Any, spec: BuildSpec) -> tuple[Spool, list[str]]:
    """Encode and check all rows into a finished spool; returns it with the warnings to give.

    Raises
    ------
    BatchInputError
        For any bad row, no rows at all, or two rows with the same custom_id.
    """
    enc = _Encoder(spec)
    spool = Spool()
    keys: list[tuple[IntArray, bool]] = []
    long_ids, longest, first = 0, (0, None), 0
    named: pd.Series | None = None  # an Arrow block's ids, to name its bad rows by them too
    try:
        for block, positional in blocks(data, enc.columns):
            if not len(block):
                continue
            esc_ids, block_keys, exact, n_long = enc.ids(block, first)
            first += len(block)
            if positional and spec.id_column is not None:
                named = block[spec.id_column]
            cols, n_inputs = enc.cells(block)
            lines, lens, id_block, id_lens = enc.render(esc_ids, cols, len(block))
            big = np.flatnonzero(lens > spec.max_bytes)
            if len(big):
                raise_rows(
                    f"a line is larger than max_bytes={spec.max_bytes} ({int(lens[big[0]])} bytes)",
                    block.index[big[:5]], len(big),
                )  # fmt: skip
            named = None
            long_ids += n_long
            text = lens - enc.tpl.const_len - id_lens
            at = int(text.argmax())
            if int(text[at]) > longest[0]:
                longest = (int(text[at]), block.index[at])
            keys.append((block_keys, exact))
            spool.append(lines, lens, id_block, n_inputs)
        spool.finish()
        if not len(spool.ends):
            raise BatchInputError("empty input: the data has no rows")
        _check_unique(spool, keys, "the index" if spec.id_column is None else f"id_column {spec.id_column!r}")
    except RowsError as exc:
        spool.discard()
        # Arrow rows have no labels but their positions: with an id column, name their ids too.
        ids = None if named is None else [str(named.loc[label]) for label in exc.labels]
        raise BatchInputError(exc.worded(ids)) from None
    except BaseException:
        spool.discard()
        raise
    warnings = []
    if long_ids:
        warnings.append(
            f"{long_ids} custom_id(s) are longer than {LONG_ID} characters; some services refuse them"
        )
    max_tokens = next((spec.params[k] for k in MAX_TOKEN_PARAMS if k in spec.params), None)
    prompt_tokens = (longest[0] + enc.static_chars) // 4
    if isinstance(max_tokens, int | np.integer) and prompt_tokens > max(1000, 100 * int(max_tokens)):
        warnings.append(
            f"the longest prompt (row {longest[1]!r}, ~{prompt_tokens} tokens by chars/4) is over 100x "
            f"max_tokens={int(max_tokens)}: check the prompt template and max_tokens"
        )
    return spool, warnings


def _check_unique(spool: Spool, keys: list[tuple[IntArray, bool]], what: str) -> None:
    """Raise when two rows share a custom_id (compared as strings, so 1 and "1" collide).

    A block's keys are its int64 ids (exact) or the hashes of its str ids.
    """
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
