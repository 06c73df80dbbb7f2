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
# # Large jobs and restarts
#
# Big batches take hours, and a notebook kernel rarely lives that long. This notebook shows how
# `tfbatch_nb` keeps a large job safe:
#
# * **sharding**: input over a provider's limits is split into parts, one provider batch each,
#   still handled as **one job**;
# * the **journal** (`.tfbatch/`): every submission is recorded before anything is paid, so a
#   job can be found again after a kernel restart, and re-running a cell never pays twice;
# * **quotas**: parts wait for room under the provider's limit of enqueued tokens;
# * **reading result files** you downloaded yourself;
# * the **forwarder**: the local gateway turning any real-time endpoint into a batch service.

# %%
import shutil
from pathlib import Path

import tfbatch_nb as tfb
from tfbatch_nb.datasets import load_reviews
from tfbatch_nb.gateway import LocalGateway

df = load_reviews()  # all 200 reviews

# %% [markdown]
# ## Sharding
#
# One batch file may hold at most 50,000 lines / 200 MB (OpenAI's limits; other providers
# differ). `build_requests` splits bigger inputs into **parts** within `max_lines` and
# `max_bytes`. Here a tiny `max_lines=80` makes 200 rows into three parts, to see it happen.
# (The lines live in a spool file on disk, not in memory, so millions of rows are fine.)

# %%
reqs = tfb.build_requests(
    df,
    model="openai-main/gpt-4o-mini",
    prompt="Label the sentiment of this review: {text}",
    id_column="review_id",
    max_tokens=5,
    max_lines=80,
)
reqs.parts

# %% [markdown]
# ## Estimate before submitting
#
# The estimate counts characters (about 4 per token) and uses the model's list price with the
# batch discount: rough, but enough to catch a job that would cost 100 times what you expected.

# %%
reqs.estimate()

# %% [markdown]
# ## One job over the parts
#
# `submit` uploads each part and creates one provider batch per part. The returned `Batch` is
# the whole job: one id, one status, one results frame; `batch.ids` are the provider batches.
#
# This notebook keeps its journal in a folder of its own (`journal=`; the default is
# `.tfbatch/`), so the journal listings below show only its jobs.

# %%
journal = Path(".tfbatch") / "05-large-jobs"
gw = tfb.connect(journal=journal, gateway_options={"speed": 2.0})
batch = gw.submit(reqs, name="all-reviews")
print(len(batch.ids), "provider batches in one job")

# %% tags=["nbval-ignore-output"]
batch

# %% [markdown]
# ## A kernel restart
#
# Suppose the kernel restarts now, while the job runs: every Python object is gone. We play it
# honestly in this notebook: close the connection (which stops the local gateway, as a restart
# would) and delete the objects. Only two things survive, as they would after a real restart:
# the **journal** folder, and the **gateway** side (a real gateway keeps running; the local one
# keeps its batches in the journal's `local-gateway/` folder and resumes them when it starts).

# %%
gw.close()
del gw, batch

# %% [markdown]
# After the restart: connect again and `attach` the job by name (or by its `job_...` id or a
# provider batch id). Nothing is uploaded or submitted again; the job is rebuilt from the
# journal and polled where it is.

# %%
gw = tfb.connect(journal=journal, gateway_options={"speed": 2.0})
batch = gw.attach("all-reviews")
batch.wait()

# %%
res = batch.results()
res[["status", "content", "total_tokens"]].head()

# %% [markdown]
# ## The journal
#
# `gw.batches()` lists every job of this gateway, newest first (the retries of
# `03_failures_and_retries` would show up here too, with their `parent_job`):

# %%
gw.batches()[["name", "status", "total", "completed", "failed", "model"]]

# %% [markdown]
# On disk, each job keeps its request parts (so `retry_failed()` works after a restart), the
# provider batch ids, and the downloaded result files, so results are downloaded only once.
# The journal holds **no API key** and is created readable by you only.

# %%
sorted(p.name for p in (journal / "jobs" / batch.id).iterdir())

# %% [markdown]
# ## Re-running a cell never pays twice
#
# Run the submit cell again (or the whole notebook): the journal knows these exact requests
# (by a hash of their bytes), so the same job comes back instead of a second, paid one.

# %%
again = gw.submit(reqs, name="all-reviews")
print(again.id == batch.id, again.status, again.counts)

# %% [markdown]
# ## Result files you already have
#
# If you downloaded a batch's output yourself (from a console, another tool, a colleague),
# `read_results` turns the files into the same results frame. Here we download the three
# output files with the `openai` client of the connection (into a folder of the journal, so a
# second run overwrites them instead of leaving copies behind):

# %%
folder = journal / "downloads"
folder.mkdir(exist_ok=True)
files = []
for part in batch.snapshot().parts:
    path = folder / f"output-{part.index}.jsonl"
    gw.client.files.content(part.output_file_id).write_to_file(path)
    files.append(path)
print([p.name for p in files])

# %% [markdown]
# With `requests=` the frame has exactly one row per request, in input order (a request that is
# in no file would be a `missing` row):

