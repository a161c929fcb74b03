"""Writing a story plan: memberships, then each changed story's row, timeline, history
events, keywords and summary, all in the run's transaction. ``mark_dormant`` is time's own
change.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session

from models import (
    Article,
    ArticleEntity,
    ClusterRun,
    Embedding,
    Entity,
    Feed,
    Story,
    StoryArticle,
    StoryEvent,
    StoryHour,
    StorySentence,
)
from pipeline.db import among
from pipeline.stories.clustering.vectors import centroid
from pipeline.stories.history import EventKind, membership_events
from pipeline.stories.history import StoryEvent as HistoryEvent
from pipeline.stories.keywords import boilerplate_words, name_words, story_keywords
from pipeline.stories.plan import PLANNED, StoryPlan
from pipeline.stories.state import WindowArticle
from pipeline.stories.status import StoryStatus
from pipeline.stories.summary import Boilerplate, SummaryArticle, summarise
from pipeline.text import article_text, headline_without_site, informative_title, lead_title

KEYWORDS = 8


@dataclass
class Moves:
    """What the membership changes did to stories."""

    touched: set[int] = field(default_factory=set)
    """Stories that gained or lost an article."""
    gave_to: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    """Story -> the stories its articles moved to."""


def write_plan(
    session: Session,
    run: ClusterRun,
    window: list[WindowArticle],
    current: Mapping[int, int],
    plan: StoryPlan,
    chars: int,
) -> tuple[int, int]:
    """Write the plan: new stories, memberships, story rows, events, keywords; returns
    (created, changed)."""
    real = {PLANNED + index: _new_story(session, run) for index in range(plan.new_stories)}
    target = {
        article_id: real.get(story_id, story_id) if story_id is not None else None
        for article_id, story_id in plan.target.items()
    }
    # The window's articles, then the older lone articles a pair took (they had no story).
    in_window = [article.id for article in window]
    older = sorted(set(target) - set(in_window))
    moves = _move_members(session, run, in_window + older, current, target)
    session.flush()
    stories = {story_id: session.get_one(Story, story_id) for story_id in sorted(moves.touched)}
    counts_before = {story_id: story.article_count for story_id, story in stories.items()}
    dormant_before = {
        story_id for story_id, story in stories.items() if story.status == StoryStatus.DORMANT
    }
    for story in stories.values():
        _refresh_story(session, story, run, bool(moves.gave_to[story.id]))
    _record_events(
        session,
        run,
        membership_events(
            before=dict(current),
            after=target,
            created={
                story_id for story_id in stories if stories[story_id].created_run_id == run.id
            },
            counts_before=counts_before,
            counts_after={story_id: story.article_count for story_id, story in stories.items()},
            dormant_before=dormant_before,
        ),
        stories,
    )
    _refresh_keywords(session, window, target, stories, chars)
    live = [story_id for story_id, story in stories.items() if story.status == StoryStatus.ACTIVE]
    if live:
        refresh_summaries(session, live, _boilerplate(window, target))
    gone = [story_id for story_id in stories if story_id not in live]
    if gone:
        session.execute(delete(StorySentence).where(among(StorySentence.story_id, gone)))
    return len(real), len(moves.touched)


def _move_members(
    session: Session,
    run: ClusterRun,
    article_ids: list[int],
    current: Mapping[int, int],
    target: Mapping[int, int | None],
) -> Moves:
    """Give each article its target story (a new membership, a moved one, or none)."""
    moves = Moves()
    for article_id in article_ids:
        before, after = current.get(article_id), target[article_id]
        if before == after:
            continue
        if before is not None:
            moves.touched.add(before)
            if after is not None:
                moves.gave_to[before].add(after)
        if after is not None:
            moves.touched.add(after)
        if before is None:
            session.add(
                StoryArticle(article_id=article_id, story_id=after, since=run.now, run_id=run.id)
            )
        elif after is None:
            session.execute(delete(StoryArticle).where(StoryArticle.article_id == article_id))
        else:
            membership = session.get_one(StoryArticle, article_id)
            membership.story_id = after
            membership.since = run.now
            membership.run_id = run.id
    return moves


def _record_events(
    session: Session, run: ClusterRun, events: list[HistoryEvent], stories: dict[int, Story]
) -> None:
    for event in events:
        story = stories[event.story_id]
        if event.kind == EventKind.MERGED:
            story.merged_into_id = event.other_story_id
        session.add(_event(story, event.kind, run.now, run.id, event.other_story_id))


def _event(
    story: Story, kind: EventKind, at: datetime, run_id: int | None, other: int | None
) -> StoryEvent:
    return StoryEvent(
        story_id=story.id,
        run_id=run_id,
        at=at,
        kind=kind,
        other_story_id=other,
        article_count=story.article_count,
    )


def _names_and_boilerplate(
    session: Session,
    window: list[WindowArticle],
    target: Mapping[int, int | None],
    chars: int,
) -> dict[int, frozenset[str]]:
    """Per story, the words its keywords must not hold: its entities' names (shown apart),
    the window's outlets' and feeds' names, and the words one outlet puts around its
    articles (``boilerplate_words``)."""
    ids = [article.id for article in window if target.get(article.id) is not None]
    outlet_of: dict[int, str] = {}
    sites: set[str] = set()
    named: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for article_id, outlet, feed in session.execute(
            select(Article.id, Feed.outlet, Feed.name)
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.id.in_(chunk))
        ):
            outlet_of[article_id] = outlet
            sites.update((outlet, feed.replace("-", " ")))
        for article_id, name in session.execute(
            select(ArticleEntity.article_id, Entity.name)
            .join(Entity, Entity.id == ArticleEntity.entity_id)
            .where(ArticleEntity.article_id.in_(chunk))
        ):
            story_id = target[article_id]
            if story_id is not None:
                named[story_id].add(name)
    furniture = boilerplate_words(
        (outlet_of[article.id], story_id, article_text(article.title, article.summary, chars))
        for article in window
        if (story_id := target.get(article.id)) is not None and article.id in outlet_of
    )
    common = name_words(sites) | furniture
    stories = {story_id for story_id in target.values() if story_id is not None}
    return {story_id: common | name_words(named[story_id]) for story_id in stories}


_CHUNK = 5000
"""Article ids per ``IN (...)``: below SQLite's limit of bound parameters."""


