"""The core never imports ipywidgets or IPython: they load only when a widget is shown."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, sys
for name in ("tfbatch_nb", "tfbatch_nb.run._batch", "tfbatch_nb.run._connection", "tfbatch_nb.ui._display",
             "tfbatch_nb.ui._snapshot", "tfbatch_nb.results._read", "tfbatch_nb.build._requests"):
    importlib.import_module(name)
import tfbatch_nb
tfbatch_nb.Batch, tfbatch_nb.connect
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "IPython", "ipykernel"))
print(",".join(loaded))
"""


def test_core_imports_no_jupyter() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_widgets_unavailable_outside_a_kernel() -> None:
    code = "from tfbatch_nb.ui import widgets; print(widgets.available())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
