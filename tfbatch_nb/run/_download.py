"""Downloading a result file once: streamed to disk, renamed into place only when complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import openai

__all__ = ["download_file"]


def download_file(client: openai.OpenAI, file_id: str, dest: str | os.PathLike[str]) -> Path:
    """Stream a file's content from the gateway to ``dest``, atomically; skip if ``dest`` exists.

    The body goes to a temporary file next to ``dest`` and is renamed into place only when
    complete, so a dropped connection never leaves a truncated file that a later call would
    trust. Memory use is one chunk, whatever the file size (``files.content()`` would load it all).

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
    >>> path = download_file(client, batch.output_file_id, "out.jsonl")  # doctest: +SKIP
    """
    dest = Path(dest)
    if dest.exists():  # downloaded before: files are immutable once written, never fetch twice
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh, client.files.with_streaming_response.content(file_id) as response:
            for chunk in response.iter_bytes(2**20):
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())  # the rename below must never publish data still in the page cache only
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
