"""Results: output + error files -> the results frame, one row per request. Pure: files in, frame out.

Two readers give the same frame: a fast Arrow path for plain chat-completion files and a
per-line path for everything else (error files, embeddings, a bad line).

Examples
--------
>>> from tfbatch_nb.results import RESULT_COLUMNS
>>> RESULT_COLUMNS[:3]
('status', 'status_code', 'content')
"""

from ._read import EMBEDDING_COLUMNS, RESULT_COLUMNS, parse_results, read_results

__all__ = ["EMBEDDING_COLUMNS", "RESULT_COLUMNS", "parse_results", "read_results"]
