from __future__ import annotations

from pipeline.stories.keywords import story_keywords

STORIES = {
    1: [
        "Magnitude 7.1 earthquake strikes off Chile near Iquique, officials said",
        "Iquique residents sleep outside after Chile earthquake, officials said",
        "Chile quake: rescuers search Iquique rubble",
    ],
    2: [
        "European Central Bank cuts interest rates, officials said",
        "ECB rate cut surprises markets as euro falls",
        "Central bank lowers rates to record low",
    ],
}


def test_keywords_are_distinctive_words_of_each_story() -> None:
    keywords = story_keywords(STORIES, top_n=3)
    assert set(keywords) == {1, 2}
    assert "iquique" in keywords[1]
    assert "chile" in keywords[1]
    assert "rates" in keywords[2]
    # words every story uses are not what tells them apart
    assert "officials" not in keywords[1] + keywords[2]
    assert "said" not in keywords[1] + keywords[2]


def test_deterministic_and_bounded() -> None:
    assert story_keywords(STORIES, top_n=5) == story_keywords(
        dict(reversed(STORIES.items())), top_n=5
    )
    assert all(len(words) <= 5 for words in story_keywords(STORIES, top_n=5).values())


def test_degenerate_input() -> None:
    assert story_keywords({}) == {}
    assert story_keywords({3: ["", " "]}) == {3: []}
    assert story_keywords({3: ["the and of"]}) == {3: []}
