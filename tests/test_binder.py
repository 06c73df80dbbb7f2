"""The Binder recipe: a fresh environment built from binder/ runs the quickstart notebook.

repo2docker installs ``binder/requirements.txt``, then runs ``binder/postBuild`` from the
repository root. This test does the same in a brand-new virtualenv (no system site-packages)
and executes ``notebooks/01_quickstart.ipynb`` there with nbconvert, so a missing dependency
or a broken install step shows up here rather than in a classroom.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_binder_recipe_runs_the_quickstart(tmp_path: Path) -> None:
    assert (ROOT / "binder" / "runtime.txt").read_text().strip().startswith("python-3")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFY_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", "-r", str(ROOT / "binder" / "requirements.txt")],
        check=True,
        env=env,
        timeout=900,
    )
    # postBuild installs the package from the checkout; run it from a copy so the test never
    # writes build artefacts into the working tree.
    checkout = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(
            ".git", "*.egg-info", "__pycache__", ".tfbatch", "artifacts", ".*_cache"
        ),
    )
    subprocess.run(["bash", "binder/postBuild"], cwd=checkout, check=True, env=env, timeout=900)
    jupyter_dirs = {
        k: str(tmp_path / k.lower())
        for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")
    }
    env.update(jupyter_dirs)
    out = tmp_path / "executed.ipynb"
    subprocess.run(
        [
            str(bin_dir / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=300",
            "--output",
            str(out),
            str(checkout / "notebooks" / "01_quickstart.ipynb"),
        ],
        cwd=checkout / "notebooks",
        check=True,
        env=env,
        timeout=900,
    )
    text = out.read_text()
    assert "completed" in text
    assert '"output_type": "error"' not in text
