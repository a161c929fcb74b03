from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, update

from models import Article, Embedding, Feed
from models.types import FloatArray
from pipeline.batches import (
    FeedBatch,
    PageBatch,
    batch_feeds,
    batch_pages,
    due_feed_batches,
    embed_batches,
    missing_embeddings,
    page_batches,
    pages_waiting,
    split,
)
from pipeline.db import session_scope
from pipeline.embed.stage import embed
from pipeline.extract.policy import ExtractState
from pipeline.extract.stage import Waiting
from pipeline.ingest.stage import FeedJob
from pipeline.settings import Settings
from tests.factories import DIM, T0, add_feeds


def job(feed_id: int, url: str) -> FeedJob:
    return FeedJob(feed_id, f"feed-{feed_id}", url, None, None, None)


@pytest.mark.parametrize(
    ("urls", "max_feeds", "expected"),
    [
        ([], 3, []),
        (
            ["https://a.example/1", "https://b.example/1", "https://c.example/1"],
            2,
            [(1, 2), (3,)],
        ),
        (
            ["https://a.example/1", "https://b.example/1", "https://A.example/2"],
            2,
            [(1, 3), (2,)],
        ),
        (
            ["https://big.example/1", "https://big.example/2", "https://big.example/3"],
            2,
            [(1, 2, 3)],
        ),
        (
            ["https://a.example/1", "https://big.example/1", "https://big.example/2"],
            2,
            [(1,), (2, 3)],
        ),
        (["/srv/feeds/a.xml", "/srv/feeds/b.xml", "https://a.example/1"], 1, [(1,), (2,), (3,)]),
        (["https://a.example/1", "https://b.example/1"], 1, [(1,), (2,)]),
    ],
    ids=[
        "empty",
        "packed-in-order",
        "host-kept-together-case-blind",
        "big-host-alone-over-size",
        "big-host-not-split",
        "local-files-each-alone",
        "one-per-feed",
    ],
)
def test_batch_feeds_keeps_hosts_together(
    urls: list[str], max_feeds: int, expected: list[tuple[int, ...]]
) -> None:
    jobs = [job(i, url) for i, url in enumerate(urls, start=1)]
    batches = batch_feeds(jobs, max_feeds)
    assert [batch.feed_ids for batch in batches] == expected
    assert sorted(i for batch in batches for i in batch.feed_ids) == list(range(1, len(urls) + 1))


def test_batch_feeds_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batch_feeds([job(1, "https://a.example/")], 0)


@pytest.mark.parametrize(
    ("names", "label"),
    [
        (("bbc",), "bbc"),
        (("bbc", "dw", "rfi"), "bbc, dw, rfi"),
        (("bbc", "dw", "rfi", "nhk", "abc"), "bbc, dw, rfi +2 more"),
    ],
    ids=["one", "three", "five"],
)
def test_feed_batch_label_names_its_feeds(names: tuple[str, ...], label: str) -> None:
    assert FeedBatch(tuple(range(len(names))), names).label == label


def waiting_page(article_id: int, url: str) -> Waiting:
    return Waiting(article_id, url, f"Title {article_id}", "Teaser.", None, "hash", 0)


@pytest.mark.parametrize(
    ("urls", "per_task", "expected"),
    [
        ([], 3, []),
        (
            ["https://a.example/1", "https://b.example/1", "https://a.example/2"],
            2,
            [((1, 3), ("a.example",)), ((2,), ("b.example",))],
        ),
        (
            ["https://a.example/1", "https://b.example/1", "https://c.example/1"],
            5,
            [((1, 2, 3), ("a.example", "b.example", "c.example"))],
        ),
        (
            ["https://a.example/1", "https://Big.example/1", "https://big.example/2"],
            1,
            [((1,), ("a.example",)), ((2, 3), ("big.example",))],
        ),
    ],
    ids=["empty", "host-kept-together", "hosts-packed", "big-host-not-split-case-blind"],
)
def test_batch_pages_keeps_a_hosts_pages_in_one_batch(
    urls: list[str], per_task: int, expected: list[tuple[tuple[int, ...], tuple[str, ...]]]
) -> None:
    pages = [waiting_page(i, url) for i, url in enumerate(urls, start=1)]
    assert [(b.article_ids, b.hosts) for b in batch_pages(pages, per_task)] == expected


@pytest.mark.parametrize(
    ("hosts", "label"),
    [
        (("a.example",), "1 page: a.example"),
        (
            ("a.example", "b.example", "c.example", "d.example"),
            "4 pages: a.example, b.example, c.example +1 more",
        ),
    ],
    ids=["one-host", "four-hosts"],
)
def test_page_batch_label_counts_its_pages_and_names_its_hosts(
    hosts: tuple[str, ...], label: str
) -> None:
    assert PageBatch(tuple(range(len(hosts))), hosts).label == label


