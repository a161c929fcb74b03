"""One typed settings object, resolved from the environment (prefix ``STORYLINE_``).

Code receives a ``Settings``; it never reads the environment itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///storyline.db"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

EmbedBackend = Literal["torch", "onnx-int8"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

MAX_DAYS = 100 * 366.0
"""Durations are capped at a century: beyond it a time computed from them leaves the calendar."""
MAX_HOURS = MAX_DAYS * 24
MAX_MINUTES = MAX_HOURS * 60
MAX_FETCH_SECONDS = 3600.0
"""A fetch timeout of more than an hour would hold a worker for no feed's benefit."""
MAX_COUNT = 1_000_000
"""Upper bound of the count-like settings (batch sizes, concurrency, slots, characters)."""
MAX_BYTES = 2**31 - 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/storyline``, else ``~/.cache/storyline``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "storyline"


class Settings(BaseSettings):
    """Every knob of the pipeline, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="STORYLINE_", extra="ignore", frozen=True, allow_inf_nan=False
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the stories database; SQLite file by default.",
    )
    model_name: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path used for embeddings.",
    )
    embed_backend: EmbedBackend = Field(
        "torch",
        description="How the model runs: 'torch' is sentence-transformers on PyTorch; "
        "'onnx-int8' is its ONNX export with int8 weights on ONNX Runtime, exported once into "
        "model_cache_dir: 2-3 times faster on CPU, vectors within cosine 0.98 of PyTorch's, "
        "but replay BCubed F1 up to 0.013 lower with the clustering thresholds as tuned.",
    )
    model_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where files derived from the model (the ONNX export) are kept between runs.",
    )
    embed_batch_size: int = Field(
        64, ge=1, le=MAX_COUNT, description="Articles embedded per model call."
    )
    embed_text_chars: int = Field(
        600,
        ge=0,
        le=MAX_COUNT,
        description="Characters of the article body appended to the title to embed.",
    )
    hf_offline: bool = Field(
        True, description="Forbid Hugging Face Hub downloads: models must be on disk."
    )
    window_hours: float = Field(
        72.0,
        gt=0,
        le=MAX_HOURS,
        description="Clustering looks at articles published in this many hours.",
    )
    cluster_algorithm: Literal["average", "hdbscan"] = Field(
        "average",
        description="How a window is clustered: average linkage on embedding + word "
        "similarity, or the earlier HDBSCAN on embeddings only.",
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
        description="Bare headlines are cut this much farther than link_distance (their "
        "embeddings are noisier); pairs with some body text proportionally less.",
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
    max_cluster_distance: float = Field(
        0.75,
        gt=0,
        le=2,
        description="An article joins a cluster only if its cosine distance to the "
        "cluster centroid is below this; farther members become noise.",
    )
    headline_merge_similarity: float = Field(
        0.6,
        ge=-1,
        le=1.01,
        description="Clusters of headlines (little body text) whose centroids have at least "
        "this cosine join when they also share names (above 1 turns the pass off).",
    )
    headline_merge_name_similarity: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Least TF-IDF cosine of two headline clusters' capitalised words and "
        "numbers for them to join.",
    )
    event_split_ratio: float = Field(
        0.4,
        ge=0,
        le=1,
        description="A cluster of full articles is cut in two when the names (capitalised "
        "words, numbers) its halves share are below this fraction of those shared within "
        "each half: two events of one kind. 0 turns splitting off.",
    )
    name_link_similarity: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Members of a cluster of full articles stay together only when linked "
        "by names (capitalised words, numbers) whose TF-IDF cosine reaches this; a member "
        "linked to none becomes noise. 0 turns the check off.",
    )
    max_neighbours: int = Field(
        100,
        ge=1,
        le=MAX_COUNT,
        description="Close pairs kept per article when the window's similarity graph is "
        "built; bounds memory on dense windows.",
    )
    max_component: int = Field(
        5000,
        ge=2,
        le=MAX_COUNT,
        description="Largest group of articles clustered exactly at once; a larger "
        "connected group is cut by dropping its weakest pairs first (memory grows with "
        "its square: 5,000 needs about 1 GB).",
    )
    attach_similarity: float = Field(
        0.8,
        ge=-1,
        le=1.01,
        description="An article no cluster took joins the story (of any age) whose centroid "
        "is at least this cosine-similar; a story not seen in the last two windows also "
        "needs the word check (above 1 turns attaching off).",
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
    story_match_word_similarity: float = Field(
        0.6,
        ge=0,
        le=1.01,
        description="A match by centroid to a story not seen in the last two windows also "
        "needs this TF-IDF cosine between the cluster's (or lone article's) texts and the "
        "story's latest titles and summaries (above 1: no such match).",
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
    fetch_per_host: int = Field(
        2,
        ge=1,
        le=MAX_COUNT,
        description="Feeds fetched at the same time from one host (politeness).",
    )
    check_interval_min_minutes: float = Field(
        10.0, gt=0, le=MAX_MINUTES, description="A feed is never checked more often than this."
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
        description="Wait after a feed's first failure; doubles with each failure.",
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
    duplicate_threshold: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity of word shingles above which an article "
        "is a reprint of an earlier one.",
    )
    duplicate_window_days: float = Field(
        7.0, gt=0, le=MAX_DAYS, description="Reprints are looked for among articles this recent."
    )
    user_agent: str = Field(
        "Storyline/0.1 (+https://github.com/storyline-news/storyline)",
        description="User-Agent sent with every feed request.",
    )
    airflow_conn_id: str = Field(
        "storyline_db",
        description="Airflow connection whose URI is the stories database, for the DAGs "
        "(docker-compose.yml: env AIRFLOW_CONN_STORYLINE_DB, also stored by airflow-init).",
    )
    feed_pool: str = Field(
        "storyline_feeds",
        description="Airflow pool the feed-fetching tasks run in: caps fetches across workers.",
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
    embed_task_batch: int = Field(
        256,
        ge=1,
        le=MAX_COUNT,
        description="Articles per mapped embed task: the backlog is split into tasks of "
        "this many, which workers embed in parallel.",
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
        "WARNING", description="Root log level: DEBUG, INFO, WARNING, ERROR or CRITICAL."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Resolve from the environment, apply explicit overrides, and fail with one sentence."""
        clean = {key: value for key, value in overrides.items() if value is not None}
        try:
            return cls(**clean)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems = "; ".join(
                f"STORYLINE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid Storyline settings ({problems}); fix the values") from exc