def _refresh_keywords(
    session: Session,
    window: list[WindowArticle],
    target: dict[int, int | None],
    stories: dict[int, Story],
    chars: int,
) -> None:
    """Keywords of the changed stories, against every story of the window (c-TF-IDF)."""
    texts: dict[int, list[str]] = defaultdict(list)
    for article in window:
        story_id = target[article.id]
        if story_id is not None:
            # The headline twice: it names the story; the lead adds what the headline lacks.
            texts[story_id] += [article.title, article_text(article.title, article.summary, chars)]
    keywords = story_keywords(
        texts, top_n=KEYWORDS, without=_names_and_boilerplate(session, window, target, chars)
    )
    for story_id, story in stories.items():
        if story_id in keywords and story.status == StoryStatus.ACTIVE:
            story.keywords = keywords[story_id]


def _boilerplate(window: list[WindowArticle], target: Mapping[int, int | None]) -> Boilerplate:
    """The sentences the window's articles print across stories and headlines."""
    return Boilerplate(
        (target.get(article.id), article.title, article.summary) for article in window
    )


def refresh_summaries(
    session: Session, story_ids: Collection[int], boilerplate: Boilerplate
) -> int:
    """Summarise the stories ``story_ids`` from their members (``summary.summarise``) and
    store each summary that differs from the one stored; returns how many changed.

    Idempotent: the same members and window give the same sentences, and nothing is
    written then.
    """
    if not story_ids:
        return 0
    rows = session.execute(
        select(
            StoryArticle.story_id,
            Article.id,
            Feed.outlet,
            Article.url,
            Article.title,
            Article.text,
            Embedding.vector,
            Article.published_at,
        )
        .join(Article, Article.id == StoryArticle.article_id)
        .join(Feed, Feed.id == Article.feed_id)
        .join(Story, Story.id == StoryArticle.story_id)
        .join(Embedding, and_(Embedding.article_id == Article.id, Embedding.model == Story.model))
        .where(among(StoryArticle.story_id, story_ids))
        .order_by(StoryArticle.story_id, Article.id)
    ).all()
    members: dict[int, list[SummaryArticle]] = defaultdict(list)
    for story_id, article_id, outlet, url, title, text, vector, published in rows:
        members[story_id].append(
            SummaryArticle(article_id, outlet, url, title or "", text or "", vector, published)
        )
    stored: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for story_id, article_id, sentence in session.execute(
        select(StorySentence.story_id, StorySentence.article_id, StorySentence.sentence)
        .where(among(StorySentence.story_id, story_ids))
        .order_by(StorySentence.story_id, StorySentence.position)
    ):
        stored[story_id].append((article_id, sentence))
    changed = 0
    for story_id in sorted(story_ids):
        summary = [
            (s.article_id, s.sentence) for s in summarise(members.get(story_id, []), boilerplate)
        ]
        if summary == stored.get(story_id, []):
            continue
        changed += 1
        session.execute(delete(StorySentence).where(StorySentence.story_id == story_id))
        session.add_all(
            StorySentence(story_id=story_id, position=position, article_id=article, sentence=text)
            for position, (article, text) in enumerate(summary, start=1)
        )
    return changed


