"""``python -m tfbatch_nb`` is the ``tfbatch`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
