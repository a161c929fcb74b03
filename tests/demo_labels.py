"""The bundled demo's ground truth (``tests/fixtures/demo_labels.yaml``) and the stories a
database made of it, for the tests that run the demo (``test_demo``, ``test_celery_cluster``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import Engine, select

from models import Article, Feed, StoryArticle
from pipeline.db import session_scope

LABELS: dict[str, str] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "demo_labels.yaml").read_text(encoding="utf-8")
)["labels"]
"""Item guid -> label: one of ``STORIES``, or ``other:<topic>``."""
STORIES = ("paris-manhunt", "raqqa-strikes", "sinai-crash")


@dataclass(frozen=True)
class DemoStories:
    """The stored demo articles, and per story the labels and outlets of its articles."""

    guids: set[str]
    labels_in: dict[int, Counter[str]]
    outlets_in: dict[int, set[str]]


def demo_stories(engine: Engine) -> DemoStories:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Article.guid, Feed.outlet, StoryArticle.story_id)
            .join(Feed, Feed.id == Article.feed_id)
            .outerjoin(StoryArticle, StoryArticle.article_id == Article.id)
        ).all()
    labels_in: dict[int, Counter[str]] = defaultdict(Counter)
    outlets_in: dict[int, set[str]] = defaultdict(set)
    for guid, outlet, story_id in rows:
        if story_id is not None and guid in LABELS:  # not the tests' own feeds
            labels_in[story_id][LABELS[guid]] += 1
            outlets_in[story_id].add(outlet)
    return DemoStories({guid for guid, _, _ in rows}, labels_in, outlets_in)
