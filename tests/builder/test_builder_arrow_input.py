"""polars and Arrow input: the same bytes and the same errors as the equal pandas frame, read batch by batch."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfbatch_nb as tfb
from tfbatch_nb.build import _input
from tfbatch_nb.errors import BatchInputError

M = "openai-main/gpt-4o-mini"


class CStreamOnly:
    """Arrow data reachable only through the Arrow C stream interface (as DuckDB or Ibis offer it)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.table.__arrow_c_stream__(requested_schema)


def table_of(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def small_batches(df: pd.DataFrame, size: int = 3) -> pa.Table:
    """The table in several record batches, so blocks and positions cross batch boundaries."""
    table = table_of(df)
    return pa.Table.from_batches(table.to_batches(max_chunksize=size), table.schema)


# Every Arrow-like form of a frame; polars forms are added when polars is installed.
FORMS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "pyarrow Table": table_of,
    "Table in batches of 3": small_batches,
    "RecordBatch": lambda df: table_of(df).combine_chunks().to_batches()[0],
    "RecordBatchReader": lambda df: small_batches(df).to_reader(),
    "list of RecordBatches": lambda df: small_batches(df).to_batches(),
    "__arrow_c_stream__ only": lambda df: CStreamOnly(small_batches(df)),
}


def polars_forms() -> dict[str, Callable[[pd.DataFrame], Any]]:
    pl = pytest.importorskip("polars")
    return {
        "polars DataFrame": pl.from_pandas,
        "polars DataFrame, 2 chunks": lambda df: pl.concat(
            [pl.from_pandas(df.iloc[: len(df) // 2]), pl.from_pandas(df.iloc[len(df) // 2 :])], rechunk=False
        ),
    }


def fingerprint(reqs: tfb.BatchRequests) -> tuple[str, list[str], list[str]]:
    return reqs.sha256, [p.sha256 for p in reqs.parts], reqs.custom_ids


def reviews(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    words = ["good", 'say "hi"', "back\\slash", "tab\there", "café", "naïve 😀", "new\nline", "\x01ctl"]
    return pd.DataFrame({
        "rid": np.arange(100, 100 + n),
        "sid": [f"r-{i}" for i in range(n)],
        "text": [" ".join(rng.choice(words, size=1 + i % 5)) for i in range(n)],
        "score": rng.random(n).round(3),
        "stars": rng.integers(1, 6, n),
        "msgs": [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}] for i in range(n)],
        "many": [[f"t{i}", "u"] for i in range(n)],
        "tokens": [[i, i + 1, 7] for i in range(n)],
    })  # fmt: skip


SHAPES: dict[str, dict[str, Any]] = {
    "template, system, int ids": {"prompt": "Rate: {text} ({stars} stars)", "system": "One word.", "id_column": "rid"},
    "template, str ids, format specs": {"prompt": "{text!r} {score:.1f}", "id_column": "sid", "max_tokens": 3},
    "template, positions as ids, parts": {"prompt": "{text}", "max_lines": 7},
    "messages column and system": {"messages": "msgs", "system": "Be brief.", "id_column": "sid"},
    "messages callable": {"messages": lambda row: [{"role": "user", "content": f"{row.text}/{row['stars']}"}]},
    "embeddings of text": {"input": "text", "model": "openai-main/text-embedding-3-small", "id_column": "rid"},
    "embeddings of lists": {"input": "many", "model": "openai-main/text-embedding-3-small", "max_lines": 5},
    "embeddings of token ids": {"input": "tokens", "model": "openai-main/text-embedding-3-small"},
    "response_format schema": {
        "prompt": "{text}",
        "response_format": {"type": "object", "properties": {"label": {"type": "string"}}},
        "id_column": "rid",
    },
    "responses endpoint": {"input": "text", "endpoint": "/v1/responses", "system": "Short.", "max_lines": 4},
}  # fmt: skip


def build(data: Any, **kw: Any) -> tfb.BatchRequests:
    return tfb.build_requests(data, **{"model": M, **kw})


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("form", FORMS)
def test_arrow_forms_write_the_bytes_of_the_equal_pandas_frame(shape: str, form: str) -> None:
    df = reviews(23)
    expected = fingerprint(build(df, **SHAPES[shape]))
    assert fingerprint(build(FORMS[form](df), **SHAPES[shape])) == expected


@pytest.mark.parametrize("shape", SHAPES)
def test_polars_writes_the_bytes_of_the_equal_pandas_frame(shape: str) -> None:
    df = reviews(23)
    expected = fingerprint(build(df, **SHAPES[shape]))
    for make in polars_forms().values():
        assert fingerprint(build(make(df), **SHAPES[shape])) == expected


def test_polars_categorical_and_strings_from_polars_itself() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"k": ["a", "b", "c"], "c": pl.Series(["x", "y", "x"], dtype=pl.Categorical)})
    df = pd.DataFrame({"k": ["a", "b", "c"], "c": ["x", "y", "x"]})
    kw = {"prompt": "class {c}", "id_column": "k"}
    assert fingerprint(build(frame, **kw)) == fingerprint(build(df, **kw))


TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: not s.isspace()
)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(TEXT, min_size=1, max_size=40),
    batch=st.integers(1, 9),
    str_ids=st.booleans(),
    max_lines=st.integers(1, 50),
)
def test_any_text_and_batching_gives_pandas_bytes(
    texts: list[str], batch: int, str_ids: bool, max_lines: int
) -> None:
    df = pd.DataFrame({"id": [f"i{i}" if str_ids else -i for i in range(len(texts))], "t": texts})
    kw = {"prompt": "<{t}>", "system": "s", "id_column": "id", "max_lines": max_lines}
    table = small_batches(df, batch)
    assert fingerprint(build(table.to_reader(), **kw)) == fingerprint(build(df, **kw))


# ---- errors: the pandas wording, rows named by position (and id) ------------------------------------


def bad(column: str, value: Any, n: int = 12) -> pd.DataFrame:
    df = reviews(n)[["rid", "sid", "text", "msgs", "many"]]
    df[column] = df[column].astype(object)
    df.at[9, column] = value
    return df


def error_of(data: Any, **kw: Any) -> str:
    with pytest.raises(BatchInputError) as info:
        build(data, **kw)
    assert type(info.value) is BatchInputError  # the public type, whatever raised it inside
    return str(info.value)


BAD_ROWS: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {
    "null text": (bad("text", None), {"prompt": "{text}"}),
    "blank text": (bad("text", "  "), {"prompt": "{text}"}),
    "null messages": (bad("msgs", None), {"messages": "msgs"}),
    "messages without role": (bad("msgs", [{"content": "x"}]), {"messages": "msgs"}),
    "empty embedding list": (bad("many", []), {"input": "many", "model": "openai-main/text-embedding-3-small"}),
    "line over max_bytes": (bad("text", "x" * 500), {"prompt": "{text}", "max_bytes": 400}),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_rows_give_the_pandas_error_at_their_positions(case: str) -> None:
    df, kw = BAD_ROWS[case]
    expected = error_of(df.reset_index(drop=True), **kw)
    assert "at rows [9]" in expected
    for form in ("Table in batches of 3", "RecordBatchReader", "__arrow_c_stream__ only"):
        assert error_of(FORMS[form](df), **kw) == expected, form


@pytest.mark.parametrize("case", BAD_ROWS)
def test_with_an_id_column_arrow_errors_also_name_the_ids(case: str) -> None:
    df, kw = BAD_ROWS[case]
    expected = error_of(df, **kw, id_column="sid")
    got = error_of(small_batches(df), **kw, id_column="sid")
    assert got == expected.replace("at rows [9]", "at rows [9] (ids ['r-9'])")


def test_id_errors_and_duplicates_name_positions_like_pandas() -> None:
    nulls = bad("sid", None)
    assert error_of(small_batches(nulls), prompt="{text}", id_column="sid") == error_of(
        nulls, prompt="{text}", id_column="sid"
    )
    dup = bad("sid", "r-2")
    got = error_of(small_batches(dup), prompt="{text}", id_column="sid")
    assert got == error_of(dup, prompt="{text}", id_column="sid")
    assert "first 'r-2' at row positions 2 and 9" in got


def test_a_polars_frame_errors_like_pandas() -> None:
    pl = pytest.importorskip("polars")
    df = bad("text", None)
    assert error_of(pl.from_pandas(df), prompt="{text}") == error_of(df, prompt="{text}")


def test_a_missing_column_lists_every_column_of_the_arrow_data() -> None:
    msg = error_of(table_of(reviews(3)), prompt="{txt}")
    assert "prompt field 'txt' is not a column of the data" in msg
    assert "'rid', 'sid', 'text', 'score'" in msg


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (42, "got int"),
        ("a,b\n1,2", "got str"),
        (pa.chunked_array([[1, 2]]), "ChunkedArray has __arrow_c_stream__ but is not a table of columns"),
        (pd.Series(["a"]), "got Series"),
        ([pa.table({"t": ["a"]}), 3], "every chunk of data must be"),
    ],
)
def test_unsupported_input_says_what_is_accepted(data: Any, says: str) -> None:
    msg = error_of(data, prompt="{t}")
    assert says in msg
    if "every chunk" not in msg:
        assert "polars DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader" in msg
        assert "__arrow_c_stream__" in msg


