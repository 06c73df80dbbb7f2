"""Run: the connection (one ``openai`` client), the journal, submit / attach, ``Batch`` and its watcher.

The only stage that talks to a gateway. It takes :class:`~tfbatch_nb.build.BatchRequests` from
``build``, turns files into frames with ``results`` and hands snapshots to ``ui``.

Examples
--------
>>> import tempfile
>>> from tfbatch_nb.run import connect
>>> with connect(local=True, gateway_options={"speed": "max"}, journal=tempfile.mkdtemp()) as gw:
...     gw.provider.name
'openai-main'
"""

from ._batch import Batch
from ._connection import Gateway, connect
from ._cost import Cost, Projection
from ._journal import Journal
from ._trial import Trial

__all__ = ["Batch", "Cost", "Gateway", "Journal", "Projection", "Trial", "connect"]
