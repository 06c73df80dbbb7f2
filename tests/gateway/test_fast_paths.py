"""The speed="max" paths answer exactly like the paced ones: one-pass validation, spliced records,
big-block uploads and downloads."""

from __future__ import annotations

from typing import Any

import orjson
from gateway_helpers import chat_line, make_client, read_lines, run

from tfbatch_nb.gateway import LocalGateway
from tfbatch_nb.gateway._simulator import sentiment

MIXED = ["I love it, works great", "Awful; broken.", "it's fine", "GOOD but slow", "naïve café: great"]


def _lines() -> list[dict[str, Any]]:
    lines = [chat_line(i, f"Sentiment of: {MIXED[i % len(MIXED)]} #{i}") for i in range(40)]
    lines += [chat_line(f"p{i}", f"Tell me about item {i}", max_tokens=3) for i in range(10)]
    lines.append(chat_line("bad", None, n=0))  # the simulator rejects it: a 400 in the error file
    lines.append(chat_line("two", "Say hi", n=2, response_format={"type": "json_object"}))
    return lines


def _records(speed: float | str) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    with LocalGateway(speed=speed) as gw:
        client = make_client(gw)
        batch = run(client, _lines())
        out, err = read_lines(client, batch.output_file_id), read_lines(client, batch.error_file_id)
        client.close()
    for record in out:
        record["response"]["body"].pop("created")  # wall-clock time, the only field allowed to differ
    for record in out + err:
        record.pop("id")  # ids carry the batch id
        record["response"].pop("request_id")
    return batch, out, err


def test_one_pass_matches_paced_processing() -> None:
    fast, fast_out, fast_err = _records("max")
    paced, paced_out, paced_err = _records(1000.0)
    assert fast.status == paced.status == "completed"
    assert fast.request_counts.model_dump() == paced.request_counts.model_dump()
    assert fast.usage.model_dump() == paced.usage.model_dump()
    assert fast_out == paced_out and fast_err == paced_err
    assert [r["custom_id"] for r in fast_err] == ["bad"] and fast_err[0]["response"]["status_code"] == 400
    assert len(fast_out) == len(_lines()) - 1


def test_late_invalid_line_fails_without_output() -> None:
    lines: list[Any] = [chat_line(i) for i in range(300)] + ["{not json"]
    with LocalGateway(speed="max") as gw:
        client = make_client(gw)
        batch = run(client, lines)
        client.close()
        assert gw.data_dir is not None
        leftovers = list(gw.data_dir.glob("tmp/*"))
    assert batch.status == "failed" and batch.output_file_id is None and batch.error_file_id is None
    assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json", 301)]
    assert leftovers == []  # the answers written while validating were discarded


def test_record_bytes_are_compact_json() -> None:
    with LocalGateway(speed="max") as gw:
        client = make_client(gw)
        batch = run(client, [chat_line('q"1', "Sentiment: \u00e9t\u00e9 \U0001f600 great")])
        with client.files.with_streaming_response.content(batch.output_file_id) as resp:
            raw = resp.read()
        client.close()
    record = orjson.loads(raw)
    assert raw == orjson.dumps(record) + b"\n"  # spliced bytes == serialising the parsed record
    assert list(record) == ["id", "custom_id", "response", "error"] and record["custom_id"] == 'q"1'
    assert record["response"]["body"]["choices"][0]["message"]["content"] == "[simulated] positive"


def test_big_upload_and_download_round_trip(tmp_path: Any) -> None:
    # Past the 1 MiB chunk size and the in-memory spool threshold's order of magnitude.
    data = b"".join(orjson.dumps({"i": i, "pad": "x" * 200}) + b"\n" for i in range(12_000))
    with LocalGateway(speed="max") as gw:
        client = make_client(gw)
        file_id = client.files.create(file=("big.jsonl", data), purpose="batch").id
        assert client.files.retrieve(file_id).bytes == len(data)
        with client.files.with_streaming_response.content(file_id) as resp:
            assert resp.read() == data
        client.close()


def test_sentiment_tokenises_like_a_word_regex() -> None:
    assert sentiment("I LOVE it") == "positive"
    assert sentiment("don't like, hate, awful") == "negative"  # distinct words: 1 positive, 2 negative
    assert sentiment("'good' goodness") == "neutral"  # "'good'" is one token, as with [a-z']+
    assert sentiment("caf\u00e9great") == "positive"  # a non-ASCII letter separates words
    assert sentiment("good good bad") == "neutral"
