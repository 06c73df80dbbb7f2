"""tfbatch_nb: batch predictions from a pandas DataFrame, in a notebook, through the TrueFoundry AI Gateway.

The whole flow::

    import tfbatch_nb as tfb
    gw = tfb.connect()                       # TFY_BASE_URL / TFY_API_KEY, else the embedded local gateway
    reqs = tfb.build_requests(df, model="openai-main/gpt-4o-mini", prompt="Sentiment of: {text}")
    batch = gw.submit(reqs, name="reviews-v1")
    batch                                    # live panel in Jupyter
    res = batch.results(join=df)

Public names are resolved lazily so that ``import tfbatch_nb`` stays cheap and never imports
ipywidgets, IPython, FastAPI or uvicorn (the local gateway loads them only when it is started).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; one table so __all__ and __getattr__ cannot drift apart.
_EXPORTS: dict[str, str] = {
    "Batch": "run",
    "BatchFailedError": "errors",
    "BatchInputError": "errors",
    "BatchRequests": "build",
    "BatchTimeoutError": "errors",
    "Gateway": "run",
    "GatewayUnreachableError": "errors",
    "LocalGateway": "gateway",
    "TfBatchError": "errors",
    "build_requests": "build",
    "connect": "run",
    "lineage": "results",
    "providers": "",
    "read_results": "results",
}

# A literal list (not computed) so linters and type checkers can read it; a test keeps it equal
# to the _EXPORTS table and sorted.
__all__ = [
    "Batch",
    "BatchFailedError",
    "BatchInputError",
    "BatchRequests",
    "BatchTimeoutError",
    "Gateway",
    "GatewayUnreachableError",
    "LocalGateway",
    "TfBatchError",
    "__version__",
    "build_requests",
    "connect",
    "lineage",
    "providers",
    "read_results",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import providers
    from .build import BatchRequests, build_requests
    from .errors import (
        BatchFailedError,
        BatchInputError,
        BatchTimeoutError,
        GatewayUnreachableError,
        TfBatchError,
    )
    from .gateway import LocalGateway
    from .results import lineage, read_results
    from .run import Batch, Gateway, connect


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'tfbatch_nb' has no attribute {name!r}") from None
    value = importlib.import_module(f".{module or name}", __name__)
    if module:
        value = getattr(value, name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
