"""What the gateway refuses and keeps to itself: bounded uploads, private files, the bearer scheme."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gateway_helpers import chat_line, make_client, run, upload

from tfbatch_nb.gateway import LocalGateway

HEADERS = {"x-tfy-provider-name": "openai-main"}


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[LocalGateway]:
    with LocalGateway(speed="max", data_dir=tmp_path / "gw", max_upload_mb=1) as gateway:
        yield gateway


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(small: LocalGateway) -> None:
    client = make_client(small, max_retries=0)
    assert small.data_dir is not None
    before = files_under(small.data_dir)
    with pytest.raises(openai.APIStatusError) as info:
        client.files.create(file=("big.jsonl", b"x" * (2 << 20)), purpose="batch")
    assert info.value.status_code == 413
    assert isinstance(info.value.body, dict) and info.value.body.get("code") == "file_too_large"
    assert "1 MB" in info.value.message
    assert files_under(small.data_dir) == before and client.files.list().data == []
    # under the limit, all is as before
    ok = client.files.create(file=("ok.jsonl", b"y" * 1000_000), purpose="batch")
    assert ok.bytes == 1000_000 and len(client.files.list().data) == 1


def test_an_upload_without_a_length_is_cut_off_while_it_streams(small: LocalGateway) -> None:
    """No Content-Length to look at: the body is counted as it arrives, and refused past the limit."""
    assert small.data_dir is not None
    before = files_under(small.data_dir)
    head = (
        b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
    )
    sent = 0

    def body() -> Iterator[bytes]:  # a generator body goes out chunked, with no Content-Length
        nonlocal sent
        yield head
        for _ in range(32):
            sent += 1
            yield b"z" * (64 << 10)
        yield b"\r\n--b--\r\n"

    headers = {
        **HEADERS,
        "authorization": f"Bearer {small.api_key}",
        "content-type": "multipart/form-data; boundary=b",
    }
    reply = httpx.post(f"{small.url}/files", content=body(), headers=headers, timeout=30)
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "file_too_large"
    assert files_under(small.data_dir) == before


def test_batch_input_files_keep_their_own_limits(tmp_path: Path) -> None:
    """A big upload is fine; a batch on it is held to the batch limits (here 2 lines) at create."""
    from tfbatch_nb.gateway import Limits

    with LocalGateway(speed="max", limits=Limits(max_lines=2)) as gw:
        client = make_client(gw)
        done = run(client, [chat_line(i) for i in range(3)])
        assert done.status == "failed" and done.errors.data[0].code == "too_many_requests"


def test_the_data_folder_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: without care, folders would be 0755 and files 0644
    (tmp_path / "gw").mkdir(mode=0o755)  # a folder the user made: it is tightened too
    try:
        with LocalGateway(speed="max", data_dir=tmp_path / "gw", faults=["line_error=0.5"]) as gw:
            client = make_client(gw)
            batch = run(client, [chat_line(i) for i in range(8)])
            assert batch.output_file_id is not None and batch.error_file_id is not None
            upload(client, [chat_line(9)])
            root = gw.data_dir
            assert root is not None
            modes = {
                p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
                for p in [root, *root.rglob("*")]
            }
    finally:
        os.umask(old)
    assert {"gateway.sqlite3", "gateway.sqlite3-wal", "gateway.sqlite3-shm"} <= set(modes)
    assert sum(name.startswith("files/file-") for name in modes) == 4  # 2 uploads, output, errors
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not wrong, wrong


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(gw: LocalGateway, scheme: str) -> None:
    reply = httpx.get(f"{gw.url}/files", headers={**HEADERS, "authorization": f"{scheme} {gw.api_key}"})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("auth", ["Bearer wrong", "Basic {key}", "{key}", "Bearer", "bearer{key}"])
def test_other_credentials_are_refused(gw: LocalGateway, auth: str) -> None:
    reply = httpx.get(f"{gw.url}/files", headers={**HEADERS, "authorization": auth.format(key=gw.api_key)})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
