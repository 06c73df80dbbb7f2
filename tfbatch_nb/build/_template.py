"""The line template: a request serialised once, cut at its placeholders into constant pieces.

Speed comes from never serialising a whole request per row: the constant part of every line
(model, system prompt, parameters) is serialised once with placeholder strings, cut into byte
pieces, and each row only contributes its pre-escaped variable values, which are spliced between
the pieces (here from Python bytes, or in Arrow by the builder's fast path).

Examples
--------
>>> tpl = LineTemplate()
>>> tpl.compile({"custom_id": tpl.slot("id", inline=True), "body": {"input": tpl.slot("v", inline=False)}})
>>> block, lens, slot_lens = tpl.render({"id": [b"a", b"b"], "v": [b'"x"', b"[1,2]"]}, 2)
>>> block
b'{"custom_id":"a","body":{"input":"x"}}\\n{"custom_id":"b","body":{"input":[1,2]}}\\n'
>>> lens.tolist(), slot_lens["v"].tolist()
([39, 41], [3, 5])
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._codec import IntArray, dumps

__all__ = ["LineTemplate"]


class LineTemplate:
    """A line skeleton serialised once, cut at its placeholders into constant byte pieces.

    ``skeleton`` is the request object with placeholder strings from :meth:`slot`; an *inline* slot
    sits inside a JSON string (escaped text is spliced between its quotes), a *value* slot stands
    for a whole JSON value (raw JSON is spliced in place of the quoted placeholder). After
    :meth:`compile`, a line is ``pieces[0] + value of order[0] + pieces[1] + ... + pieces[-1]``.

    Examples
    --------
    >>> tpl = LineTemplate()
    >>> tpl.compile({"prompt": "Say: " + tpl.slot("text", inline=True)})
    >>> tpl.pieces, tpl.order
    ([b'{"prompt":"Say: ', b'"}\\n'], ['text'])
    """

    def __init__(self) -> None:
        self._token = os.urandom(6).hex()  # random so no user text can contain a placeholder
        self._slots: dict[str, tuple[bytes, bool]] = {}
        self.pieces: list[bytes] = []
        self.order: list[str] = []

    def slot(self, name: str, *, inline: bool) -> str:
        """A placeholder string for the slot ``name``, to put into the skeleton."""
        marker = f"@tfb{self._token}:{len(self._slots)}@"
        self._slots[name] = (marker.encode(), inline)
        return marker

    def compile(self, skeleton: dict[str, Any]) -> None:
        """Serialise the skeleton (plus the line's newline) and cut it at every slot."""
        rest = dumps(skeleton) + b"\n"
        found = []
        for name, (marker, inline) in self._slots.items():
            token = marker if inline else b'"' + marker + b'"'
            found.append((rest.index(token), name, token))
        for _, name, token in sorted(found):
            head, rest = rest.split(token, 1)
            self.pieces.append(head)
            self.order.append(name)
        self.pieces.append(rest)

    @property
    def const_len(self) -> int:
        """Bytes every line has besides its slot values."""
        return sum(map(len, self.pieces))

    def render(self, columns: dict[str, list[bytes]], n: int) -> tuple[bytes, IntArray, dict[str, IntArray]]:
        """Join ``n`` lines into one block; returns it, each line's length and each slot's lengths."""
        k = len(self.order)
        # One cell list for the whole block: [p0, s1, p1, ..., sk, pk+p0, s1, ...]. The end of a line
        # and the start of the next are one shared piece, so join sees 2k items a row, not 2k+1.
        cells: list[bytes] = []
        for piece in self.pieces[1:]:
            cells += [b"", piece]
        cells[-1] = self.pieces[-1] + self.pieces[0]
        out = [self.pieces[0]]
        out += cells * n  # constant pieces shared by reference; only slot cells get replaced
        out[-1] = self.pieces[-1]
        lens = np.full(n, self.const_len, dtype=np.int64)
        slot_lens = {}
        for j, name in enumerate(self.order):
            col = columns[name]
            out[2 * j + 1 :: 2 * k] = col
            slot_lens[name] = np.fromiter(map(len, col), dtype=np.int64, count=n)
            lens += slot_lens[name]
        return b"".join(out), lens, slot_lens
