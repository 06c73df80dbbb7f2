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
# # Quickstart: a DataFrame in, a DataFrame of answers out
#
# A **batch** sends many prompts at once and returns the answers later, at about half the
# price of one-by-one calls. This notebook runs the whole flow on 20 product reviews:
#
# 1. build one request per row and look at them before paying,
# 2. submit them as a batch and watch it run,
# 3. read the answers back as a DataFrame joined to the reviews.
#
# It needs **no account and no API key**: with no gateway configured, `tfbatch_nb` starts a small
# local gateway inside this kernel that speaks the same protocol as the TrueFoundry AI Gateway
# and answers with a simulated model. The last section shows how to point the very same code at
# TrueFoundry.

# %%
import tfbatch_nb as tfb
from tfbatch_nb.datasets import load_reviews

df = load_reviews(20)  # 20 bundled product reviews, with a human label
df[["review_id", "product", "stars", "label"]].head()

# %% [markdown]
# ## Connect
#
# `connect()` reads `TFY_BASE_URL` / `TFY_API_KEY` from the environment. Neither is set here, so
# it starts the **local gateway** (its repr says so). The API key it uses is never shown.

# %%
gw = tfb.connect()
gw

# %% [markdown]
# ## Build the requests
#
# One request per row. `prompt` is a template over the columns, `system` is shared by all rows,
# and `id_column` makes each request's `custom_id` the review's id, which is how every answer
# finds its way back to its row (a batch may answer in any order). Extra keywords such as
# `max_tokens` go into each request body as they are.
#
# Nothing is sent yet: the cell's value is a preview (rows, size, parts, the first lines), so
# mistakes are caught before they cost anything.

# %%
reqs = tfb.build_requests(
    df,
    model="openai-main/gpt-4o-mini",
    prompt="Classify the sentiment of this review: {text}",
    system="Answer with one word: positive, negative or neutral.",
    id_column="review_id",
    max_tokens=5,
)
reqs

# %% [markdown]
# `estimate()` gives an idea of the tokens and the price before submitting (characters / 4, so
# roughly; the batch discount is included).

# %%
reqs.estimate()

# %% [markdown]
# ## Try a few first
#
# Before paying for every row, `trial()` sends the first few requests in real time and shows
# their answers, shaped like the results of the batch. From their measured tokens it projects
# the whole batch: tokens per input character, scaled to each row's length, at batch prices.

# %%
trial = gw.trial(reqs, n=5)
trial.results[["status", "content", "prompt_tokens", "completion_tokens"]]

# %%
trial.projection

# %% [markdown]
# ## Submit
#
# `submit` uploads the lines and creates the batch, and records both in a small **journal**
# (`.tfbatch/` next to this notebook) *before* paying for anything. That is why running this
# cell again does not start a second batch: the same requests give back the same job.

# %%
batch = gw.submit(reqs, name="reviews-v1")

# %% [markdown]
# ## Watch it run
#
# A batch as a cell's value is a **live panel**: it polls in the background and updates itself,
# while the kernel stays free for other cells. (Its output changes from run to run, so the
# notebook tests don't compare it.)

# %% tags=["nbval-ignore-output"]
batch

# %% [markdown]
# `wait()` blocks until the batch is finished. In a script that is what you want; in a notebook
# you can instead go on working and come back.

# %%
batch.wait()

# %% [markdown]
# ## Read the answers
#
# `results()` downloads the output (once: it is kept in the journal folder) and returns one row
# per request, indexed by `custom_id`, whatever happened to it. The most useful columns:

# %%
res = batch.results()
res[["status", "content", "total_tokens"]].head()

# %% [markdown]
# `results(join=df)` puts the answers next to your rows, matched on the id column. Here the
# simulated model's answer can be compared with the human label. (The simulated model only
# looks for a few dozen words such as "love" or "broken", so it calls many reviews `neutral`
# and agrees with the label on about half of them; a real model does much better.)

# %%
joined = batch.results(join=df)
joined["answer"] = joined["content"].str.removeprefix("[simulated] ")
joined[["review_id", "label", "answer", "status"]].head(8)

# %%
print(f"agreement with the human label: {(joined.answer == joined.label).mean():.0%}")
print(f"tokens used: {int(joined.total_tokens.sum())}")

# %% [markdown]
# ## What it cost
#
# `cost()` counts the tokens the answers really used, prices them at batch prices, and puts the
# trial's projection beside it. The results also remember where they came from (model,
# template, batch ids, times): `tfb.lineage(res)`, kept even in a parquet file.

# %%
batch.cost()

# %%
{k: v for k, v in tfb.lineage(res).items() if k in ("name", "model", "template", "request_hash")}

# %% [markdown]
# ## Re-running never pays twice
#
# Notebooks get re-run. Submitting the same requests again returns the job that already exists
# (found in the journal), so nothing is uploaded or paid for a second time. To really start
# over, pass `force=True` or change the requests.

# %%
again = gw.submit(reqs, name="reviews-v1")
print(again.id == batch.id, again.status)

# %% [markdown]
# ## Pointing it at TrueFoundry
#
# The same code runs against the TrueFoundry AI Gateway. Set three environment variables before
# starting Jupyter (or in the first cell with `os.environ[...]`), and keep the key out of the
# notebook itself:
#
# ```bash
# export TFY_BASE_URL="https://<your-control-plane>/api/llm"   # the gateway's OpenAI base URL
# export TFY_API_KEY="<a TrueFoundry PAT or VAT>"               # never printed or stored by tfbatch_nb
# export TFY_PROVIDER="openai-main"                            # your provider integration's name
# ```
#
# Then `tfb.connect()` talks to TrueFoundry instead of the local gateway, sending the
# `x-tfy-provider-name` header that routes each call to your provider account. The `model` in
# `build_requests` must be a real catalog id of that account (e.g. `openai-main/gpt-4o-mini`),
# not a virtual model. Azure OpenAI, Vertex AI and AWS Bedrock need a few more headers: see
# `02_truefoundry_providers.ipynb`.
#
# Finally, stop the local gateway (the journal and the downloaded results stay on disk):

# %%
gw.close()
