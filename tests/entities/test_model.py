"""Real sentences through the real recogniser (en_core_web_sm 3.8.0): what an article names."""

from __future__ import annotations

import pytest
from spacy.language import Language

from pipeline.entities.mentions import Kind, site_names
from pipeline.entities.model import SHARED, UNUSED, Text, entities, load_ner
from pipeline.errors import ModelError
from pipeline.settings import Settings

P, ORG, L = Kind.PERSON, Kind.ORGANISATION, Kind.PLACE


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner(Settings.load().entities_model)


def test_only_the_recogniser_runs(nlp: Language) -> None:
    # en_core_web_sm's ner has its own token-to-vector layers: the shared tok2vec (for the
    # tagger and parser) is not even loaded
    assert nlp.pipe_names == ["ner"]
    assert not {*UNUSED, *SHARED} & set(nlp.component_names)
    assert load_ner(Settings.load().entities_model) is nlp  # once per process


CASES = [
    (
        Text(
            "Police hunt Salah Abdeslam after Paris attacks",
            "Belgian police searched Molenbeek in Brussels on Monday for Salah Abdeslam. "
            "Abdeslam, 26, rented a car used in the attacks.",
        ),
        {(P, "Salah Abdeslam", True), (L, "Paris", True), (L, "Brussels", False)},
    ),
    (
        Text(
            "Hollande meets Putin in Moscow",
            "French President François Hollande met Vladimir Putin at the Kremlin on Thursday. "
            "Putin said Russia and France would share intelligence. Mr. Hollande later flew "
            "back to Paris.",
        ),
        {(P, "François Hollande", False), (P, "Vladimir Putin", True), (L, "Moscow", True),
         (L, "Russia", False), (L, "France", False), (L, "Paris", False)},
    ),
    (
        Text(
            "Man shot outside store - NBC12 - WWBT - Richmond, VA News On Your Side",
            "A man was shot outside a store on Hull Street in Richmond, police said. NBC12 "
            "will update this story.",
            site_names(["NBC12 - WWBT", "wwbt"]),
        ),
        {(L, "Richmond", False)},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    CASES,
    ids=["surname-taken-for-a-place", "surnames-to-full-names", "site-name-and-suffix-dropped"],
)
def test_entities_of_real_sentences(
    nlp: Language,
    text: Text,
    expected: set[tuple[Kind, str, bool]],
) -> None:
    (found,) = entities(nlp, [text])
    got = {(item.kind, item.name, item.in_title) for item in found}
    assert expected <= got, got
    names = [item.name for item in found]
    assert len(names) == len(set(names)), names  # one entity per name
    # a surname is its person's; a site, a day, an age, a nationality are no entity
    assert not {"Abdeslam", "Putin", "NBC12", "WWBT", "Monday", "26", "Belgian"} & set(names)


def test_batches_give_what_one_by_one_gives(nlp: Language) -> None:
    texts = [case[0] for case in CASES] * 3
    together = list(entities(nlp, texts, batch_size=4))
    alone = [next(entities(nlp, [text])) for text in texts]
    assert together == alone
    assert list(entities(nlp, [])) == []


def test_a_missing_model_is_one_sentence() -> None:
    with pytest.raises(ModelError, match="cannot load the entity model 'no_such_pipeline'"):
        load_ner("no_such_pipeline")
