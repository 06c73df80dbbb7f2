"""The local gateway: an OpenAI-compatible Files + Batches server with TrueFoundry's rules.

It runs in a background thread of the kernel; point the ``openai`` SDK at it:

>>> import openai
>>> with LocalGateway(speed="max") as gw:
...     client = openai.OpenAI(base_url=gw.url, api_key=gw.api_key,
...                            default_headers={"x-tfy-provider-name": "openai-main"})
...     client.files.list().data
[]

Where things live (a request's way in, then a batch's):

- ``_server``: :class:`LocalGateway` (uvicorn in a thread), :func:`serve` (the CLI), :func:`is_loopback`
- ``_guard``: bearer auth and injected HTTP faults (``late_commit`` too), in front of every route
- ``_app``: the routes (Files, Batches, realtime inference) and their 400s
- ``_errors``: the one error, an HTTP status with an OpenAI error body (``ResponderError``)
- ``_catalog``: provider integrations, catalog models and :class:`Limits`
- ``_store``: SQLite objects and file contents on disk
- ``_runner``: the batch state machine, one worker thread per batch; ``_pace``: its timing
- ``_validation``: the checks of an input file, line by line
- ``_lines``: one line in, one output record out, and the scratch files records go to
- ``_responders``: who answers a line (:data:`Responder`)
- ``_forwarder``: :class:`Forwarder`, lines sent on to a real-time server, behind a circuit breaker
- ``_simulator``: the default responder, a deterministic model; ``_json_schema``: its structured answers
- ``_columnar``: the simulator's plain chat batches answered a block of lines at a time (pyarrow)
- ``_faults``: :class:`Fault` specs and their seeded draws
- ``_quota``: the enqueued-token limit per model (``enqueued_token_limit``), counted by :func:`prompt_tokens`
"""

from __future__ import annotations

from ._catalog import Limits
from ._errors import ResponderError
from ._faults import Fault, parse_fault
from ._forwarder import Forwarder
from ._responders import Responder
from ._server import LocalGateway, is_loopback, serve
from ._simulator import prompt_tokens

__all__ = [
    "Fault",
    "Forwarder",
    "Limits",
    "LocalGateway",
    "Responder",
    "ResponderError",
    "is_loopback",
    "parse_fault",
    "prompt_tokens",
    "serve",
]
