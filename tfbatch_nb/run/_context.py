"""What the run stage's helpers need of a connection: its parts as plain data, not the ``Gateway``.

Submit, attach, polling and results collection each take a :class:`Context` (and callbacks)
instead of a ``Gateway`` or a ``Batch``, so none of them imports the objects that call them.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai

from ..providers import Provider
from ._journal import Journal

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """One connection's client, provider, journal and identity.

    Attributes
    ----------
    client : openai.OpenAI
        The SDK client: its ``max_retries`` and backoff are the one retry policy.
    provider : Provider
        The provider integration every call is routed to.
    journal : Journal
        The local record of jobs.
    identity : str
        The gateway as the journal knows it: its base URL, or ``local:<data dir>``.
    poll_first : float
        The first delay between polls (the local gateway answers in milliseconds).

    Examples
    --------
    >>> import tempfile, openai
    >>> from tfbatch_nb.providers import resolve
    >>> ctx = Context(client=openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k"),
    ...               provider=resolve(None), journal=Journal(tempfile.mkdtemp()), identity="u", poll_first=1.0)
    >>> ctx.provider.name
    'openai-main'
    """

    client: openai.OpenAI
    provider: Provider
    journal: Journal
    identity: str
    poll_first: float
