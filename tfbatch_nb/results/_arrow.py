"""The pyarrow fast path: a whole file of plain chat completions parsed and flattened in C.

``pyarrow.json`` parses the file against a fixed schema holding only the fields the frame needs
(everything else is skipped without being built), and the columns are taken out of the nested
structs with ``pyarrow.compute``; no Python object is made per line. Measured on 200,000 chat
lines (``bench/bench_results.py``) this is several times the per-line path, whose cost is building
every dict and string of every line.

The fast path is only an optimisation: :func:`read_plain` returns None, and the caller reads the
file line by line instead, whenever the file does not parse against the schema (any other
endpoint, an ``error`` object, a wrongly typed field, a bad line, an empty file) or a single row
is not a plain success (missing fields, HTTP status >= 400, ``choices[0]`` not choice 0, null
content). Rows it does return are exactly what the per-line path would give.

pyarrow's parser is laxer than JSON Lines read with orjson: it takes invalid UTF-8 (even in a
skipped field), two objects on one line and an object spread over several. So the bytes are
checked as pyarrow reads them (:class:`_Checked`, on memory pyarrow reads anyway): valid UTF-8,
and every line ``{...}`` or blank, with exactly one row per non-blank line. (``NaN`` and
``Infinity``, which pyarrow takes too, the per-line path reads as well.) Anything else goes to the per-line path, which says what
is wrong with which line. CR and CRLF line ends are handed to pyarrow as LF (CRLF as a blank line).
"""

from __future__ import annotations

import codecs
import io
import os
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.json as pj  # type: ignore[import-untyped]

from ._frame import FIELDS

__all__ = ["BLOCK_BYTES", "read_plain"]

# The streaming reader's unit of work (a longer line still parses: the block is extended to the
# line's end). 2 MiB: measured on 200,000 lines, 1, 2, 4 and 16 MiB stream at the same speed, while the transient
# memory grows with the block (1,000,000 lines: 2 MiB peaks at 1.2x the columns, 16 MiB at 2.7x).
BLOCK_BYTES = 2 * 2**20


def _line_schema() -> Any:
    i64, text = pa.int64(), pa.string()
    choice = pa.struct([("index", i64), ("message", pa.struct([("content", text)])), ("finish_reason", text)])
    usage = pa.struct([(k, i64) for k in ("prompt_tokens", "completion_tokens", "total_tokens")])
    body = pa.struct([("choices", pa.list_(choice)), ("usage", usage)])
    response = pa.struct([("status_code", i64), ("request_id", text), ("body", body)])
    # "error" typed null: a line with an error object then fails the parse, as intended.
    return pa.schema([("custom_id", text), ("error", pa.null()), ("response", response)])


_PARSE = pj.ParseOptions(explicit_schema=_line_schema(), unexpected_field_behavior="ignore")

_LF, _OPEN, _CLOSE = ord("\n"), ord("{"), ord("}")
_BOM = codecs.BOM_UTF8


class _Declined(Exception):
    """Raised from inside pyarrow's read: the file is not plain JSON Lines, read it line by line."""


class _Checked(io.RawIOBase):
    """A binary file checked as pyarrow reads it (see the module docstring); counts the lines.

    A line break is an LF whose previous byte is ``}`` or LF and whose next byte is ``{`` or LF,
    so no JSON value can continue over it; with one row per ``}``-ended line, each line holds
    exactly one object, as orjson would read it.
    """

    def __init__(self, fh: Any) -> None:
        super().__init__()
        self.fh = fh
        self.lines = 0  # non-blank lines seen
        self.last = _LF  # the byte before the current block: the file starts as after a line break
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.start = True

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block: bytes = self.fh.read(size)
        if not block:  # the end (a character cut short there also ends the file without a '}')
            if self.last == _CLOSE:
                self.lines += 1
            elif self.last != _LF:
                raise _Declined("the last line does not end with '}'")
            return block
        if self.start:
            self.start = False
            view = block[3:] if block.startswith(_BOM) else block  # pyarrow skips a leading BOM
        else:
            view = block
        if b"\r" in view:
            # CR and CRLF become LF (CRLF: a blank line): pyarrow then sees what orjson will.
            view = view.replace(b"\r", b"\n")
            block = block.replace(b"\r", b"\n")
        if not view.isascii():
            try:
                self.utf8.decode(view)
            except UnicodeDecodeError as exc:
                raise _Declined("not valid UTF-8") from exc
        self._lines(np.frombuffer(view, dtype=np.uint8))
        return block

    def _lines(self, a: Any) -> None:
        if not a.size:
            return
        if self.last == _LF and a[0] not in (_OPEN, _LF):
            raise _Declined("a line does not start with '{'")
        lf = np.flatnonzero(a == _LF)
        if lf.size:
            before = a[lf[lf > 0] - 1]
            if lf[0] == 0:
                before = np.concatenate([np.asarray([self.last], dtype=np.uint8), before])
            after = a[lf[lf + 1 < a.size] + 1]
            closes = before == _CLOSE
            if not (closes | (before == _LF)).all() or not ((after == _OPEN) | (after == _LF)).all():
                raise _Declined("a line is not one JSON object")
            self.lines += int(closes.sum())
        self.last = int(a[-1])


