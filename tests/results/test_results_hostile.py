"""Hostile result files: both paths give the same frame (or the same warnings), and the frame always reprs."""

from __future__ import annotations

import codecs
import json
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_results_fast import both_paths, plain
from test_results_lines import chat, line

from tfbatch_nb.results import _arrow, parse_results, read_results


def raw(cid: Any = "a", content: str = "hi") -> bytes:
    return orjson.dumps(line(cid, chat(content)))


def warned(monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """The frame both paths agree on (see ``both_paths``), and the warnings of one reading."""
    df = both_paths(monkeypatch, *args, **kwargs)
    repr(df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parse_results(*args, **kwargs)
    return df, [str(w.message) for w in caught]


def test_invalid_utf8_is_a_failed_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "output-001.jsonl"
    bad = raw("b", "x").replace(b'"x"', b'"\xff\xfe"')
    path.write_bytes(b"\n".join([raw("a"), b"", b"", b"", b"", b"", bad, raw("c")]) + b"\n")
    assert _arrow.read_plain(path) is None
    df = both_paths(monkeypatch, [path], custom_ids=["a", "b", "c"])
    repr(df)
    assert list(df.status) == ["completed", "failed", "completed"]
    assert df.at["b", "error_code"] == "invalid_utf8"
    assert df.at["b", "error_message"].startswith("line 7 of output-001.jsonl is not valid UTF-8 (byte 0xff")


def test_invalid_utf8_in_a_skipped_field_or_the_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.jsonl"
    in_model = raw("b")[:-1] + b',"model":"\xc3"}'  # orjson refuses the whole line, so must the fast path
    in_id = raw("c").replace(b'"c"', b'"c\xff"')
    path.write_bytes(b"\n".join([raw("a"), in_model, in_id]) + b"\n")
    df, messages = warned(monkeypatch, [path])
    assert list(df.index) == ["a", "b"]
    assert df.at["b", "error_code"] == "invalid_utf8"
    assert messages == [f"{path}:3: skipped a line that is not valid UTF-8 (byte 0xff at byte 35 of the line) "
                        "and has no readable custom_id"]  # fmt: skip


def test_a_genuine_replacement_character_in_the_id_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(raw("id-\ufffd").replace(b'"hi"', b'"\xff"') + b"\n")
    df = both_paths(monkeypatch, [path])
    assert df.index.tolist() == ["id-\ufffd"] and df.status.tolist() == ["failed"]


LINES = [raw("a", "one"), raw("b", "two"), raw("c", "three")]
ENDINGS = {
    "LF": b"\n".join(LINES) + b"\n",
    "CRLF": b"\r\n".join(LINES) + b"\r\n",
    "CR": b"\r".join(LINES) + b"\r",
    "BOM LF": codecs.BOM_UTF8 + b"\n".join(LINES) + b"\n",
    "BOM CRLF no final break": codecs.BOM_UTF8 + b"\r\n".join(LINES),
    "BOM CR": codecs.BOM_UTF8 + b"\r".join(LINES),
    "mixed with blank lines": LINES[0] + b"\r\n\r\n" + LINES[1] + b"\r\r" + LINES[2] + b"\n\n",
}


@pytest.mark.parametrize("data", ENDINGS.values(), ids=ENDINGS.keys())
def test_bom_and_line_endings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(data)
    assert _arrow.read_plain(path) is not None  # plain answers whatever the line ends: the fast path
    df = both_paths(monkeypatch, [path])
    assert df.content.to_dict() == {"a": "one", "b": "two", "c": "three"}


def test_a_bom_inside_the_file_is_a_bad_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(LINES[0] + b"\n" + codecs.BOM_UTF8 + LINES[1] + b"\n")
    df, messages = warned(monkeypatch, [path])
    assert list(df.index) == ["a"]
    assert messages[0].startswith(f"{path}:2: skipped a line that is not valid JSON (UTF-8 byte order mark")


def test_duplicates_warn_and_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"\n".join([raw("a", "first"), raw("b"), raw("a", "second"), raw("a", "third")]) + b"\n")
    err = tmp_path / "err.jsonl"
    err.write_bytes(
        orjson.dumps(line("b", {"error": {"code": "server_error", "message": "m"}}, status_code=500))
    )
    df, messages = warned(monkeypatch, [out], [err])
    assert df.attrs["duplicates"] == 3
    assert df.content.to_dict() == {"a": "third", "b": "hi"}  # later success wins; a success beats a failure
    assert messages == [
        "3 result line(s) repeat a custom_id seen before (e.g. 'a' in out.jsonl); kept one row per custom_id "
        "(a completed line over a failed one over one that never ran, else the later line); "
        "frame.attrs['duplicates'] counts these lines"
    ]
    no_dup = both_paths(monkeypatch, [err])
    assert no_dup.attrs["duplicates"] == 0


def test_duplicates_across_files_name_the_later_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    out.write_bytes(raw("a") + b"\n")
    err.write_bytes(orjson.dumps(line("a", None, status_code=None, error={"code": "batch_expired"})) + b"\n")
    with pytest.warns(UserWarning, match=r"1 result line\(s\) repeat .*'a' in err\.jsonl"):
        df = read_results(out, err)
    assert df.attrs["duplicates"] == 1 and df.at["a", "status"] == "completed"


HOSTILE = {
    "not an object": (b"[1, 2]", r"o\.jsonl:2: skipped a result line that is not a JSON object: \[1,2\]"),
    "a string": (b'"text"', r"o\.jsonl:2: skipped a result line that is not a JSON object"),
    "null custom_id": (raw(None), r"o\.jsonl:2: skipped a result line without a custom_id"),
    "object custom_id": (raw({"k": 1}), r"o\.jsonl:2: skipped a result line without a custom_id"),
    "two objects on one line": (raw("x") + raw("y"), r"o\.jsonl:2: skipped a line that is not valid JSON"),
    "an object over two lines": (
        raw("x").replace(b',"response"', b',\n"response"'),
        r"o\.jsonl:2: .*not valid JSON",
    ),
    "lone surrogate escape": (
        raw("x").replace(b'"hi"', b'"\\ud800"'),
        r"o\.jsonl:2: .*not valid JSON.*surrogate",
    ),
    "raw control character": (
        raw("x").replace(b'"hi"', b'"a\x01b"'),
        r"o\.jsonl:2: .*not valid JSON.*control",
    ),
}


@pytest.mark.parametrize(("bad", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_line_is_skipped_with_its_line_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: bytes, message: str
) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"\n".join([raw("a"), bad, raw("b")]) + b"\n")
    df, messages = warned(monkeypatch, [path])
    assert list(df.index) == ["a", "b"]
    assert len(messages) == 1 + bad.count(b"\n") and re.match(
        message, messages[0].removeprefix(f"{tmp_path}/")
    )


def test_nan_and_infinity_tokens_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Python servers write them (json.dumps of a NaN logprob); pyarrow reads them, so the per-line path does.
    path = tmp_path / "o.jsonl"
    tokens = raw("b")[:-1] + b',"logprobs":[NaN,-Infinity]}'
    usage = raw("c").replace(b'"prompt_tokens":3', b'"prompt_tokens":NaN')
    path.write_bytes(b"\n".join([raw("a"), tokens, usage]) + b"\n")
    assert _arrow.read_plain(path) is None  # a NaN token count is no integer: the per-line path
    df = both_paths(monkeypatch, [path])
    assert df.status.tolist() == ["completed"] * 3 and df.content.tolist() == ["hi"] * 3
    assert df.prompt_tokens.isna().tolist() == [False, False, True]
    path.write_bytes(b"\n".join([raw("a"), tokens]) + b"\n")
    assert _arrow.read_plain(path) is not None
    both_paths(monkeypatch, [path])


@pytest.mark.parametrize(("cid", "index"), [(7, "7"), (True, "true"), (1.5, "1.5"), ("", "")])
def test_custom_id_not_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cid: Any, index: str
) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(raw(cid) + b"\n")
    df = both_paths(monkeypatch, [path], custom_ids=[index])
    assert df.index.tolist() == [index] and df.status.tolist() == ["completed"]


