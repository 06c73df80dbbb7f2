"""Body shapes, parameters, parts, files, reprs and estimates of build_requests / BatchRequests."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pydantic
import pytest

import tfbatch_nb as tfb
from tfbatch_nb import providers
from tfbatch_nb.build import _estimate as estimate

M = "openai-main/gpt-4o-mini"


def lines(reqs: tfb.BatchRequests) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in reqs.iter_lines()]


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review_id": [10, 11, 12],
            "text": ["Great!", 'He said "no"\n', "Café naïve ✓"],
            "stars": [5, 1, 3.5],
        }
    )


def test_chat_prompt_system_and_params(reviews: pd.DataFrame) -> None:
    reqs = tfb.build_requests(reviews, model=M, prompt="Review ({stars:.1f}*): {text}", system="One word.",
                              id_column="review_id", max_tokens=np.int64(5), temperature=np.float64(0.25),
                              top_p=np.float32(0.5), stop=np.array(["\n"]), seed=7)  # fmt: skip
    got = lines(reqs)
    assert reqs.custom_ids == ["10", "11", "12"] == [g["custom_id"] for g in got]
    assert got[1] == {"custom_id": "11", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": M, "messages": [{"role": "system", "content": "One word."},
                                 {"role": "user", "content": 'Review (1.0*): He said "no"\n'}],
        "max_tokens": 5, "temperature": 0.25, "top_p": 0.5, "stop": ["\n"], "seed": 7}}  # fmt: skip
    assert b'"temperature":0.25,' in next(reqs.iter_lines())
    assert got[2]["body"]["messages"][1]["content"] == "Review (3.5*): Café naïve ✓"
    assert (reqs.endpoint, reqs.model, reqs.provider, reqs.response_schema) == (
        "/v1/chat/completions",
        M,
        None,
        None,
    )


def test_ids_from_index_and_index_name() -> None:
    df = pd.DataFrame({"t": ["a", "b"]}, index=pd.Index([3.0, 4.5], name="key"))
    assert tfb.build_requests(df, model=M, prompt="{t}").custom_ids == ["3.0", "4.5"]
    assert tfb.build_requests(df, model=M, prompt="{t}", id_column="key").custom_ids == ["3.0", "4.5"]


def test_literal_braces_and_no_fields() -> None:
    df = pd.DataFrame({"t": ["x"]})
    assert (
        lines(tfb.build_requests(df, model=M, prompt="{{json}} {t!r}"))[0]["body"]["messages"][0]["content"]
        == "{json} 'x'"
    )
    assert (
        lines(tfb.build_requests(df, model=M, prompt="Say hi"))[0]["body"]["messages"][0]["content"]
        == "Say hi"
    )


def test_messages_column_and_callable_with_content_parts() -> None:
    image = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    df = pd.DataFrame({"msgs": [[{"role": "user", "content": image}]], "q": ["hi"]})
    got = lines(tfb.build_requests(df, model=M, messages="msgs", system="Be brief."))[0]["body"]["messages"]
    assert got == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": image}]
    fn = tfb.build_requests(df, model=M, messages=lambda row: [{"role": "user", "content": row.q + row["q"]}])
    assert lines(fn)[0]["body"]["messages"] == [{"role": "user", "content": "hihi"}]


def test_embeddings_responses_completions() -> None:
    df = pd.DataFrame({"doc": ["alpha", "beta"]}, index=["d1", "d2"])
    emb = tfb.build_requests(df, model="openai-main/text-embedding-3-small", input="doc", dimensions=8)
    assert emb.endpoint == "/v1/embeddings"
    assert lines(emb)[0]["body"] == {
        "model": "openai-main/text-embedding-3-small",
        "input": "alpha",
        "dimensions": 8,
    }
    many = pd.DataFrame({"doc": [["a", "b"], ["c"]]})
    assert lines(tfb.build_requests(many, model="e", input="doc"))[0]["body"]["input"] == ["a", "b"]
    resp = tfb.build_requests(
        df, model=M, prompt="Tell {doc}", system="Short.", endpoint="/v1/responses", max_output_tokens=9
    )
    assert lines(resp)[0]["body"] == {
        "model": M,
        "instructions": "Short.",
        "input": "Tell alpha",
        "max_output_tokens": 9,
    }
    comp = tfb.build_requests(df, model="m", prompt="Q: {doc}\nA:", endpoint="completions", max_tokens=3)
    assert comp.endpoint == "/v1/completions"
    assert lines(comp)[1]["body"] == {"model": "m", "prompt": "Q: beta\nA:", "max_tokens": 3}


class Verdict(pydantic.BaseModel):
    label: str
    score: float = 0.0


def test_response_format_pydantic_dict_json_object() -> None:
    df = pd.DataFrame({"t": ["a"]})
    reqs = tfb.build_requests(df, model=M, prompt="{t}", response_format=Verdict)
    rf = lines(reqs)[0]["body"]["response_format"]
    assert (
        rf["type"] == "json_schema"
        and rf["json_schema"]["strict"] is True
        and rf["json_schema"]["name"] == "Verdict"
    )
    schema = rf["json_schema"]["schema"]
    assert schema["required"] == ["label", "score"] and schema["additionalProperties"] is False
    assert reqs.response_schema == schema
    plain = {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert tfb.build_requests(df, model=M, prompt="{t}", response_format=plain).response_schema == plain
    jo = tfb.build_requests(df, model=M, prompt="{t}", response_format="json_object")
    assert lines(jo)[0]["body"]["response_format"] == {"type": "json_object"} and jo.response_schema is None
    resp = tfb.build_requests(df, model=M, prompt="{t}", endpoint="/v1/responses", response_format=Verdict)
    assert lines(resp)[0]["body"]["text"]["format"]["schema"] == schema


def test_chunked_input_equals_whole_frame() -> None:
    df = pd.DataFrame({"text": [f"review {i}" for i in range(1234)]})
    whole = tfb.build_requests(df, model=M, prompt="{text}")
    chunked = tfb.build_requests(
        (df.iloc[i : i + 100] for i in range(0, len(df), 100)), model=M, prompt="{text}"
    )
    assert list(whole.iter_lines()) == list(chunked.iter_lines()) and whole.sha256 == chunked.sha256


def test_parts_respect_limits_and_write_numbered_files(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"review number {i} " * (i % 7 + 1) for i in range(250)]})
    reqs = tfb.build_requests(df, model=M, prompt="{text}", max_lines=60, max_bytes=9_000)
    assert sum(p.n_lines for p in reqs.parts) == 250 and len(reqs.parts) > 4
    assert all(p.n_lines <= 60 and p.nbytes <= 9_000 for p in reqs.parts)
    assert [c for p in reqs.parts for c in p.custom_ids] == reqs.custom_ids
    with reqs.parts[1].open() as f:
        data = f.read()
        assert data == reqs.parts[1].read_bytes() and f.seek(0, 2) == reqs.parts[1].nbytes
    paths = reqs.to_jsonl(tmp_path / "reviews.jsonl")
    assert [p.name for p in paths][:2] == ["reviews-001.jsonl", "reviews-002.jsonl"]
    assert sorted(tmp_path.iterdir()) == sorted(paths)  # no temp files left behind
    for path, part in zip(paths, reqs.parts, strict=True):
        assert path.read_bytes() == part.read_bytes()
    again = tfb.BatchRequests.from_jsonl(paths)
    assert again.sha256 == reqs.sha256 and again.custom_ids == reqs.custom_ids


def test_embedding_parts_split_by_inputs() -> None:
    df = pd.DataFrame({"doc": [["w"] * 20_000] * 4})
    reqs = tfb.build_requests(df, model="e", input="doc")
    assert [p.n_lines for p in reqs.parts] == [2, 2]


def test_bedrock_last_part_rebalanced() -> None:
    df = pd.DataFrame({"t": ["x"] * 230})
    reqs = tfb.build_requests(df, model=M, prompt="{t}", max_lines=200,
                              provider=providers.Bedrock("bedrock-main", s3_bucket="s", model="m"))  # fmt: skip
    assert [p.n_lines for p in reqs.parts] == [130, 100]


def test_warnings_long_ids_and_long_prompts() -> None:
    df = pd.DataFrame({"id": ["x" * 70], "t": ["word " * 2000]})
    with pytest.warns(UserWarning) as rec:
        reqs = tfb.build_requests(df, model=M, prompt="{t}", id_column="id", max_tokens=5)
    text = " ".join(str(w.message) for w in rec)
    assert "longer than 64" in text and "max_tokens=5" in text
    assert len(reqs.warnings) == 2 and "warning:" in repr(reqs)


def test_reprs_deterministic_and_clean(reviews: pd.DataFrame) -> None:
    kwargs: dict[str, Any] = {"model": M, "prompt": "{text} " * 30, "id_column": "review_id",
                              "provider": providers.OpenAI("openai-main")}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = tfb.build_requests(reviews, **kwargs), tfb.build_requests(reviews, **kwargs)
    assert repr(a) == repr(b) and a._repr_html_() == b._repr_html_()
    for text in (repr(a), a._repr_html_()):
        assert "0x" not in text and "/tmp" not in text and "lines.jsonl" not in text
        assert "3 rows" in text or ">3<" in text
    assert (
        repr(a).startswith("<BatchRequests 3 rows, 1 part, ")
        and "…" in repr(a)
        and "openai-main (openai)" in repr(a)
    )
    assert len(repr(a).splitlines()) < 15


def test_preview_subset_validate(reviews: pd.DataFrame) -> None:
    reqs = tfb.build_requests(reviews, model=M, prompt="Rate: {text}", id_column="review_id")
    pv = reqs.preview(2)
    assert list(pv.columns) == ["custom_id", "prompt", "bytes"] and pv["custom_id"].tolist() == ["10", "11"]
    assert pv["prompt"][0] == "Rate: Great!"
    sub = reqs.subset(["12", "10"])
    assert sub.custom_ids == ["10", "12"] and sub.endpoint == reqs.endpoint and len(sub.parts) == 1
    assert sub.validate() is sub
    with pytest.raises(tfb.BatchInputError, match="unknown custom_ids"):
        reqs.subset(["99"])


def test_estimate_known_and_unknown_models() -> None:
    df = pd.DataFrame({"t": ["a" * 400] * 10})
    est = tfb.build_requests(
        df, model="openai-main/gpt-4o-mini-2024-07-18", prompt="{t}", max_tokens=10
    ).estimate()
    assert est.prompt_tokens == 10 * (100 + 4) and est.output_tokens == 100 and est.price_key == "gpt-4o-mini"
    assert est.batch_cost_usd == pytest.approx(est.cost_usd / 2)  # type: ignore[operator]
    assert "chars/4" in repr(est) and "±25%" in repr(est) and "<table>" in est._repr_html_()
    unknown = tfb.build_requests(df, model="acme/llama", prompt="{t}").estimate()
    assert unknown.cost_usd is None and "no price for model 'acme/llama'" in repr(unknown)
    assert unknown.output_tokens is None
    estimate.PRICES["llama"] = (1.0, 1.0)
    try:
        assert tfb.build_requests(df, model="acme/llama", prompt="{t}").estimate().cost_usd is not None
    finally:
        del estimate.PRICES["llama"]


def test_from_jsonl_infers_settings_and_accepts_vertex_short_lines(tmp_path: Path) -> None:
    p = tmp_path / "v.jsonl"
    p.write_text(
        json.dumps({"custom_id": "a", "body": {"messages": [{"role": "user", "content": "hi"}]}})
    )  # no final newline
    vertex = providers.VertexAI("google-main", bucket="b", region="r", model="gemini-2-0-flash")
    reqs = tfb.BatchRequests.from_jsonl(p, provider=vertex)
    assert reqs.endpoint == "/v1/chat/completions" and reqs.model is None
    assert next(reqs.iter_lines()).endswith(b"}\n") and reqs.provider is vertex
    with pytest.raises(tfb.BatchInputError, match="line 1"):
        tfb.BatchRequests.from_jsonl(p)


def test_spool_removed_when_collected(reviews: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from tfbatch_nb.build import _spool

    monkeypatch.setattr(_spool, "SPILL_BYTES", 1)  # force the on-disk spool
    reqs = tfb.build_requests(reviews, model=M, prompt="{text}")
    assert reqs._spool.spilled
    folder = Path(reqs._spool.path).parent
    assert folder.is_dir()
    del reqs  # no reference cycle: the temp dir goes at once, without waiting for the collector
    assert not folder.exists()
    gc.collect()


def test_column_escaping_survives_separator_like_text() -> None:
    # The column escape splits one orjson array on '","'; text made of quotes, commas and
    # backslashes must still come back exactly.
    tricky = ['","', '\\","\\', '"', "\\", ",", '","","', "\x00\x1f", "a\u2028b"]
    reqs = tfb.build_requests(pd.DataFrame({"t": tricky}), model=M, prompt="<{t}>")
    assert [x["body"]["messages"][0]["content"] for x in lines(reqs)] == [f"<{t}>" for t in tricky]
