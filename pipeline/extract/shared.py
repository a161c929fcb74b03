"""Boilerplate that articles' bodies share: a paragraph at the end of a body, set outside
the lead's kind of element, that another article's body also ends with.

One page cannot tell a site's author note, "about us" or promotion from an article's last
paragraph: both sit inside what trafilatura takes for the main text. Two articles can.
The extract stage records each body's aside paragraphs (``Extraction.aside``) by digest,
in the body's own transaction; a body is stored without the aside paragraphs another
article had first, and that article's body loses them then too (its text changes, so it
is embedded again and its story follows). A reprint's shared text lies in the lead's
element, never aside, so reprints keep what they share.

On PostgreSQL two stages recording one digest at once wait for each other (the primary
key), so the second sees the first's row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Article, SharedParagraph
from pipeline.db import insert_or_ignore
from pipeline.extract.page import squash
from pipeline.ingest.parse import content_hash

__all__ = ["digest", "keep_own", "without"]


def digest(paragraph: str) -> str:
    """The paragraph's key: two renderings of it (spacing, quotes, case) have one."""
    return hashlib.sha1(squash(paragraph).encode()).hexdigest()


def without(text: str, digests: Collection[str]) -> str:
    """``text`` without its paragraphs (lines) whose digest is in ``digests``."""
    return "\n".join(line for line in text.split("\n") if digest(line) not in digests)


def keep_own(session: Session, article_id: int, text: str, aside: Iterable[str]) -> str:
    """``text`` without the ``aside`` paragraphs another article's body ended with first;
    records the others as this article's, and drops the shared ones from the bodies of the
    articles that had them first."""
    digests = {digest(paragraph) for paragraph in aside if squash(paragraph)}
    if not digests:
        return text
    session.execute(
        insert_or_ignore(session, SharedParagraph).values(
            [{"digest": key, "article_id": article_id, "shared": False} for key in sorted(digests)]
        )
    )
    seen = session.execute(
        select(SharedParagraph.digest, SharedParagraph.article_id, SharedParagraph.shared).where(
            SharedParagraph.digest.in_(digests)
        )
    ).all()
    others = {key for key, owner, _ in seen if owner != article_id}
    first: dict[int, set[str]] = {}
    for key, owner, shared in seen:
        if key in others and not shared and owner is not None:
            first.setdefault(owner, set()).add(key)
    if first:
        session.execute(
            update(SharedParagraph)
            .where(SharedParagraph.digest.in_({key for keys in first.values() for key in keys}))
            .values(shared=True)
        )
        _drop_from(session, first)
    return without(text, others)


def _drop_from(session: Session, owners: dict[int, set[str]]) -> None:
    """Drop each article's shared paragraphs from its stored body."""
    rows = session.execute(
        select(Article.id, Article.title, Article.body).where(
            Article.id.in_(owners), Article.body.is_not(None)
        )
    ).all()
    for article_id, title, body in rows:
        kept = without(body or "", owners[article_id])
        if body is not None and kept != body:
            session.execute(
                update(Article)
                .where(Article.id == article_id)
                .values(body=kept, text_hash=content_hash(title, kept))
            )