def test_truncated_last_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(raw("a") + b"\n" + raw("b")[:50])
    df, messages = warned(monkeypatch, [path], custom_ids=["a", "b"])
    assert df.status.tolist() == ["completed", "missing"]
    assert "o.jsonl:2: skipped a line that is not valid JSON" in messages[0]
    assert messages[0].endswith("(the file ends inside this line: is it truncated?)")


@pytest.mark.parametrize(
    "data", [b"", codecs.BOM_UTF8, b"\n\r\n\r", b"   \n"], ids=["empty", "BOM", "breaks", "spaces"]
)
def test_empty_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(data)
    df = both_paths(monkeypatch, [path])
    assert df.empty and repr(df)


def test_huge_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_arrow, "BLOCK_BYTES", 1 << 16)
    path = tmp_path / "o.jsonl"
    big = "é" * (3 << 20)  # 6 MiB of UTF-8 in one line, many blocks long, split inside a character
    path.write_bytes(b"\n".join([raw("a"), raw("b", big), raw("c")]))
    # pyarrow takes a line over at most two blocks; a longer one is left to the per-line path
    assert _arrow.read_plain(path) is None
    df = both_paths(monkeypatch, [path])
    assert df.at["b", "content"] == big


# -- property-based: any mix of the above, both paths identical ---------------------------------

