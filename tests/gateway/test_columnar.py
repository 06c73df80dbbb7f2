"""The columnar path for plain chat batches says byte for byte what the per-line path says, and
hands every file it cannot answer exactly to the per-line path."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from gateway_helpers import CHAT, MODEL, chat_line, jsonl, make_client, read_lines, run, submit, wait

from tfbatch_nb.gateway import LocalGateway
from tfbatch_nb.gateway._columnar import NotPlain, PlainFile
from tfbatch_nb.gateway._faults import FaultSet
from tfbatch_nb.gateway._lines import LineAnswerer
from tfbatch_nb.gateway._simulator import simulate

TEXTS = [
    "I love it, works great",
    "Awful; broken.",
    "it's fine",
    "GOOD but slow",  # both kinds: distinct words decide
    "good good bad",  # distinct words: neutral
    "don't like it",  # apostrophes belong to words
    "hate's not a word here",
    'quotes "inside" and \\ backslash',
    "tab\tnew\nline \x01 control",
    "naïve café: great",
    "GREAT 😀 emoji",
    "\u212aind words",  # the Kelvin sign lowers to an ASCII "k"
    "SENT\u0130MENT is not sentiment after lower()",
    "   spaces   everywhere   ",
    "",
    "a b c d e f g h i j",
]
PROMPTS = [
    "Classify the sentiment of this review: {}",
    "Tell me about: {}",
    "SENTIMENT? {}",
    "{}",
    "Sent\u0130ment of {}",
]


def _varied(n: int) -> list[dict[str, Any]]:
    lines = []
    for i in range(n):
        text = PROMPTS[i % len(PROMPTS)].format(TEXTS[i % len(TEXTS)] + f" #{i}")
        messages: list[dict[str, str]] = [{"role": "user", "content": text}]
        if i % 3 == 0:
            messages.insert(
                0, {"role": "system", "content": "Answer with one word." if i % 2 else "Sentiment!"}
            )
        if i % 7 == 0:
            messages += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": TEXTS[i % 5]}]
        if i % 11 == 0:
            messages = [{"role": "assistant", "content": "no user here, " + TEXTS[i % 4]}]
        body: dict[str, Any] = {"model": MODEL, "messages": messages}
        if i % 4:
            body["max_tokens"] = [None, 0, 1, 3, 5, 1000][i % 6]
            if body["max_tokens"] is None:
                del body["max_tokens"]  # absent, not null: a null goes the per-line way
        cid = [f"r{i}", f'q"{i}"', f"ünï {i}", f"back\\{i}"][i % 4]
        lines.append({"custom_id": cid, "method": "POST", "url": CHAT, "body": body})
    return lines


def _mask_created(data: bytes) -> bytes:
    return re.sub(rb'"created":\d+', b'"created":0', data)


def _per_line(lines: list[bytes], stamp: str) -> tuple[bytes, int, int]:
    answer = LineAnswerer(
        simulate,
        FaultSet(),
        endpoint=CHAT,
        batch_id=f"batch_{stamp}",
        header_model=None,
        fault_key="k",
    )
    out, used_in, used_out = [], 0, 0
    for n, raw in enumerate(lines, 1):
        record, ok, i, o = answer(n, orjson.loads(raw))
        assert ok
        out.append(record)
        used_in, used_out = used_in + i, used_out + o
    return b"".join(out), used_in, used_out


def _columnar(path: Path, stamp: str, size: int) -> tuple[bytes, int, int]:
    plain = PlainFile.open(path, endpoint=CHAT, max_lines=50_000)
    assert plain is not None
    blocks = list(plain.answers(stamp=stamp, size=size))
    assert sum(b[1] for b in blocks) == plain.rows
    return b"".join(b[0].to_pybytes() for b in blocks), sum(b[2] for b in blocks), sum(b[3] for b in blocks)


@pytest.mark.parametrize(("size", "json_lines"), [(64, True), (1000, True), (97, False)])
def test_columnar_bytes_equal_the_per_line_path(tmp_path: Path, size: int, json_lines: bool) -> None:
    lines = [orjson.dumps(line) for line in _varied(400)]
    if not json_lines:  # no backslash anywhere: the quoting-only shortcut
        lines = [line for line in lines if b"\\" not in line]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    fast, fast_in, fast_out = _columnar(path, "abcdef123456", size)
    slow, slow_in, slow_out = _per_line(lines, "abcdef123456")
    assert _mask_created(fast) == _mask_created(slow)
    assert (fast_in, fast_out) == (slow_in, slow_out)


def test_key_order_and_spacing_do_not_matter(tmp_path: Path) -> None:
    body = (
        '{"max_tokens": 2, "messages": [{"content": "Sentiment: great", "role": "user"}], "model": "' + MODEL
    )
    raw = ('{"url": "' + CHAT + '", "body": ' + body + '"}, "method": "POST", "custom_id": "x"}').encode()
    path = tmp_path / "in.jsonl"
    path.write_bytes(raw + b"\r\n" + raw.replace(b'"x"', b'"y"'))  # CRLF, no final newline
    fast = _columnar(path, "abc", 10)
    assert _mask_created(fast[0]) == _mask_created(_per_line(path.read_bytes().splitlines(), "abc")[0])


IRREGULAR: dict[str, list[Any]] = {
    "another field": [chat_line(1, temperature=0.5)],
    "n": [chat_line(1, n=1)],
    "explicit null": [chat_line(1, max_tokens=None)],
    "float max_tokens": [chat_line(1, max_tokens=5.0)],
    "bool max_tokens": [chat_line(1, max_tokens=True)],
    "message name": [
        {
            **chat_line(1),
            "body": {"model": MODEL, "messages": [{"role": "user", "content": "a", "name": "n"}]},
        }
    ],
    "content parts": [
        {
            **chat_line(1),
            "body": {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
        }
    ],
    "null message": [{**chat_line(1), "body": {"model": MODEL, "messages": [None]}}],
    "no role": [{**chat_line(1), "body": {"model": MODEL, "messages": [{"content": "a"}]}}],
    "empty messages": [{**chat_line(1), "body": {"model": MODEL, "messages": []}}],
    "no model": [{**chat_line(1), "body": {"messages": [{"role": "user", "content": "a"}]}}],
    "no method": [{k: v for k, v in chat_line(1).items() if k != "method"}],
    "other url": [{**chat_line(1), "url": "/v1/embeddings"}],
    "get": [{**chat_line(1), "method": "GET"}],
    "empty id": [chat_line("")],
    "number id": [{**chat_line(1), "custom_id": 1}],
    "duplicate id": [chat_line(1), chat_line(2), chat_line(1)],
    "two models": [chat_line(1), chat_line(2, model="openai-main/gpt-4o")],
    "blank line": [chat_line(1), "", chat_line(2)],
    "spaces line": [chat_line(1), "   ", chat_line(2)],
    "two objects on a line": [orjson.dumps(chat_line(1)) + b" " + orjson.dumps(chat_line(2))],
    "duplicate key": ['{"custom_id": "a", "custom_id": "b", "method": "POST"}'],
    "not json": [chat_line(1), "{not json"],
    "lone surrogate": ['{"custom_id": "\\ud800", "method": "POST"}'],
    "invalid utf-8": [b'{"custom_id": "\xff"}'],
    "array": ["[1, 2]"],
}


@pytest.mark.parametrize("name", sorted(IRREGULAR))
def test_irregular_files_are_not_plain(tmp_path: Path, name: str) -> None:
    path = tmp_path / "in.jsonl"
    lines = [chat_line(f"pad{i}") for i in range(5)] + IRREGULAR[name]  # the odd line comes later
    path.write_bytes(jsonl(lines))
    plain = PlainFile.open(path, endpoint=CHAT, max_lines=50_000)
    if plain is not None:
        with pytest.raises(NotPlain):
            list(plain.answers(stamp="abc", size=2))


def test_open_refuses_other_endpoints_and_long_files(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl([chat_line(i) for i in range(3)]))
    assert PlainFile.open(path, endpoint="/v1/embeddings", max_lines=10) is None
    assert PlainFile.open(path, endpoint=CHAT, max_lines=2) is None
    assert PlainFile.open(path, endpoint=CHAT, max_lines=3) is not None
    path.write_bytes(jsonl([chat_line(i, temperature=0) for i in range(3)]))  # known from line 1
    assert PlainFile.open(path, endpoint=CHAT, max_lines=3) is None


def _gateway_records(
    lines: list[Any], *, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Any], list[Any]]:
    with monkeypatch.context() as m:
        if not plain:  # the per-line path: no file is plain
            m.setattr(PlainFile, "open", classmethod(lambda cls, *a, **k: None))
        with LocalGateway(speed="max") as gw:
            client = make_client(gw)
            batch = run(client, lines)
            out, err = read_lines(client, batch.output_file_id), read_lines(client, batch.error_file_id)
            client.close()
    for record in out:
        record["response"]["body"].pop("created")
    for record in out + err:
        record.pop("id")  # ids carry the batch id
        if record["response"]:
            record["response"].pop("request_id")
    return batch, out, err


def test_gateway_answers_plain_files_like_the_per_line_path(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _varied(300)
    fast, fast_out, fast_err = _gateway_records(lines, plain=True, monkeypatch=monkeypatch)
    slow, slow_out, slow_err = _gateway_records(lines, plain=False, monkeypatch=monkeypatch)
    assert fast.status == slow.status == "completed"
    assert (
        fast.request_counts.model_dump()
        == slow.request_counts.model_dump()
        == {
            "total": 300,
            "completed": 300,
            "failed": 0,
        }
    )
    assert fast.usage.model_dump() == slow.usage.model_dump()
    assert fast_out == slow_out and fast_err == slow_err == []


@pytest.mark.parametrize(
    "odd",
    [
        chat_line("late", temperature=1),  # not plain: answered per line, same answers
        chat_line("0"),  # a duplicate id found after some blocks were written: fails the batch
        chat_line("late", model="openai-main/no-such-model"),
    ],
)
def test_gateway_falls_back_midway_with_the_same_outcome(monkeypatch: pytest.MonkeyPatch, odd: Any) -> None:
    lines = [chat_line(i, f"Sentiment: good {i}") for i in range(20_000)] + [odd]
    fast, fast_out, fast_err = _gateway_records(lines, plain=True, monkeypatch=monkeypatch)
    slow, slow_out, slow_err = _gateway_records(lines, plain=False, monkeypatch=monkeypatch)
    assert fast.status == slow.status
    assert fast.errors == slow.errors
    assert fast.request_counts == slow.request_counts
    assert fast_out == slow_out and fast_err == slow_err


def test_columnar_batch_can_be_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    real = PlainFile._block

    def slow_block(self: PlainFile, *args: Any) -> Any:
        started.set()
        time.sleep(0.05)
        return real(self, *args)

    monkeypatch.setattr(PlainFile, "_block", slow_block)
    monkeypatch.setattr("tfbatch_nb.gateway._runner._PLAIN_BLOCK", 100)
    with LocalGateway(speed="max") as gw:
        client = make_client(gw)
        batch = submit(client, [chat_line(i) for i in range(3000)])
        assert started.wait(10)
        client.batches.cancel(batch.id)
        batch = wait(client, batch.id)
        client.close()
        assert gw.data_dir is not None
        leftovers = list(gw.data_dir.glob("tmp/*"))
    assert batch.status == "cancelled"
    assert batch.output_file_id is None  # cancelled while validating: nothing ran
    assert leftovers == []
