"""Output and error files read into the results frame: :func:`parse_results` and :func:`read_results`.

Each file is read by the pyarrow fast path when every line is a plain successful chat completion,
else line by line; both give the same columns, so correctness never depends on the fast path.
:data:`FAST_PATH` switches the fast path off (tests do, to cover the per-line path on every file).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..errors import TfBatchError
from ._arrow import read_plain
from ._frame import EMBEDDING_COLUMNS, FIELDS, RESULT_COLUMNS, Pieces, build_frame, flatten
from ._lines import read_lines
from ._schema import apply_schema, normalize_schema

__all__ = ["FAST_PATH", "lineage", "parse_results", "read_results"]

PathLike = str | os.PathLike[str]

#: Whether a file may be read by the pyarrow fast path; False reads every file line by line
#: (e.g. ``monkeypatch.setattr(tfbatch_nb.results._read, "FAST_PATH", False)``). Same frame either way.
FAST_PATH = True


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
    else a failure over a never-run line, else the later line; a warning names the count, a file
    and an id, and ``frame.attrs["duplicates"]`` is the number of lines dropped so (0 when none).
    Chat answers with ``n > 1`` keep choice 0.

    Hostile files read the same by both paths: a UTF-8 BOM at the start is skipped; LF, CRLF and
    CR all end a line; blank lines are skipped. A line that is not valid JSON, not a JSON object,
    or has no custom_id (missing or ``null``) is skipped with a warning naming file and line; a
    number or boolean custom_id is kept as its JSON text (``7`` -> ``"7"``). A line that is not
    valid UTF-8 is a ``failed`` row with ``error_code`` ``invalid_utf8`` and a message naming the
    line, or, when its custom_id is unreadable too, skipped with such a warning.

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
    pieces: Pieces = {name: [] for name in FIELDS}
    paths = [*outputs, *errors]
    for path in paths:
        columns = read_plain(path) if FAST_PATH else None
        for name, piece in (read_lines(path) if columns is None else columns).items():
            pieces[name].append(piece)
    embeddings = (endpoint or "").rstrip("/").endswith("embeddings") or any(
        v is not None for piece in pieces["embedding"] if isinstance(piece, list) for v in piece
    )
    bare = normalize_schema(schema)
    if bare is not None and not embeddings:
        # Parsing needs each content as a Python string anyway: flatten the four columns involved.
        flat = {k: flatten(pieces[k]) for k in ("status", "content", "error_code", "error_message")}
        pieces["parsed"] = [apply_schema(flat, bare)]
        pieces.update({k: [v] for k, v in flat.items()})
    else:
        pieces["parsed"] = [[None] * sum(len(piece) for piece in pieces["custom_id"])]
    frame, n_missing, extra, repeats = build_frame(
        pieces, EMBEDDING_COLUMNS if embeddings else RESULT_COLUMNS, custom_ids=custom_ids, unlisted=unlisted
    )
    frame.attrs["duplicates"] = len(repeats)
    if repeats:
        cid, path = _line_at(pieces["custom_id"], paths, repeats[0])
        warnings.warn(
            f"{len(repeats)} result line(s) repeat a custom_id seen before (e.g. {cid!r} in {path}); "
            "kept one row per custom_id (a completed line over a failed one over one that never ran, "
            "else the later line); frame.attrs['duplicates'] counts these lines",
            stacklevel=2,
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


def _line_at(ids: list[Any], paths: list[PathLike], at: int) -> tuple[str, str]:
    """(custom_id, file name) of line ``at`` among all files' lines (``ids``: one piece per file)."""
    for piece, path in zip(ids, paths, strict=True):
        if at < len(piece):
            cid = piece[at] if isinstance(piece, list) else piece[at].as_py()
            return cid, os.path.basename(os.fspath(path))
        at -= len(piece)
    raise IndexError(at)


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
    >>> import pathlib, tempfile
    >>> errors = pathlib.Path(tempfile.mkdtemp()) / "batch_errors.jsonl"
    >>> _ = errors.write_text('{"custom_id": "a", "response": {"status_code": 500, '
    ...     '"body": {"error": {"code": "server_error", "message": "boom"}}}, "error": null}\\n')
    >>> res = read_results(None, errors)
    >>> res[["status", "error_code"]].to_dict("index")
    {'a': {'status': 'failed', 'error_code': 'server_error'}}
    """
    custom_ids = getattr(requests, "custom_ids", None)
    return parse_results(
        _paths(output),
        _paths(errors),
        custom_ids=list(custom_ids) if custom_ids is not None else None,
        schema=getattr(requests, "response_schema", None),
        endpoint=getattr(requests, "endpoint", None),
    )


def lineage(frame: pd.DataFrame) -> dict[str, Any]:
    """Where a results frame came from: the job, model, template, hash and times ``results()`` recorded.

    The record lives in ``frame.attrs["tfbatch"]``, which pandas keeps through ``to_parquet`` /
    ``read_parquet`` and most operations on the frame.

    Raises
    ------
    TfBatchError
        The frame carries no record (it did not come from ``batch.results()``, or lost its attrs).

    Examples
    --------
    >>> res = pd.DataFrame({"status": ["completed"]})
    >>> res.attrs["tfbatch"] = {"name": "reviews-v1", "model": "openai-main/gpt-4o-mini"}
    >>> lineage(res)["model"]
    'openai-main/gpt-4o-mini'
    """
    record = frame.attrs.get("tfbatch") if isinstance(frame, pd.DataFrame) else None
    if not isinstance(record, dict):
        raise TfBatchError(
            "this frame carries no tfbatch lineage: it did not come from batch.results(), or an operation "
            "dropped its attrs (pd.concat of frames with different attrs does)"
        )
    return dict(record)
