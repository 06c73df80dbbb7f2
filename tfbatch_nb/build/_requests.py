"""The job: validated request lines split into parts, made from a DataFrame or a JSONL file.

:func:`build_requests` checks its arguments and has the frame encoder write the rows' lines into a
spool (in memory; past 64 MiB, a private temp file); ``BatchRequests.from_jsonl`` has the loader
check a file's lines into one. :class:`BatchRequests` splits the spool into :class:`RequestPart` s
within the Batch API's limits, hashes it into the job's identity, and writes, previews and
estimates it. Every problem is a :class:`~tfbatch_nb.errors.BatchInputError` raised before
anything is written.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"review_id": [1, 2], "text": ["Great!", "Meh."]})
>>> reqs = build_requests(df, model="openai-main/gpt-4o-mini", prompt="Sentiment of: {text}",
...                       system="One word.", id_column="review_id", max_tokens=5)
>>> len(reqs), reqs.custom_ids, len(reqs.parts)
(2, ['1', '2'], 1)
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ..errors import BatchInputError
from ..providers import Provider, resolve
from ..ui import RequestsPreview, format_bytes, preview_frame, preview_html, preview_text
from ._body import (
    BUILD_ENDPOINTS,
    ENDPOINTS,
    MAX_EMBEDDING_INPUTS,
    check_limit,
    check_params,
    check_sources,
    check_text,
    normalise_endpoint,
    response_format_body,
)
from ._encode import BuildSpec, encode_frames
from ._estimate import Estimate, estimate_lines
from ._load import file_lines, load_lines
from ._spool import Spool

__all__ = ["BatchRequests", "RequestPart", "build_requests"]

#: Default limits of one part (the OpenAI Batch API's: 50,000 requests, 200 MB a file).
MAX_LINES = 50_000
MAX_BYTES = 200 * 2**20


class RequestPart:
    """One shard of a :class:`BatchRequests`: the lines one provider batch is created from.

    Attributes
    ----------
    index : int
        0-based position among the parts.
    n_lines, nbytes : int
        Lines and bytes of this part's JSONL.

    Examples
    --------
    >>> import pandas as pd
    >>> part = build_requests(pd.DataFrame({"t": ["a", "b"]}), model="m", prompt="{t}").parts[0]
    >>> part.n_lines, part.read_bytes().count(b"\\n")
    (2, 2)
    """

    def __init__(self, spool: Spool, index: int, first: int, last: int) -> None:
        # No reference back to the job: without a cycle, dropping a job frees its lines at once.
        self._spool = spool
        self.index, self._first, self._last = index, first, last
        self._start, self._end = self._spool.start_of(first), self._spool.start_of(last)
        self.n_lines = last - first
        self.nbytes = self._end - self._start

    @property
    def custom_ids(self) -> list[str]:
        """The custom_ids of this part's lines, in order."""
        return self._spool.custom_ids()[self._first : self._last]

    @cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of exactly the bytes :meth:`open` yields."""
        return self._spool.sha256(b"", self._start, self._end)

    def open(self) -> BinaryIO:
        """A readable, seekable binary stream of this part's JSONL (each line ends with ``"\\n"``).

        Examples
        --------
        >>> import pandas as pd
        >>> with build_requests(pd.DataFrame({"t": ["a"]}), model="m", prompt="{t}").parts[0].open() as f:
        ...     f.read().endswith(b"\\n")
        True
        """
        name = f"part-{self.index + 1:03d}.jsonl"
        return self._spool.open(self._start, self._end, name)

    def copy_to(self, fd: int) -> None:
        """Write this part's JSONL into an open file descriptor (in the kernel when the lines are on disk).

        Examples
        --------
        >>> import os, pandas as pd, tempfile
        >>> part = build_requests(pd.DataFrame({"t": ["a"]}), model="m", prompt="{t}").parts[0]
        >>> fd, path = tempfile.mkstemp()
        >>> part.copy_to(fd); os.close(fd)
        >>> os.path.getsize(path) == part.nbytes
        True
        """
        self._spool.copy_to(fd, self._start, self._end)

    def read_bytes(self) -> bytes:
        """This part's JSONL as bytes (for small parts; prefer :meth:`open` for big ones)."""
        return b"".join(self._spool.iter_blocks(self._start, self._end))

    def __repr__(self) -> str:
        return f"<RequestPart {self.index}: {self.n_lines} lines, {format_bytes(self.nbytes)}>"


