"""Reading what a cluster run plans from: the window, and the stories and articles it may
continue. Reads only; ``plan.py`` decides and ``write.py`` writes.

Older stories and older lone articles are many (they never expire), so only those near some
cluster or lone article are read, through the one nearest-vector search
(``pipeline/vector_index.nearest``: PostgreSQL's HNSW index, or a batched scan).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from models import Article, Embedding, Story, StoryArticle
from models.types import FloatArray
from pipeline.db import among
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.clustering.vectors import centroid, normalise
from pipeline.stories.knobs import MatchKnobs
from pipeline.stories.plan import LoneArticle, StoryState
from pipeline.stories.status import StoryStatus
from pipeline.stories.tracking import SIMILARITY_TOLERANCE, KnownStory, WordCheck
from pipeline.text import article_text, says_nothing
from pipeline.vector_index import nearest

LIVE = (StoryStatus.ACTIVE, StoryStatus.DORMANT)
"""Stories a new cluster or a lone article may continue: a dormant one is revived."""
WORD_CHECK_ARTICLES = 10
"""A story's latest articles whose words the word check of a match reads."""
NEAREST_STORIES = 20
"""Older stories a cluster or a lone article asks the centroid index for on PostgreSQL."""
NEAREST_ARTICLES = 20
"""Older lone articles a lone article asks the index of article vectors for on PostgreSQL."""


@dataclass(frozen=True)
class WindowArticle:
    id: int
    content_hash: str
    vector: FloatArray
    title: str
    summary: str


def load_window(
    session: Session, model: str, start: datetime, end: datetime
) -> list[WindowArticle]:
    """The articles published in ``[start, end]`` that have a vector of ``model``, in
    publication order."""
    rows = session.execute(
        select(Article.id, Embedding.content_hash, Embedding.vector, Article.title, Article.text)
        .join(Embedding, and_(Embedding.article_id == Article.id, Embedding.model == model))
        .where(Article.published_at >= start, Article.published_at <= end)
        .order_by(Article.published_at, Article.id)
    ).all()
    return [WindowArticle(row[0], row[1], row[2], row[3] or "", row[4] or "") for row in rows]


def count_unembedded(session: Session, model: str, start: datetime, end: datetime) -> int:
    """Articles published in ``[start, end]`` with no embedding for ``model``."""
    embedded = select(Embedding.article_id).where(
        Embedding.article_id == Article.id, Embedding.model == model
    )
    return (
        session.scalar(
            select(func.count())
            .select_from(Article)
            .where(Article.published_at >= start, Article.published_at <= end, ~embedded.exists())
        )
        or 0
    )


def models_with_vectors(session: Session) -> str:
    """The models that embedded articles, as a clause for a message."""
    models = session.scalars(select(Embedding.model).distinct().order_by(Embedding.model)).all()
    return "embedded with: " + ", ".join(models) if models else "no article is embedded yet"


def load_state(
    session: Session,
    window: list[WindowArticle],
    labels: np.ndarray,
    vectors: FloatArray,
    knobs: MatchKnobs,
    window_start: datetime,
) -> StoryState:
    """Everything ``plan_stories`` reads, read before anything is written."""
    ids = [article.id for article in window]
    current = _current_stories(session, ids)
    recent = knobs.recent_since(window_start)
    known = _known_stories(session, current, _cluster_centroids(labels, vectors), recent, knobs)
    return StoryState(
        article_ids=ids,
        labels=labels,
        vectors=vectors,
        current=current,
        known=known,
        older_near_lonely=_older_near_lonely(session, labels, vectors, known, recent, knobs),
        words=WordCheck(
            window=[article_text(a.title, a.summary, knobs.text_chars) for a in window],
            clusters={},
            min_similarity=knobs.word_similarity,
        ),
        match_similarity=knobs.match_similarity,
        attach_similarity=knobs.attach_similarity,
        older_lonely=older_lonely(session, labels, vectors, window_start, knobs),
        mute=frozenset(a.id for a in window if says_nothing(a.title, a.summary)),
    )


