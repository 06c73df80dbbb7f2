"""Every Python block of the README runs as written, top to bottom, in a fresh process (embedded gateway)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_python_blocks_run(tmp_path: Path) -> None:
    blocks = python_blocks()
    assert len(blocks) >= 3
    # One script, as a reader pastes the blocks into one notebook; a bare expression line (the
    # panel in a notebook) is harmless in a script. Nothing may be configured from outside.
    script = "\n".join(blocks) + "\nprint(res.shape)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFY_", "TFBATCH_"))}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("(200, 16)")