def test_page_batches_list_the_pages_extract_would_read(engine: Engine) -> None:
    urls = [f"https://{host}.example/{n}" for n, host in enumerate("abacd")]
    ids = add_articles(engine, urls, extract_state=ExtractState.PENDING)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with session_scope(engine) as session:
        # the second a.example page waits for its retry; c.example's page was read
        session.get_one(Article, ids[2]).extract_after = now + timedelta(minutes=30)
        session.get_one(Article, ids[3]).extract_state = ExtractState.OK
    batches = page_batches(engine, now, 2)
    assert [batch.article_ids for batch in batches] == [(ids[0], ids[1]), (ids[4],)]
    assert [batch.label for batch in batches] == [
        "2 pages: a.example, b.example",
        "1 page: d.example",
    ]
    assert pages_waiting(engine, now)
    later = page_batches(engine, now + timedelta(hours=1), 10)
    assert [batch.article_ids for batch in later] == [(ids[0], ids[2], ids[1], ids[4])]
    with session_scope(engine) as session:
        session.execute(update(Article).values(extract_state=ExtractState.SKIPPED))
    assert page_batches(engine, now, 2) == []
    assert not pages_waiting(engine, now)


@pytest.mark.parametrize(
    ("count", "size", "lengths"),
    [
        (0, 4, []),
        (1, 4, [1]),
        (4, 4, [4]),
        (5, 4, [3, 2]),
        (600, 256, [200, 200, 200]),
        (513, 256, [171, 171, 171]),
        (7, 1, [1] * 7),
    ],
    ids=["empty", "one", "exact", "just-over", "even-thirds", "odd", "size-one"],
)
def test_split_is_even_and_keeps_order(count: int, size: int, lengths: list[int]) -> None:
    ids = list(range(100, 100 + count))
    chunks = split(ids, size)
    assert [len(chunk) for chunk in chunks] == lengths
    assert [i for chunk in chunks for i in chunk] == ids
    assert all(len(chunk) <= size for chunk in chunks)


def test_split_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split([1, 2], 0)


def test_due_feed_batches_lists_the_feeds_ingest_would_fetch(engine: Engine) -> None:
    ids = add_feeds(engine, ["Alpha", "Beta", "Gamma", "Delta"])
    with session_scope(engine) as session:
        # Beta was checked a minute ago, Gamma is disabled, Delta asked to wait
        session.get_one(Feed, ids["Beta"]).next_check_at = T0 + timedelta(hours=1)
        session.get_one(Feed, ids["Gamma"]).enabled = False
        session.get_one(Feed, ids["Delta"]).retry_after_until = T0 + timedelta(hours=1)
    batches = due_feed_batches(engine, T0, 10)
    assert [batch.feed_ids for batch in batches] == [(ids["Alpha"],)]
    forced = due_feed_batches(engine, T0, 10, force=True)
    assert [batch.names for batch in forced] == [("alpha", "beta")]
    one_each = due_feed_batches(engine, T0, 1, force=True)
    assert [batch.feed_ids for batch in one_each] == [(ids["Alpha"],), (ids["Beta"],)]


class FakeEmbedder:
    """Deterministic vectors from the text, no model: the split is what is under test."""

    name = "fake"
    dim = DIM
    version = "fake 1"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts.extend(texts)
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        normed: FloatArray = out / np.linalg.norm(out, axis=1, keepdims=True)
        return normed


def add_articles(engine: Engine, urls: Sequence[str | None], **fields: object) -> list[int]:
    """One article per url (``None``: no link), a minute apart, with ``fields`` set."""
    feeds = add_feeds(engine, ["Alpha"])
    with session_scope(engine) as session:
        articles = [
            Article(
                feed_id=feeds["Alpha"],
                guid=f"g{i}",
                url=url,
                title=f"Article {i}",
                summary="Body.",
                published_at=T0 + timedelta(minutes=i),
                published_estimated=False,
                fetched_at=T0,
                content_hash=f"h{i}",
                **fields,
            )
            for i, url in enumerate(urls)
        ]
        session.add_all(articles)
        session.flush()
        return [article.id for article in articles]


def add_plain_articles(engine: Engine, count: int) -> list[int]:
    return add_articles(engine, [None] * count)


def test_embed_batches_cover_the_missing_articles_once(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url, embed_task_batch=4, embed_batch_size=3)
    ids = add_plain_articles(engine, 10)
    batches = embed_batches(engine, settings)
    assert [len(batch) for batch in batches] == [4, 3, 3]
    assert [i for batch in batches for i in batch] == ids

    encoder = FakeEmbedder()
    # the last batch first, and twice: workers finish in any order, and retry
    reports = [embed(engine, settings, encoder, article_ids=batch) for batch in batches[::-1]]
    again = embed(engine, settings, encoder, article_ids=batches[0])
    assert [r.embedded for r in reports] == [3, 3, 4]
    assert (again.embedded, again.refreshed) == (0, 0)
    assert len(encoder.texts) == 10
    assert missing_embeddings(engine, settings) == []
    assert embed_batches(engine, settings) == []
    with session_scope(engine) as session:
        assert session.scalar(select(func.count(func.distinct(Embedding.article_id)))) == 10
        assert session.scalar(select(func.count()).select_from(Embedding)) == 10


def test_missing_embeddings_includes_changed_articles(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    ids = add_plain_articles(engine, 3)
    embed(engine, settings, FakeEmbedder(), article_ids=ids[:2])
    assert missing_embeddings(engine, settings) == [ids[2]]
    with session_scope(engine) as session:
        session.execute(update(Article).where(Article.id == ids[0]).values(content_hash="new"))
    assert missing_embeddings(engine, settings) == [ids[0], ids[2]]
    assert missing_embeddings(engine, settings, limit=1) == [ids[0]]
    # the other model's vectors do not count
    other = Settings.load(database_url=db_url, model_name="other-model")
    assert missing_embeddings(engine, other) == ids
