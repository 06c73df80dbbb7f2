"""The embedded local gateways of this process: one per data folder, shared, stopped at exit.

``connect(local=True)`` keeps the local gateway's data in ``<journal>/local-gateway`` so a job
survives a kernel restart. Two servers on one data folder would be two writers of one SQLite
store and of the same scratch files: the second server resumes the first one's running batches
and both append their answers (seen: an output file holding every line twice, and every row of
the results ``missing``). So:

- in one process, a second ``connect(local=True)`` on the same folder while the first is open
  (a re-run ``gw = tfb.connect()`` cell, a tutorial simulating a restart) shares the running
  server, which stops when the last connection using it closes; with different
  ``gateway_options`` it is an error naming the fix (``gw.close()`` first);
- another process serving the folder (a second kernel on the same journal) holds an advisory
  lock on it, so this one fails with a clear error instead of corrupting the store.

Examples
--------
>>> import tempfile
>>> server = acquire({"speed": "max", "data_dir": tempfile.mkdtemp()})
>>> acquire({"speed": "max", "data_dir": server.data_dir}) is server
True
>>> release(server); server.running  # one user left
True
>>> release(server); server.running
False
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TfBatchError

if TYPE_CHECKING:
    from ..gateway import LocalGateway

__all__ = ["acquire", "release"]

_LOCK_NAME = "serving.lock"


@dataclass
class _Serving:
    server: LocalGateway
    options: dict[str, Any]
    users: int
    lock_fd: int | None


_SERVING: dict[Path, _Serving] = {}
# Held while a server starts or stops, so two threads connecting at once still make one server.
_LOCK = threading.Lock()


def _lock_folder(folder: Path) -> int | None:
    """Take the folder's advisory lock for this process; None where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process guard
        return None
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise TfBatchError(
            f"another process (a second kernel or a script) is running the local gateway of {folder}; "
            "close it there with gw.close(), or pass another journal= folder"
        ) from None
    return fd  # the lock lives as long as this descriptor: a killed process frees it


def acquire(options: Mapping[str, Any]) -> LocalGateway:
    """Start the local gateway for ``options["data_dir"]``, or share the one this process runs there.

    Parameters
    ----------
    options
        :class:`~tfbatch_nb.gateway.LocalGateway` keyword arguments; ``data_dir`` None gets a
        private temporary folder (never shared).

    Returns
    -------
    LocalGateway
        Running; give it back with :func:`release`.

    Raises
    ------
    TfBatchError
        A server with other options runs on the folder in this process, or another process
        serves the folder.

    Examples
    --------
    >>> server = acquire({"speed": "max", "data_dir": None})
    >>> server.running
    True
    >>> release(server)
    """
    from ..gateway import LocalGateway

    opts = dict(options)
    if opts.get("data_dir") is None:
        return LocalGateway(**opts).start()
    folder = Path(opts["data_dir"]).expanduser().resolve()
    opts["data_dir"] = folder
    with _LOCK:
        serving = _SERVING.get(folder)
        if serving is not None and serving.server.running:
            differ = sorted(k for k in opts.keys() | serving.options.keys()
                            if opts.get(k) != serving.options.get(k))  # fmt: skip
            if differ:
                # Names only: an option value (forward_api_key) may be a secret.
                raise TfBatchError(
                    f"the local gateway of {folder} already runs in this process with other "
                    f"gateway_options ({', '.join(differ)} differ); close the earlier connection first "
                    "(gw.close()), connect with the same gateway_options=, or pass another journal= folder"
                )
            serving.users += 1
            return serving.server
        if serving is not None:  # stopped behind our back (gw.local.stop()): start afresh
            _forget(folder)
        fd = _lock_folder(folder)
        try:
            server = LocalGateway(**opts).start()
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        _SERVING[folder] = _Serving(server, opts, 1, fd)
        return server


def release(server: LocalGateway) -> None:
    """A connection is done with ``server``: stop it when no other connection uses it.

    Examples
    --------
    >>> release(acquire({"speed": "max", "data_dir": None}))
    """
    with _LOCK:
        for folder, serving in _SERVING.items():
            if serving.server is server:
                serving.users -= 1
                if serving.users <= 0:
                    _forget(folder)
                return
    server.stop()  # a private (temporary folder) server


def _forget(folder: Path) -> None:
    # Called with _LOCK held. Stop before unlocking: another process may start on the folder next.
    serving = _SERVING.pop(folder)
    try:
        serving.server.stop()
    finally:
        if serving.lock_fd is not None:
            os.close(serving.lock_fd)


@atexit.register
def _stop_all() -> None:  # pragma: no cover - runs at interpreter exit
    # Servers whose connections were never closed: stop their batch threads cleanly (the scratch
    # files then say exactly where to resume) instead of killing them mid-write with the process.
    with _LOCK:
        for folder in list(_SERVING):
            _forget(folder)
