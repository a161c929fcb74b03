"""Work split into independent units, so separate workers (mapped Airflow tasks) can share it.

Each unit names its items (feed ids, article ids) rather than a count or an offset: a worker
that retries or reruns a unit does exactly that unit again, and the stage functions skip
what an earlier attempt finished (feeds no longer due, articles already embedded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Engine, select

from models import Article
from pipeline.db import session_scope
from pipeline.embed.selection import needing_embedding
from pipeline.ingest.feeds import is_remote
from pipeline.ingest.stage import FeedJob, due_feeds
from pipeline.settings import Settings

LABEL_NAMES = 3
"""Feed names spelled out in a batch's label; the rest are counted."""


@dataclass(frozen=True)
class FeedBatch:
    """Feeds fetched by one worker: all the due feeds of one or more hosts."""

    feed_ids: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def label(self) -> str:
        """The feeds' names, e.g. ``bbc-world`` or ``bbc-world, dw-news +3 more``."""
        shown = ", ".join(self.names[:LABEL_NAMES])
        rest = len(self.names) - LABEL_NAMES
        return f"{shown} +{rest} more" if rest > 0 else shown


def host_of(url: str) -> str | None:
    """The host a feed is fetched from; ``None`` for a local file (no host to spare)."""
    return (urlsplit(url).hostname or "").lower() if is_remote(url) else None


def batch_feeds(jobs: Sequence[FeedJob], max_feeds: int) -> list[FeedBatch]:
    """Group feeds into batches of about ``max_feeds``, never splitting a host.

    Pure. A host's feeds stay in one batch, so the per-host limit that one ingest process
    keeps (``fetch_per_host``) also holds when batches run on separate workers; a host
    with more than ``max_feeds`` feeds gets a batch of its own. Hosts are packed in order
    of their first feed (feed id order), so the same feeds give the same batches.
    """
    if max_feeds < 1:
        raise ValueError(f"max_feeds must be at least 1, not {max_feeds}")
    groups: dict[str | int, list[FeedJob]] = {}
    for job in jobs:
        host = host_of(job.url)
        groups.setdefault(host if host is not None else job.id, []).append(job)
    batches: list[list[FeedJob]] = []
    current: list[FeedJob] = []
    for group in groups.values():
        if current and len(current) + len(group) > max_feeds:
            batches.append(current)
            current = []
        current = current + group
        if len(current) >= max_feeds:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return [
        FeedBatch(tuple(job.id for job in batch), tuple(job.name for job in batch))
        for batch in batches
    ]


def due_feed_batches(
    engine: Engine, now: datetime, max_feeds: int, *, force: bool = False
) -> list[FeedBatch]:
    """The feeds ``ingest`` would fetch now (all of them with ``force``), in batches."""
    with session_scope(engine) as session:
        jobs = due_feeds(session, now, force=force)
    return batch_feeds(jobs, max_feeds)


def missing_embeddings(
    engine: Engine, settings: Settings, *, limit: int | None = None
) -> list[int]:
    """Ids of the articles ``embed`` would embed: no vector for the model, or a stale one.

    The embed stage's own selection (``pipeline.embed.selection``), in article id order; the
    first ``limit`` only, if given.
    """
    query = needing_embedding(select(Article.id), settings.model_name).limit(limit)
    with session_scope(engine) as session:
        return list(session.scalars(query))


def split(ids: Sequence[int], size: int) -> list[list[int]]:
    """``ids`` in consecutive chunks of at most ``size``, as even as possible.

    Pure. 600 ids at size 256 give 200 + 200 + 200 rather than 256 + 256 + 88, so
    parallel workers finish at about the same time.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    if not ids:
        return []
    chunks = -(-len(ids) // size)
    base, extra = divmod(len(ids), chunks)
    out: list[list[int]] = []
    start = 0
    for index in range(chunks):
        end = start + base + (1 if index < extra else 0)
        out.append(list(ids[start:end]))
        start = end
    return out


def embed_batches(engine: Engine, settings: Settings) -> list[list[int]]:
    """The articles missing an embedding, in batches of at most ``embed_task_batch``."""
    return split(missing_embeddings(engine, settings), settings.embed_task_batch)