def test_polars_lazy_frames_and_series_are_refused_with_the_fix() -> None:
    pl = pytest.importorskip("polars")
    assert "collect it first" in error_of(pl.DataFrame({"t": ["a"]}).lazy(), prompt="{t}")
    assert "got a polars Series" in error_of(pl.Series(["a"]), prompt="{t}")


# ---- no detour: text stays in Arrow, batches stream, polars stays out --------------------------


def test_text_columns_reach_the_encoder_as_the_same_arrow_buffers() -> None:
    table = pa.table({"t": pa.array(["alpha", "beta"], type=pa.large_string()), "n": [1, 2]})
    ((block, positional),) = list(_input.blocks(table, {"t"}))
    assert positional and list(block.columns) == ["t"]  # only the columns the request reads
    back = pa.array(block["t"].array)
    back = back.chunk(0) if isinstance(back, pa.ChunkedArray) else back
    assert back.buffers()[2].address == table.column("t").chunk(0).buffers()[2].address  # no copy


def test_a_reader_is_read_one_batch_at_a_time() -> None:
    rows, size = 60_000, 4_000
    alive: list[weakref.ref[pa.RecordBatch]] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for k, start in enumerate(range(0, rows, size)):
            gc.collect()
            # When batch k is asked for, batches before k-1 are gone: memory is bounded by a batch.
            assert all(ref() is None for ref in alive[: max(0, k - 1)]), k
            batch = pa.record_batch(
                {"id": np.arange(start, start + size), "t": [f"text {i}" for i in range(size)]}
            )
            alive.append(weakref.ref(batch))
            yield batch

    schema = pa.schema({"id": pa.int64(), "t": pa.string()})
    reqs = build(pa.RecordBatchReader.from_batches(schema, batches()), prompt="{t}", id_column="id")
    assert len(reqs) == rows and len(alive) == rows // size
    whole = pd.DataFrame({"id": np.arange(rows), "t": [f"text {i % size}" for i in range(rows)]})
    assert fingerprint(reqs) == fingerprint(build(whole, prompt="{t}", id_column="id"))


def test_polars_is_not_imported_unless_given() -> None:
    code = (
        "import sys, pandas as pd, pyarrow as pa, tfbatch_nb as tfb\n"
        "df = pd.DataFrame({'t': ['a', 'b']})\n"
        "tfb.build_requests(df, model='m', prompt='{t}')\n"
        "tfb.build_requests(pa.Table.from_pandas(df), model='m', prompt='{t}')\n"
        "tfb.build_requests(pa.Table.from_pandas(df).to_reader(), model='m', prompt='{t}')\n"
        "assert 'polars' not in sys.modules, sorted(m for m in sys.modules if 'polars' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_messages_with_different_keys_keep_only_their_own() -> None:
    msgs = [[{"role": "user", "content": "hi", "name": "ann"}], [{"role": "user", "content": "yo"}]]
    df = pd.DataFrame({"m": msgs})
    assert table_of(df).schema.field("m").type.value_type.num_fields == 3  # Arrow: every key in every row
    assert fingerprint(build(table_of(df), messages="m")) == fingerprint(build(df, messages="m"))
