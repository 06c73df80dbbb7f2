# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # TrueFoundry providers: OpenAI, Azure OpenAI, Vertex AI, AWS Bedrock
#
# The TrueFoundry AI Gateway runs a batch on one **provider integration** (an account you set up
# in TrueFoundry, such as `openai-main`). Every file and batch call names it in the
# `x-tfy-provider-name` header, and some providers need a few more `x-tfy-*` headers. In
# `tfbatch_nb` a provider object carries them, and `connect(provider=...)` sends them on every
# call.
#
# This notebook runs each provider's setup against the local gateway, which checks the same
# rules as TrueFoundry, and shows the **real errors** you get when something is missing.

# %%
import json
from pathlib import Path

import openai

import tfbatch_nb as tfb
from tfbatch_nb import providers
from tfbatch_nb.datasets import load_reviews
from tfbatch_nb.gateway import LocalGateway

df = load_reviews(20)

# %% [markdown]
# One local gateway stands in for TrueFoundry here, so we connect to it the way you connect to
# TrueFoundry: a base URL, a key and a provider. (With TrueFoundry the base URL is
# `https://<control-plane>/api/llm` and the key a PAT or VAT, best read from `TFY_API_KEY`; the
# local gateway's key is random and is never printed.)

# %%
local = LocalGateway(speed=4.0).start()


def connect(provider):
    return tfb.connect(local.url, api_key=local.api_key, provider=provider)


# %% [markdown]
# ## The headers of each provider
#
# | provider | class | headers sent |
# | --- | --- | --- |
# | OpenAI | `providers.OpenAI(name)` | `x-tfy-provider-name` |
# | Azure OpenAI | `providers.AzureOpenAI(name, api_version=...)` | + `x-tfy-azure-api-version` |
# | Vertex AI | `providers.VertexAI(name, bucket=..., region=..., model=...)` | + `x-tfy-vertex-storage-bucket-name`, `x-tfy-vertex-region`, `x-tfy-provider-model` |
# | AWS Bedrock | `providers.Bedrock(name, s3_bucket=..., model=...)` | + `x-tfy-aws-s3-bucket`, `x-tfy-aws-bedrock-model` |
#
# A plain string such as `provider="openai-main"` means `providers.OpenAI("openai-main")`.

# %%
setups = [
    providers.OpenAI("openai-main"),
    providers.AzureOpenAI("azure-main", api_version="2024-10-21"),
    providers.VertexAI(
        "google-main", bucket="my-gcs-bucket", region="europe-west4", model="gemini-2.0-flash"
    ),
    providers.Bedrock("bedrock-main", s3_bucket="my-s3-bucket", model="anthropic.claude-3-haiku"),
]
for p in setups:
    print(p.kind, p.headers())

# %% [markdown]
# ## OpenAI
#
# Only the integration name is needed. The model in each line must be that integration's
# catalog id, `openai-main/<model>`.

# %%
gw = connect(providers.OpenAI("openai-main"))
reqs = tfb.build_requests(
    df, model="openai-main/gpt-4o-mini", prompt="Sentiment of: {text}", id_column="review_id", max_tokens=5
)
gw.submit(reqs, name="openai-reviews").wait()

# %% [markdown]
# ## Azure OpenAI: what a missing header looks like
#
# Azure needs the API version of the deployment. Naming only the integration is not enough: the
# gateway refuses the upload with HTTP 400, which the `openai` SDK raises as
# `openai.BadRequestError` (`tfbatch_nb` passes the SDK's errors through unchanged). Nothing was
# created, so nothing is paid.

# %%
gw = connect("azure-main")  # a plain name: only x-tfy-provider-name is sent
reqs = tfb.build_requests(
    df, model="azure-main/gpt-4o-mini", prompt="Sentiment of: {text}", id_column="review_id", max_tokens=5
)
try:
    gw.submit(reqs, name="azure-reviews")
except openai.BadRequestError as err:
    print(type(err).__name__, err.status_code, err.body["code"])
    print(err.body["message"])

# %% [markdown]
# With the `AzureOpenAI` provider the header is sent and the same requests run:

# %%
gw = connect(providers.AzureOpenAI("azure-main", api_version="2024-10-21"))
gw.submit(reqs, name="azure-reviews").wait()

# %% [markdown]
# ## Vertex AI: three headers, and optional fields in the lines
#
# Vertex needs the GCS bucket (in the model's region), the region and the provider model. The
# model comes from the header, so Vertex ignores `method`, `url` and `body.model` in the lines:
# a file without them is valid for Vertex. The builder always writes them (harmless);
# `BatchRequests.from_jsonl` accepts a hand-written file without them when the provider is Vertex.

