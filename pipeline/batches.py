"""Work split into independent units, so separate workers (mapped Airflow tasks) can share it.

Each unit names its items (feed ids, article ids) rather than a count or an offset: a worker
that retries or reruns a unit does exactly that unit again, and the stage functions skip
what an earlier attempt finished (feeds no longer due, articles already embedded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Engine, select

from models import Article
from pipeline.db import session_scope
from pipeline.embed.selection import needing_embedding
from pipeline.extract.stage import Waiting, waiting
from pipeline.ingest.feeds import is_remote
from pipeline.ingest.stage import FeedJob, due_feeds
from pipeline.settings import Settings

LABEL_NAMES = 3
"""Names (of feeds, of hosts) spelled out in a batch's label; the rest are counted."""

T = TypeVar("T")


@dataclass(frozen=True)
class FeedBatch:
    """Feeds fetched by one worker: all the due feeds of one or more hosts."""

    feed_ids: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def label(self) -> str:
        """The feeds' names, e.g. ``bbc-world`` or ``bbc-world, dw-news +3 more``."""
        return shortlist(self.names)


@dataclass(frozen=True)
class PageBatch:
    """Article pages read by one worker: all the waiting pages of one or more hosts."""

    article_ids: tuple[int, ...]
    hosts: tuple[str, ...]

    @property
    def label(self) -> str:
        """Its size and hosts, e.g. ``12 pages: courier.example``."""
        pages = len(self.article_ids)
        return f"{pages} page{'' if pages == 1 else 's'}: {shortlist(self.hosts)}"


def shortlist(names: Sequence[str]) -> str:
    """The first ``LABEL_NAMES`` names, the rest counted: ``a, b, c +2 more``."""
    shown = ", ".join(names[:LABEL_NAMES])
    rest = len(names) - LABEL_NAMES
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
    batches = pack(by_host(jobs, lambda job: job.url, lambda job: job.id), max_feeds)
    return [
        FeedBatch(tuple(job.id for job in batch), tuple(job.name for job in batch))
        for batch in batches
    ]


def by_host(items: Sequence[T], url: Callable[[T], str], key: Callable[[T], int]) -> list[list[T]]:
    """``items`` grouped by the host of their ``url``, hosts in order of their first item.

    Pure. An item with no host to spare (a local file) is a group of its own, by ``key``.
    """
    groups: dict[str | int, list[T]] = {}
    for item in items:
        host = host_of(url(item))
        groups.setdefault(host if host is not None else key(item), []).append(item)
    return list(groups.values())


def pack(groups: Sequence[list[T]], size: int) -> list[list[T]]:
    """Consecutive ``groups`` packed into batches of about ``size``, never splitting one.

    Pure. A group is added to the open batch unless that would take it over ``size``; a
    group of more than ``size`` makes a batch of its own.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    batches: list[list[T]] = []
    current: list[T] = []
    for group in groups:
        if current and len(current) + len(group) > size:
            batches.append(current)
            current = []
        current = current + group
        if len(current) >= size:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def due_feed_batches(
    engine: Engine, now: datetime, max_feeds: int, *, force: bool = False
) -> list[FeedBatch]:
    """The feeds ``ingest`` would fetch now (all of them with ``force``), in batches."""
    with session_scope(engine) as session:
        jobs = due_feeds(session, now, force=force)
    return batch_feeds(jobs, max_feeds)


def batch_pages(articles: Sequence[Waiting], per_task: int) -> list[PageBatch]:
    """Group waiting pages into batches of about ``per_task``, never splitting a host.

    Pure, as ``batch_feeds``: a host's pages share a batch, so ``page_per_host`` holds
    across workers and one slow site holds one task's slot, not one on every worker.
    """
    batches = pack(by_host(articles, lambda a: a.url, lambda a: a.id), per_task)
    return [
        PageBatch(
            tuple(article.id for article in batch),
            tuple(dict.fromkeys(host_of(article.url) or article.url for article in batch)),
        )
        for batch in batches
    ]


def page_batches(engine: Engine, now: datetime, per_task: int) -> list[PageBatch]:
    """The pages ``extract`` would read now (its own selection), in batches by host."""
    return batch_pages(waiting(engine, now), per_task)


def pages_waiting(engine: Engine, now: datetime) -> bool:
    """Whether any article's page is waiting to be read now (new, or due for a retry)."""
    return bool(waiting(engine, now, limit=1))


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
