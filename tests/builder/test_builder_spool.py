"""In-memory and spilled spools give the same bytes; the integer-id fast path keeps id semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

import tfbatch_nb as tfb
from tfbatch_nb.build import _spool

M = "openai-main/gpt-4o-mini"


def frame(n: int) -> pd.DataFrame:
    texts = [f'review {i}: "ok"\n café ✓ \\ {"x" * (i % 7)}' for i in range(n)]
    return pd.DataFrame({"review_id": range(n), "text": texts})


def build(data: object, **kw: object) -> tfb.BatchRequests:
    return tfb.build_requests(data, model=M, prompt="Classify: {text}", system="One word.",
                              id_column="review_id", max_tokens=5, **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("spill_at", [1, 3_000, 10**9])  # at once, part-way through, never
def test_memory_and_spilled_spools_are_identical(
    spill_at: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chunks = [frame(120).iloc[i : i + 25] for i in range(0, 120, 25)]
    mem = build(chunks, max_lines=50)
    monkeypatch.setattr(_spool, "SPILL_BYTES", spill_at)
    other = build(chunks, max_lines=50)
    assert not mem._spool.spilled and other._spool.spilled == (spill_at < mem.nbytes)
    assert other.sha256 == mem.sha256 and other.nbytes == mem.nbytes
    assert other.custom_ids == mem.custom_ids == [str(i) for i in range(120)]
    assert list(other.iter_lines()) == list(mem.iter_lines())
    for a, b in zip(mem.parts, other.parts, strict=True):
        assert a.sha256 == b.sha256 and a.custom_ids == b.custom_ids
        with a.open() as fa, b.open() as fb:
            data = fa.read()
            assert data == fb.read() == a.read_bytes() == b.read_bytes()
            fa.seek(7)
            fb.seek(7)
            assert fa.read(100) == fb.read(100) == data[7:107]
    paths_a = mem.to_jsonl(tmp_path / "a.jsonl")
    paths_b = other.to_jsonl(tmp_path / "b.jsonl")
    assert [p.read_bytes() for p in paths_a] == [p.read_bytes() for p in paths_b]
    assert b"".join(p.read_bytes() for p in paths_a) == b"".join(mem.iter_lines())


def test_small_job_stays_in_memory() -> None:
    reqs = build(frame(10))
    assert not reqs._spool.spilled and reqs._spool.path == ""
    assert all(x.endswith(b"\n") and orjson.loads(x) for x in reqs.iter_lines())


@pytest.mark.parametrize(
    "ids",
    [
        np.array([-3, 0, 7, 2**62], dtype=np.int64),
        np.array([1, 2, 255, 0], dtype=np.uint8),
        np.array([5, 4, 3, 2], dtype=np.int32),
    ],
)
def test_integer_ids_fast_path(ids: np.ndarray) -> None:
    df = pd.DataFrame({"review_id": ids, "text": list("abcd")})
    reqs = build(df)
    assert reqs.custom_ids == [str(int(i)) for i in ids]
    assert [orjson.loads(x)["custom_id"] for x in reqs.iter_lines()] == reqs.custom_ids


def test_integer_index_ids_and_duplicates() -> None:
    df = pd.DataFrame({"text": ["a", "b", "c"]}, index=[3, 9, 3])
    with pytest.raises(tfb.BatchInputError, match=r"duplicate.*'3'"):
        tfb.build_requests(df, model=M, prompt="{text}")
    assert tfb.build_requests(df.iloc[:2], model=M, prompt="{text}").custom_ids == ["3", "9"]


def test_int_and_str_chunks_collide_as_strings() -> None:
    # One chunk keyed by exact ints, the other by str hashes: 1 and "1" must still collide.
    ints = pd.DataFrame({"review_id": [0, 1], "text": ["a", "b"]})
    strs = pd.DataFrame({"review_id": ["x", "1"], "text": ["c", "d"]})
    with pytest.raises(tfb.BatchInputError, match=r"duplicate.*'1'.*positions 1 and 3"):
        build([ints, strs])
    assert build([ints, strs.iloc[:1]]).custom_ids == ["0", "1", "x"]
    with pytest.raises(tfb.BatchInputError, match="duplicate"):
        build([ints, ints])  # exact int keys across chunks
