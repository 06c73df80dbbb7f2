"""Plain chat batches answered a column at a time (the ``speed="max"`` fast path of the simulator).

Even with the simulator's byte template (``chat_bytes``), answering a 50,000-line batch one
parsed line at a time cost ~20 us a line in Python: parsing, the checks, the request hash, the sentiment words.
Most batches have one shape (``custom_id``, ``method``, ``url`` and a ``body`` of ``model``,
string ``messages`` and maybe ``max_tokens``), so here pyarrow's JSON reader (C++) parses blocks of
lines against exactly that shape, the checks and the answers' pieces are computed on columns, and
each block's output lines are joined from those columns into one buffer. Per line, Python only
calls the request hash.

This path must say byte for byte what the per-line path says (``created`` aside, a clock), so it
only takes files where the two cannot differ: anything else (another field, a null, a blank line,
a duplicate id, several models, a file too large to hold whole) makes :meth:`PlainFile.open`
return None or :meth:`PlainFile.answers` raise :class:`NotPlain`, and the runner then takes the
per-line path, which also words every error. ``tests/gateway/test_columnar.py`` checks the output
of both paths against each other.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.json as pj  # type: ignore[import-untyped]

from ._lines import OK_RECORD
from ._simulator import (
    CHARS_PER_TOKEN,
    CHAT_TEMPLATE,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    PREFIX,
    Answer,
    chat_content,
    sentiment,
)

# The whole file is parsed at once: above this the per-line path streams it instead.
MAX_BYTES = 64 * 2**20
# Blocks answered at once. Parsing and the column work release the GIL, so a second block
# proceeds while one holds it (the request hashes).
_WORKERS = 2

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_BODY = pa.struct([("model", pa.string()), ("messages", pa.list_(_MESSAGE)), ("max_tokens", pa.int64())])
_SCHEMA = pa.schema(
    [("custom_id", pa.string()), ("method", pa.string()), ("url", pa.string()), ("body", _BODY)]
)
# "error": a field outside the schema (temperature, n, response_format, a message's name ...) may
# change the answer or its hash, so the file is not plain.
_PARSE = pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="error")

# One output line: the record envelope of ._lines around the response template of ._simulator.
# Arguments: ids, custom_id (JSON), ids, chatcmpl hash, created, model (JSON), content (JSON),
# finish_reason, prompt_tokens, completion_tokens, total_tokens.
_ROW = OK_RECORD % (b'{"id":"batch_req_%s","custom_id":%s', b"%s", CHAT_TEMPLATE)
# Its text around the arguments, for joining with columns of them.
_ROW_TEXT = [text.decode() for text in re.split(rb"%[sd]", _ROW)]

# A JSON string needs escapes (orjson's: control characters, quote, backslash) when this matches;
# the others are their own JSON text between quotes.
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_NULL_VALUE = re.compile(rb":\s*null")

_LABELS = ("negative", "neutral", "positive")  # indexed by sign(score) + 1
# request_hash()'s digest; a partial and a methodcaller over map() are the cheapest per-line calls found
_BLAKE2B_16 = functools.partial(hashlib.blake2b, digest_size=16)
_DIGEST = operator.methodcaller("digest")


def _any_word(words: frozenset[bytes]) -> str:
    """RE2 pattern: one of ``words`` as a whole word of an ASCII text, the way ``sentiment`` splits
    (letters lowered; a word is a run of letters and apostrophes)."""
    alternatives = "|".join(sorted(w.decode() for w in words))
    return f"(?:^|[^a-zA-Z'])(?i:{alternatives})(?:[^a-zA-Z']|$)"


_POSITIVE_RE, _NEGATIVE_RE = _any_word(POSITIVE_WORDS), _any_word(NEGATIVE_WORDS)


class NotPlain(Exception):
    """A block of the file is not of the plain shape (or ids repeat across blocks): answer per line."""


class PlainFile:
    """A chat batch file that may be plain, answered in blocks of lines, two blocks at a time.

    Each block is parsed (pyarrow, no GIL), checked and answered in a worker thread, so while
    one block's Python part runs (the request hashes) the other's parsing and columns proceed.
    The checks a block cannot make alone (no custom_id repeats across blocks, one model) come
    at the end: :meth:`answers` raises :class:`NotPlain` when any check fails, and the caller
    throws away what it wrote and takes the per-line path (the simulator is pure, so answering
    lines of a file that turns out not plain has no effect).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> body = {"model": "openai-main/m", "messages": [{"role": "user", "content": "Sentiment: good"}]}
    >>> line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}
    >>> _ = p.write_bytes(orjson.dumps(line) + b"\\n")
    >>> plain = PlainFile.open(p, endpoint="/v1/chat/completions", max_lines=10)
    >>> plain.rows, plain.first_line == orjson.dumps(line)
    (1, True)
    >>> records, done, i, o = next(plain.answers(stamp="abc", size=100))
    >>> orjson.loads(memoryview(records))["response"]["body"]["choices"][0]["message"]["content"], done, i, o
    ('[simulated] positive', 1, 4, 5)
    """

    def __init__(self, data: bytes, line_ends: npt.NDArray[np.int64], endpoint: str) -> None:
        self.data, self.line_ends, self.endpoint = data, line_ends, endpoint
        self.rows = len(line_ends)
        self.first_line = data[: int(line_ends[0])].rstrip(b"\n")
        # No backslash in the file: no JSON string in it has an escape, so none holds a quote,
        # backslash or control character (pyarrow refuses raw ones) and quoting is its JSON.
        self.escapes = b"\\" in data
        self._null_value: bool | None = None

    @classmethod
    def open(cls, path: Path, *, endpoint: str, max_lines: int) -> PlainFile | None:
        """Read a chat batch file; None when it cannot be plain (too large, empty, too many lines).

        Parameters
        ----------
        path : Path
            The JSONL input file.
        endpoint : str
            The batch endpoint; every line's ``url`` must equal it and ``method`` be ``POST``.
        max_lines : int
            The line limit (a longer file goes the per-line way, which reports it).

        Returns
        -------
        PlainFile or None
            The file's bytes and line ends; whether it is plain shows while answering.

        Examples
        --------
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "in.jsonl"
        >>> _ = p.write_bytes(b'{"custom_id": "a"}\\n{"custom_id": "b"}')
        >>> PlainFile.open(p, endpoint="/v1/chat/completions", max_lines=10).rows
        2
        >>> PlainFile.open(p, endpoint="/v1/chat/completions", max_lines=1) is None
        True
        """
        if endpoint != "/v1/chat/completions" or path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
        octets = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(octets == 10).astype(np.int64) + 1
        if data and not data.endswith(b"\n"):  # a last line without its newline
            ends = np.append(ends, len(data))
        if not 0 < len(ends) <= max_lines:
            return None
        # Every line starts with "{": no blank lines (pyarrow would skip them silently; the per-line
        # path reports them), and a file written by a JSON library always passes.
        starts = np.concatenate(([0], ends[:-1]))
        if not np.all(octets[starts] == ord("{")):
            return None
        try:  # a file of another shape (say every line has a temperature) shows it on line 1
            pj.read_json(pa.BufferReader(pa.py_buffer(data[: int(ends[0])])), parse_options=_PARSE)
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return None
        return cls(data, ends, endpoint)

    def answers(self, *, stamp: str, size: int) -> Iterator[tuple[pa.Buffer, int, int, int]]:
        """The output records of ``size`` lines at a time, in line order.

        Yields ``(records, lines, input_tokens, output_tokens)``; the caller looks at stop /
        cancel between blocks. Raises :class:`NotPlain` (possibly after the last block).
        """
        buf = pa.py_buffer(self.data)
        starts = iter(range(0, self.rows, size))
        ids: list[pa.Array] = []
        models: set[str] = set()
        with ThreadPoolExecutor(_WORKERS, thread_name_prefix="tfbatch-gw-plain") as pool:

            def submit(start: int) -> Future[_Block | None]:
                begin = int(self.line_ends[start - 1]) if start else 0
                end = int(self.line_ends[min(start + size, self.rows) - 1])
                lines = min(size, self.rows - start)
                return pool.submit(self._block, buf.slice(begin, end - begin), start, lines, stamp)

            # One block more in flight than workers: a worker never waits for the consumer.
            pending = deque(submit(start) for start in islice(starts, _WORKERS + 1))
            try:
                while pending:
                    block = pending.popleft().result()
                    pending.extend(submit(start) for start in islice(starts, 1))
                    if block is None:
                        raise NotPlain
                    ids.append(block.ids)
                    models.add(block.model)
                    yield block.records, block.lines, block.input_tokens, block.output_tokens
            finally:  # stopped early (cancel, stop, not plain): drop what has not started
                for future in pending:
                    future.cancel()
        if len(models) != 1 or len(pc.unique(pa.chunked_array(ids))) != self.rows:
            raise NotPlain

    def _block(self, buf: pa.Buffer, start: int, lines: int, stamp: str) -> _Block | None:
        """Parse, check and answer lines ``start + 1 ... start + lines``; None when not plain."""
        try:
            # one thread (and one block: a line must not straddle two) per block of lines; two run at once
            read = pj.ReadOptions(use_threads=False, block_size=buf.size + 1)
            table = pj.read_json(pa.BufferReader(buf), read_options=read, parse_options=_PARSE)
        except (pa.ArrowInvalid, UnicodeDecodeError):  # not JSON to orjson either, or not this shape
            return None
        # pyarrow splits a line holding two objects into two rows (and skips blank lines, which
        # open() excluded); the per-line path reports it. As many rows as lines: one object each.
        if table.num_rows != lines:
            return None
        body = table.column("body").combine_chunks()
        model = pc.struct_field(body, "model")
        messages = pc.struct_field(body, "messages")
        flat = pc.list_flatten(messages)
        ids = table.column("custom_id").combine_chunks()
        if (
            any(col.null_count for col in table.columns)  # a missing field (or null)
            or model.null_count
            or messages.null_count
            or any(pc.struct_field(flat, f).null_count for f in ("role", "content"))
            or pc.min(pc.list_value_length(messages)).as_py() == 0
            or pc.min(pc.binary_length(ids)).as_py() == 0
            or pc.count_distinct(model).as_py() != 1
            or not pc.all(pc.equal(table.column("method"), "POST")).as_py()
            or not pc.all(pc.equal(table.column("url"), self.endpoint)).as_py()
        ):
            return None
        # Arrow reads an absent max_tokens and an explicit null alike, but the request hash (sorted
        # body JSON) tells them apart: a file that may hold a null value goes the per-line way.
        if pc.struct_field(body, "max_tokens").null_count and self._has_null_value():
            return None
        name = str(model[0].as_py())
        records, n, i, o = _answer_block(
            body, messages, ids, start + 1, stamp.encode(), orjson.dumps(name), self.escapes
        )
        return _Block(records, n, i, o, ids, name)

    def _has_null_value(self) -> bool:
        if self._null_value is None:  # racing threads compute the same answer
            self._null_value = b"null" in self.data and _NULL_VALUE.search(self.data) is not None
        return self._null_value


@dataclass
class _Block:
    records: pa.Buffer
    lines: int
    input_tokens: int
    output_tokens: int
    ids: pa.Array
    model: str


def _json_strings(arr: pa.Array, escapes: bool) -> pa.Array:
    """``orjson.dumps`` of each string of ``arr``, as a string array.

    ``escapes`` False says the file had no backslash: JSON strings without escapes hold no
    quote, backslash or control character (pyarrow refuses raw ones), so quoting is enough.
    """
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    if not escapes:
        return quoted
    needs = pc.match_substring_regex(arr, _NEEDS_ESCAPE)
    if not pc.any(needs).as_py():
        return quoted
    escaped = [orjson.dumps(s).decode() for s in arr.filter(needs).to_pylist()]
    return pc.replace_with_mask(quoted, needs, pa.array(escaped, pa.string()))


def _sentiments(last: pa.StringArray, wanted: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """:func:`sentiment` of each text where ``wanted``, as an index into ``_LABELS``.

    Only the sign of the score is used, so a text with positive words and no negative ones is
    positive however many there are; two regex passes (RE2, no GIL) tell which kinds a text has,
    and only a text with both kinds (rare) needs the distinct words counted: ``sentiment`` does
    it. So do texts that are not ASCII (Unicode lowering can make ASCII letters).
    """
    positive = pc.match_substring_regex(last, _POSITIVE_RE).to_numpy(zero_copy_only=False)
    negative = pc.match_substring_regex(last, _NEGATIVE_RE).to_numpy(zero_copy_only=False)
    labels: npt.NDArray[np.int64] = 1 + positive.astype(np.int64) - negative.astype(np.int64)
    exact = (positive & negative) | ~pc.string_is_ascii(last).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(wanted & exact).tolist():
        labels[i] = _LABELS.index(sentiment(last[i].as_py()))
    return labels


def _request_ids(stamp: bytes, first: int, rows: int) -> pa.StringArray:
    """``b"%s%08d" % (stamp, n)`` for lines ``first ...`` (below line 10**8): digits by arithmetic."""
    n = np.arange(first, first + rows, dtype=np.int64)
    digits = (n[:, None] // 10 ** np.arange(7, -1, -1, dtype=np.int64)) % 10 + ord("0")
    width = len(stamp) + 8
    text = np.empty((rows, width), dtype=np.uint8)
    text[:, : len(stamp)] = np.frombuffer(stamp, dtype=np.uint8)
    text[:, len(stamp) :] = digits
    offsets = pa.array(np.arange(0, width * rows + 1, width, dtype=np.int32)).buffers()[1]
    return pa.StringArray.from_buffers(rows, offsets, pa.py_buffer(text.tobytes()))


def _answer_block(
    body: pa.StructArray,
    messages: pa.ListArray,
    custom_ids: pa.StringArray,
    first: int,
    stamp: bytes,
    model_json: bytes,
    escapes: bool,
) -> tuple[pa.Buffer, int, int, int]:
    """The output records of one checked block of rows (line ``first`` onwards), as one buffer.

    ``body``, its ``messages`` and ``custom_ids`` are the block's columns as :meth:`PlainFile._block`
    combined and checked them.
    """
    rows = len(body)
    counts = pc.list_value_length(messages).to_numpy().astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    flat = pc.list_flatten(messages)
    roles, contents = pc.struct_field(flat, "role"), pc.struct_field(flat, "content")
    max_tokens = pc.struct_field(body, "max_tokens")

    # prompt = "\n".join(contents): its length and whether it mentions "sentiment" (lowered).
    lengths = pc.utf8_length(contents).to_numpy().astype(np.int64)
    prompt_tokens = np.maximum(1, -(-(np.add.reduceat(lengths, starts) + counts - 1) // CHARS_PER_TOKEN))
    ascii_ = pc.string_is_ascii(contents).to_numpy(zero_copy_only=False)
    mentions = pc.match_substring(pc.ascii_lower(contents), "sentiment").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~ascii_).tolist():  # Unicode lowering: as Python does it
        mentions[i] = "sentiment" in contents[i].as_py().lower()
    is_sentiment = np.logical_or.reduceat(mentions, starts)

    # The last user message, else the last message: what the answer is about.
    is_user = pc.equal(roles, "user").to_numpy(zero_copy_only=False)
    last_user = np.maximum.reduceat(np.where(is_user, np.arange(len(flat)), -1), starts)
    last = contents.take(pa.array(np.where(last_user >= 0, last_user, starts + counts - 1)))

    # request_hash(): blake2b of the body as orjson.dumps(body, OPT_SORT_KEYS) writes it. The
    # digests are the one per-line Python call left.
    if escapes:
        message_json = pc.binary_join_element_wise(
            '{"content":', _json_strings(contents, True), ',"role":', _json_strings(roles, True), "}", ""
        )
    else:  # the quotes in the text: a join fewer over the largest column
        message_json = pc.binary_join_element_wise('{"content":"', contents, '","role":"', roles, '"}', "")
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts))).astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, message_json), ",")
    tail = '],"model":' + model_json.decode() + "}"
    if max_tokens.null_count == 0:  # the usual cases first: one join
        heads: list[Any] = ['{"max_tokens":', pc.cast(max_tokens, pa.string()), ',"messages":[']
    elif max_tokens.null_count == rows:
        heads = ['{"messages":[']
    else:
        with_max = pc.binary_join_element_wise(
            '{"max_tokens":', pc.cast(max_tokens, pa.string()), ',"messages":[', ""
        )
        heads = [pc.if_else(pc.is_null(max_tokens), '{"messages":[', with_max)]
    canonical = pc.cast(pc.binary_join_element_wise(*heads, joined, tail, ""), pa.binary()).to_pylist()
    seeds = b"".join(map(_DIGEST, map(_BLAKE2B_16, canonical)))
    # seed[:12].hex() of every line: one hex() call, then 24 characters a line
    hex_ids = np.frombuffer(seeds, dtype=np.uint8).reshape(rows, 16)[:, :12].tobytes().hex().encode()
    hex_offsets = pa.array(np.arange(0, 24 * rows + 1, 24, dtype=np.int32)).buffers()[1]
    hex_column = pa.StringArray.from_buffers(rows, hex_offsets, pa.py_buffer(hex_ids))

    # The answer text, cut to max_tokens: for a sentiment request one of three texts per
    # max_tokens value (serialised once), for any other its own reply.
    labels = _sentiments(last, is_sentiment)
    limits = pc.dictionary_encode(max_tokens)
    limit_values = [*limits.dictionary.to_pylist(), None]
    limit_at = pc.fill_null(limits.indices, len(limit_values) - 1).to_numpy()
    keys, which = np.unique(labels * len(limit_values) + limit_at, return_inverse=True)
    texts = [
        chat_content(f"{PREFIX} {_LABELS[k // len(limit_values)]}", limit_values[k % len(limit_values)])
        for k in keys.tolist()
    ]
    which = which.astype(np.int64)
    mts = max_tokens.to_pylist()
    for i in np.flatnonzero(~is_sentiment).tolist():
        seed = seeds[16 * i : 16 * i + 16]
        which[i] = len(texts)
        texts.append(chat_content(Answer("", last[i].as_py(), seed).text(0), mts[i]))

    # The record's text between its arguments, with the block's constants (created, model) and
    # the pieces decided by the answer text spliced in: fewer, longer parts to join per line.
    lit = _ROW_TEXT
    created, model = str(int(time.time())), model_json.decode()
    which_ = pa.array(which)
    # content, finish_reason -> text up to prompt_tokens; completion_tokens -> text up to total
    answer_text = [t[0].decode() + lit[7] + t[1].decode() + lit[8] for t in texts]
    tokens_text = [lit[9] + str(t[2]) + lit[10] for t in texts]
    completion_tokens = np.array([t[2] for t in texts], dtype=np.int64)[which]
    ids = _request_ids(stamp, first, rows)
    parts: list[Any] = [
        lit[0],
        ids,
        *(
            [lit[1], _json_strings(custom_ids, True), lit[2]]
            if escapes
            else [lit[1] + '"', custom_ids, '"' + lit[2]]
        ),
        ids,
        lit[3],
        hex_column,
        lit[4] + created + lit[5] + model + lit[6],
        pc.take(pa.array(answer_text, pa.string()), which_),
        pc.cast(pa.array(prompt_tokens), pa.string()),
        pc.take(pa.array(tokens_text, pa.string()), which_),
        pc.cast(pa.array(prompt_tokens + completion_tokens), pa.string()),
        lit[11],
    ]
    records = pc.binary_join_element_wise(*parts, "")
    _, ends, data = records.buffers()
    ends_ = np.frombuffer(ends, dtype=np.int32)[records.offset : records.offset + rows + 1]
    return (
        data.slice(int(ends_[0]), int(ends_[-1] - ends_[0])),
        rows,
        int(prompt_tokens.sum()),
        int(completion_tokens.sum()),
    )
