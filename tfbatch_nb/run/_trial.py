"""Try first: a few requests in real time, answered now, and the whole batch projected from them.

The trial sends the first ``n`` lines (or chosen rows) through the same client and headers to the
endpoint's real-time route (chat completions, embeddings, responses, completions), a few at a
time, with the SDK's retries. Each answer is written as a batch output line would be and read by
the results stage, so ``trial.results`` has exactly the shape of ``batch.results()``; a request
that fails shows its error in its row instead of raising.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import orjson
import pandas as pd

from ..build import BatchRequests
from ..errors import BatchInputError
from ..results import parse_results
from ..ui import request_text
from ._context import Context, public_url
from ._cost import Prices, Projection, project

__all__ = ["Trial", "run_trial"]

_COLUMNS = ["status", "content", "parsed", "embedding", "prompt_tokens", "completion_tokens", "error_message"]


class Trial:
    """A few requests answered in real time, and the projection of the whole batch from them.

    Attributes
    ----------
    results : pandas.DataFrame
        Shaped exactly like ``batch.results()``: indexed by ``custom_id``, one row per tried request.
    projection : Projection
        Rows, tokens and cost of the whole batch, projected from the measured usage.

    Examples
    --------
    >>> trial = gw.trial(reqs, n=3)
    >>> len(trial.results), trial.projection.rows
    (3, 37)
    """

    def __init__(self, results: pd.DataFrame, projection: Projection) -> None:
        self.results = results
        self.projection = projection

    def _answers(self) -> pd.DataFrame:
        shown: pd.DataFrame = self.results[[c for c in _COLUMNS if c in self.results.columns]]
        return shown

    def __repr__(self) -> str:
        return (
            f"<Trial of {len(self.results)} request(s)\n{self._answers().to_string()}\n{self.projection!r}>"
        )

    def _repr_html_(self) -> str:
        answers = self._answers().to_html(max_rows=20, border=0)
        return (
            "<div style='display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap'>"
            f"<div><b>Trial: {len(self.results)} request(s) in real time</b>{answers}</div>"
            f"{self.projection._repr_html_()}</div>"
        )


def _route(endpoint: str) -> str:
    # The real-time route of a batch endpoint: "/v1/chat/completions" -> "/chat/completions".
    route = endpoint[3:] if endpoint.startswith("/v1/") else endpoint
    if route not in ("/chat/completions", "/embeddings", "/responses", "/completions"):
        raise BatchInputError(f"no real-time route to try {endpoint} requests on")
    return route


def _answer(client: openai.OpenAI, route: str, custom_id: str, body: dict[str, Any]) -> bytes:
    # One request, written as the batch output (or error) line of that request would be.
    try:
        answer = client.post(route, body=body, cast_to=object)
        line: dict[str, Any] = {"custom_id": custom_id, "response": {"status_code": 200, "body": answer}}
    except openai.APIStatusError as exc:
        sent: Any = exc.body if isinstance(exc.body, dict) else {"message": str(exc)}
        error = sent["error"] if isinstance(sent.get("error"), dict) else sent
        line = {
            "custom_id": custom_id,
            "response": {"status_code": exc.status_code, "body": {"error": error}},
        }
    except openai.APIConnectionError as exc:
        where = public_url(str(client.base_url).rstrip("/"))
        line = {"custom_id": custom_id, "error": {"code": "connection_error", "message": f"{where}: {exc}"}}
    return orjson.dumps(line) + b"\n"


def _pick(lines: Iterable[bytes], n: int, rows: Sequence[str] | None) -> list[tuple[str, dict[str, Any]]]:
    wanted = None if rows is None else {str(r) for r in rows}
    picked = []
    for raw in lines:
        line = orjson.loads(raw)
        if wanted is None or line["custom_id"] in wanted:
            picked.append((line["custom_id"], line["body"]))
        if wanted is None and len(picked) >= n:
            break
    return picked


def _tokens(frame: pd.DataFrame, ids: list[str], column: str) -> list[int]:
    if column not in frame.columns:  # embeddings report no completion tokens
        return [0] * len(ids)
    return [int(v) for v in pd.to_numeric(frame.loc[ids, column], errors="coerce").fillna(0)]


def run_trial(
    ctx: Context, requests: BatchRequests, *, n: int, rows: Sequence[str] | None, prices: Prices | None
) -> Trial:
    """Answer ``n`` requests (or ``rows``) in real time and project the whole batch; see the module docstring."""
    if rows is None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise BatchInputError(f"n= is how many requests to try, a positive integer; got {n!r}")
    picked = _pick(requests.iter_lines(), n, rows)
    if rows is not None and len(picked) < len({str(r) for r in rows}):
        missing = sorted({str(r) for r in rows} - {cid for cid, _ in picked})[:5]
        raise BatchInputError(f"rows= names custom_ids that are not in the requests, e.g. {missing}")
    route = _route(requests.endpoint)
    with ThreadPoolExecutor(max_workers=min(8, len(picked)) or 1) as pool:
        answers = list(pool.map(lambda item: _answer(ctx.client, route, item[0], item[1]), picked))
    with tempfile.TemporaryDirectory(prefix="tfbatch-trial-") as folder:
        path = Path(folder) / "trial.jsonl"
        path.write_bytes(b"".join(answers))
        frame = parse_results([path], custom_ids=[cid for cid, _ in picked], schema=requests.response_schema,
                              endpoint=requests.endpoint)  # fmt: skip
    chars = {cid: len(request_text(body)) for cid, body in picked}
    ok = frame[frame["status"] == "completed"]
    trial_ids = [cid for cid in ok.index if cid in chars]
    all_chars = [len(request_text(orjson.loads(raw)["body"])) for raw in requests.iter_lines()]
    projection = project(
        trial_chars=[chars[cid] for cid in trial_ids],
        trial_input=_tokens(ok, trial_ids, "prompt_tokens"),
        trial_output=_tokens(ok, trial_ids, "completion_tokens"),
        all_chars=all_chars, model=requests.model, prices=prices,
    )  # fmt: skip
    return Trial(frame, projection)
