"""The tutorials are jupytext pairs: ``notebooks/NN_name.py`` is the source a reviewer reads.

Each ``.py`` (percent format, ``# %%`` cells) sits beside the executed ``.ipynb`` that strict
nbval checks. Edit either side, then ``jupytext --sync`` the pair and re-execute the notebook;
the tests below fail while the two sides disagree, while a script fails ruff, or while a
tutorial imports anything but the package's public faces.
"""

from __future__ import annotations

import ast
import difflib
import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCRIPTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
FORMATS = "ipynb,py:percent"
# The modules a tutorial may import from: the package and each stage's or module's public face.
FACES = {
    "tfbatch_nb",
    "tfbatch_nb.build",
    "tfbatch_nb.datasets",
    "tfbatch_nb.gateway",
    "tfbatch_nb.providers",
    "tfbatch_nb.results",
    "tfbatch_nb.run",
    "tfbatch_nb.ui",
}


def pair_problems(notebook: Path) -> list[str]:
    """Why ``notebook`` and its paired ``.py`` disagree (a diff); empty when they are in sync.

    The notebook is written as jupytext would write its pair and compared with the committed
    script, so an edit to either side alone (a cell's source, type or tags) shows up.
    """
    script = notebook.with_suffix(".py")
    nb = jupytext.read(notebook)
    if nb.metadata.get("jupytext", {}).get("formats") != FORMATS:
        return [f"{notebook.name} is not paired: jupytext --set-formats {FORMATS} {notebook.name}"]
    if not script.exists():
        return [f"{script.name} is missing: jupytext --sync {notebook.name}"]
    expected = jupytext.writes(nb, fmt="py:percent").splitlines()
    actual = script.read_text(encoding="utf-8").splitlines()
    return list(
        difflib.unified_diff(actual, expected, script.name, f"{notebook.name} as py:percent", lineterm="")
    )


def public_names(module: str) -> set[str]:
    """The literal ``__all__`` of a face, read from its source (importing it is not needed)."""
    path = ROOT.joinpath(*module.split("."))
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{source} has no literal __all__")


