"""Generate the tutorial notebooks from one place, so they can be regenerated and reviewed as code.

Usage (from the repository root)::

    python3 notebooks/make_notebooks.py            # all five
    python3 notebooks/make_notebooks.py 01 03      # only these

Then execute them in place from ``notebooks/`` (so the journal ``.tfbatch/`` lands there) and
check them with strict nbval, exactly as CI does::

    cd notebooks && rm -rf .tfbatch && jupyter nbconvert --to notebook --execute --inplace 01_quickstart.ipynb
    cd .. && python3 -m pytest notebooks/01_quickstart.ipynb -p no:cacheprovider

Each notebook is a list of cells: ``md(...)`` for markdown, ``code(...)`` for code. A cell whose
output depends on timing (the live panel while a batch runs) gets the nbval tag
``nbval-ignore-output``; everything else is compared, after ``nbval-sanitize.cfg`` masks ids,
times, ports and temporary paths.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
IGNORE = "nbval-ignore-output"  # nbval 0.11 reads this cell tag (plugin.py: metadata_tags)


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(textwrap.dedent(text).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


# --------------------------------------------------------------------------------------------
# 01 quickstart
# --------------------------------------------------------------------------------------------

QUICKSTART = [
    md("""
    # Quickstart: a DataFrame in, a DataFrame of answers out

    A **batch** sends many prompts at once and returns the answers later, at about half the
    price of one-by-one calls. This notebook runs the whole flow on 20 product reviews:

    1. build one request per row and look at them before paying,
    2. submit them as a batch and watch it run,
    3. read the answers back as a DataFrame joined to the reviews.

    It needs **no account and no API key**: with no gateway configured, `tfbatch_nb` starts a small
    local gateway inside this kernel that speaks the same protocol as the TrueFoundry AI Gateway
    and answers with a simulated model. The last section shows how to point the very same code at
    TrueFoundry.
    """),
    code("""
    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews

    df = load_reviews(20)  # 20 bundled product reviews, with a human label
    df[["review_id", "product", "stars", "label"]].head()
    """),
    md("""
    ## Connect

    `connect()` reads `TFY_BASE_URL` / `TFY_API_KEY` from the environment. Neither is set here, so
    it starts the **local gateway** (its repr says so). The API key it uses is never shown.
    """),
    code("""
    gw = tfb.connect()
    gw
    """),
    md("""
    ## Build the requests

    One request per row. `prompt` is a template over the columns, `system` is shared by all rows,
    and `id_column` makes each request's `custom_id` the review's id, which is how every answer
    finds its way back to its row (a batch may answer in any order). Extra keywords such as
    `max_tokens` go into each request body as they are.

    Nothing is sent yet: the cell's value is a preview (rows, size, parts, the first lines), so
    mistakes are caught before they cost anything.
    """),
    code("""
    reqs = tfb.build_requests(
        df,
        model="openai-main/gpt-4o-mini",
        prompt="Classify the sentiment of this review: {text}",
        system="Answer with one word: positive, negative or neutral.",
        id_column="review_id",
        max_tokens=5,
    )
    reqs
    """),
    md("""
    `estimate()` gives an idea of the tokens and the price before submitting (characters / 4, so
    roughly; the batch discount is included).
    """),
    code("""
    reqs.estimate()
    """),
    md("""
    ## Submit

    `submit` uploads the lines and creates the batch, and records both in a small **journal**
    (`.tfbatch/` next to this notebook) *before* paying for anything. That is why running this
    cell again does not start a second batch: the same requests give back the same job.
    """),
    code("""
    batch = gw.submit(reqs, name="reviews-v1")
    """),
    md("""
    ## Watch it run

    A batch as a cell's value is a **live panel**: it polls in the background and updates itself,
    while the kernel stays free for other cells. (Its output changes from run to run, so the
    notebook tests don't compare it.)
    """),
    code("""
    batch
    """, IGNORE),
    md("""
    `wait()` blocks until the batch is finished. In a script that is what you want; in a notebook
    you can instead go on working and come back.
    """),
    code("""
    batch.wait()
    """),
    md("""
    ## Read the answers

    `results()` downloads the output (once: it is kept in the journal folder) and returns one row
    per request, indexed by `custom_id`, whatever happened to it. The most useful columns:
    """),
    code("""
    res = batch.results()
    res[["status", "content", "total_tokens"]].head()
    """),
    md("""
    `results(join=df)` puts the answers next to your rows, matched on the id column. Here the
    simulated model's answer can be compared with the human label:
    """),
    code("""
    joined = batch.results(join=df)
    joined["answer"] = joined["content"].str.removeprefix("[simulated] ")
    joined[["review_id", "label", "answer", "status"]].head(8)
    """),
    code("""
    print(f"agreement with the human label: {(joined.answer == joined.label).mean():.0%}")
    print(f"tokens used: {int(joined.total_tokens.sum())}")
    """),
    md("""
    ## Re-running never pays twice

    Notebooks get re-run. Submitting the same requests again returns the job that already exists
    (found in the journal), so nothing is uploaded or paid for a second time. To really start
    over, pass `force=True` or change the requests.
    """),
    code("""
    again = gw.submit(reqs, name="reviews-v1")
    print(again.id == batch.id, again.status)
    """),
    md("""
    ## Pointing it at TrueFoundry

    The same code runs against the TrueFoundry AI Gateway. Set three environment variables before
    starting Jupyter (or in the first cell with `os.environ[...]`), and keep the key out of the
    notebook itself:

    ```bash
    export TFY_BASE_URL="https://<your-control-plane>/api/llm"   # the gateway's OpenAI base URL
    export TFY_API_KEY="<a TrueFoundry PAT or VAT>"               # never printed or stored by tfbatch_nb
    export TFY_PROVIDER="openai-main"                            # your provider integration's name
    ```

    Then `tfb.connect()` talks to TrueFoundry instead of the local gateway, sending the
    `x-tfy-provider-name` header that routes each call to your provider account. The `model` in
    `build_requests` must be a real catalog id of that account (e.g. `openai-main/gpt-4o-mini`),
    not a virtual model. Azure OpenAI, Vertex AI and AWS Bedrock need a few more headers: see
    `02_truefoundry_providers.ipynb`.

    Finally, stop the local gateway (the journal and the downloaded results stay on disk):
    """),
    code("""
    gw.close()
    """),
]


# --------------------------------------------------------------------------------------------
# 03 failures and retries
# --------------------------------------------------------------------------------------------

FAILURES = [
    md("""
    # Failures and retries: nothing is lost, nothing is paid twice

    Real batches go wrong in a few typical ways:

    * **some lines fail** (a model error, a bad request): the batch still *completes*, and the
      failed lines go to a separate error file;
    * the batch **expires** (not finished inside its 24 h window): the lines done so far are kept;
    * **you cancel** it: same, the finished lines are kept.

    The local gateway can misbehave on purpose (`faults=`), so this notebook shows each case for
    real, with the same HTTP calls a real gateway would see. The rule in every case:
    `results()` has exactly **one row per request**, whatever happened to it, and
    `retry_failed()` sends only the rows that need it.
    """),
    code("""
    import tempfile
    import time

    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews

    df = load_reviews(40)
    """),
    md("""
    This notebook keeps its journal in a throw-away folder, so every run shows the failures from
    scratch. (With the default journal, `.tfbatch/`, a second run would find every job and every
    retry already done and show the final answers straight away: re-running pays nothing, as
    `01_quickstart` and `05_large_jobs_and_restarts` show.)
    """),
    code("""
    journal = tempfile.mkdtemp(prefix="tfbatch-03-")
    """),
    md("""
    ## Lines that fail

    `line_error=0.2` makes about one line in five fail, repeatably (the draws are seeded).
    `speed=4.0` runs the simulated batches four times faster than the tutorial pace: waiting
    teaches nothing here.
    """),
    code("""
    gw = tfb.connect(journal=journal, gateway_options={"speed": 4.0, "faults": ["line_error=0.2"]})
    reqs = tfb.build_requests(
        df, model="openai-main/gpt-4o-mini",
        prompt="What is the sentiment of this review? {text}",
        id_column="review_id", max_tokens=5,
    )
    batch = gw.submit(reqs, name="flaky-reviews")
    batch.wait()
    """),
    md("""
    The status is `completed` even though 5 lines failed: for the Batch API, *completed* means
    "every line was processed", not "every line succeeded". Always look at the failures.

    The failed lines come from the batch's **error file**; `results()` reads it together with the
    output file, so the failures are rows of the same frame, with their HTTP status and error:
    """),
    code("""
    res = batch.results()
    res["status"].value_counts()
    """),
    code("""
    res.loc[res.status == "failed", ["status", "status_code", "error_code", "error_message"]]
    """),
    md("""
    `errors()` is the short list of what went wrong, one row per problem (validation errors of
    the whole file would come first, then failed rows):
    """),
    code("""
    batch.errors()[["kind", "custom_id", "code", "message"]]
    """),
    md("""
    ## Retry only the failed rows

    `retry_failed()` submits a new, linked batch made of just those rows (rebuilt from the
    journal's copy of the requests, so it works after a kernel restart too). Running the cell again
    returns the same retry batch instead of paying again.
    """),
    code("""
    retry = batch.retry_failed()
    retry.wait()
    """),
    md("""
    The faulty gateway failed one of the five again (faults are faults). The original batch's
    `results()` now folds the retried answers in: a successful retry replaces the failed row.
    """),
    code("""
    res = batch.results()
    res["status"].value_counts()
    """),
    md("""
    Retrying the rows that are still failed is the same call again; when nothing is left to
    retry, `retry_failed()` raises `BatchInputError` (there is nothing to pay for).
    """),
    code("""
    while (batch.results().status == "failed").any():
        batch.retry_failed().wait()
    batch.results()["status"].value_counts()
    """),
    code("""
    gw.close()
    """),
    md("""
    ## A batch that expires

    A batch has a *completion window* (24 h). If the provider does not finish in time the batch
    **expires**, but the lines already answered are kept in its output file. `expire=0.5#1` makes
    the first batch expire half-way.
    """),
    code("""
    gw = tfb.connect(journal=journal, gateway_options={"speed": 4.0, "faults": ["expire=0.5#1"]})
    reqs = tfb.build_requests(
        df, model="openai-main/gpt-4o-mini",
        prompt="In one word, how does this customer feel? {text}",
        id_column="review_id", max_tokens=5,
    )
    late = gw.submit(reqs, name="late-reviews")
    late.wait()
    """),
    md("""
    The 20 answered rows are `completed`, the others are `expired`, with the reason:
    """),
    code("""
    res = late.results()
    res["status"].value_counts()
    """),
    code("""
    res.loc[res.status == "expired", ["status", "error_code", "error_message"]].head(3)
    """),
    md("""
    `retry_failed()` retries `failed`, `expired`, `cancelled` and `missing` rows by default, so
    the same call finishes the job, paying only for the 20 rows that never ran:
    """),
    code("""
    rest = late.retry_failed()
    rest.wait()
    """),
    code("""
    late.results()["status"].value_counts()
    """),
    md("""
    ## Cancelling

    Started something too big by mistake? `cancel()` stops it; the lines finished before the
    cancel are kept and returned (you paid for them). Here we wait until a few lines are done,
    then cancel.
    """),
    code("""
    all_reviews = load_reviews()
    reqs = tfb.build_requests(
        all_reviews, model="openai-main/gpt-4o-mini",
        prompt="Summarise this review in three words: {text}",
        id_column="review_id", max_tokens=10,
    )
    big = gw.submit(reqs, name="too-big")
    while (snap := big.refresh()).completed < 10 and not snap.terminal:
        time.sleep(0.1)
    snap = big.cancel()
    big.wait().status
    """),
    md("""
    How many lines finished before the cancel depends on timing (so the notebook tests don't
    compare the next cell), but every row is accounted for: answered or `cancelled`.
    """),
    code("""
    res = big.results()
    res["status"].value_counts()
    """, IGNORE),
    code("""
    print(len(res) == len(all_reviews), sorted(res.status.unique()))
    """),
    md("""
    The journal remembers every job, including the retries and which job each came from
    (`parent_job`; here mapped to its name):
    """),
    code("""
    jobs = gw.batches()
    jobs["retry_of"] = jobs["parent_job"].map(dict(zip(jobs["job_id"], jobs["name"])))
    jobs[["name", "status", "total", "retry_of"]]
    """),
    code("""
    gw.close()
    """),
]


# --------------------------------------------------------------------------------------------
# 02 TrueFoundry providers
# --------------------------------------------------------------------------------------------

PROVIDERS = [
    md("""
    # TrueFoundry providers: OpenAI, Azure OpenAI, Vertex AI, AWS Bedrock

    The TrueFoundry AI Gateway runs a batch on one **provider integration** (an account you set up
    in TrueFoundry, such as `openai-main`). Every file and batch call names it in the
    `x-tfy-provider-name` header, and some providers need a few more `x-tfy-*` headers. In
    `tfbatch_nb` a provider object carries them, and `connect(provider=...)` sends them on every
    call.

    This notebook runs each provider's setup against the local gateway, which checks the same
    rules as TrueFoundry, and shows the **real errors** you get when something is missing.
    """),
    code("""
    import json
    import tempfile
    from pathlib import Path

    import openai

    import tfbatch_nb as tfb
    from tfbatch_nb import providers
    from tfbatch_nb.datasets import load_reviews
    from tfbatch_nb.gateway import LocalGateway

    df = load_reviews(20)
    """),
    md("""
    One local gateway stands in for TrueFoundry here, so we connect to it the way you connect to
    TrueFoundry: a base URL, a key and a provider. (With TrueFoundry the base URL is
    `https://<control-plane>/api/llm` and the key a PAT or VAT, best read from `TFY_API_KEY`; the
    local gateway's key is random and is never printed.)
    """),
    code("""
    local = LocalGateway(speed=4.0).start()

    def connect(provider):
        return tfb.connect(local.url, api_key=local.api_key, provider=provider)
    """),
    md("""
    ## The headers of each provider

    | provider | class | headers sent |
    | --- | --- | --- |
    | OpenAI | `providers.OpenAI(name)` | `x-tfy-provider-name` |
    | Azure OpenAI | `providers.AzureOpenAI(name, api_version=...)` | + `x-tfy-azure-api-version` |
    | Vertex AI | `providers.VertexAI(name, bucket=..., region=..., model=...)` | + `x-tfy-vertex-storage-bucket-name`, `x-tfy-vertex-region`, `x-tfy-provider-model` |
    | AWS Bedrock | `providers.Bedrock(name, s3_bucket=..., model=...)` | + `x-tfy-aws-s3-bucket`, `x-tfy-aws-bedrock-model` |

    A plain string such as `provider="openai-main"` means `providers.OpenAI("openai-main")`.
    """),
    code("""
    setups = [
        providers.OpenAI("openai-main"),
        providers.AzureOpenAI("azure-main", api_version="2024-10-21"),
        providers.VertexAI("google-main", bucket="my-gcs-bucket", region="europe-west4", model="gemini-2.0-flash"),
        providers.Bedrock("bedrock-main", s3_bucket="my-s3-bucket", model="anthropic.claude-3-haiku"),
    ]
    for p in setups:
        print(p.kind, p.headers())
    """),
    md("""
    ## OpenAI

    Only the integration name is needed. The model in each line must be that integration's
    catalog id, `openai-main/<model>`.
    """),
    code("""
    gw = connect(providers.OpenAI("openai-main"))
    reqs = tfb.build_requests(df, model="openai-main/gpt-4o-mini", prompt="Sentiment of: {text}",
                              id_column="review_id", max_tokens=5)
    gw.submit(reqs, name="openai-reviews").wait()
    """),
    md("""
    ## Azure OpenAI: what a missing header looks like

    Azure needs the API version of the deployment. Naming only the integration is not enough: the
    gateway refuses the upload with HTTP 400, which the `openai` SDK raises as
    `openai.BadRequestError` (`tfbatch_nb` passes the SDK's errors through unchanged). Nothing was
    created, so nothing is paid.
    """),
    code("""
    gw = connect("azure-main")  # a plain name: only x-tfy-provider-name is sent
    reqs = tfb.build_requests(df, model="azure-main/gpt-4o-mini", prompt="Sentiment of: {text}",
                              id_column="review_id", max_tokens=5)
    try:
        gw.submit(reqs, name="azure-reviews")
    except openai.BadRequestError as err:
        print(type(err).__name__, err.status_code, err.body["code"])
        print(err.body["message"])
    """),
    md("""
    With the `AzureOpenAI` provider the header is sent and the same requests run:
    """),
    code("""
    gw = connect(providers.AzureOpenAI("azure-main", api_version="2024-10-21"))
    gw.submit(reqs, name="azure-reviews").wait()
    """),
    md("""
    ## Vertex AI: three headers, and optional fields in the lines

    Vertex needs the GCS bucket (in the model's region), the region and the provider model. The
    model comes from the header, so Vertex ignores `method`, `url` and `body.model` in the lines:
    a file without them is valid for Vertex. The builder always writes them (harmless);
    `BatchRequests.from_jsonl` accepts a hand-written file without them when the provider is Vertex.
    """),
    code("""
    vertex = providers.VertexAI("google-main", bucket="my-gcs-bucket", region="europe-west4",
                                model="gemini-2.0-flash")
    path = Path(tempfile.mkdtemp()) / "vertex_requests.jsonl"
    with open(path, "w") as f:  # a minimal file: custom_id + messages only
        for row in df.itertuples():
            line = {"custom_id": row.review_id, "body": {"messages": [
                {"role": "user", "content": f"Sentiment of: {row.text}"}], "max_tokens": 5}}
            f.write(json.dumps(line) + "\\n")
    print(path.read_text().splitlines()[0])
    """),
    code("""
    vreqs = tfb.BatchRequests.from_jsonl(path, provider=vertex)
    gw = connect(vertex)
    gw.submit(vreqs, name="vertex-reviews").wait()
    """),
    md("""
    The same file is not valid for OpenAI, where `method`, `url` and `body.model` are required;
    the check happens on your machine, before anything is uploaded:
    """),
    code("""
    try:
        tfb.BatchRequests.from_jsonl(path, provider="openai-main")
    except tfb.BatchInputError as err:
        print("\\n".join(str(err).splitlines()[:4]))
    """),
    md("""
    ## AWS Bedrock: at least 100 records

    Bedrock needs the S3 bucket and the Bedrock model in headers, and rejects batch files with fewer
    than **100 records**. The builder knows the rule, so a too-small batch fails right away with
    `BatchInputError`, not hours later:
    """),
    code("""
    bedrock = providers.Bedrock("bedrock-main", s3_bucket="my-s3-bucket", model="anthropic.claude-3-haiku")
    try:
        tfb.build_requests(df, model="bedrock-main/claude-3-haiku", prompt="Sentiment of: {text}",
                           id_column="review_id", max_tokens=5, provider=bedrock)
    except tfb.BatchInputError as err:
        print(err)
    """),
    code("""
    all_reviews = load_reviews()  # 200 rows
    breqs = tfb.build_requests(all_reviews, model="bedrock-main/claude-3-haiku", prompt="Sentiment of: {text}",
                               id_column="review_id", max_tokens=5, provider=bedrock)
    gw = connect(bedrock)
    gw.submit(breqs, name="bedrock-reviews").wait()
    """),
    md("""
    ## No virtual models

    TrueFoundry's *virtual models* route, retry and fall back between providers one request at a
    time. A batch runs on a single provider, so the Batch API accepts only a real **catalog id**
    (`integration/model`). A bare or virtual model name is accepted by the upload, then the batch
    **fails validation**. The status says `failed` and `errors()` says why, line by line:
    """),
    code("""
    gw = connect("openai-main")
    bad = tfb.build_requests(df, model="my-virtual-model", prompt="Sentiment of: {text}",
                             id_column="review_id", max_tokens=5)
    failed = gw.submit(bad, name="virtual-model").wait()
    failed
    """),
    code("""
    errs = failed.errors()
    errs.loc[errs.kind == "validation", ["line", "code", "message"]].head(3)
    """),
    md("""
    `results()` of a batch whose every part failed validation raises `BatchFailedError`, which
    carries the same lines (there are no answers to return):
    """),
    code("""
    try:
        failed.results()
    except tfb.BatchFailedError as err:
        print(str(err).splitlines()[1])
    """),
    md("""
    ## The status values

    A batch moves through these statuses (the Batch API's eight; the last four rows and `failed`
    are **terminal**: nothing changes after them). `tfbatch_nb` also copes with unknown statuses
    a gateway may send.

    | status | meaning | terminal |
    | --- | --- | --- |
    | `validating` | the input file is being checked | |
    | `failed` | the file failed validation (see `errors()`) | yes |
    | `in_progress` | lines are being answered; the counts grow | |
    | `finalizing` | all lines done, output and error files being written | |
    | `completed` | every line processed (some may have failed: read the error file) | yes |
    | `expired` | not finished in the completion window; done lines are kept | yes |
    | `cancelling` | a cancel was asked; running lines finish | |
    | `cancelled` | stopped; done lines are kept | yes |
    """),
    code("""
    from tfbatch_nb.ui._snapshot import TERMINAL

    sorted(TERMINAL)
    """),
    md("""
    Every job this notebook ran, from the journal (each connection lists its own provider's jobs):
    """),
    code("""
    for p in setups:
        jobs = connect(p).batches()
        print(f"{p.name:13}", list(zip(jobs["name"], jobs["status"])))
    """),
    code("""
    local.stop()
    """),
]


# --------------------------------------------------------------------------------------------
# 05 large jobs and restarts
# --------------------------------------------------------------------------------------------

LARGE = [
    md("""
    # Large jobs and restarts

    Big batches take hours, and a notebook kernel rarely lives that long. This notebook shows how
    `tfbatch_nb` keeps a large job safe:

    * **sharding**: input over a provider's limits is split into parts, one provider batch each,
      still handled as **one job**;
    * the **journal** (`.tfbatch/`): every submission is recorded before anything is paid, so a
      job can be found again after a kernel restart, and re-running a cell never pays twice;
    * **reading result files** you downloaded yourself;
    * the **forwarder**: the local gateway turning any real-time endpoint into a batch service.
    """),
    code("""
    import tempfile
    from pathlib import Path

    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews
    from tfbatch_nb.gateway import LocalGateway

    df = load_reviews()  # all 200 reviews
    """),
    md("""
    ## Sharding

    One batch file may hold at most 50,000 lines / 200 MB (OpenAI's limits; other providers
    differ). `build_requests` splits bigger inputs into **parts** within `max_lines` and
    `max_bytes`. Here a tiny `max_lines=80` makes 200 rows into three parts, to see it happen.
    (The lines live in a spool file on disk, not in memory, so millions of rows are fine.)
    """),
    code("""
    reqs = tfb.build_requests(
        df, model="openai-main/gpt-4o-mini",
        prompt="Label the sentiment of this review: {text}",
        id_column="review_id", max_tokens=5, max_lines=80,
    )
    reqs.parts
    """),
    md("""
    ## Estimate before submitting

    The estimate counts characters (about 4 per token) and uses the model's list price with the
    batch discount: rough, but enough to catch a job that would cost 100 times what you expected.
    """),
    code("""
    reqs.estimate()
    """),
    md("""
    ## One job over the parts

    `submit` uploads each part and creates one provider batch per part. The returned `Batch` is
    the whole job: one id, one status, one results frame; `batch.ids` are the provider batches.

    This notebook keeps its journal in a folder of its own (`journal=`; the default is
    `.tfbatch/`), so the journal listings below show only its jobs.
    """),
    code("""
    journal = Path(".tfbatch") / "05-large-jobs"
    gw = tfb.connect(journal=journal, gateway_options={"speed": 2.0})
    batch = gw.submit(reqs, name="all-reviews")
    print(len(batch.ids), "provider batches in one job")
    """),
    code("""
    batch
    """, IGNORE),
    md("""
    ## A kernel restart

    Suppose the kernel restarts now, while the job runs: every Python object is gone. We play it
    honestly in this notebook: close the connection (which stops the local gateway, as a restart
    would) and delete the objects. Only two things survive, as they would after a real restart:
    the **journal** folder, and the **gateway** side (a real gateway keeps running; the local one
    keeps its batches in the journal's `local-gateway/` folder and resumes them when it starts).
    """),
    code("""
    gw.close()
    del gw, batch
    """),
    md("""
    After the restart: connect again and `attach` the job by name (or by its `job_...` id or a
    provider batch id). Nothing is uploaded or submitted again; the job is rebuilt from the
    journal and polled where it is.
    """),
    code("""
    gw = tfb.connect(journal=journal, gateway_options={"speed": 2.0})
    batch = gw.attach("all-reviews")
    batch.wait()
    """),
    code("""
    res = batch.results()
    res[["status", "content", "total_tokens"]].head()
    """),
    md("""
    ## The journal

    `gw.batches()` lists every job of this gateway, newest first (the retries of
    `03_failures_and_retries` would show up here too, with their `parent_job`):
    """),
    code("""
    gw.batches()[["name", "status", "total", "completed", "failed", "model"]]
    """),
    md("""
    On disk, each job keeps its request parts (so `retry_failed()` works after a restart), the
    provider batch ids, and the downloaded result files, so results are downloaded only once.
    The journal holds **no API key** and is created readable by you only.
    """),
    code("""
    sorted(p.name for p in (journal / "jobs" / batch.id).iterdir())
    """),
    md("""
    ## Re-running a cell never pays twice

    Run the submit cell again (or the whole notebook): the journal knows these exact requests
    (by a hash of their bytes), so the same job comes back instead of a second, paid one.
    """),
    code("""
    again = gw.submit(reqs, name="all-reviews")
    print(again.id == batch.id, again.status, again.counts)
    """),
    md("""
    ## Result files you already have

    If you downloaded a batch's output yourself (from a console, another tool, a colleague),
    `read_results` turns the files into the same results frame. Here we download the three
    output files with the `openai` client of the connection:
    """),
    code("""
    folder = Path(tempfile.mkdtemp())
    files = []
    for part in batch.snapshot().parts:
        path = folder / f"output-{part.index}.jsonl"
        gw.client.files.content(part.output_file_id).write_to_file(path)
        files.append(path)
    print([p.name for p in files])
    """),
    md("""
    With `requests=` the frame has exactly one row per request, in input order (a request that is
    in no file would be a `missing` row):
    """),
    code("""
    downloaded = tfb.read_results(files, requests=reqs)
    print(len(downloaded), downloaded.equals(res))
    downloaded["status"].value_counts()
    """),
    code("""
    gw.close()
    """),
    md("""
    ## The forwarder: any real-time endpoint as a batch service

    Many model servers (Ollama, vLLM, a gateway's chat endpoint) answer one request at a time
    and have no Batch API. With `forward_to=` the local gateway runs each batch line against such
    an endpoint, with bounded concurrency and retries, so the same notebook code works on them.

    Here a second local gateway plays the real-time model server; its answers are marked, so we
    can see that they really came through it.
    """),
    code("""
    def model(endpoint, body):  # the model server's "model": marks its answers
        text = body["messages"][-1]["content"].lower()
        return "model server says: " + ("negative" if "broke" in text or "disappoint" in text else "not negative")

    model_server = LocalGateway(speed="max", responder=model).start()  # e.g. http://localhost:11434/v1

    fw = tfb.connect(journal=tempfile.mkdtemp(), gateway_options={  # a separate service: its own journal
        "speed": 4.0,
        "forward_to": model_server.url,
        "forward_api_key": model_server.api_key,
    })
    small = tfb.build_requests(
        df.head(10), model="openai-main/gpt-4o-mini",
        prompt="Label the sentiment of this review: {text}",
        id_column="review_id", max_tokens=5,
    )
    forwarded = fw.submit(small, name="forwarded-reviews")
    forwarded.wait()
    """),
    code("""
    forwarded.results()[["status", "content", "total_tokens"]].head(3)
    """),
    code("""
    fw.close()
    model_server.stop()
    """),
]


# --------------------------------------------------------------------------------------------
# 04 embeddings and structured outputs
# --------------------------------------------------------------------------------------------

EMBEDDINGS = [
    md("""
    # Embeddings and structured outputs

    Two kinds of batch that return data rather than prose:

    * **embeddings**: one vector per row, landing in an `embedding` column, ready for numpy;
    * **structured outputs**: a pydantic model as `response_format`, the answers parsed back into
      ordinary columns.

    The local gateway's simulated model returns the right *shapes* (vectors of the right size,
    JSON that fits your schema), but its values mean nothing. To make this notebook's answers
    mean something we plug in a small **rule-based stand-in model** with `responder=`: any Python
    function `(endpoint, body) -> answer`. It is also how you test your own pipeline offline.
    """),
    code("""
    import json
    import re
    from typing import Literal

    import matplotlib.pyplot as plt
    import numpy as np
    from pydantic import BaseModel

    import tfbatch_nb as tfb
    from tfbatch_nb.datasets import load_reviews

    df = load_reviews(60)
    """),
    md("""
    ## A stand-in model

    It counts a few cue words. For chat requests it answers with JSON; for embedding requests it
    returns a 4-number vector (positive cues, negative cues, hedging cues, length), in the
    OpenAI response shape.
    """),
    code("""
    CUES = {
        "positive": {"love", "perfectly", "great", "exceeded", "solid", "easy", "good", "value"},
        "negative": {"broke", "never", "disappointed", "cheap", "stopped", "not", "noisy", "dies"},
        "hedging": {"but", "although", "fine", "decent", "nothing"},
    }

    def features(text):
        words = re.findall(r"[a-z]+", text.lower())
        return [sum(w in CUES[k] for w in words) for k in CUES] + [len(words) / 10]

    def stand_in(endpoint, body):
        if endpoint.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": features(t)} for i, t in enumerate(texts)]
            n = sum(len(t) // 4 for t in texts)
            return {"object": "list", "data": data, "model": body["model"],
                    "usage": {"prompt_tokens": n, "total_tokens": n}}
        pos, neg, hedge, _ = features(body["messages"][-1]["content"])
        sentiment = "neutral" if hedge or pos == neg else ("positive" if pos > neg else "negative")
        return json.dumps({"sentiment": sentiment, "confidence": round(max(pos, neg, hedge) / 3, 2),
                           "cues": pos + neg + hedge})
    """),
    md("""
    The stand-in runs inside this notebook's local gateway, so the notebook keeps its journal
    (and that gateway's data) in a folder of its own: another open notebook's kernel can serve
    the default `.tfbatch/` at the same time without the two sharing one store.
    """),
    code("""
    gw = tfb.connect(journal=".tfbatch/04-embeddings", gateway_options={"speed": 4.0, "responder": stand_in})
    """),
    md("""
    ## Embeddings into a column

    `input="text"` makes an embeddings batch (`/v1/embeddings`, inferred). The results frame then
    has an `embedding` column (one list of floats per row) instead of `content`.
    """),
    code("""
    ereqs = tfb.build_requests(df, model="openai-main/text-embedding-3-small", input="text",
                               id_column="review_id")
    emb = gw.submit(ereqs, name="review-vectors").wait()
    vectors = emb.results(join=df)
    vectors[["review_id", "label", "embedding"]].head()
    """),
    md("""
    A 2-D picture of the vectors: PCA with numpy's SVD (centre the matrix, project on the first two
    right singular vectors). Reviews with the same human label land together, because the
    stand-in's vectors carry the cue words.
    """),
    code("""
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
    """),
    md("""
    ## Structured outputs with pydantic

    Pass a pydantic model as `response_format`: each request asks for JSON matching its schema
    (strict `json_schema`), and `results()` parses every answer into the `parsed` column (a dict).
    """),
    code("""
    class Verdict(BaseModel):
        sentiment: Literal["positive", "negative", "neutral"]
        confidence: float
        cues: int

    sreqs = tfb.build_requests(df, model="openai-main/gpt-4o-mini", prompt="Judge this review: {text}",
                               id_column="review_id", response_format=Verdict)
    sreqs.response_schema["required"]
    """),
    code("""
    judged = gw.submit(sreqs, name="review-verdicts").wait()
    res = judged.results()
    res[["status", "parsed"]].head(3)
    """),
    md("""
    `parsed` holds plain dicts, so `pd.json_normalize` turns them into columns, and the answers
    join the rows like any other result:
    """),
    code("""
    import pandas as pd

    verdicts = pd.json_normalize(res["parsed"].tolist()).set_index(res.index)
    table = df.join(verdicts, on="review_id")
    table[["review_id", "label", "sentiment", "confidence", "cues"]].head(6)
    """),
    code("""
    pd.crosstab(table["label"], table["sentiment"])
    """),
    md("""
    Or validate each answer back into the pydantic model, for typed objects:
    """),
    code("""
    Verdict.model_validate(res["parsed"].iloc[0])
    """),
    code("""
    gw.close()
    """),
]


NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_truefoundry_providers.ipynb": PROVIDERS,
    "03_failures_and_retries.ipynb": FAILURES,
    "04_embeddings_and_structured_outputs.ipynb": EMBEDDINGS,
    "05_large_jobs_and_restarts.ipynb": LARGE,
}


def build(name: str, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    stem = name.split("_")[0]
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives small diffs
        cell["id"] = f"nb{stem}-{i:02d}"
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> None:
    chosen = [n for n in NOTEBOOKS if not argv or any(n.startswith(a) for a in argv)]
    for name in chosen:
        nbformat.write(build(name, NOTEBOOKS[name]), HERE / name)
        print("wrote", name)


if __name__ == "__main__":
    main(sys.argv[1:])