def summarise_unsummarised(session: Session, window: list[WindowArticle]) -> int:
    """Summarise the live stories that have none yet but have text to summarise: those
    made before summaries were (migration 0015), on any cluster run, even one that skips an
    unchanged window. A story whose text gives no sentence is tried again on each run, at
    the cost of reading its members."""
    text = func.length(func.coalesce(Article.body, Article.summary)) > 0
    has_text = exists().where(
        StoryArticle.story_id == Story.id, Article.id == StoryArticle.article_id, text
    )
    has_summary = exists().where(StorySentence.story_id == Story.id)
    missing = list(
        session.scalars(
            select(Story.id).where(
                Story.status.in_((StoryStatus.ACTIVE, StoryStatus.DORMANT)),
                Story.article_count > 0,
                has_text,
                ~has_summary,
            )
        )
    )
    if not missing:
        return 0
    groups: dict[int, int | None] = {}
    ids = [article.id for article in window]
    for start in range(0, len(ids), 5000):
        groups.update(
            (article_id, story_id)
            for article_id, story_id in session.execute(
                select(StoryArticle.article_id, StoryArticle.story_id).where(
                    StoryArticle.article_id.in_(ids[start : start + 5000])
                )
            )
        )
    return refresh_summaries(session, missing, _boilerplate(window, groups))


def mark_dormant(session: Session, now: datetime, idle: timedelta) -> list[int]:
    """Active stories with no article for ``idle`` go dormant, with an event.

    Run on every clustering, even one skipped for an unchanged window, since time alone
    makes a story dormant. Idempotent: a dormant story is not marked again.
    """
    stale = list(
        session.scalars(
            select(Story)
            .where(Story.status == StoryStatus.ACTIVE, Story.last_seen < now - idle)
            .order_by(Story.id)
        )
    )
    for story in stale:
        story.status = StoryStatus.DORMANT
        story.updated_at = now
        session.add(_event(story, EventKind.DORMANT, now, None, None))
    return [story.id for story in stale]


def _new_story(session: Session, run: ClusterRun) -> int:
    """An empty story row; ``_refresh_story`` fills it once its members are written."""
    story = Story(
        title="",
        article_count=0,
        source_count=0,
        original_count=0,
        first_seen=run.now,
        last_seen=run.now,
        model=run.model,
        status=StoryStatus.ACTIVE,
        created_at=run.now,
        updated_at=run.now,
        created_run_id=run.id,
        updated_run_id=run.id,
    )
    session.add(story)
    session.flush()
    return story.id


