"""Property tests: every produced file parses line by line, and from_jsonl(to_jsonl(x)) round-trips."""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfbatch_nb as tfb

# Any text orjson can encode (no lone surrogates), with at least one non-space character.
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: not s.isspace()
)
# custom_ids exclude control characters and line separators, which the builder refuses
# (tests/builder/test_builder_hostile.py covers those).
id_texts = texts.filter(lambda s: not any(c < " " or "\x7f" <= c <= "\x9f" or c in "\u2028\u2029" for c in s))
ids = st.one_of(st.integers(-(10**6), 10**6), id_texts)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    keys = draw(st.lists(ids, min_size=1, max_size=30, unique_by=str))
    values = draw(st.lists(texts, min_size=len(keys), max_size=len(keys)))
    return pd.DataFrame({"key": pd.Series(keys, dtype=object), "text": values})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    df=frames(), max_lines=st.integers(1, 12), system=st.one_of(st.none(), texts), chunk=st.integers(1, 40)
)
def test_files_parse_and_round_trip(df: pd.DataFrame, max_lines: int, system: str | None, chunk: int) -> None:
    data = [df.iloc[i : i + chunk] for i in range(0, len(df), chunk)]
    reqs = tfb.build_requests(data, model="openai-main/gpt-4o-mini", prompt="Q {text} ✓", system=system,
                              id_column="key", max_lines=max_lines, temperature=0.25)  # fmt: skip
    assert reqs.custom_ids == [str(k) for k in df["key"]]
    assert all(p.n_lines <= max_lines for p in reqs.parts) and sum(p.n_lines for p in reqs.parts) == len(df)
    with tempfile.TemporaryDirectory() as tmp:
        paths = reqs.to_jsonl(Path(tmp) / "out.jsonl")
        raw = b"".join(p.read_bytes() for p in paths)
        assert raw.endswith(b"\n") and b"\n\n" not in raw and not raw.startswith(b"\n")
        for line, text, key in zip(raw.split(b"\n")[:-1], df["text"], df["key"], strict=True):
            obj = orjson.loads(line)
            assert obj["custom_id"] == str(key)
            assert obj["body"]["messages"][-1]["content"] == f"Q {text} ✓"
            assert obj["body"]["temperature"] == 0.25
        again = tfb.BatchRequests.from_jsonl(paths, max_lines=max_lines)
        assert list(again.iter_lines()) == list(reqs.iter_lines())
        assert again.sha256 == reqs.sha256 and [p.sha256 for p in again.parts] == [
            p.sha256 for p in reqs.parts
        ]
        assert again.endpoint == reqs.endpoint and again.model == reqs.model


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=40),
    max_bytes=st.integers(400, 3000),
    max_lines=st.integers(1, 20),
)
def test_parts_respect_both_limits(sizes: list[int], max_bytes: int, max_lines: int) -> None:
    df = pd.DataFrame({"text": ["x" * n for n in sizes]})
    try:
        reqs = tfb.build_requests(df, model="m", prompt="{text}", max_lines=max_lines, max_bytes=max_bytes)
    except tfb.BatchInputError as exc:
        assert "max_bytes" in str(exc)  # a single line bigger than a part may be
        return
    assert all(p.n_lines <= max_lines and p.nbytes <= max_bytes for p in reqs.parts)
    assert b"".join(p.read_bytes() for p in reqs.parts) == b"".join(reqs.iter_lines())
    for p in reqs.parts:
        assert p.read_bytes().endswith(b"\n")
