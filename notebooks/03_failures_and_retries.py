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
# # Failures and retries: nothing is lost, nothing is paid twice
#
# Real batches go wrong in a few typical ways:
#
# * **some lines fail** (a model error, a bad request): the batch still *completes*, and the
#   failed lines go to a separate error file;
# * the batch **expires** (not finished inside its 24 h window): the lines done so far are kept;
# * **you cancel** it: same, the finished lines are kept.
#
# The local gateway can misbehave on purpose (`faults=`), so this notebook shows each case for
# real, with the same HTTP calls a real gateway would see. The rule in every case:
# `results()` has exactly **one row per request**, whatever happened to it, and
# `retry_failed()` sends only the rows that need it.

# %%
import tempfile
import time

import tfbatch_nb as tfb
from tfbatch_nb.datasets import load_reviews

df = load_reviews(40)

# %% [markdown]
# This notebook keeps its journal in a throw-away folder, so every run shows the failures from
# scratch. (With the default journal, `.tfbatch/`, a second run would find every job and every
# retry already done and show the final answers straight away: re-running pays nothing, as
# `01_quickstart` and `05_large_jobs_and_restarts` show.) The last cell deletes the folder; if
# the kernel stops before that, Python deletes it when the kernel exits.

# %%
scratch = tempfile.TemporaryDirectory(prefix="tfbatch-03-")
journal = scratch.name

# %% [markdown]
# ## Lines that fail
#
# `line_error=0.2` makes about one line in five fail, repeatably (the draws are seeded).
# `speed=4.0` runs the simulated batches four times faster than the tutorial pace: waiting
# teaches nothing here.

# %%
gw = tfb.connect(journal=journal, gateway_options={"speed": 4.0, "faults": ["line_error=0.2"]})
reqs = tfb.build_requests(
    df,
    model="openai-main/gpt-4o-mini",
    prompt="What is the sentiment of this review? {text}",
    id_column="review_id",
    max_tokens=5,
)
batch = gw.submit(reqs, name="flaky-reviews")
batch.wait()

# %% [markdown]
# The status is `completed` even though 5 lines failed: for the Batch API, *completed* means
# "every line was processed", not "every line succeeded". Always look at the failures.
#
# The failed lines come from the batch's **error file**; `results()` reads it together with the
# output file, so the failures are rows of the same frame, with their HTTP status and error:

# %%
res = batch.results()
res["status"].value_counts()

# %%
res.loc[res.status == "failed", ["status", "status_code", "error_code", "error_message"]]

# %% [markdown]
# `errors()` is the short list of what went wrong, one row per problem (validation errors of
# the whole file would come first, then failed rows):

# %%
batch.errors()[["kind", "custom_id", "code", "message"]]

# %% [markdown]
# ## Retry only the failed rows
#
# `retry_failed()` submits a new, linked batch made of just those rows (rebuilt from the
# journal's copy of the requests, so it works after a kernel restart too). Running the cell again
# returns the same retry batch instead of paying again.

# %%
retry = batch.retry_failed()
retry.wait()

# %% [markdown]
# The faulty gateway failed one of the five again (faults are faults). The original batch's
# `results()` now folds the retried answers in: a successful retry replaces the failed row.

# %%
res = batch.results()
res["status"].value_counts()

# %% [markdown]
# Retrying the rows that are still failed is the same call again; when nothing is left to
# retry, `retry_failed()` raises `BatchInputError` (there is nothing to pay for).

# %%
while (batch.results().status == "failed").any():
    batch.retry_failed().wait()
batch.results()["status"].value_counts()

# %%
gw.close()

# %% [markdown]
# ## A batch that expires
#
# A batch has a *completion window* (24 h). If the provider does not finish in time the batch
# **expires**, but the lines already answered are kept in its output file. `expire=0.5#1` makes
# the first batch expire half-way.

# %%
gw = tfb.connect(journal=journal, gateway_options={"speed": 4.0, "faults": ["expire=0.5#1"]})
reqs = tfb.build_requests(
    df,
    model="openai-main/gpt-4o-mini",
    prompt="In one word, how does this customer feel? {text}",
    id_column="review_id",
    max_tokens=5,
)
late = gw.submit(reqs, name="late-reviews")
late.wait()

# %% [markdown]
# The 20 answered rows are `completed`, the others are `expired`, with the reason:

# %%
res = late.results()
res["status"].value_counts()

# %%
res.loc[res.status == "expired", ["status", "error_code", "error_message"]].head(3)

# %% [markdown]
# `retry_failed()` retries `failed`, `expired`, `cancelled` and `missing` rows by default, so
# the same call finishes the job, paying only for the 20 rows that never ran:

# %%
rest = late.retry_failed()
rest.wait()

# %%
late.results()["status"].value_counts()

# %% [markdown]
# ## Cancelling
#
# Started something too big by mistake? `cancel()` stops it; the lines finished before the
# cancel are kept and returned (you paid for them). Here we wait until a few lines are done,
# then cancel.

# %%
all_reviews = load_reviews()
reqs = tfb.build_requests(
    all_reviews,
    model="openai-main/gpt-4o-mini",
    prompt="Summarise this review in three words: {text}",
    id_column="review_id",
    max_tokens=10,
)
big = gw.submit(reqs, name="too-big")
while (snap := big.refresh()).completed < 10 and not snap.terminal:
    time.sleep(0.1)
snap = big.cancel()
big.wait().status

# %% [markdown]
# How many lines finished before the cancel depends on timing (so the notebook tests don't
# compare the next cell), but every row is accounted for: answered or `cancelled`.

# %% tags=["nbval-ignore-output"]
res = big.results()
res["status"].value_counts()

# %%
print(len(res) == len(all_reviews), sorted(res.status.unique()))

# %% [markdown]
# The journal remembers every job, including the retries and which job each came from
# (`parent_job`; here mapped to its name):

# %%
jobs = gw.batches()
jobs["retry_of"] = jobs["parent_job"].map(dict(zip(jobs["job_id"], jobs["name"], strict=True)))
jobs[["name", "status", "total", "retry_of"]]

# %% [markdown]
# Finally, stop the gateway and delete the throw-away journal with everything in it:

# %%
gw.close()
scratch.cleanup()