def _current_stories(session: Session, ids: list[int]) -> dict[int, int]:
    """Article -> its story now, for these articles that have one."""
    if not ids:
        return {}
    return dict(
        session.execute(
            select(StoryArticle.article_id, StoryArticle.story_id).where(
                among(StoryArticle.article_id, ids)
            )
        ).all()
    )


def _cluster_centroids(labels: np.ndarray, vectors: FloatArray) -> dict[int, FloatArray]:
    return {
        label: centroid(vectors[np.flatnonzero(labels == label)])
        for label in sorted(set(labels.tolist()) - {NOISE})
    }


def _known_stories(
    session: Session,
    current: dict[int, int],
    centroids: dict[int, FloatArray],
    recent: datetime,
    knobs: MatchKnobs,
) -> list[KnownStory]:
    """The stories a cluster may continue, with the window articles each holds.

    Any live story, however old, may be continued; one not seen since ``recent`` only if
    the word check tells a follow-up from a look-alike event, so only the older ones close
    to some cluster are read (with their texts, for that check).
    """
    in_window = set(current.values())
    candidates: list[tuple[int, FloatArray | None, datetime]] = [
        (row[0], row[1], row[2])
        for row in session.execute(
            select(Story.id, Story.centroid, Story.last_seen)
            .where(
                or_(
                    among(Story.id, sorted(in_window)),
                    and_(Story.status.in_(LIVE), Story.last_seen >= recent),
                )
            )
            .order_by(Story.id)
        )
    ]
    older = older_near(
        session, centroids, recent, in_window, knobs.match_similarity - SIMILARITY_TOLERANCE
    )
    candidates = sorted([*candidates, *older], key=lambda row: row[0])
    window_members: dict[int, set[int]] = defaultdict(set)
    for article_id, story_id in current.items():
        window_members[story_id].add(article_id)
    texts = _story_texts(session, [row[0] for row in older], knobs.text_chars)
    return [
        KnownStory(
            story_id,
            center,
            frozenset(window_members.get(story_id, ())),
            recent=story_id in in_window or last_seen >= recent,
            text=texts.get(story_id, ""),
        )
        for story_id, center, last_seen in candidates
    ]


def _older_near_lonely(
    session: Session,
    labels: np.ndarray,
    vectors: FloatArray,
    known: list[KnownStory],
    recent: datetime,
    knobs: MatchKnobs,
) -> list[KnownStory]:
    """Older live stories near some article no cluster took (noise), with their texts:
    the older stories a lone article may join (``plan._attach_lonely``)."""
    lonely = np.flatnonzero(labels == NOISE)
    if lonely.shape[0] == 0 or knobs.attach_similarity is None:
        return []
    unit = normalise(vectors[lonely])
    exclude = {story.id for story in known if story.recent}
    older = older_near(
        session,
        dict(enumerate(unit)),
        recent,
        exclude,
        knobs.attach_similarity - SIMILARITY_TOLERANCE,
    )
    texts = _story_texts(session, [row[0] for row in older], knobs.text_chars)
    return [
        KnownStory(story_id, center, frozenset(), recent=False, text=texts.get(story_id, ""))
        for story_id, center, _ in older
    ]


def older_near(
    session: Session,
    centroids: dict[int, FloatArray],
    before: datetime,
    exclude: set[int],
    min_similarity: float,
) -> list[tuple[int, FloatArray, datetime]]:
    """Live stories last seen before ``before`` whose centroid is at least ``min_similarity``
    (cosine) to one of ``centroids`` (clusters' or lone articles'): the only older stories
    these can continue or join, as (id, centroid, last seen), by id.

    Only centroids of the window's dimension are compared (another length is another
    model's). On PostgreSQL each centroid asks the HNSW index for its ``NEAREST_STORIES``
    nearest (the planner takes the index once the table's statistics are current:
    autovacuum, or the maintenance DAG's ANALYZE); elsewhere the live stories are scanned.
    numpy decides on the candidates either way.
    """
    if not centroids:
        return []
    clusters = np.stack(list(centroids.values())).astype(np.float64)
    query = select(Story.id, Story.centroid, Story.last_seen).where(
        Story.status.in_(LIVE), Story.last_seen < before, Story.centroid.is_not(None)
    )
    hits = nearest(
        session,
        query,
        clusters,
        candidates=NEAREST_STORIES,
        least=min_similarity - SIMILARITY_TOLERANCE,
    )
    found: list[tuple[int, FloatArray, datetime]] = []
    for hit in hits:
        story_id, center, last_seen = hit.row
        if story_id in exclude or center is None:
            continue
        if float((clusters @ center.astype(np.float64)).max()) >= min_similarity:
            found.append((story_id, center, last_seen))
    return found


