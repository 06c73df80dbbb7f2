"""Results: output + error files -> the results frame, one row per request. Pure: files in, frame out.

Where things live:

- ``_read``: :func:`parse_results` and :func:`read_results`, which read each file by one of two
  paths and hand the columns to the frame; ``_read.FAST_PATH = False`` reads every file line by line.
- ``_arrow``: the fast path, pyarrow's JSON reader for files of plain successful chat completions.
- ``_lines``: the per-line path, orjson for every line shape (endpoints, errors, bad lines).
- ``_frame``: the frame's columns, the row one line becomes, and the frame built from both paths'
  columns (duplicated ids, input order, dtypes).
- ``_schema``: structured outputs parsed and validated against the request's JSON schema.

Examples
--------
>>> from tfbatch_nb.results import RESULT_COLUMNS
>>> RESULT_COLUMNS[:3]
('status', 'status_code', 'content')
"""

from ._frame import EMBEDDING_COLUMNS, RESULT_COLUMNS
from ._read import lineage, parse_results, read_results

__all__ = ["EMBEDDING_COLUMNS", "RESULT_COLUMNS", "lineage", "parse_results", "read_results"]
