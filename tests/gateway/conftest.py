"""Fixtures for the local gateway tests: a running gateway and an openai client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from gateway_helpers import make_client

from tfbatch_nb.gateway import LocalGateway


@pytest.fixture
def gw() -> Iterator[LocalGateway]:
    with LocalGateway(speed="max") as gateway:
        yield gateway


@pytest.fixture
def client(gw: LocalGateway) -> Iterator[openai.OpenAI]:
    c = make_client(gw, max_retries=0)
    yield c
    c.close()
