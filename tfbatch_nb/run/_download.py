"""Downloading a result file once: streamed to disk, renamed into place only when complete."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import openai

from ._poll import is_transient, retry_delay

__all__ = ["download_file"]


def download_file(client: openai.OpenAI, file_id: str, dest: str | os.PathLike[str]) -> Path:
    """Stream a file's content from the gateway to ``dest``, atomically; skip if ``dest`` exists.

    The body goes to a temporary file next to ``dest`` and is renamed into place only when
    complete, so a dropped connection never leaves a truncated file that a later call would
    trust. Memory use is one chunk, whatever the file size (``files.content()`` would load it all).

    The SDK retries the request until the headers arrive; a body cut off after that is beyond
    its reach, so the download starts over, at most ``client.max_retries`` times.

    Parameters
    ----------
    client
        An ``openai.OpenAI`` client carrying the provider headers.
    file_id
        The gateway's file id (a batch's ``output_file_id`` or ``error_file_id``).
    dest
        Where the file goes. Its folder is created if needed.

    Returns
    -------
    Path
        ``dest``.

    Examples
    --------
    >>> import tempfile
    >>> from tfbatch_nb.gateway import LocalGateway
    >>> with LocalGateway(speed="max") as server:
    ...     client = openai.OpenAI(base_url=server.url, api_key=server.api_key,
    ...                            default_headers={"x-tfy-provider-name": "openai-main"})
    ...     uploaded = client.files.create(file=("a.jsonl", b'{"x": 1}\\n'), purpose="batch")
    ...     path = download_file(client, uploaded.id, Path(tempfile.mkdtemp()) / "a.jsonl")
    >>> path.read_bytes()
    b'{"x": 1}\\n'
    """
    dest = Path(dest)
    if dest.exists():  # downloaded before: files are immutable once written, never fetch twice
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts = client.max_retries + 1
    for attempt in range(attempts):
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh, client.files.with_streaming_response.content(file_id) as response:
                try:
                    for chunk in response.iter_bytes(2**20):
                        fh.write(chunk)
                except Exception as exc:
                    if not is_transient(exc) or attempt == attempts - 1:
                        raise
                    Path(tmp).unlink(missing_ok=True)
                    time.sleep(retry_delay(exc, attempt))
                    continue
                fh.flush()
                os.fsync(fh.fileno())  # the rename below must never publish data still in the page cache only
            os.replace(tmp, dest)
            return dest
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises
