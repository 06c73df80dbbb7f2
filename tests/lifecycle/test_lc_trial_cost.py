"""Try first, know the cost before and after, and keep the lineage with the results (issue 16)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import BaseModel

import tfbatch_nb as tfb
from tfbatch_nb.datasets import load_reviews

MODEL = "openai-main/gpt-4o-mini"


def _within(projected: float, actual: float, tolerance: float = 0.15) -> bool:
    return abs(projected - actual) <= tolerance * actual


@pytest.mark.filterwarnings("ignore:the longest prompt")  # the long texts are the point here
@pytest.mark.parametrize("varied", [False, True], ids=["sample-data", "varying-lengths"])
def test_trial_projection_is_close_to_the_batch_that_follows(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], varied: bool
) -> None:
    df = load_reviews()
    if varied:  # texts from a few words to a few paragraphs: a flat average per row would be far off
        df = df.assign(text=[t * (1 + (i % 7) ** 2) for i, t in enumerate(df["text"])])
    gw = connect_to(start_gateway())
    reqs = tfb.build_requests(df, model=MODEL, prompt="Classify the sentiment of this review: {text}",
                              system="Answer with one word.", id_column="review_id", max_tokens=5)  # fmt: skip
    trial = gw.trial(reqs, n=10)
    assert list(trial.results.columns) == list(
        gw.submit(reqs, name="whole").wait(progress=False).results().columns
    )
    assert len(trial.results) == 10 and trial.results["status"].eq("completed").all()
    batch = gw.submit(reqs, name="whole")
    cost = batch.cost()
    projection = trial.projection
    assert projection.rows == len(df) == cost.rows
    assert _within(projection.input_tokens, cost.input_tokens), (projection, cost)
    assert _within(projection.output_tokens, cost.output_tokens), (projection, cost)
    assert cost.projected_usd == projection.cost_usd and cost.cost_usd is not None
    assert "input tokens per character" in projection.method
    res = batch.results()
    assert cost.input_tokens == int(res["prompt_tokens"].sum())
    assert cost.output_tokens == int(res["completion_tokens"].sum())
    assert cost.realtime_usd == pytest.approx(2 * cost.cost_usd)  # the batch discount


def test_trial_of_embeddings_and_structured_outputs(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any]
) -> None:
    class Verdict(BaseModel):
        sentiment: str
        confidence: float

    df = load_reviews().head(12)
    gw = connect_to(start_gateway())
    structured = tfb.build_requests(df, model=MODEL, prompt="Judge: {text}", id_column="review_id",
                                    response_format=Verdict)  # fmt: skip
    trial = gw.trial(structured, n=3)
    assert trial.results["parsed"].map(lambda p: set(p) == {"sentiment", "confidence"}).all()
    embeddings = tfb.build_requests(df, model="openai-main/text-embedding-3-small", input="text",
                                    id_column="review_id")  # fmt: skip
    tried = gw.trial(embeddings, rows=["r003", "r007"])
    assert sorted(tried.results.index) == ["r003", "r007"]
    assert tried.results["embedding"].map(len).gt(0).all()
    assert "Trial of 2 request(s)" in repr(tried) and "Projection" in tried._repr_html_()


def test_a_failing_trial_row_shows_its_error(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    # One request the gateway refuses (an integration it does not have): its row says why.
    df = pd.DataFrame({"review_id": ["a", "b"], "text": ["fine", "bad"]})
    reqs = tfb.build_requests(
        df, model="no-such-integration/gpt-4o-mini", prompt="{text}", id_column="review_id"
    )
    gw = connect_to(start_gateway())
    trial = gw.trial(reqs, n=2)
    assert trial.results["status"].eq("failed").all()
    assert trial.results["error_message"].str.len().gt(0).all()
    with pytest.raises(tfb.BatchInputError, match="not in the requests"):
        gw.trial(reqs, rows=["zzz"])


def test_cost_says_plainly_when_a_model_has_no_price(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], journal_dir: Path
) -> None:
    df = pd.DataFrame({"review_id": ["a", "b"], "text": ["fine", "bad"]})
    reqs = tfb.build_requests(df, model="openai-main/house-model", prompt="{text}", id_column="review_id")
    server = start_gateway()
    unpriced = connect_to(server).submit(reqs, name="house").wait(progress=False).cost()
    assert unpriced.cost_usd is None and "no price for model 'openai-main/house-model'" in unpriced.note
    priced = tfb.connect(server.url, server.api_key, journal=journal_dir, prices={"house-model": (1.0, 2.0)})
    try:
        cost = priced.attach("house").cost()
        assert cost.cost_usd == pytest.approx((cost.input_tokens * 1.0 + cost.output_tokens * 2.0) / 1e6 / 2)
    finally:
        priced.close()


def test_lineage_travels_with_the_frame_through_parquet(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any, tmp_path: Path
) -> None:
    gw = connect_to(start_gateway())
    batch = gw.submit(make_requests(), name="traced").wait(progress=False)
    res = batch.results()
    info = tfb.lineage(res)
    assert set(info) >= {"name", "batch_ids", "endpoint", "model", "provider", "base_url", "template",
                         "request_hash", "submitted_at", "completed_at", "library_version"}  # fmt: skip
    assert info["template"]["prompt"] == "Sentiment: {text}" and info["template"]["system"] == "One word."
    assert info["batch_ids"] == batch.ids and info["completed_at"].endswith("+00:00")
    res.to_parquet(tmp_path / "res.parquet")
    assert tfb.lineage(pd.read_parquet(tmp_path / "res.parquet")) == info
    with pytest.raises(tfb.TfBatchError, match="no tfbatch lineage"):
        tfb.lineage(pd.DataFrame())


def test_the_panel_shows_the_money_once_the_results_are_read(
    start_gateway: Callable[..., Any], connect_to: Callable[..., Any], make_requests: Any
) -> None:
    gw = connect_to(start_gateway())
    reqs = make_requests()
    gw.trial(reqs, n=3)
    batch = gw.submit(reqs, name="paid").wait(progress=False)
    seen: list[Any] = []
    batch.add_listener(seen.append)
    assert batch.snapshot().spent is None  # nothing downloaded yet: nothing claimed
    batch.results()
    spent = batch.snapshot().spent or ""
    assert spent.startswith("spent $") and "the trial projected" in spent
    assert seen and seen[-1].spent == spent  # the panel was told
    assert "tfbatch-spent" in batch._repr_html_()
