"""Build: a DataFrame (pandas, polars, Arrow; or chunks of one) -> request lines -> JSONL parts.

Pure: no network, no journal. :func:`build_requests` checks every row and says which one is
wrong; the :class:`BatchRequests` it returns previews itself, estimates its cost and writes its
parts atomically.

Inside, data flows one way: ``_input`` cuts the data (pandas, polars or Arrow, whole or in chunks)
into pandas blocks, reading Arrow batch by batch; ``_encode`` (the frame encoder) takes them, has
``_cells`` check and escape each column (``_arrow`` does plain text columns in Arrow) and
``_template`` join them into lines, and appends them to a ``_spool``; ``_load`` checks an
existing JSONL file into a spool instead. ``_requests`` wraps a spool as the job and its parts;
``_body`` knows endpoints, limits and body parameters, ``_codec`` the JSON encoding, and
``_estimate`` tokens and prices.

Examples
--------
>>> import pandas as pd
>>> from tfbatch_nb.build import build_requests
>>> reqs = build_requests(pd.DataFrame({"text": ["good", "bad"]}), model="openai-main/gpt-4o-mini",
...                       prompt="Sentiment of: {text}")
>>> len(reqs), reqs.custom_ids
(2, ['0', '1'])
"""

from ._estimate import BATCH_DISCOUNT, PRICES, Estimate, estimate_lines, match_price
from ._requests import BatchRequests, RequestPart, build_requests

# Plain sorted() order, which tests/test_house.py checks (ruff's isort-style order differs).
__all__ = [
    "BATCH_DISCOUNT",
    "PRICES",
    "BatchRequests",
    "Estimate",
    "RequestPart",
    "build_requests",
    "estimate_lines",
    "match_price",
]