# %%
downloaded = tfb.read_results(files, requests=reqs)
print(len(downloaded), downloaded.equals(res))
downloaded["status"].value_counts()

# %%
gw.close()

# %% [markdown]
# ## Big jobs under a quota
#
# Providers cap the input tokens a model may have *enqueued* (batches validating, running or
# finalizing). A batch over the cap is accepted, then fails with `token_limit_exceeded`, and a
# big job sent all at once loses most of its parts that way. `tfbatch_nb` schedules the parts.
#
# A small version: 80 reviews in 4 parts of 20, and a quota with room for two parts at a time.
# The local gateway plays the provider's quota (`enqueued_token_limit`). This demo starts from
# an empty journal each run, so there is always something to schedule.

# %%
quota_journal = Path(".tfbatch") / "05-quota"
shutil.rmtree(quota_journal, ignore_errors=True)  # a fresh start: no job to find again

four = tfb.build_requests(
    df.head(80),
    model="openai-main/gpt-4o-mini",
    prompt="Label the sentiment of this review: {text}",
    id_column="review_id",
    max_tokens=5,
    max_lines=20,
)
per_part = four.estimate().prompt_tokens / len(four.parts)
quota = int(2.5 * per_part)  # room for two parts, not three
print(f"{len(four.parts)} parts of ~{per_part:.0f} tokens each; quota {quota:,} tokens")

gw = tfb.connect(
    journal=quota_journal,
    quota_wait=1.0,  # how long a refused part waits when nothing else finishes (doubling)
    gateway_options={"speed": 2.0, "enqueued_token_limit": quota},
)

# %% [markdown]
# **With `max_enqueued_tokens`** (your quota), `submit` creates parts in order while the
# estimates of the job's running parts fit, and leaves the rest `queued`. The watcher (or
# `wait()`) creates them as earlier parts finish; the journal knows which wait, so a kernel
# restart loses nothing.

# %%
scheduled = gw.submit(four, name="under-the-quota", max_enqueued_tokens=quota)
table = scheduled.parts()
print(table["batch_id"].notna().sum(), "parts created,", (table["status"] == "queued").sum(), "queued")
print(scheduled.snapshot().note)  # what the panel says

# %% tags=["nbval-ignore-output"]
scheduled

# %%
scheduled.wait()
scheduled.parts()[["part", "status", "lines", "tokens (est.)", "quota retries"]]

# %% [markdown]
# Every row came back once, and the gateway refused nothing:

# %%
rows = scheduled.results()
print(len(rows), "rows, each once:", rows.index.is_unique)
print(rows["status"].value_counts().to_dict())

# %% [markdown]
# **Without `max_enqueued_tokens`** all four parts are created at once, and the gateway refuses
# two of them. The refused parts are queued again and created anew (same lines, a new batch)
# once another part finishes. `force=True` sends the same requests as a second job.

# %%
retried = gw.submit(four, name="refused-then-retried", force=True)
retried.wait()

# %% [markdown]
# `batch.parts()` keeps the story: how often each part was refused, and its earlier batches.
# (The retry count depends on timing: a part refused again waits for the next part to finish.)

# %% tags=["nbval-ignore-output"]
retried.parts()[["part", "status", "quota retries", "earlier batches"]]

# %%
table = retried.parts()
rows = retried.results()
print("refused for quota at least once: parts", table.loc[table["quota retries"] > 0, "part"].tolist())
print(len(rows), "rows, each once:", rows.index.is_unique)
print(rows["status"].value_counts().to_dict())

# %%
gw.close()


# %% [markdown]
# ## The forwarder: any real-time endpoint as a batch service
#
# Many model servers (Ollama, vLLM, a gateway's chat endpoint) answer one request at a time
# and have no Batch API. With `forward_to=` the local gateway runs each batch line against such
# an endpoint, with bounded concurrency and retries, so the same notebook code works on them.
#
# Here a second local gateway plays the real-time model server. Its "model" only counts the
# words of each prompt and says so, which shows that the answers really came through it.


# %%
def model(endpoint, body):  # the model server's "model": counts the words it was sent
    words = body["messages"][-1]["content"].split()
    return f"model server read {len(words)} words"


model_server = LocalGateway(speed="max", responder=model).start()  # e.g. http://localhost:11434/v1

fw = tfb.connect(
    journal=Path(".tfbatch") / "05-forwarder",  # a separate service: its own journal
    gateway_options={
        "speed": 4.0,
        "forward_to": model_server.url,
        "forward_api_key": model_server.api_key,
        # The forwarder drops "openai-main/" on the way up, as Ollama or vLLM want ("gpt-4o-mini");
        # this stand-in model server is another local gateway, which wants catalog ids: keep them.
        "forward_model_map": lambda model: model,
    },
)
small = tfb.build_requests(
    df.head(10),
    model="openai-main/gpt-4o-mini",
    prompt="Label the sentiment of this review: {text}",
    id_column="review_id",
    max_tokens=5,
)
forwarded = fw.submit(small, name="forwarded-reviews")
forwarded.wait()

# %%
forwarded.results()[["status", "content", "total_tokens"]].head(3)

# %%
fw.close()
model_server.stop()
