"""A finished job's answers: download each part's files once, parse, check counts, fold in retries.

About files on disk, not about following a job: every file goes to the journal folder first
(``output-001.jsonl``, ``errors-001.jsonl``), so a second call, or a call after a kernel
restart, reads the same bytes and downloads nothing. Each function takes plain data (a
context, a journal row, snapshots, frames), never a ``Batch``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from ..errors import BatchInputError
from ..results import RESULT_COLUMNS, parse_results
from ..ui import PartSnapshot, Snapshot
from ._context import Context
from ._download import download_file

__all__ = ["collect", "error_frame", "fold", "join_rows", "part_ids", "unanswered", "validation_errors"]


def part_ids(ctx: Context, job_id: str, index: int) -> list[str] | None:
    """The custom_ids of one part, from the journal's copy (None for a job attached by batch id)."""
    path = ctx.journal.part_path(job_id, index, "ids", ".txt")
    if not path.exists():
        return None
    return [line for line in path.read_text().split("\n") if line]


def _failed_rows(ids: list[str], part: PartSnapshot) -> pd.DataFrame:
    # A part that failed validation never ran: each of its rows is failed, with the first reason.
    first = part.errors[0] if part.errors else {}
    frame: pd.DataFrame = pd.DataFrame(
        index=pd.Index(ids, name="custom_id"), columns=list(RESULT_COLUMNS), dtype=object
    )
    frame["status"] = "failed"
    frame["error_code"] = first.get("code") or "batch_failed"
    frame["error_message"] = first.get("message") or f"batch {part.batch_id} failed validation"
    for col in ("status_code", "prompt_tokens", "completion_tokens", "total_tokens"):
        frame[col] = pd.array([pd.NA] * len(ids), dtype="Int64")
    return frame


def collect(ctx: Context, job: dict[str, Any], parts: Sequence[PartSnapshot]) -> pd.DataFrame:
    """Parse every part of a terminal job into one results frame (parts in order).

    Rows of a part that failed are ``failed`` with its first error, unless a file the server wrote
    for it says otherwise (a failed batch may have answered some rows); rows no file mentions are
    ``expired`` / ``cancelled`` when their part ended so, else ``missing``. A mismatch between
    parsed rows and the batch's ``request_counts`` is a warning.
    """
    job_id = job["job_id"]
    frames = []
    for part in parts:
        ids = part_ids(ctx, job_id, part.index)
        if part.status == "failed" and not part.output_file_id and not part.error_file_id:
            frames.append(_failed_rows(ids or [], part))
            continue
        outputs = [download_file(ctx.client, part.output_file_id, ctx.journal.part_path(job_id, part.index, "output"))] \
            if part.output_file_id else []  # fmt: skip
        errors = [download_file(ctx.client, part.error_file_id, ctx.journal.part_path(job_id, part.index, "errors"))] \
            if part.error_file_id else []  # fmt: skip
        unlisted = part.status if part.status in ("expired", "cancelled", "failed") else "missing"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = parse_results(outputs, errors, custom_ids=ids, schema=job.get("response_schema"),
                                           unlisted=unlisted, endpoint=job.get("endpoint"))  # fmt: skip
        for w in caught:  # re-emit with the part named, so the user knows which batch it is
            warnings.warn(f"part {part.index + 1} ({part.batch_id}): {w.message}", stacklevel=4)
        ran = int(frame["status"].isin(["completed", "failed"]).sum())
        reported = part.completed + part.failed
        if part.status == "failed":
            _blame_the_batch(frame, part)
        elif reported and ran != reported:
            warnings.warn(
                f"part {part.index + 1} ({part.batch_id}): parsed {ran} finished rows but the gateway reports "
                f"{reported} ({part.completed} completed + {part.failed} failed)",
                stacklevel=4,
            )
        frames.append(frame)
    if not frames:
        empty: pd.DataFrame = pd.DataFrame(columns=list(RESULT_COLUMNS), index=pd.Index([], name="custom_id"))
        return empty
    whole: pd.DataFrame = frames[0] if len(frames) == 1 else pd.concat(frames)
    # pandas keeps attrs through concat only when all parts agree: the count is the job's sum.
    whole.attrs["duplicates"] = sum(int(f.attrs.get("duplicates", 0)) for f in frames)
    return whole


def _blame_the_batch(frame: pd.DataFrame, part: PartSnapshot) -> None:
    # Rows of a failed batch that no file mentions failed with the batch: say why, in place.
    first = part.errors[0] if part.errors else {}
    gap = frame["status"].eq("failed") & frame["error_code"].isna()
    frame.loc[gap, "error_code"] = first.get("code") or "batch_failed"
    frame.loc[gap, "error_message"] = first.get("message") or f"batch {part.batch_id} failed"


def unanswered(parts: Sequence[PartSnapshot]) -> bool:
    """Whether every part failed without writing a file: nothing to read, only the errors to show.

    Examples
    --------
    >>> from tfbatch_nb.ui import part_from_batch
    >>> unanswered([part_from_batch(0, {"id": "b", "status": "failed"})])
    True
    >>> unanswered([part_from_batch(0, {"id": "b", "status": "failed", "error_file_id": "f"})])
    False
    """
    return bool(parts) and all(
        p.status == "failed" and not p.output_file_id and not p.error_file_id for p in parts
    )


