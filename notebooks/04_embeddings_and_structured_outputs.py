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
# # Embeddings and structured outputs
#
# Two kinds of batch that return data rather than prose:
#
# * **embeddings**: one vector per row, landing in an `embedding` column, ready for numpy;
# * **structured outputs**: a pydantic model as `response_format`, the answers parsed back into
#   ordinary columns.
#
# The local gateway's simulated model returns the right *shapes* (vectors of the right size,
# JSON that fits your schema), but its values mean nothing. To make this notebook's answers
# mean something we plug in a small **rule-based stand-in model** with `responder=`: any Python
# function `(endpoint, body) -> answer`. It is also how you test your own pipeline offline.

# %%
import json
import re
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from pydantic import BaseModel

import tfbatch_nb as tfb
from tfbatch_nb.datasets import load_reviews

df = load_reviews(60)

# %% [markdown]
# ## A stand-in model
#
# It counts a few cue words. For chat requests it answers with JSON; for embedding requests it
# returns a 4-number vector (positive cues, negative cues, hedging cues, length), in the
# OpenAI response shape.

# %%
CUES = {
    "positive": {"love", "great", "nice", "best", "good", "worth", "perfect", "excellent", "easy"},
    "negative": {"horrible", "useless", "awful", "broke", "stopped", "never", "dead", "cheap", "hurt", "too"},
    "hedging": {"but", "though", "although", "fine", "okay", "average", "decent", "nothing"},
}


def features(text):
    words = re.findall(r"[a-z]+", text.lower())
    return [sum(w in CUES[k] for w in words) for k in CUES] + [len(words) / 10]


def stand_in(endpoint, body):
    if endpoint.endswith("/embeddings"):
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": features(t)} for i, t in enumerate(texts)]
        n = sum(len(t) // 4 for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": n, "total_tokens": n},
        }
    pos, neg, hedge, _ = features(body["messages"][-1]["content"])
    sentiment = "neutral" if hedge or pos == neg else ("positive" if pos > neg else "negative")
    return json.dumps(
        {"sentiment": sentiment, "confidence": round(max(pos, neg, hedge) / 3, 2), "cues": pos + neg + hedge}
    )


# %% [markdown]
# The stand-in runs inside this notebook's local gateway, so the notebook keeps its journal
# (and that gateway's data) in a folder of its own: another open notebook's kernel can serve
# the default `.tfbatch/` at the same time without the two sharing one store.

# %%
gw = tfb.connect(journal=".tfbatch/04-embeddings", gateway_options={"speed": 4.0, "responder": stand_in})

# %% [markdown]
# ## Embeddings into a column
#
# `input="text"` makes an embeddings batch (`/v1/embeddings`, inferred). The results frame then
# has an `embedding` column (one list of floats per row) instead of `content`.

# %%
ereqs = tfb.build_requests(
    df, model="openai-main/text-embedding-3-small", input="text", id_column="review_id"
)
emb = gw.submit(ereqs, name="review-vectors").wait()
vectors = emb.results(join=df)
vectors[["review_id", "label", "embedding"]].head()

# %% [markdown]
# A 2-D picture of the vectors: PCA with numpy's SVD (centre the matrix, project on the first two
# right singular vectors). Reviews that use the stand-in's cue words land in groups of their
# human label; those with none of its words fall on one line in the middle, spread only by their
# length, whatever their label: the stand-in cannot tell them apart.

# %%
X = np.array(vectors["embedding"].tolist())
Xc = X - X.mean(axis=0)
_, _, vt = np.linalg.svd(Xc, full_matrices=False)
xy = Xc @ vt[:2].T

fig, ax = plt.subplots(figsize=(5, 3.5))
for label, colour in [("positive", "tab:green"), ("neutral", "tab:grey"), ("negative", "tab:red")]:
    m = (vectors["label"] == label).to_numpy()
    ax.scatter(xy[m, 0], xy[m, 1], c=colour, label=label, alpha=0.6)
ax.set_xlabel("PC 1")
ax.set_ylabel("PC 2")
ax.legend()
ax.set_title("60 reviews, embedded and projected to 2-D")
plt.show()


# %% [markdown]
# ## Structured outputs with pydantic
#
# Pass a pydantic model as `response_format`: each request asks for JSON matching its schema
# (strict `json_schema`), and `results()` parses every answer into the `parsed` column (a dict).


# %%
class Verdict(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    confidence: float
    cues: int


sreqs = tfb.build_requests(
    df,
    model="openai-main/gpt-4o-mini",
    prompt="Judge this review: {text}",
    id_column="review_id",
    response_format=Verdict,
)
sreqs.response_schema["required"]

# %%
judged = gw.submit(sreqs, name="review-verdicts").wait()
res = judged.results()
res[["status", "parsed"]].head(3)

# %% [markdown]
# `parsed` holds plain dicts, so `pd.json_normalize` turns them into columns, and the answers
# join the rows like any other result:

# %%
import pandas as pd

verdicts = pd.json_normalize(res["parsed"].tolist()).set_index(res.index)
table = df.join(verdicts, on="review_id")
table[["review_id", "label", "sentiment", "confidence", "cues"]].head(6)

# %%
pd.crosstab(table["label"], table["sentiment"])

# %% [markdown]
# The stand-in gets all 12 neutral reviews and 12 of the 17 negative ones right, but calls 18 of
# the 31 positive ones neutral: they praise in words it does not know ("Crisp highs, warm bass")
# or hedge with a "but". So much for a few cue words; with a real model, the same two cells show
# how far it agrees with the human labels.
#
# Or validate each answer back into the pydantic model, for typed objects:

# %%
Verdict.model_validate(res["parsed"].iloc[0])

# %%
gw.close()
