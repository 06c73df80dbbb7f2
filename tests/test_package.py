"""The package's shape: public names, light imports, the house's quality gates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import tfbatch_nb

ROOT = Path(__file__).resolve().parents[1]

DESIGN_NAMES = {
    "Batch",
    "BatchFailedError",
    "BatchInputError",
    "BatchRequests",
    "BatchTimeoutError",
    "Gateway",
    "LocalGateway",
    "TfBatchError",
    "build_requests",
    "connect",
    "providers",
    "read_results",
}


def test_all_is_sorted_and_complete() -> None:
    assert tfbatch_nb.__all__ == sorted(tfbatch_nb.__all__)
    assert set(tfbatch_nb.__all__) >= DESIGN_NAMES
    assert set(tfbatch_nb.__all__) == set(tfbatch_nb._EXPORTS) | {"__version__"}
    for name in tfbatch_nb.__all__:
        assert getattr(tfbatch_nb, name) is not None, name


def test_error_tree() -> None:
    t = tfbatch_nb
    assert issubclass(t.BatchInputError, t.TfBatchError) and issubclass(t.BatchInputError, ValueError)
    assert issubclass(t.BatchTimeoutError, TimeoutError)
    assert issubclass(t.BatchFailedError, t.TfBatchError)


def test_import_is_light() -> None:
    """The core never drags Jupyter or the server stack in: they load only when asked for."""
    code = (
        "import sys, json, tfbatch_nb as t\n"
        "from tfbatch_nb import connect, build_requests, read_results, Batch, Gateway, BatchRequests, providers\n"
        "import tfbatch_nb.run._batch, tfbatch_nb.run._connection, tfbatch_nb.ui._display, tfbatch_nb.ui._snapshot\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'ipywidgets','IPython','fastapi','uvicorn','starlette','ipykernel'})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_only_widgets_imports_ipywidgets() -> None:
    offenders = []
    for path in (ROOT / "tfbatch_nb").rglob("*.py"):
        if path.name == "widgets.py":
            continue
        text = path.read_text()
        if "import ipywidgets" in text or "from ipywidgets" in text:
            offenders.append(path.name)
    assert offenders == []


def test_console_script_help() -> None:
    out = subprocess.run([sys.executable, "-m", "tfbatch_nb", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout and "gateway" in out.stdout


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean() -> None:
    check = subprocess.run(
        ["ruff", "check", "tfbatch_nb", "tests", "bench", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        ["ruff", "format", "--check", "tfbatch_nb", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "tfbatch_nb"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def _modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "tfbatch_nb").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.name == "__main__":
            continue
        names.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return names


@pytest.fixture(scope="module")
def job_namespace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What the examples of the run and ui stages assume, as a user's notebook has it: a finished job."""
    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews

    gw = tfb.connect(local=True, gateway_options={"speed": "max"}, journal=tmp_path_factory.mktemp("doc"))
    df = load_reviews().head(37)
    reqs = tfb.build_requests(df, model="openai-main/gpt-4o-mini", id_column="review_id", max_tokens=5,
                              prompt="Classify the sentiment of this review: {text}")  # fmt: skip
    batch = gw.submit(reqs, name="reviews-v1").wait(progress=False)
    yield {"tfb": tfb, "gw": gw, "df": df, "reqs": reqs, "batch": batch}
    gw.close()


@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_run(module: str, request: pytest.FixtureRequest) -> None:
    """Every Examples section in the package is executed, so the docs cannot drift from the code."""
    import doctest
    import importlib

    mod = importlib.import_module(module)
    stage = module.split(".")[1] if "." in module else ""
    names = request.getfixturevalue("job_namespace") if stage in ("run", "ui") else {}
    # In a thread of their own, as in a fresh interpreter: the browser tests' Playwright keeps an
    # asyncio loop marked running in the main thread, which examples of async code would see.
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(doctest.testmod(
        mod, extraglobs=names, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)))  # fmt: skip
    runner.start()
    runner.join()
    result = results[0]
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module}"


def test_public_names_have_numpy_docstrings_with_examples() -> None:
    import inspect

    from tfbatch_nb import providers

    missing = []
    objects = [(n, getattr(tfbatch_nb, n)) for n in tfbatch_nb.__all__ if not n.startswith("__")]
    objects += [
        (f"providers.{n}", getattr(providers, n)) for n in ("OpenAI", "AzureOpenAI", "VertexAI", "Bedrock")
    ]
    for name, obj in objects:
        if "Examples\n--------" not in (inspect.getdoc(obj) or ""):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                public = not attr.startswith("_") and (callable(value) or isinstance(value, property))
                if public and not inspect.getdoc(value):
                    missing.append(f"{name}.{attr} (no docstring)")
    assert missing == []
