"""Provider objects: headers, rules and resolve()."""

from __future__ import annotations

import dataclasses

import pytest

from tfbatch_nb import providers as p


@pytest.mark.parametrize(
    ("prov", "headers", "kind", "min_records", "omit"),
    [
        (p.OpenAI("openai-main"), {"x-tfy-provider-name": "openai-main"}, "openai", 1, False),
        (p.AzureOpenAI("azure-main", api_version="2024-10-21"),
         {"x-tfy-provider-name": "azure-main", "x-tfy-azure-api-version": "2024-10-21"}, "azure", 1, False),
        (p.VertexAI("google-main", bucket="bk", region="europe-west4", model="gemini-2-0-flash"),
         {"x-tfy-provider-name": "google-main", "x-tfy-vertex-storage-bucket-name": "bk",
          "x-tfy-vertex-region": "europe-west4", "x-tfy-provider-model": "gemini-2-0-flash"}, "vertex", 1, True),
        (p.Bedrock("bedrock-main", s3_bucket="s3b", model="anthropic.claude"),
         {"x-tfy-provider-name": "bedrock-main", "x-tfy-aws-s3-bucket": "s3b", "x-tfy-aws-bedrock-model": "anthropic.claude"},
         "bedrock", 100, False),
    ],
)  # fmt: skip
def test_headers_and_rules(
    prov: p.Provider, headers: dict[str, str], kind: str, min_records: int, omit: bool
) -> None:
    assert prov.headers() == headers
    assert (prov.kind, prov.min_records, prov.omit_routing) == (kind, min_records, omit)
    assert eval(repr(prov), vars(p)) == prov  # repr round-trips and shows no secrets (there are none)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prov.name = "other"  # type: ignore[misc]


def test_resolve() -> None:
    assert p.resolve(None) == p.OpenAI("openai-main")
    assert p.resolve(None, default="x") == p.OpenAI("x")
    assert p.resolve("openai-eu") == p.OpenAI("openai-eu")
    azure = p.AzureOpenAI("a", api_version="v")
    assert p.resolve(azure) is azure
    with pytest.raises(ValueError, match="provider="):
        p.resolve(3)  # type: ignore[arg-type]


def test_settings_are_keyword_only_and_required() -> None:
    with pytest.raises(TypeError):
        p.AzureOpenAI("a", "v")  # type: ignore[misc]
    with pytest.raises(ValueError, match="name"):
        p.OpenAI("")
    with pytest.raises(ValueError, match="region="):
        p.VertexAI("g", bucket="b", region=" ", model="m")