def fold(frame: pd.DataFrame, retried: pd.DataFrame) -> pd.DataFrame:
    """Replace rows of ``frame`` by their retried answers: a success always, a failure over a non-answer.

    Examples
    --------
    >>> a = pd.DataFrame({"status": ["failed", "completed"]}, index=pd.Index(["x", "y"], name="custom_id"))
    >>> b = pd.DataFrame({"status": ["completed"]}, index=pd.Index(["x"], name="custom_id"))
    >>> fold(a, b)["status"].tolist()
    ['completed', 'completed']
    """
    retried = retried[retried.index.isin(frame.index)]
    better = retried["status"].eq("completed") | (
        retried["status"].eq("failed") & ~frame.loc[retried.index, "status"].isin(["completed", "failed"])
    )
    take = retried[better]
    if take.empty:
        return frame
    out: pd.DataFrame = frame.copy()
    for col in out.columns.intersection(take.columns):
        out[col] = out[col].astype(object) if out[col].dtype != take[col].dtype else out[col]
        out.loc[take.index, col] = take[col]
    return out


def join_rows(frame: pd.DataFrame, rows: Any, id_column: str | None) -> pd.DataFrame:
    """Join the results onto the user's rows by the id column (else the row position), as strings.

    ``rows`` is a pandas frame, or a polars / pyarrow one (anything with ``__arrow_c_stream__``),
    read into pandas: the result is a pandas frame either way. ``id_column`` is the one
    journaled at submit; None means guess it from the values.

    Examples
    --------
    >>> import pyarrow as pa
    >>> res = pd.DataFrame({"status": ["completed"]}, index=pd.Index(["7"], name="custom_id"))
    >>> join_rows(res, pd.DataFrame({"n": [7], "text": ["hi"]}), "n")["status"].tolist()
    ['completed']
    >>> join_rows(res, pa.table({"n": [7], "text": ["hi"]}), "n")["status"].tolist()
    ['completed']
    """
    if not isinstance(rows, pd.DataFrame):
        rows = _as_pandas(rows)
    if id_column is None:
        id_column = _guess_id_column(frame, rows)
    if id_column is not None and id_column in rows.columns:
        key = rows[id_column].astype(str)
    else:
        key = pd.Series(rows.index.astype(str), index=rows.index)
    keyed = rows.assign(__tfbatch_key=key.to_numpy())
    out = keyed.merge(frame, how="left", left_on="__tfbatch_key", right_index=True, suffixes=("", "_result"))
    joined: pd.DataFrame = out.drop(columns="__tfbatch_key")
    return joined


def _as_pandas(rows: Any) -> pd.DataFrame:
    # polars, pyarrow and any Arrow C stream: one copy into pandas (the results frame is pandas).
    if hasattr(rows, "__arrow_c_stream__") or isinstance(rows, pa.Table | pa.RecordBatch):
        out: pd.DataFrame = pa.table(rows).to_pandas()
        return out
    raise BatchInputError(
        f"join= takes your rows as a pandas, polars or pyarrow frame (or anything with __arrow_c_stream__), "
        f"got {type(rows).__name__}"
    )


def _guess_id_column(frame: pd.DataFrame, rows: pd.DataFrame) -> str | None:
    # No id column journaled (a job attached by batch id, or journaled before the builder
    # carried id_column): the index when its values are the custom_ids, else the first column
    # whose values (as strings) are.
    ids = set(frame.index)
    if ids and ids.issubset(set(rows.index.astype(str))):
        return None
    for col in rows.columns:
        try:
            values = set(rows[col].astype(str))
        except (TypeError, ValueError):  # pragma: no cover - exotic column types
            continue
        if ids and ids.issubset(values):
            return str(col)
    return None


def validation_errors(parts: Sequence[PartSnapshot]) -> list[dict[str, Any]]:
    """Every validation error of every failed part, each naming its part and batch."""
    return [
        {"part": p.index, "batch_id": p.batch_id, **e}
        for p in parts
        for e in p.errors
        if p.status == "failed" or p.errors
    ]


def error_frame(snap: Snapshot, frame: pd.DataFrame | None) -> pd.DataFrame:
    """``Batch.errors()``: validation errors of the snapshot's parts, then the failed rows of ``frame``.

    Examples
    --------
    >>> from tfbatch_nb.ui import make_snapshot
    >>> snap = make_snapshot(job_id="job_1", name=None, provider="p", model=None, endpoint="e", parts=[])
    >>> res = pd.DataFrame({"status": ["failed"], "error_code": ["x"], "error_message": ["bad"]},
    ...                    index=pd.Index(["7"], name="custom_id"))
    >>> error_frame(snap, res)[["kind", "custom_id", "code"]].values.tolist()
    [['row', '7', 'x']]
    """
    rows = [{"kind": "validation", "part": e["part"], "batch_id": e["batch_id"], "custom_id": None,
             "line": e.get("line"), "code": e.get("code"), "message": e.get("message")}
            for e in validation_errors(snap.parts)]  # fmt: skip
    if frame is not None:
        failed = frame[frame["status"] == "failed"]
        rows += [{"kind": "row", "part": None, "batch_id": None, "custom_id": cid, "line": None,
                  "code": r["error_code"], "message": r["error_message"]}
                 for cid, r in failed.iterrows()]  # fmt: skip
    cols = ["kind", "part", "batch_id", "custom_id", "line", "code", "message"]
    # Part numbers and line numbers are integers with gaps (None for row errors): nullable Int64,
    # never floats like 1.0.
    out: pd.DataFrame = pd.DataFrame(rows, columns=cols).astype({"part": "Int64", "line": "Int64"})
    return out