# %%
vertex = providers.VertexAI(
    "google-main", bucket="my-gcs-bucket", region="europe-west4", model="gemini-2.0-flash"
)
path = Path(".tfbatch") / "vertex_requests.jsonl"  # beside the journal; the next run overwrites it
path.parent.mkdir(exist_ok=True)
with open(path, "w") as f:  # a minimal file: custom_id + messages only
    for row in df.itertuples():
        line = {
            "custom_id": row.review_id,
            "body": {"messages": [{"role": "user", "content": f"Sentiment of: {row.text}"}], "max_tokens": 5},
        }
        f.write(json.dumps(line) + "\n")
print(path.read_text().splitlines()[0])

# %%
vreqs = tfb.BatchRequests.from_jsonl(path, provider=vertex)
gw = connect(vertex)
gw.submit(vreqs, name="vertex-reviews").wait()

# %% [markdown]
# The same file is not valid for OpenAI, where `method`, `url` and `body.model` are required;
# the check happens on your machine, before anything is uploaded:

# %%
try:
    tfb.BatchRequests.from_jsonl(path, provider="openai-main")
except tfb.BatchInputError as err:
    print("\n".join(str(err).splitlines()[:4]))

# %% [markdown]
# ## AWS Bedrock: at least 100 records
#
# Bedrock needs the S3 bucket and the Bedrock model in headers, and rejects batch files with fewer
# than **100 records**. The builder knows the rule, so a too-small batch fails right away with
# `BatchInputError`, not hours later:

# %%
bedrock = providers.Bedrock("bedrock-main", s3_bucket="my-s3-bucket", model="anthropic.claude-3-haiku")
try:
    tfb.build_requests(
        df,
        model="bedrock-main/claude-3-haiku",
        prompt="Sentiment of: {text}",
        id_column="review_id",
        max_tokens=5,
        provider=bedrock,
    )
except tfb.BatchInputError as err:
    print(err)

# %%
all_reviews = load_reviews()  # 200 rows
breqs = tfb.build_requests(
    all_reviews,
    model="bedrock-main/claude-3-haiku",
    prompt="Sentiment of: {text}",
    id_column="review_id",
    max_tokens=5,
    provider=bedrock,
)
gw = connect(bedrock)
gw.submit(breqs, name="bedrock-reviews").wait()

# %% [markdown]
# ## No virtual models
#
# TrueFoundry's *virtual models* route, retry and fall back between providers one request at a
# time. A batch runs on a single provider, so the Batch API accepts only a real **catalog id**
# (`integration/model`). A bare or virtual model name is refused by `submit`, before anything is
# uploaded or paid for:

# %%
gw = connect("openai-main")
bad = tfb.build_requests(
    df, model="my-virtual-model", prompt="Sentiment of: {text}", id_column="review_id", max_tokens=5
)
try:
    gw.submit(bad, name="virtual-model")
except tfb.BatchInputError as err:
    print(err)

# %% [markdown]
# A catalog id of an integration the gateway does not have passes that check and is uploaded;
# then the batch **fails validation**. The status says `failed` and `errors()` says why, line by
# line:

# %%
unknown = tfb.build_requests(
    df,
    model="no-such-integration/gpt-4o-mini",
    prompt="Sentiment of: {text}",
    id_column="review_id",
    max_tokens=5,
)
failed = gw.submit(unknown, name="unknown-integration").wait()
failed

# %%
errs = failed.errors()
errs.loc[errs.kind == "validation", ["line", "code", "message"]].head(3)

# %% [markdown]
# `results()` of a batch whose every part failed without writing a result file raises
# `BatchFailedError`, which carries the same lines (there are no answers to return):

# %%
try:
    failed.results()
except tfb.BatchFailedError as err:
    print(str(err).splitlines()[1])

# %% [markdown]
# ## The status values
#
# A batch moves through these statuses (the Batch API's eight; the last four rows and `failed`
# are **terminal**: nothing changes after them). `tfbatch_nb` also copes with unknown statuses
# a gateway may send.
#
# | status | meaning | terminal |
# | --- | --- | --- |
# | `validating` | the input file is being checked | |
# | `failed` | the file failed validation (see `errors()`) | yes |
# | `in_progress` | lines are being answered; the counts grow | |
# | `finalizing` | all lines done, output and error files being written | |
# | `completed` | every line processed (some may have failed: read the error file) | yes |
# | `expired` | not finished in the completion window; done lines are kept | yes |
# | `cancelling` | a cancel was asked; running lines finish | |
# | `cancelled` | stopped; done lines are kept | yes |

# %%
from tfbatch_nb.ui import TERMINAL

sorted(TERMINAL)

# %% [markdown]
# Every job this notebook ran, from the journal (each connection lists its own provider's jobs):

# %%
for p in setups:
    jobs = connect(p).batches()
    print(f"{p.name:13}", list(zip(jobs["name"], jobs["status"], strict=True)))

# %%
local.stop()
