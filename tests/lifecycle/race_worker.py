"""The racing side of test_lc_exactly_once: run in spawned processes, so it imports no conftest."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

import tfbatch_nb as tfb

RACES = 10
MODEL = "openai-main/gpt-4o-mini"


def requests_of(race: int) -> Any:
    """The requests of one race: 30 rows in 3 parts, different for every race."""
    frame = pd.DataFrame(
        {"review_id": [f"r{race}-{i}" for i in range(30)], "text": [f"text {i}" for i in range(30)]}
    )
    return tfb.build_requests(frame, model=MODEL, prompt="{text}", id_column="review_id", max_lines=10)


def racer(url: str, key: str, journal: str, barrier: Any, out: Any) -> None:
    """One process: the same submit as the others, released together by the barrier, RACES times."""
    gw = tfb.connect(url, key, journal=journal)
    try:
        for race in range(RACES):
            reqs = requests_of(race)
            barrier.wait(timeout=60)
            batch = gw.submit(reqs, name=f"race-{race}")
            out.put(json.dumps({"race": race, "job": batch.id, "ids": batch.ids}))
    finally:
        gw.close()
