"""Small bundled data sets for tutorials, the ``tfbatch demo`` command and tests.

They ship inside the package (no download), so a class on Binder runs with no network.

``data/reviews.csv`` (about 17 KB): 200 short product reviews written by hand for this package
and released under CC0 (no scraped or real customer text). Ten products, twenty reviews each,
every text different, from one word to a few sentences. The label follows the stars (4-5
``positive``, 3 ``neutral``, 1-2 ``negative``) and was checked against the text; the rows are
shuffled once (seed 18) and stored in that order, so loading is deterministic.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_reviews"]


def load_reviews(rows: int | None = None) -> pd.DataFrame:
    """Product reviews with an id column, for sentiment-style batch examples.

    Parameters
    ----------
    rows
        How many rows to return (the first ``rows``); ``None`` returns all 200.

    Returns
    -------
    pandas.DataFrame
        Columns ``review_id`` (``"r001"``, ...), ``product``, ``stars``, ``text`` and ``label``
        (the human label: ``positive``, ``negative`` or ``neutral``).

    Examples
    --------
    >>> from tfbatch_nb.datasets import load_reviews
    >>> load_reviews(3)["review_id"].tolist()
    ['r001', 'r002', 'r003']
    >>> load_reviews()["text"].nunique()
    200
    """
    if rows is not None and rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    path = resources.files("tfbatch_nb").joinpath("data/reviews.csv")
    with path.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype={"review_id": str, "product": str, "text": str, "label": str})
    if rows is not None:
        if rows > len(frame):
            # Repeat the sample with fresh ids so a demo can ask for more rows than we ship.
            reps = -(-rows // len(frame))
            frame = pd.concat([frame] * reps, ignore_index=True)
            frame["review_id"] = [f"r{i + 1:03d}" for i in range(len(frame))]
        frame = frame.head(rows).reset_index(drop=True)
    return frame
