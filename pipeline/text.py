"""The text read of an article: its headline and the lead of its body.

One recipe for every reader: the embedding (``embed_text_chars`` of the body), the word and
name similarities of the clustering (``lexical_chars``), the word check of a story match and
the story keywords (``lexical_full_body_chars``).
"""

from __future__ import annotations


def article_text(title: str, body: str, body_chars: int) -> str:
    """The headline plus the first ``body_chars`` characters of the body."""
    lead = body[:body_chars].strip()
    if not lead:
        return title
    separator = " " if title.endswith((".", "!", "?", ":")) else ". "
    return f"{title}{separator}{lead}"