def read_plain(path: os.PathLike[str] | str) -> dict[str, Any] | None:
    """The columns of a file whose every line is a plain successful chat completion, else None.

    The file is parsed by pyarrow's streaming reader and each batch flattened as it comes:
    one ``read_json`` call on a whole 1,000,000-line file measured a transient peak of about
    2.8x the final columns (every block's parse state at once), the stream about 1.2x at the
    same speed within noise.

    Returns
    -------
    dict or None
        Each of :data:`~tfbatch_nb.results._frame.FIELDS` as a pyarrow chunked array, all of
        one length, or None when the per-line path must read this file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> _ = p.write_text('{"custom_id": "a", "error": null, "response": {"status_code": 200, "body": '
    ...     '{"choices": [{"index": 0, "message": {"content": "hi"}}], "usage": '
    ...     '{"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}}}\\n')
    >>> read_plain(p)["content"].to_pylist()
    ['hi']
    >>> _ = p.write_text('{"custom_id": "a", "error": {"code": "batch_expired"}}\\n')
    >>> read_plain(p) is None
    True
    """
    batches: list[dict[str, Any]] = []
    rows = 0
    try:
        with open(path, "rb", buffering=0) as fh:
            checked = _Checked(fh)
            read_options = pj.ReadOptions(block_size=BLOCK_BYTES)
            for batch in pj.open_json(checked, read_options=read_options, parse_options=_PARSE):
                columns = _columns(pa.Table.from_batches([batch]))
                if columns is None:
                    return None  # the first odd batch decides: nothing later can make the file plain
                batches.append(columns)
                rows += batch.num_rows
    except (_Declined, pa.ArrowException, ValueError, TypeError, KeyError, IndexError, OSError):
        # ArrowInvalid is a ValueError; any surprise at all means "not the plain shape". The
        # per-line path re-reads the file and reports real problems (bad lines, missing file).
        return None
    if not batches or rows != checked.lines:
        return None
    return {name: pa.chunked_array([c for b in batches for c in b[name].chunks]) for name in FIELDS}


def _columns(table: Any) -> dict[str, Any] | None:
    """The columns of one parsed batch, or None unless every row is a plain success."""
    n = table.num_rows
    if n == 0:
        return None
    field = pc.struct_field
    resp = table.column("response")
    body = field(resp, "body")
    choices = field(body, "choices")
    # list_element raises on an empty list, and list_flatten below would skip null lists.
    if choices.null_count or pc.min(pc.list_value_length(choices)).as_py() == 0:
        return None
    # One choice per line (n = 1) is the usual case: then the flattened list IS choice 0 and
    # comes without copying; list_element gathers, copying every content string once more.
    if pc.max(pc.list_value_length(choices)).as_py() == 1:
        c0 = pc.list_flatten(choices)
    else:
        c0 = pc.list_element(choices, 0)
    usage = field(body, "usage")
    cols = {
        "custom_id": table.column("custom_id"),
        "status_code": field(resp, "status_code"),
        "content": field(field(c0, "message"), "content"),
        "finish_reason": field(c0, "finish_reason"),
        "prompt_tokens": field(usage, "prompt_tokens"),
        "completion_tokens": field(usage, "completion_tokens"),
        "total_tokens": field(usage, "total_tokens"),
        "request_id": field(resp, "request_id"),
    }
    # What the per-line path's inlined shape requires, checked on whole columns. A null may be a
    # missing field whose fallback (input_tokens, the sum for total, another choice) only the
    # per-line path knows, so any null outside finish_reason / request_id declines the file.
    must_be_set = [v for k, v in cols.items() if k not in ("finish_reason", "request_id")]
    if table.column("error").null_count != n or any(v.null_count for v in must_be_set):
        return None
    index = field(c0, "index")
    if index.null_count or pc.any(pc.not_equal(index, 0)).as_py():
        return None  # n > 1 with choices out of order: the per-line path picks the one with index 0
    if pc.max(cols["status_code"]).as_py() >= 400:
        return None
    none = pa.chunked_array([pa.nulls(n, pa.string())])  # the error and embedding fields
    cols["status"] = pa.chunked_array([pa.repeat("completed", n)])
    return {name: cols.get(name, none) for name in FIELDS}