class BatchRequests:
    """Validated batch request lines, on disk, split into parts; made by :func:`build_requests`.

    Attributes
    ----------
    endpoint : str
        The Batch API endpoint, e.g. ``"/v1/chat/completions"``.
    model : str or None
        ``body.model`` of the lines.
    provider : Provider or None
        The provider integration the requests are meant for (``None``: the gateway's default).
    response_schema : dict or None
        The JSON schema of a structured ``response_format``, to parse results back.
    warnings : tuple of str
        Non-fatal findings (long ids, very long prompts).
    id_column : str or None
        The column the ``custom_id`` values came from (``None``: the index), so results can be
        joined back onto the user's rows.
    template : dict or None
        How the lines were made (``prompt``, ``system``, ``messages``, ``input``, the body
        parameters), JSON-safe, so a results frame can say where it came from; None for lines
        read from a file.

    Examples
    --------
    >>> import pandas as pd
    >>> reqs = build_requests(pd.DataFrame({"t": ["hi"]}), model="openai-main/gpt-4o-mini", prompt="{t}")
    >>> next(reqs.iter_lines())
    b'{"custom_id":"0","method":"POST","url":"/v1/chat/completions","body":{"model":"openai-main/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}}\\n'
    """

    def __init__(
        self, spool: Spool, *, endpoint: str, model: str | None, provider: Provider | None,
        response_schema: dict[str, Any] | None, max_lines: int, max_bytes: int, warnings: Sequence[str] = (),
        id_column: str | None = None, template: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self._spool = spool
        self.id_column = id_column
        self.template = template
        self.endpoint, self.model, self.provider = endpoint, model, provider
        self.response_schema = response_schema
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self.warnings: tuple[str, ...] = tuple(warnings)
        self.nbytes = spool.nbytes
        self.parts = [RequestPart(spool, i, a, b) for i, (a, b) in enumerate(self._split())]
        if provider is not None:
            for part in self.parts:
                if part.n_lines < provider.min_records:
                    raise BatchInputError(
                        f"{type(provider).__name__} batches need at least {provider.min_records} records; "
                        f"part {part.index} has {part.n_lines} (of {len(self)} rows)"
                    )

    def _split(self) -> list[tuple[int, int]]:
        # Greedy on lines, bytes and (embeddings) inputs, never splitting a line; searchsorted
        # finds each cut in O(log n), so a million lines split in milliseconds.
        ends, n = self._spool.ends, len(self._spool.ends)
        inputs = self._spool.n_inputs if self.endpoint == "/v1/embeddings" else None
        cum_in = np.cumsum(inputs) if inputs is not None else None
        bounds, first = [], 0
        while first < n:
            base = self._spool.start_of(first)
            last = min(first + self.max_lines, int(np.searchsorted(ends, base + self.max_bytes, "right")))
            if cum_in is not None:
                done = int(cum_in[first - 1]) if first else 0
                last = min(last, int(np.searchsorted(cum_in, done + MAX_EMBEDDING_INPUTS, "right")))
            if last <= first:  # a single line over a limit: the encoder and the loader reject these earlier
                raise BatchInputError(f"a line does not fit max_bytes={self.max_bytes} at rows [{first}]")
            bounds.append((first, last))
            first = last
        min_records = self.provider.min_records if self.provider is not None else 1
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_records:
            # Bedrock refuses a small last shard: move lines from the previous one when it can spare them.
            a, c = bounds[-2][0], bounds[-1][1]
            cut = c - min_records
            if cut - a >= min_records:
                bounds[-2:] = [(a, cut), (cut, c)]
        return bounds

    def __len__(self) -> int:
        return len(self._spool.ends)

    @property
    def custom_ids(self) -> list[str]:
        """Every line's custom_id (str), in line order."""
        return self._spool.custom_ids()

    @cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the endpoint and all line bytes: the identity of the job."""
        return self._spool.sha256(self.endpoint.encode() + b"\n")

    def iter_lines(self) -> Iterator[bytes]:
        """Yield every line as bytes, each ending with ``"\\n"``.

        Examples
        --------
        >>> import pandas as pd
        >>> reqs = build_requests(pd.DataFrame({"t": ["a", "b"]}), model="m", prompt="{t}")
        >>> sum(1 for _ in reqs.iter_lines())
        2
        """
        return self._spool.iter_lines()

    def _settings(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "model": self.model, "provider": self.provider,
                "response_schema": self.response_schema, "max_lines": self.max_lines, "max_bytes": self.max_bytes, "id_column": self.id_column,
                "template": self.template}  # fmt: skip

    def validate(self) -> BatchRequests:
        """Re-check every line as :meth:`from_jsonl` would; returns ``self`` for chaining.

        Examples
        --------
        >>> import pandas as pd
        >>> len(build_requests(pd.DataFrame({"t": ["a"]}), model="m", prompt="{t}").validate())
        1
        """
        omit = self.provider is not None and self.provider.omit_routing
        lines = ((f"line {i}", raw) for i, raw in enumerate(self.iter_lines(), 1))
        load_lines(lines, endpoint=self.endpoint, omit_routing=omit, max_bytes=self.max_bytes).spool.discard()
        return self

    def subset(self, custom_ids: Iterable[str]) -> BatchRequests:
        """Only the lines of ``custom_ids``, in their original order, with the same settings.

        Examples
        --------
        >>> import pandas as pd
        >>> reqs = build_requests(pd.DataFrame({"t": ["a", "b", "c"]}), model="m", prompt="{t}")
        >>> reqs.subset(["2", "0"]).custom_ids
        ['0', '2']
        """
        wanted = {str(c) for c in custom_ids}
        unknown = wanted.difference(self.custom_ids)
        if unknown:
            raise BatchInputError(
                f"subset(): unknown custom_ids {sorted(unknown)[:5]} ({len(unknown)} in all)"
            )
        if not wanted:
            raise BatchInputError("subset(): empty input, no custom_ids given")
        keep = ((f"line {i}", line) for i, (cid, line) in enumerate(zip(self.custom_ids, self.iter_lines(), strict=True), 1) if cid in wanted)  # fmt: skip
        loaded = load_lines(keep, endpoint=self.endpoint, omit_routing=True, max_bytes=self.max_bytes)
        return BatchRequests(loaded.spool, warnings=self.warnings, **self._settings())

    def preview(self, n: int = 3) -> pd.DataFrame:
        """A small DataFrame of the first ``n`` requests: custom_id, prompt excerpt, bytes.

        Examples
        --------
        >>> import pandas as pd
        >>> build_requests(pd.DataFrame({"t": ["hello"]}), model="m", prompt="Say {t}").preview()
          custom_id     prompt  bytes
        0         0  Say hello    135
        """
        return preview_frame(self._spool.iter_lines(), n)

    def estimate(self) -> Estimate:
        """Approximate prompt tokens (chars/4) and cost with the 50% batch discount; see :class:`Estimate`.

        Examples
        --------
        >>> import pandas as pd
        >>> est = build_requests(pd.DataFrame({"t": ["a" * 400]}), model="openai-main/gpt-4o-mini",
        ...                      prompt="{t}", max_tokens=10).estimate()
        >>> est.prompt_tokens, est.output_tokens
        (104, 10)
        """
        return estimate_lines(self.iter_lines(), endpoint=self.endpoint, model=self.model)

    def to_jsonl(self, path: str | os.PathLike[str]) -> list[Path]:
        """Write the lines atomically; several parts go to ``name-001.jsonl``, ``name-002.jsonl``, ...

        Returns
        -------
        list of Path
            The files written, one per part.

        Examples
        --------
        >>> import pandas as pd, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> build_requests(pd.DataFrame({"t": ["a"]}), model="m", prompt="{t}").to_jsonl(d / "req.jsonl")[0].name
        'req.jsonl'
        """
        target = Path(path)
        names = [target] if len(self.parts) == 1 else [
            target.with_name(f"{target.stem}-{p.index + 1:03d}{target.suffix or '.jsonl'}") for p in self.parts]  # fmt: skip
        temps: list[str] = []
        try:
            for part, name in zip(self.parts, names, strict=True):
                fd, tmp = tempfile.mkstemp(prefix=f".{name.name}.", suffix=".tmp", dir=name.parent)
                temps.append(tmp)
                try:
                    part.copy_to(fd)
                finally:
                    os.close(fd)
            # Rename only after every part is complete, so a failure leaves no half-written set.
            for tmp, name in zip(temps, names, strict=True):
                os.replace(tmp, name)
        except BaseException:
            for tmp in temps:
                Path(tmp).unlink(missing_ok=True)
            raise
        return names

    @classmethod
    def from_jsonl(
        cls, path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, provider: Provider | str | None = None,
        endpoint: str | None = None, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES,
        id_column: str | None = None,
    ) -> BatchRequests:  # fmt: skip
        """Load and validate a JSONL batch file (or several, in order) a user already has.

        Errors name the file and the 1-based line. ``endpoint``, ``model`` and ``response_schema``
        are inferred from the lines; ``id_column`` names the column of your frame that holds the
        ``custom_id`` values, for ``results(join=...)``.

        Examples
        --------
        >>> import pandas as pd, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "in.jsonl"
        >>> _ = p.write_text('{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", '
        ...                  '"body": {"model": "m", "input": "hi"}}\\n')
        >>> BatchRequests.from_jsonl(p).endpoint
        '/v1/embeddings'
        """
        paths = [path] if isinstance(path, str | os.PathLike) else list(path)
        max_lines, max_bytes = check_limit("max_lines", max_lines), check_limit("max_bytes", max_bytes)
        prov = resolve(provider) if provider is not None else None
        ep = normalise_endpoint(endpoint, embeddings=False, allowed=ENDPOINTS) if endpoint else None
        omit = prov is not None and prov.omit_routing
        loaded = load_lines(file_lines(paths), endpoint=ep, omit_routing=omit, max_bytes=max_bytes)
        return cls(loaded.spool, endpoint=loaded.endpoint, model=loaded.model, provider=prov,
                   response_schema=loaded.schema, max_lines=max_lines, max_bytes=max_bytes,
                   id_column=id_column)  # fmt: skip

    def _preview(self) -> RequestsPreview:
        prov = self.provider
        return RequestsPreview(
            rows=len(self), parts=len(self.parts), max_lines=self.max_lines, max_bytes=self.max_bytes,
            nbytes=self.nbytes, endpoint=self.endpoint, model=self.model,
            provider=f"{prov.name} ({prov.kind})" if prov is not None else None,
            structured=self.response_schema is not None, sha256=self.sha256,
            first_lines=tuple(itertools.islice(self.iter_lines(), 3)), warnings=self.warnings,
        )  # fmt: skip

    def __repr__(self) -> str:
        return preview_text(self._preview())

    def _repr_html_(self) -> str:
        return preview_html(self._preview())


def build_requests(
    data: Any, *, model: str, prompt: str | None = None, messages: str | Callable[[Any], Any] | None = None,
    system: str | None = None, input: str | None = None, id_column: str | None = None,
    endpoint: str | None = None, response_format: Any = None, provider: Provider | str | None = None,
    max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES, **params: Any,
) -> BatchRequests:  # fmt: skip
    """Turn a DataFrame (pandas, polars or Arrow; or chunks of one) into validated batch requests.

    Parameters
    ----------
    data
        A DataFrame, or an iterable of DataFrames (``pd.read_csv(..., chunksize=...)``); or a polars
        DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader, or any object with
        ``__arrow_c_stream__`` (read batch by batch; the same bytes as the equal pandas frame, and
        rows are named by position, the index being the default one). Lines stay in memory up to
        64 MiB and go to a spool file on disk past that, so memory stays bounded.
    model
        ``body.model``: a catalog id such as ``"openai-main/gpt-4o-mini"``.
    prompt
        A ``str.format`` template over columns (format specs allowed): ``"Classify: {text}"``.
    messages
        Instead of ``prompt``: a column of message lists, or a callable ``row -> messages``
        (``row["col"]`` or ``row.col``); content parts such as images pass through.
    system
        A system message (``instructions`` for ``/v1/responses``).
    input
        The text column for ``/v1/embeddings`` (the endpoint is inferred when ``endpoint`` is not given),
        or the ``input`` column of ``/v1/responses`` / ``prompt`` of ``/v1/completions``.
    id_column
        The column (or index name) giving ``custom_id``; default: the index. Converted to ``str``.
    endpoint
        ``"/v1/chat/completions"`` (default), ``"/v1/embeddings"``, ``"/v1/responses"`` or ``"/v1/completions"``.
    response_format
        A pydantic model class (strict ``json_schema``), a JSON-schema dict, or ``"json_object"``.
    provider
        A ``providers.*`` object or integration name; its rules apply (Bedrock: >= 100 records per part).
    max_lines, max_bytes
        Limits of one part; more rows become several parts.
    **params
        Body parameters (``max_tokens=``, ``temperature=``, ...), serialised exactly (numpy scalars too).

    Returns
    -------
    BatchRequests

    Raises
    ------
    BatchInputError
        Naming the column or parameter and the first offending rows.

    Examples
    --------
    >>> import pandas as pd
    >>> docs = pd.DataFrame({"doc": ["alpha", "beta"]}, index=["d1", "d2"])
    >>> reqs = build_requests(docs, model="openai-main/text-embedding-3-small", input="doc")
    >>> reqs.endpoint, reqs.custom_ids
    ('/v1/embeddings', ['d1', 'd2'])
    """
    ep = normalise_endpoint(endpoint, embeddings=input is not None, allowed=BUILD_ENDPOINTS)
    check_text("model", model, "model='openai-main/gpt-4o-mini' (a catalog id)")
    lines_cap, bytes_cap = check_limit("max_lines", max_lines), check_limit("max_bytes", max_bytes)
    check_sources(ep, prompt=prompt, messages=messages, system=system, input=input, id_column=id_column)
    if prompt is not None:
        check_text("prompt", prompt, "prompt='Classify: {text}'")
    if system is not None:
        check_text("system", system, "system='Answer in one word.' (or leave system= out)")
    extra, schema = response_format_body(response_format, ep)
    prov = resolve(provider) if provider is not None else None
    spec = BuildSpec(endpoint=ep, model=model, prompt=prompt, messages=messages, system=system, input=input,
                     id_column=id_column, params=check_params(params), extra=extra, max_bytes=bytes_cap)  # fmt: skip
    spool, found = encode_frames(data, spec)
    try:
        reqs = BatchRequests(spool, endpoint=ep, model=model, provider=prov, response_schema=schema,
                             max_lines=lines_cap, max_bytes=bytes_cap, warnings=found,
                             id_column=id_column, template=_recipe(prompt, system, messages, input, params))  # fmt: skip
    except BaseException:
        spool.discard()
        raise
    for message in found:
        warnings.warn(message, UserWarning, stacklevel=2)
    return reqs


def _recipe(prompt: str | None, system: str | None, messages: Any, input: str | None,
            params: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    # What made the lines, as JSON: a callable is named, not kept (it cannot be stored).
    recipe: dict[str, Any] = {"prompt": prompt, "system": system, "input": input, "params": dict(params)}
    if messages is not None:
        recipe["messages"] = (
            messages
            if isinstance(messages, str)
            else f"<callable {getattr(messages, '__qualname__', type(messages).__name__)}>"
        )
    return recipe
