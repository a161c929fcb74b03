from __future__ import annotations

from pipeline.stories.keywords import boilerplate_words, name_words, story_keywords

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


PHRASES = {
    1: [
        "Sharm el-Sheikh airport: flights halted after Sinai crash",
        "Tourists stranded at Sharm el-Sheikh as flights resume slowly",
        "Sharm el-Sheikh hotels empty a week after the crash",
    ],
    2: [
        "Islamic State claims the attack in Beirut",
        "Beirut mourns as Islamic State threatens more",
        "Lebanon arrests suspects linked to Islamic State",
    ],
}


def test_a_name_in_two_words_is_one_keyword() -> None:
    keywords = story_keywords(PHRASES, top_n=4)
    assert "sharm el-sheikh" in keywords[1]
    assert "islamic state" in keywords[2]
    for phrase, words in (("sharm el-sheikh", keywords[1]), ("islamic state", keywords[2])):
        assert not set(phrase.split(" ")) & set(words), words  # not again on their own


def test_words_across_punctuation_or_a_stop_word_are_no_phrase() -> None:
    keywords = story_keywords({1: ["Flights halted. Airport closed", "Bank of England"]}, top_n=9)
    assert "halted airport" not in keywords[1]
    assert "bank england" not in keywords[1]


NAMED = {
    1: [
        "Police hunt Salah Abdeslam in Brussels raids",
        "Abdeslam escaped; Brussels police raids go on in Molenbeek",
    ],
    2: ["Rates held in London", "Bank holds rates as London markets rise"],
}


def test_no_keyword_holds_a_word_it_is_told_to_leave_out() -> None:
    plain = story_keywords(NAMED, top_n=8)
    assert "abdeslam" in plain[1] or any("abdeslam" in term for term in plain[1])
    without = {1: name_words(["Salah Abdeslam", "Brussels", "Molenbeek"]), 2: frozenset()}
    keywords = story_keywords(NAMED, top_n=8, without=without)
    words = {word for term in keywords[1] for word in term.split(" ")}
    assert not {"salah", "abdeslam", "brussels", "molenbeek"} & words
    assert "raids" in keywords[1]
    assert keywords[2] == plain[2]  # another story's names are its own business


def test_name_words_are_folded() -> None:
    assert name_words(["François Hollande", "Saint-Denis", "NBC12 - WWBT"]) == {
        "francois",
        "hollande",
        "saint",
        "denis",
        "nbc12",
        "wwbt",
    }
    # a keyword is matched by its folded words: "saint-denis" is "saint denis"
    keywords = story_keywords(
        {1: ["Raid in Saint-Denis", "Saint-Denis raid ends"]},
        top_n=5,
        without={1: name_words(["Saint-Denis"])},
    )
    assert keywords[1] == ["raid", "ends"]


PAYWALL = "Please check your email to activate your account and finish verification"


def test_one_outlets_words_around_every_story_are_boilerplate() -> None:
    texts = [
        ("WWBT", 1, f"Man shot on Broad Street. {PAYWALL}"),
        ("WWBT", 2, f"School board votes on budget. {PAYWALL}"),
        ("WWBT", 3, f"Fire destroys warehouse. {PAYWALL}"),
        ("Courier", 1, "Police say a man was shot on Broad Street"),
        ("Courier", 4, "Please check the school budget"),
    ]
    words = boilerplate_words(texts)
    assert {"activate", "verification", "email", "account"} <= words
    assert "check" not in words  # two outlets use it
    assert "shot" not in words  # one outlet's word in one story is news
    assert boilerplate_words(texts, min_stories=4) == frozenset()
    assert boilerplate_words([]) == frozenset()
