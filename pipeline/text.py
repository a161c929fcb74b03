"""The text read of an article: its headline and the lead of its body.

One recipe for the readers of words: the word and name similarities of the clustering
(``lexical_chars``), the word check of a story match and the story keywords
(``lexical_full_body_chars``) read ``article_text``. The embedding (``embed_text_chars`` of
the body) reads ``embedding_text``, the same text unless the headline is not one; an article
whose body came from its page is embedded with its feed's teaser beside it
(``embedding_texts``): the lede, which tells what happened, keeps its own weight next to a
body that goes on to background, reaction and a site's slant.

A headline that says nothing of the story (a date, a dateline, a byline, a section label, a
site name, a language code, an empty string: feeds and scrapers give all of these) is left
out of the embedded text when there is a body: the body's lead then stands for the headline.
Kept, such a title pulls a short text's embedding towards every other article titled
"August 17, 2011" or "News", whatever they report. The readers of words keep it: a date and
the names in it are words that tell look-alike events apart (on ECB+, dropping them there
too lowered BCubed F1 from 0.913 to 0.909; dropping them from the embedding alone changed
nothing on the three dev corpora).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[^\W\d_]+")
_HOST = re.compile(
    r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|info|news|tv|co|uk|us|ca|au|de|fr|in)\b",
    re.IGNORECASE,
)
_DASH_END = re.compile("[-\u2013\u2014]\\s*$")
DATELINE_WORDS = 4
"""A title ending in a dash with at most this many words is a dateline ("BEIRUT, Lebanon
—", "WASHINGTON (AP) —", "March 14, 2013 - UNITED STATES -"): the headline was cut off
after it. A longer one is a headline with its site's name after it ("... - KTVU -")."""
_BYLINE = re.compile(r"^\s*by\s", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DATE_WORDS = _words(
    """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday
    mon tue tues wed thu thur thurs fri sat sun
    am pm gmt utc bst cet est edt cst cdt mst mdt pst pdt et pt st nd rd th
    published updated posted modified last
    """
)
"""Words of a date, a time or a time stamp line ("Published Friday, March 8, 2013 at 12:46
PM / Updated at 12:48 PM")."""

SECTION_WORDS = _words(
    """
    news newsroom latest breaking update updates live brief briefs blotter obituary
    obituaries report reports notice redirect home homepage page index daily weekly
    regional local world national international view section archive archives article
    story stories headlines top more video videos photos photo gallery watch
    """
)
"""Words that name a page or a section of a site rather than an event ("Daily Blotter",
"Regional News Briefs", "View Obituary", "Redirect Notice")."""

STOP_WORDS = _words("a an the of in on at by for and or to from with")

MIN_TITLE_WORDS = 2
"""Fewer words than this, besides date, section and stop words, and a headline says nothing
of the story: "News", "2014", "en", "NBC12", "SheridanMedia.com", "MSC News"."""


def informative_title(title: str) -> bool:
    """Whether ``title`` is a headline, rather than a date, dateline, byline or section label."""
    if _BYLINE.match(title):
        return False
    words = [
        word
        for word in _WORD.findall(_HOST.sub(" ", title).lower())
        if len(word) > 1
        and word not in DATE_WORDS
        and word not in SECTION_WORDS
        and word not in STOP_WORDS
    ]
    if _DASH_END.search(title) and len(words) <= DATELINE_WORDS:
        return False
    return len(words) >= MIN_TITLE_WORDS


_SITE_SEPARATOR = re.compile(r"\s+[-|\u2013\u2014\u00b7]\s+")
SITE_SUFFIX_REPEATS = 3
"""A title's tail after " - " or " | " that ends at least this many of its outlet's other
titles is the site's name, not the headline's ("... - NBC12 - WWBT - Richmond, VA News On
Your Side")."""
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])")
LEAD_TITLE_CHARS = 90
"""The longest title made of a text's first sentence (``lead_title``), cut at a word."""


def _folded(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


def _names_outlet(part: str, outlet: str) -> bool:
    """Whether a title's part is the outlet's name, or holds it, or is held in it (the part
    "NBC12" of the outlet "NBC12 WWBT")."""
    part, name = _folded(part), _folded(outlet)
    if not part or not name:
        return False
    return part == name or (min(len(part), len(name)) >= 4 and (part in name or name in part))


def headline_without_site(title: str, outlet: str, outlet_titles: Sequence[str] = ()) -> str:
    """``title`` without its site's name after it: the tail from the first " - " or " | "
    part that names ``outlet``, or that ends ``SITE_SUFFIX_REPEATS`` of ``outlet_titles``
    (other titles of the outlet). The headline's first part always stays."""
    parts = _SITE_SEPARATOR.split(title.strip())
    if len(parts) < 2:
        return title.strip()
    separators = _SITE_SEPARATOR.findall(title.strip())
    for start in range(1, len(parts)):
        tail = "".join(
            separator + part
            for separator, part in zip(separators[start - 1 :], parts[start:], strict=True)
        )
        repeats = sum(1 for other in outlet_titles if other.strip().endswith(tail))
        if _names_outlet(parts[start], outlet) or repeats >= SITE_SUFFIX_REPEATS:
            return "".join(
                part if index == 0 else separators[index - 1] + part
                for index, part in enumerate(parts[:start])
            )
    return title.strip()


def lead_title(text: str, chars: int = LEAD_TITLE_CHARS) -> str:
    """A stand-in headline from a text: its first sentence, cut at a word to ``chars``
    with an ellipsis; "" for an empty text."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    sentence = _SENTENCE_END.split(flat, maxsplit=1)[0]
    if len(sentence) <= chars:
        return sentence
    cut = sentence[:chars]
    space = cut.rfind(" ")
    if space > chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.\u2013\u2014-") + "\u2026"


def says_nothing(title: str, body: str) -> bool:
    """Whether an article carries nothing that tells what it reports: no body, and no word
    of three letters or more in its title besides date, section and stop words ("en",
    "March 11, 2014, 2:02 am", "Home"). Its vector is that of a placeholder, the same for
    every such article, whatever each reports."""
    if body.strip():
        return False
    return not any(
        len(word) > 2 and word not in DATE_WORDS | SECTION_WORDS | STOP_WORDS
        for word in _WORD.findall(_HOST.sub(" ", title).lower())
    )


def article_text(title: str, body: str, body_chars: int) -> str:
    """The headline plus the first ``body_chars`` characters of the body."""
    lead = body[:body_chars].strip()
    if not lead:
        return title
    separator = " " if title.endswith((".", "!", "?", ":")) else ". "
    return f"{title}{separator}{lead}"


def embedding_text(title: str, body: str, body_chars: int) -> str:
    """What is embedded: ``article_text``, or the lead alone when the headline is not one
    (``informative_title``)."""
    lead = body[:body_chars].strip()
    if lead and not informative_title(title):
        return lead
    return article_text(title, body, body_chars)


def embedding_texts(
    title: str, teaser: str | None, body: str | None, body_chars: int
) -> tuple[str] | tuple[str, str]:
    """What is embedded of an article: its text's ``embedding_text`` (the body's, else the
    feed's teaser's); and, when the body came from the page and the feed gave a teaser, the
    teaser's too, whose vector the embed stage blends in (``lede_weight``)."""
    if body is None:
        return (embedding_text(title, teaser or "", body_chars),)
    text = embedding_text(title, body, body_chars)
    if not (teaser and teaser.strip()):
        return (text,)
    return (text, embedding_text(title, teaser, body_chars))
