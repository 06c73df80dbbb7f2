"""The virtual environment holding the third-party servers (llmock, a litellm proxy), made once.

They pin older FastAPI-stack versions than ours and conflict with each other under pip's
resolver (litellm pins ``python-multipart``, llmock wants a newer one), so they live in their own
venv: litellm first, then llmock without its dependencies plus the one it needs that litellm
does not bring (typer). llmock runs fine on litellm's set.

Run as a script (``.ci/run`` does, before pytest) to create it; the tests' session fixture calls
:func:`ensure` too. Both are no-ops when the venv is complete.

Location: ``$TFBATCH_THIRDPARTY_VENV``, else ``<repo>/.venv-thirdparty``. The venv carries its own
``.gitignore`` (``*``), so git and ruff ignore it wherever it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Known-good ranges (litellm 1.79 to 1.108 and llmock 0.2.2 were tried); nothing tighter.
LITELLM = "litellm[proxy]>=1.79,<2"
LLMOCK = "llmock>=0.2.2,<0.3"
EXTRA = "typer>=0.12"
#: Written last: its presence (with this content) means the venv is complete.
STAMP = "tfbatch-thirdparty.ok"
STAMP_TEXT = f"{LITELLM}\n{LLMOCK}\n{EXTRA}\n"


def location() -> Path:
    """Where the venv is (``$TFBATCH_THIRDPARTY_VENV`` or ``<repo>/.venv-thirdparty``)."""
    return Path(os.environ.get("TFBATCH_THIRDPARTY_VENV") or REPO / ".venv-thirdparty")


def executable(root: Path, name: str) -> Path:
    """A console script of the venv (``litellm``, ``llmock``, ``python``)."""
    return root / ("Scripts" if os.name == "nt" else "bin") / name


def ready(root: Path) -> bool:
    """True when the venv at ``root`` was completed with the current requirements."""
    stamp = root / STAMP
    return (
        stamp.is_file()
        and stamp.read_text() == STAMP_TEXT
        and all(executable(root, n).exists() for n in ("litellm", "llmock"))
    )


def ensure(root: Path | None = None, *, log: Path | None = None) -> Path:
    """Create the venv if it is missing or incomplete; return its root.

    Raises
    ------
    RuntimeError
        When a step fails, with the tail of pip's output (the full output is in ``log``).
    """
    root = location() if root is None else root
    if ready(root):
        return root
    if not executable(root, "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
    log = root / "pip-install.log" if log is None else log
    # Git and ruff skip a folder whose own .gitignore ignores everything.
    (root / ".gitignore").write_text("*\n")
    pip = [str(executable(root, "python")), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    steps = [[*pip, LITELLM], [*pip, "--no-deps", LLMOCK], [*pip, EXTRA]]
    with log.open("w") as out:
        for cmd in steps:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{' '.join(cmd[3:])} failed in {root} (log: {log}):\n{tail}")
    (root / STAMP).write_text(STAMP_TEXT)
    return root


def main() -> int:
    root = location()
    if ready(root):
        print(f"third-party venv ready: {root}")
        return 0
    start = time.monotonic()
    print(f"creating the third-party venv {root} ({LITELLM}; {LLMOCK} --no-deps; {EXTRA})", flush=True)
    try:
        ensure(root)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"third-party venv made in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
