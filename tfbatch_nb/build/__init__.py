"""Build: a DataFrame (or chunks of one) -> request lines -> JSONL parts within the limits.

Pure: no network, no journal. :func:`build_requests` checks every row and says which one is
wrong; the :class:`BatchRequests` it returns previews itself, estimates its cost and writes its
parts atomically.

Examples
--------
>>> import pandas as pd
>>> from tfbatch_nb.build import build_requests
>>> reqs = build_requests(pd.DataFrame({"text": ["good", "bad"]}), model="openai-main/gpt-4o-mini",
...                       prompt="Sentiment of: {text}")
>>> len(reqs), reqs.custom_ids
(2, ['0', '1'])
"""

from ._estimate import BATCH_DISCOUNT, PRICES, Estimate
from ._requests import BatchRequests, RequestPart, build_requests

# Plain sorted() order, which tests/test_house.py checks (ruff's isort-style order differs).
__all__ = [  # noqa: RUF022
    "BATCH_DISCOUNT",
    "BatchRequests",
    "Estimate",
    "PRICES",
    "RequestPart",
    "build_requests",
]
