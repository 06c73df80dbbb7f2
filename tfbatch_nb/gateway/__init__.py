"""The local gateway: an OpenAI-compatible Files + Batches server with TrueFoundry's rules.

Start it in a notebook (it runs in a background thread) and point the ``openai`` SDK at it::

    from tfbatch_nb.gateway import LocalGateway
    gw = LocalGateway().start()
    client = openai.OpenAI(base_url=gw.url, api_key=gw.api_key,
                           default_headers={"x-tfy-provider-name": "openai-main"})

Modules: :mod:`.server` (LocalGateway, serve), :mod:`.app` (routes), :mod:`.guard` (auth, faults at
the HTTP level), :mod:`.store` (SQLite + files), :mod:`.runner` (batch state machine),
:mod:`.validation` (input checks), :mod:`.responders` / :mod:`.simulator` / :mod:`.schema_gen`
(who answers), :mod:`.faults`, :mod:`.catalog` (provider integrations and limits).
"""

from __future__ import annotations

from .catalog import Limits
from .faults import Fault, parse_fault
from .responders import Forwarder, Responder, ResponderError
from .server import LocalGateway, serve

__all__ = [
    "Fault",
    "Forwarder",
    "Limits",
    "LocalGateway",
    "Responder",
    "ResponderError",
    "parse_fault",
    "serve",
]