def private_uses(script: Path) -> list[str]:
    """Imports of anything but a public name of a face, and ``_private`` attributes, in a script."""
    found: list[tuple[int, str]] = []
    faces: dict[str, str] = {}  # local name -> the face module it is bound to

    def exported(module: str, name: str) -> bool:
        return name in public_names(module) or f"{module}.{name}" in FACES

    tree = ast.parse(script.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tfbatch_nb":
                    if alias.name not in FACES:
                        found.append((node.lineno, f"import {alias.name}"))
                    faces[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tfbatch_nb":
            module = node.module or ""
            for alias in node.names:
                if module not in FACES or not exported(module, alias.name):
                    found.append((node.lineno, f"from {module} import {alias.name}"))
                elif f"{module}.{alias.name}" in FACES:
                    faces[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr.startswith("_") and not node.attr.endswith("__"):
            found.append((node.lineno, f".{node.attr}"))
        elif (
            isinstance(node.value, ast.Name)
            and node.value.id in faces
            and not exported(faces[node.value.id], node.attr)
        ):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return [f"line {n}: {what}" for n, what in sorted(found)]


def test_the_tutorials_are_pairs() -> None:
    assert NOTEBOOKS, "no tutorials found"
    assert [p.with_suffix(".py") for p in NOTEBOOKS] == SCRIPTS  # no notebook or script alone


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync(notebook: Path) -> None:
    problems = pair_problems(notebook)
    hint = f"edit one side, then: jupytext --sync notebooks/{notebook.stem}.py and re-execute"
    assert not problems, hint + "\n" + "\n".join(problems)


@pytest.mark.parametrize("edited", ["script", "notebook"])
def test_an_edit_to_one_side_alone_is_caught(tmp_path: Path, edited: str) -> None:
    notebook = tmp_path / NOTEBOOKS[0].name
    script = notebook.with_suffix(".py")
    shutil.copy(NOTEBOOKS[0], notebook)
    shutil.copy(SCRIPTS[0], script)
    assert pair_problems(notebook) == []
    if edited == "script":  # a line added to the last cell of the text file
        script.write_text(script.read_text(encoding="utf-8") + "print('edited')\n", encoding="utf-8")
    else:  # a sentence added to the first markdown cell, saved from Jupyter
        nb = nbformat.read(notebook, as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "markdown")
        cell.source += "\n\nOne more sentence."
        nbformat.write(nb, notebook)
    assert any(line.startswith(("+", "-")) for line in pair_problems(notebook))
    script.unlink()
    assert pair_problems(notebook) == [f"{script.name} is missing: jupytext --sync {notebook.name}"]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_scripts_pass_ruff(command: list[str]) -> None:
    # notebooks/ruff.toml extends the project's settings for percent scripts
    paths = [str(p.relative_to(ROOT)) for p in SCRIPTS]
    proc = subprocess.run(["ruff", *command, *paths], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_tutorials_use_public_names_only(script: Path) -> None:
    assert private_uses(script) == []


def test_private_uses_are_found(tmp_path: Path) -> None:
    script = tmp_path / "x.py"
    script.write_text(
        "import tfbatch_nb as tfb\n"
        "from tfbatch_nb.ui import TERMINAL\n"
        "from tfbatch_nb.ui._snapshot import STATUSES\n"
        "import tfbatch_nb.run._batch\n"
        "from tfbatch_nb.gateway import _responders\n"
        "tfb.connect(), tfb.internal, tfb.providers.OpenAI, TERMINAL._x\n",
        encoding="utf-8",
    )
    assert private_uses(script) == [
        "line 3: from tfbatch_nb.ui._snapshot import STATUSES",
        "line 4: import tfbatch_nb.run._batch",
        "line 5: from tfbatch_nb.gateway import _responders",
        "line 6: ._x",
        "line 6: tfb.internal",
    ]


# Absolute paths of a machine: a reader's machine has none of them, and they leak who ran it.
MACHINE_PATHS = re.compile(r"(?<![\w.])(/tmp/|/var/folders/|/home/|/root/|/Users/|/work/|[A-Za-z]:\\Users)")


def machine_paths(notebook: Path) -> list[str]:
    """Where a tutorial's sources or saved outputs cite an absolute path of a machine."""
    nb = nbformat.read(notebook, as_version=4)
    texts: list[tuple[str, str]] = []
    for i, cell in enumerate(nb.cells):
        texts.append((f"cell {i} source", cell.source))
        for output in cell.get("outputs", []):
            texts.append((f"cell {i} output", output.get("text", "")))
            for mime, data in output.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append((f"cell {i} {mime}", data if isinstance(data, str) else str(data)))
    home, root = str(Path.home()), str(ROOT)
    return [
        f"{where}: {text[max(0, m.start() - 30) : m.end() + 30]!r}"
        for where, text in texts
        for m in [MACHINE_PATHS.search(text) or re.search(re.escape(root) + "|" + re.escape(home), text)]
        if m
    ]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_machine_paths(notebook: Path) -> None:
    assert machine_paths(notebook) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_no_temporary_folders_left_behind(script: Path) -> None:
    # mkdtemp() folders outlive the kernel; a tutorial keeps its files under .tfbatch/ (reused by
    # the next run) or in a TemporaryDirectory it cleans up itself.
    source = script.read_text(encoding="utf-8")
    assert "mkdtemp(" not in source and "mkstemp(" not in source
    for name in re.findall(r"(\w+) = tempfile\.TemporaryDirectory\(", source):
        assert f"{name}.cleanup()" in source, f"{name} is never cleaned up"


def test_machine_paths_are_found(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "print(folder)", outputs=[nbformat.v4.new_output("stream", text="/tmp/tmpab12/x\n")]
        ),
        nbformat.v4.new_markdown_cell(f"See {ROOT / 'README.md'}."),
        nbformat.v4.new_code_cell(
            "x", outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "'/home/ann'"})]
        ),
        nbformat.v4.new_code_cell("path = Path('.tfbatch') / 'downloads'  # relative: fine"),
    ]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    found = machine_paths(path)
    assert [f.split(":")[0] for f in found] == ["cell 0 output", "cell 1 source", "cell 2 text/plain"]
