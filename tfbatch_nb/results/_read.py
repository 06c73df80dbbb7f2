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

Speed: a file whose every line is a plain successful chat completion is parsed by pyarrow
against a fixed schema and its columns are extracted in C, straight into the frame
(:mod:`tfbatch_nb._results_arrow`); every other file is decoded block by block by orjson with
the garbage collector paused (:mod:`tfbatch_nb._parse`), so correctness never depends on the
fast path. See ``bench/bench_results.py``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from . import _arrow as _results_arrow
from . import _frame as _results_frame
from . import _lines as _parse
from . import _schema as _results_schema

__all__ = ["EMBEDDING_COLUMNS", "RESULT_COLUMNS", "parse_results", "read_results"]

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

PathLike = str | os.PathLike[str]


#: Whether files may be read by the pyarrow fast path (tests switch it off to cover the other path).
FAST_PATH = True


def _read_file(path: PathLike, pieces: _results_frame.Pieces) -> None:
    """Append one piece per column for ``path``: pyarrow's columns, else orjson's lists."""
    columns = _results_arrow.read_plain(path) if FAST_PATH else None
    if columns is None:
        acc = _parse.Collector()
        with _parse.no_gc():
            for block in _parse.read_lines(path):
                acc.consume(block)
        columns = acc.cols
    for name, piece in columns.items():
        pieces[name].append(piece)


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
    pieces: _results_frame.Pieces = {name: [] for name in ("custom_id", *_parse.FIELDS)}
    for path in [*outputs, *errors]:
        _read_file(path, pieces)
    embeddings = (endpoint or "").rstrip("/").endswith("embeddings") or any(
        v is not None for piece in pieces["embedding"] if isinstance(piece, list) for v in piece
    )
    n_rows = sum(len(piece) for piece in pieces["custom_id"])
    bare = _results_schema.normalize_schema(schema)
    if bare is not None and not embeddings:
        # Parsing needs each content as a Python string anyway: flatten the four columns involved.
        flat = {
            k: _results_frame.flatten(pieces[k]) for k in ("status", "content", "error_code", "error_message")
        }
        pieces["parsed"] = [_results_schema.apply_schema(flat, bare)]
        pieces.update({k: [v] for k, v in flat.items()})
    else:
        pieces["parsed"] = [[None] * n_rows]
    frame, n_missing, extra = _results_frame.build_frame(
        pieces,
        EMBEDDING_COLUMNS if embeddings else RESULT_COLUMNS,
        custom_ids=custom_ids,
        unlisted=unlisted,
    )
    if extra:
        warnings.warn(
            f"{len(extra)} custom_id(s) in the result files are not among the {len(frame) - len(extra)} "
            f"requests (e.g. {extra[0]!r}); kept them at the end of the frame",
            stacklevel=2,
        )
    if n_missing and unlisted == "missing":
        warnings.warn(
            f"{n_missing} of {len(frame)} request(s) appear in no result file; their rows have status 'missing'",
            stacklevel=2,
        )
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
