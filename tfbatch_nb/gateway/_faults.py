"""Fault injection: make the local gateway misbehave on purpose, repeatably.

A fault spec is ``KIND[@ROUTE]=RATE[#LIMIT]``:

- ``KIND``: ``http500``, ``http429`` (answers with ``Retry-After``), ``drop`` (the request is fully
  handled, then the connection closes without an answer), ``slow`` (a delay before handling),
  ``late_commit`` (an ambiguous outcome: the request is answered at once with a 504 "gateway
  timeout" and carried out anyway ``late_commit_delay`` seconds later, as when a proxy timed out
  while the server committed later; ``late_commit@POST /batches=1#1`` makes the first create's batch
  appear in ``GET /batches`` only after that delay; a gateway stopped before then never commits it),
  ``line_error`` (a line fails into the error file), ``expire`` (a batch expires after RATE of its
  lines), ``fail`` (batch validation fails), ``token_limit`` (the batch fails with
  ``token_limit_exceeded``, as when the enqueued-token limit is reached, whatever the limit).
- ``ROUTE``: a path prefix after the base URL, optionally with a method: ``/batches``,
  ``POST /batches`` or ``POST:/batches``. For batch faults (``line_error``, ``expire``, ``fail``,
  ``token_limit``) the route is matched against the batch endpoint (``/v1/chat/completions``).
  No route = everything.
- ``RATE``: a probability in [0, 1] (for ``expire``: the fraction of lines done before expiring).
- ``LIMIT``: inject at most this many times (``drop@POST /batches=1#1`` drops only the first create).

Draws come from a ``random.Random`` seeded per fault, so a run is repeatable given the seed and the
order of requests; line faults hash the seed with the batch and line so they do not depend on order.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

HTTP_KINDS = frozenset({"http500", "http429", "drop", "slow", "late_commit"})
BATCH_KINDS = frozenset({"line_error", "expire", "fail", "token_limit"})
KINDS = HTTP_KINDS | BATCH_KINDS


@dataclass
class Fault:
    """One fault: what to inject, where, how often.

    Parameters
    ----------
    kind : str
        One of ``http500, http429, drop, slow, late_commit, line_error, expire, fail, token_limit``.
    route : str
        Path prefix (``""`` matches everything).
    method : str or None
        HTTP method to match (None = any).
    rate : float
        Probability per request / line / batch; for ``expire`` the fraction of lines done first.
    limit : int or None
        Maximum number of injections (None = unlimited).

    Examples
    --------
    >>> Fault("http500", route="/batches", rate=0.5).kind
    'http500'
    """

    kind: str
    route: str = ""
    method: str | None = None
    rate: float = 1.0
    limit: int | None = None
    fired: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        if self.limit is not None and self.limit < 0:
            raise ValueError("fault limit must be >= 0")
        if self.method:
            self.method = self.method.upper()

    def matches(self, method: str | None, path: str) -> bool:
        """Whether this fault applies to a request (or a batch endpoint when ``method`` is None)."""
        if self.method and method is not None and self.method != method.upper():
            return False
        return _route_match(self.route, path)


def _route_match(route: str, path: str) -> bool:
    if not route:
        return True
    # Compare without the /v1 that batch endpoints carry, so "@/chat/completions" also matches them.
    for candidate in (path, path.removeprefix("/v1")):
        if candidate == route or candidate.startswith(route.rstrip("/") + "/"):
            return True
    return False


def parse_fault(spec: str) -> Fault:
    """Parse one ``KIND[@ROUTE]=RATE[#LIMIT]`` spec.

    Raises
    ------
    ValueError
        With a message that says what is wrong in the spec.

    Examples
    --------
    >>> parse_fault("http429@/batches=0.5")
    Fault(kind='http429', route='/batches', method=None, rate=0.5, limit=None)
    >>> parse_fault("drop@POST /batches=1#1").method
    'POST'
    >>> parse_fault("late_commit@POST /batches=1#1")
    Fault(kind='late_commit', route='/batches', method='POST', rate=1.0, limit=1)
    """
    text = spec.strip()
    left, eq, right = text.rpartition("=")
    if not eq or not left:
        raise ValueError(f"fault spec {spec!r} must look like KIND[@ROUTE]=RATE, e.g. 'http500@/batches=0.2'")
    rate_text, hashmark, limit_text = right.partition("#")
    try:
        rate = float(rate_text)
        limit = int(limit_text) if hashmark else None
    except ValueError:
        raise ValueError(
            f"fault spec {spec!r}: RATE must be a number in [0, 1] and LIMIT an integer"
        ) from None
    kind, at, route = left.partition("@")
    method: str | None = None
    route = route.strip()
    if at:
        for sep in (" ", ":"):
            head, found, tail = route.partition(sep)
            if found and head.isalpha():
                method, route = head.upper(), tail.strip()
                break
        if route and not route.startswith("/"):
            raise ValueError(f"fault spec {spec!r}: ROUTE must start with '/', e.g. '/batches'")
    return Fault(kind.strip().lower(), route=route, method=method, rate=rate, limit=limit)


def _coerce(faults: Iterable[str | Fault] | str | Fault | None) -> list[Fault]:
    if faults is None:
        return []
    if isinstance(faults, (str, Fault)):
        faults = [faults]
    return [f if isinstance(f, Fault) else parse_fault(f) for f in faults]


class FaultSet:
    """The active faults of one gateway, with seeded, thread-safe draws.

    Examples
    --------
    >>> fs = FaultSet(["http500@/files=1#1"], seed=0)
    >>> fs.http("GET", "/files").kind, fs.http("GET", "/files")
    ('http500', None)
    """

    def __init__(self, faults: Iterable[str | Fault] | str | Fault | None = None, *, seed: int = 0) -> None:
        self.seed = seed
        self._batches = 0
        self._lock = threading.Lock()
        self.replace(faults)

    def replace(self, faults: Iterable[str | Fault] | str | Fault | None) -> None:
        """Swap in a new list of faults (counters and random streams restart)."""
        parsed = _coerce(faults)
        with self._lock:
            self._faults = parsed
            self._rngs = [random.Random(f"{self.seed}:{i}:{f.kind}") for i, f in enumerate(parsed)]

    @property
    def faults(self) -> list[Fault]:
        """The current faults (a copy)."""
        with self._lock:
            return list(self._faults)

    def _draw(self, kinds: frozenset[str], method: str | None, path: str) -> Fault | None:
        with self._lock:
            for fault, rng in zip(self._faults, self._rngs, strict=True):
                if fault.kind not in kinds or not fault.matches(method, path):
                    continue
                if fault.limit is not None and fault.fired >= fault.limit:
                    continue
                if rng.random() < fault.rate:
                    fault.fired += 1
                    return fault
        return None

    def http(self, method: str, path: str) -> Fault | None:
        """The HTTP-level fault to inject for this request, if any (first match wins)."""
        return self._draw(HTTP_KINDS, method, path)

    def batch_fails(self, endpoint: str, kind: str = "fail") -> bool:
        """Whether a new batch on ``endpoint`` should fail (``fail``: its validation, ``token_limit``:
        over the enqueued-token limit)."""
        return self._draw(frozenset({kind}), None, endpoint) is not None

    def expire_fraction(self, endpoint: str) -> float | None:
        """Fraction of lines after which a batch expires, or None (no draw: it always applies)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "expire" and fault.matches(None, endpoint):
                    if fault.limit is not None and fault.fired >= fault.limit:
                        continue
                    fault.fired += 1
                    return fault.rate
        return None

    def line_error_rate(self, endpoint: str) -> float:
        """Probability that a line of a batch on ``endpoint`` fails."""
        with self._lock:
            rates = [f.rate for f in self._faults if f.kind == "line_error" and f.matches(None, endpoint)]
        return max(rates, default=0.0)

    def batch_key(self) -> str:
        """A per-batch draw key: the creation ordinal, so reruns with one seed fail the same lines
        while a retry batch of failed lines (a later ordinal) gets fresh draws."""
        with self._lock:
            self._batches += 1
            return f"b{self._batches}"

    def line_fails(self, rate: float, batch_key: str, line_no: int) -> bool:
        """Order-independent draw for one line: hash of seed, batch key and line number."""
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        digest = hashlib.blake2b(f"{self.seed}:{batch_key}:{line_no}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < rate
