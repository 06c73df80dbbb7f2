"""The ``tfbatch`` command as a user runs it: a separate process, its output and exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tfbatch_nb

ROOT = Path(__file__).resolve().parents[1]


def tfbatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m tfbatch_nb ARGS`` with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "tfbatch_nb", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version(tmp_path: Path) -> None:
    out = tfbatch("--version", cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (0, f"tfbatch_nb {tfbatch_nb.__version__}\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "tfbatch: error: the following arguments are required: COMMAND"),
        (("frobnicate",), "tfbatch: error: argument COMMAND: invalid choice: 'frobnicate'"),
        (
            ("demo", "--rows", "0"),
            "tfbatch demo: error: argument --rows: expected a whole number >= 1, got '0'",
        ),
        (
            ("demo", "--rows", "ten"),
            "tfbatch demo: error: argument --rows: expected a whole number >= 1, got 'ten'",
        ),
        (("demo", "--rows", "2.5"), "tfbatch demo: error: argument --rows: expected a whole number >= 1"),
        (("demo", "--speed", "-1"), "tfbatch demo: error: argument --speed: expected 'max' or a number > 0"),
        (("demo", "--bogus"), "tfbatch: error: unrecognized arguments: --bogus"),
        (("gateway", "--port", "70000"), "tfbatch gateway: error: argument --port: expected a port number"),
    ],
    ids=[
        "no-command",
        "unknown-command",
        "rows-0",
        "rows-word",
        "rows-float",
        "speed",
        "unknown-flag",
        "port",
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tfbatch(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(message), out.stderr
    assert "Traceback" not in out.stderr


def test_demo_runs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tfbatch("demo", "--rows", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "3 of 3 rows answered"
    assert list(tmp_path.iterdir()) == []  # no .tfbatch/ where it was run
