"""The pyarrow fast path takes exactly the plain files, and gives the frame the per-line path gives."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from test_results_lines import chat, line, write

from tfbatch_nb.results import _arrow, _read, parse_results


def both_paths(monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """parse_results through each path; asserts the frames are identical, returns one."""
    frames = []
    for fast in (True, False):
        monkeypatch.setattr(_read, "FAST_PATH", fast)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frames.append((parse_results(*args, **kwargs), [str(w.message) for w in caught]))
    (df_fast, warned_fast), (df_slow, warned_slow) = frames
    pd.testing.assert_frame_equal(df_fast, df_slow)
    assert warned_fast == warned_slow
    return df_fast


def plain(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [line(f"{prefix}{i}", chat(f"text {i}", finish="stop" if i % 3 else "length")) for i in range(n)]


def test_plain_file_takes_the_fast_path(tmp_path: Path) -> None:
    path = write(tmp_path / "o.jsonl", [*plain(5), line("x", chat("first of two", n=2))])
    columns = _arrow.read_plain(path)
    assert columns is not None
    assert columns["content"].to_pylist()[-2:] == ["text 4", "first of two"]
    assert columns["status"].to_pylist() == ["completed"] * 6


DECLINED = {
    "error object": line("a", None, status_code=None, error={"code": "batch_expired", "message": "m"}),
    "HTTP 400": line("a", {"error": {"message": "bad", "code": "invalid"}}, status_code=400),
    "null content": line("a", chat(None, refusal="no")),
    "usage without total": line("a", chat("x", usage=(3, 4))),
    "no usage": line("a", chat("x", usage=None)),
    "token count as a string": line("a", chat("x", usage=("3", 4, 7))),
    "no choices": line("a", {"object": "chat.completion", "choices": [], "usage": {}}),
    "choices out of order": line(
        "a",
        {
            **chat("x", n=2),
            "choices": list(reversed(chat("x", n=2)["choices"])),
        },
    ),
    "integer custom_id": {**line("a", chat("x")), "custom_id": 7},
    "no response": line("a", None, status_code=None),
    "null status_code": line("a", chat("x"), status_code=None),
    "embedding": line("a", {"object": "list", "data": [{"embedding": [0.5]}], "usage": {}}),
    "responses API": line("a", {"object": "response", "output": [], "status": "completed"}),
    "content is an object": line("a", chat({"k": 1})),
}


@pytest.mark.parametrize("odd", DECLINED.values(), ids=DECLINED.keys())
def test_any_odd_line_sends_the_whole_file_to_the_per_line_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: dict[str, Any]
) -> None:
    path = write(tmp_path / "o.jsonl", [*plain(3), odd, *plain(2, "s")])
    assert _arrow.read_plain(path) is None
    both_paths(monkeypatch, [path])


def test_bad_line_empty_file_and_blank_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = write(tmp_path / "bad.jsonl", [*plain(2), b"{not json", *plain(1, "s")])
    assert _arrow.read_plain(bad) is None
    assert _arrow.read_plain(write(tmp_path / "empty.jsonl", [])) is None
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\r\n".join(orjson.dumps(ln) for ln in plain(3)) + b"\n\n")
    assert _arrow.read_plain(blank) is not None
    # A line of spaces is blank too, but the fast path only takes lines that are "{...}" or empty.
    spaces = tmp_path / "spaces.jsonl"
    spaces.write_bytes(b"\n \t\n".join(orjson.dumps(ln) for ln in plain(3)) + b"\n  \n")
    assert _arrow.read_plain(spaces) is None
    both_paths(monkeypatch, [bad, blank, spaces])


def test_many_batches_and_a_line_longer_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_arrow, "BLOCK_BYTES", 2000)
    path = write(tmp_path / "o.jsonl", plain(30))
    columns = _arrow.read_plain(path)
    assert columns is not None and len(columns["content"]) == 30
    assert columns["custom_id"].to_pylist() == [f"r{i}" for i in range(30)]
    both_paths(monkeypatch, [path])
    lines = plain(30)
    lines[7] = line("r7", chat("w" * 3000))  # longer than a block: the stream extends the block
    long = write(tmp_path / "long.jsonl", lines)
    assert _arrow.read_plain(long) is not None
    assert both_paths(monkeypatch, [long]).at["r7", "content"] == "w" * 3000


def test_mixed_files_duplicates_order_and_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fast output file, a retry's fast output file and an error file read line by line meet in one frame.
    out = write(tmp_path / "out.jsonl", [line("a", chat('{"v": 1}')), line("b", chat("not json"))])
    retry = write(tmp_path / "retry.jsonl", [line("c", chat('{"v": 3}')), line("a", chat('{"v": 9}'))])
    err = write(
        tmp_path / "err.jsonl",
        [line("c", {"error": {"message": "boom", "code": "server_error"}}, status_code=500)],
    )
    schema = {"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v"]}
    df = both_paths(
        monkeypatch, [out, retry], [err], custom_ids=["c", "a", "b", "d"], schema=schema, unlisted="expired"
    )
    assert list(df.index) == ["c", "a", "b", "d"]
    assert list(df.status) == ["completed", "completed", "completed", "expired"]
    assert df.at["a", "parsed"] == {"v": 9}  # a tie between two successes: the later line
    assert df.at["b", "error_code"] == "parse_error"
    both_paths(monkeypatch, [out], custom_ids=["zz", "b"])  # an unlisted id and a missing one
    both_paths(monkeypatch, [out, retry])


def test_fast_frame_dtypes_match_the_per_line_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "o.jsonl", plain(4))
    df = both_paths(monkeypatch, [path], custom_ids=[f"r{i}" for i in range(4)])
    assert df["error_code"].dtype == object and df["parsed"].dtype == object
    assert str(df["total_tokens"].dtype) == "Int64"