IDS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6) | st.sampled_from(
    ["a", "b", "\n", "\r\n", "\x00", "é", "😀", "\u2028", "\ud800", "\udc00x", "\ud83d\ude00"]
)
TEXTS = st.text(max_size=20)  # any code point, lone surrogates included: json.dumps escapes them
KINDS = st.sampled_from(["ok", "ok", "ok", "http_500", "expired", "blank", "bad", "bad_utf8"])
RECORDS = st.lists(st.tuples(KINDS, IDS, TEXTS, st.booleans()), max_size=12)


def encode(kind: str, cid: str, text: str, ascii_only: bool) -> bytes:
    if kind == "blank":
        return b" " * len(text) if ascii_only else b""
    if kind == "bad":
        return b"{not json"
    if kind == "http_500":
        value = line(cid, {"error": {"code": "server_error", "message": text}}, status_code=500)
    elif kind == "expired":
        value = line(cid, None, status_code=None, error={"code": "batch_expired", "message": text})
    else:
        value = line(cid, chat(text))
    data = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return data.replace(b'"@@"', b'"\xff"') if kind == "bad_utf8" else data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    RECORDS,
    st.booleans(),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.booleans(),
    st.lists(RECORDS, max_size=1),
)
def test_both_paths_agree_on_any_file(
    monkeypatch: pytest.MonkeyPatch,
    decoder: str,
    records: list[tuple[str, str, str, bool]],
    bom: bool,
    ending: bytes,
    final_break: bool,
    errors: list[list[tuple[str, str, str, bool]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n, recs in enumerate([records, *errors]):
            lines = [
                encode(kind, cid, "@@" if kind == "bad_utf8" else text, a) for kind, cid, text, a in recs
            ]
            data = (codecs.BOM_UTF8 if bom else b"") + ending.join(lines) + (ending if final_break else b"")
            paths.append(Path(tmp) / f"f{n}.jsonl")
            paths[-1].write_bytes(data)
        df = both_paths(monkeypatch, paths[:1], paths[1:])
        assert repr(df) and df._repr_html_()
        assert df.index.is_unique  # one row per custom_id, the repeats counted
        assert len(df) + df.attrs["duplicates"] <= len(records) + sum(map(len, errors))


def test_plain_files_stay_on_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(ln) for ln in plain(50)) + b"\n")
    assert _arrow.read_plain(path) is not None
    assert parse_results([path]).attrs["duplicates"] == 0