def _refresh_story(session: Session, story: Story, run: ClusterRun, gave_articles: bool) -> None:
    """Recompute a story's title, counts, time span and centroid from its members.

    A story left with no articles is ``merged`` if its articles went to another story,
    else ``dissolved`` (they became noise). A story made under another model that this run
    continues is the run's model's from now on: its members are read by their vectors of
    that model (the embed stage gives every article one).
    """
    story.model = run.model
    rows = session.execute(
        select(
            Article.id,
            Article.title,
            Article.published_at,
            Article.duplicate_of_id,
            Feed.outlet,
            Embedding.vector,
        )
        .join(StoryArticle, StoryArticle.article_id == Article.id)
        .join(Feed, Feed.id == Article.feed_id)
        .join(Embedding, and_(Embedding.article_id == Article.id, Embedding.model == story.model))
        .where(StoryArticle.story_id == story.id)
        .order_by(Article.published_at, Article.id)
    ).all()
    story.updated_at = run.now
    story.updated_run_id = run.id
    if not rows:
        story.status = StoryStatus.MERGED if gave_articles else StoryStatus.DISSOLVED
        story.article_count = 0
        story.source_count = 0
        story.original_count = 0
        session.execute(delete(StoryHour).where(StoryHour.story_id == story.id))
        return
    vectors = np.stack([row.vector for row in rows])
    center = centroid(vectors)
    closeness = vectors @ center
    story.title = _story_title(session, rows, closeness)
    story.centroid = center
    story.article_count = len(rows)
    story.source_count = len({row.outlet for row in rows})
    story.original_count = sum(1 for row in rows if row.duplicate_of_id is None)
    story.first_seen = rows[0].published_at
    story.last_seen = rows[-1].published_at
    story.status = StoryStatus.ACTIVE
    story.merged_into_id = None
    _refresh_timeline(session, story.id, [(row.published_at, row.outlet) for row in rows])


SHARED_TITLE_ARTICLES = 3
"""A title that this many of a story's original articles (not reprints) from more than one
outlet share is a scraper's placeholder ("en", "Home"), not their headline."""
OUTLET_TITLES = 50
"""The outlet's newest titles read to tell its site's name after a headline."""


def _story_title(session: Session, rows: Sequence[Any], closeness: np.ndarray) -> str:
    """The title of the story whose members are ``rows`` (oldest first): the headline of the
    most central member that has one, without its site's name after it.

    A member's title is no headline when ``informative_title`` says so (a date, a section
    label, a language code) or when it is a placeholder many members of several outlets share
    with different texts. When no member has a headline, the first sentence of the most
    central member's text stands in for one (``lead_title``); with no text either, its title.
    """
    originals = [row for row in rows if row.duplicate_of_id is None]
    sharing: dict[str, set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    for row in originals:
        key = " ".join(row.title.casefold().split())
        counts[key] += 1
        sharing[key].add(row.outlet)
    placeholders = {
        key
        for key, count in counts.items()
        if count >= SHARED_TITLE_ARTICLES and len(sharing[key]) > 1
    }
    headlines = [
        i
        for i, row in enumerate(rows)
        if informative_title(row.title)
        and " ".join(row.title.casefold().split()) not in placeholders
    ]
    central = max(headlines or range(len(rows)), key=lambda i: (closeness[i], -i))
    row = rows[central]
    if not headlines:
        text = session.scalar(select(Article.text).where(Article.id == row.id)) or ""
        return lead_title(text) or row.title
    outlet_titles = list(
        session.scalars(
            select(Article.title)
            .join(Feed, Feed.id == Article.feed_id)
            .where(Feed.outlet == row.outlet, Article.id != row.id)
            .order_by(Article.id.desc())
            .limit(OUTLET_TITLES)
        )
    )
    headline = headline_without_site(row.title, row.outlet, outlet_titles)
    return headline if informative_title(headline) else row.title


def _refresh_timeline(session: Session, story_id: int, members: list[tuple[datetime, str]]) -> None:
    """Articles and distinct outlets per hour of publication."""
    hours: dict[datetime, set[str]] = defaultdict(set)
    counts: dict[datetime, int] = defaultdict(int)
    for published, outlet in members:
        hour = published.replace(minute=0, second=0, microsecond=0)
        hours[hour].add(outlet)
        counts[hour] += 1
    session.execute(delete(StoryHour).where(StoryHour.story_id == story_id))
    session.add_all(
        StoryHour(
            story_id=story_id, hour=hour, article_count=counts[hour], outlet_count=len(outlets)
        )
        for hour, outlets in sorted(hours.items())
    )
