"""The bundled sample data: varied, labelled consistently, the same on every load."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from tfbatch_nb.datasets import load_reviews

COLUMNS = ["review_id", "product", "stars", "text", "label"]
STARS = {"negative": {1, 2}, "neutral": {3}, "positive": {4, 5}}


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return load_reviews()


def test_columns_and_dtypes(reviews: pd.DataFrame) -> None:
    assert list(reviews.columns) == COLUMNS
    assert len(reviews) == 200
    assert reviews["review_id"].tolist() == [f"r{i:03d}" for i in range(1, 201)]
    assert pd.api.types.is_integer_dtype(reviews["stars"])
    for column in ("review_id", "product", "text", "label"):
        assert pd.api.types.is_string_dtype(reviews[column]), column
    assert reviews.notna().all().all()


def test_texts_are_varied(reviews: pd.DataFrame) -> None:
    assert reviews["text"].nunique() >= 150
    words = reviews["text"].str.split().str.len()
    assert words.min() <= 3 and words.max() >= 25  # from a few words to a few sentences
    assert reviews["product"].nunique() >= 5
    assert reviews["product"].value_counts().min() >= 10


def test_labels_match_the_stars_and_mix(reviews: pd.DataFrame) -> None:
    assert set(reviews["label"]) == set(STARS)
    wrong = reviews[
        [s not in STARS[label] for s, label in zip(reviews["stars"], reviews["label"], strict=True)]
    ]
    assert wrong.empty, wrong
    counts = reviews["label"].value_counts()
    assert counts.min() >= 0.2 * len(reviews)  # no label is a rarity
    # The tutorials take the first 20-60 rows: those are mixed too.
    first = reviews.head(20)
    assert first["label"].nunique() == 3 and first["product"].nunique() >= 5


def test_loading_is_deterministic(reviews: pd.DataFrame) -> None:
    again = load_reviews()
    pd.testing.assert_frame_equal(reviews, again)
    pd.testing.assert_frame_equal(load_reviews(25), reviews.head(25))
    raw = resources.files("tfbatch_nb").joinpath("data/reviews.csv").read_bytes()
    assert len(raw) < 64_000  # small enough to ship


def test_more_rows_than_shipped_repeat_with_fresh_ids(reviews: pd.DataFrame) -> None:
    big = load_reviews(450)
    assert len(big) == 450
    assert big["review_id"].is_unique and big["review_id"].iloc[-1] == "r450"
    assert big["text"].iloc[200] == reviews["text"].iloc[0]


@pytest.mark.parametrize("rows", [0, -3])
def test_rows_below_one_are_refused(rows: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        load_reviews(rows)