def older_lonely(
    session: Session,
    labels: np.ndarray,
    vectors: FloatArray,
    window_start: datetime,
    knobs: MatchKnobs,
) -> list[LoneArticle]:
    """Articles published before the window that no story holds, at least
    ``attach_similarity`` (cosine) to some lone article of the window, with their texts:
    those a lone article may pair with (``plan._pair_lonely``).

    On PostgreSQL each lone article asks the HNSW index of article vectors (migration 0010)
    for its ``NEAREST_ARTICLES`` nearest that pass the filters, walking on past those that
    do not (pgvector's iterative scan); elsewhere the older articles of the model are
    scanned. Only the close ones' texts are read.
    """
    least = knobs.attach_similarity
    lonely = np.flatnonzero(labels == NOISE)
    if lonely.shape[0] == 0 or least is None:
        return []
    unit = normalise(vectors[lonely]).astype(np.float64)
    in_story = select(StoryArticle.article_id).where(
        StoryArticle.article_id == Embedding.article_id
    )
    query = (
        select(Embedding.article_id, Embedding.vector)
        .join(Article, Article.id == Embedding.article_id)
        .where(
            Embedding.model == knobs.model,
            Article.published_at < window_start,
            ~in_story.exists(),
        )
    )
    hits = nearest(
        session,
        query,
        unit,
        candidates=NEAREST_ARTICLES,
        least=least - 2 * SIMILARITY_TOLERANCE,
        iterative="relaxed_order",
    )
    if not hits:
        return []
    close = _close_to_any(unit, [hit.row[0] for hit in hits], [hit.row[1] for hit in hits], least)
    if not close:
        return []
    texts = {
        row[0]: article_text(row[1] or "", row[2] or "", knobs.text_chars)
        for row in session.execute(
            select(Article.id, Article.title, Article.text).where(among(Article.id, sorted(close)))
        )
    }
    return [
        LoneArticle(article_id, close[article_id], texts[article_id])
        for article_id in sorted(close)
    ]


def _close_to_any(
    unit: npt.NDArray[np.float64], ids: list[int], vectors: list[FloatArray], least: float
) -> dict[int, FloatArray]:
    """Of these vectors (by id), at unit length, those whose cosine to some row of ``unit``
    is at least ``least``, numpy deciding (a database's float32 distance may differ by a
    rounding error: ``SIMILARITY_TOLERANCE``)."""
    matrix = normalise(np.stack(vectors))
    best = (unit @ matrix.astype(np.float64).T).max(axis=0)
    return {
        ids[int(column)]: matrix[int(column)]
        for column in np.flatnonzero(best >= least - SIMILARITY_TOLERANCE)
    }


def _story_texts(session: Session, story_ids: list[int], chars: int) -> dict[int, str]:
    """Each story's latest ``WORD_CHECK_ARTICLES`` titles and summaries, joined."""
    if not story_ids:
        return {}
    texts: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(StoryArticle.story_id, Article.title, Article.text)
        .join(Article, Article.id == StoryArticle.article_id)
        .where(among(StoryArticle.story_id, story_ids))
        .order_by(StoryArticle.story_id, Article.published_at.desc(), Article.id.desc())
    ).all()
    for story_id, title, summary in rows:
        if len(texts[story_id]) < WORD_CHECK_ARTICLES:
            texts[story_id].append(article_text(title or "", summary or "", chars))
    return {story_id: " ".join(parts) for story_id, parts in texts.items()}
