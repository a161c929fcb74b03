import pytest

from pipeline.text import (
    article_text,
    embedding_text,
    embedding_texts,
    headline_without_site,
    informative_title,
    lead_title,
    says_nothing,
)


@pytest.mark.parametrize(
    ("title", "summary", "chars", "expected"),
    [
        (
            "Quake hits Chile",
            "Buildings fell. Many hurt.",
            600,
            "Quake hits Chile. Buildings fell. Many hurt.",
        ),
        ("Quake hits Chile.", "Buildings fell.", 600, "Quake hits Chile. Buildings fell."),
        ("Quake hits Chile", "Buildings fell. Many hurt.", 9, "Quake hits Chile. Buildings"),
        ("Quake hits Chile", "", 600, "Quake hits Chile"),
    ],
    ids=["title-and-lead", "title-ends-sentence", "lead-cut", "no-body"],
)
def test_article_text(title: str, summary: str, chars: int, expected: str) -> None:
    assert article_text(title, summary, chars) == expected


@pytest.mark.parametrize(
    "title",
    [
        "",
        "   ",
        "August 17, 2011",
        "PUBLISHED FRIDAY, MARCH 8, 2013 AT 12: 46 PM / UPDATED AT 12: 48 PM",
        "21 July 2013 Last updated at 11: 11 GMT",
        "8 / 2 / 13 at 1: 30 PM",
        "BEIRUT, Lebanon —",
        "WASHINGTON (AP) -",
        "By Dwayne Bremer",
        "News",
        "Daily Blotter",
        "Regional News Briefs",
        "SheridanMedia.com",
        "en",
        "2014",
    ],
)
def test_a_title_that_is_no_headline_gives_way_to_the_lead_in_the_embedding(title: str) -> None:
    body = "Buildings fell in Iquique. Many hurt."
    assert not informative_title(title)
    assert embedding_text(title, body, 600) == body
    assert embedding_text(title, "", 600) == title
    # The readers of words keep it: a date's words tell look-alike events apart.
    assert article_text(title, body, 600).startswith(title)


@pytest.mark.parametrize(
    "title",
    [
        "Quake hits Chile",
        "Deputy Sheriff",
        "Woman, boyfriend killed in brazen daytime East Oakland shooting - KTVU -",
        "Earthquake Levels Villages on Iranian Island of Qeshm",
        "Jackson County blotter",
        "Sixers Hire Maurice Cheeks as Head Coach",
    ],
)
def test_a_headline_is_kept(title: str) -> None:
    assert informative_title(title)
    assert embedding_text(title, "Buildings fell.", 600) == article_text(
        title, "Buildings fell.", 600
    )


def test_a_page_body_is_embedded_beside_the_feeds_teaser() -> None:
    title = "Magnitude 7 earthquake strikes off Chile"
    assert embedding_texts(title, "Buildings fell.", None, 600) == (
        embedding_text(title, "Buildings fell.", 600),
    )
    assert embedding_texts(title, "Buildings fell.", "Rescuers dug all night.", 600) == (
        embedding_text(title, "Rescuers dug all night.", 600),
        embedding_text(title, "Buildings fell.", 600),
    )
    # no teaser to weigh: the body alone
    assert embedding_texts(title, " ", "Rescuers dug all night.", 600) == (
        embedding_text(title, "Rescuers dug all night.", 600),
    )


@pytest.mark.parametrize(
    ("title", "outlet", "others", "expected"),
    [
        (
            "Man shot in Church Hill - NBC12 - WWBT - Richmond, VA News On Your Side",
            "NBC12",
            [],
            "Man shot in Church Hill",
        ),
        (
            "Man shot in Church Hill - NBC12 - WWBT - Richmond, VA News On Your Side",
            "WWBT Richmond",
            ["Fire on Broad St - NBC12 - WWBT - Richmond, VA News On Your Side"] * 3,
            "Man shot in Church Hill",
        ),
        ("Paris attacks | The Guardian", "The Guardian", [], "Paris attacks"),
        ("Paris attacks - live updates", "The Guardian", [], "Paris attacks - live updates"),
        (
            "Paris attacks - live updates",
            "The Guardian",
            ["Vote count - live updates"] * 2,
            "Paris attacks - live updates",
        ),
        ("NBC12 - Man shot", "NBC12", [], "NBC12 - Man shot"),
        ("Quake hits Chile", "Alpha", [], "Quake hits Chile"),
    ],
    ids=[
        "names-the-outlet",
        "repeats-across-the-outlet",
        "bar",
        "a-headline-dash-stays",
        "two-repeats-are-not-enough",
        "the-first-part-stays",
        "no-separator",
    ],
)
def test_headline_without_site(title: str, outlet: str, others: list[str], expected: str) -> None:
    assert headline_without_site(title, outlet, others) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Police said a man was shot on Main St. on Tuesday. He died later.",
            "Police said a man was shot on Main St. on Tuesday.",
        ),
        (
            "  A  fire tore through a textile factory in the industrial district of Riverton "
            "on Tuesday, killing at least 12 workers. More follows.",
            "A fire tore through a textile factory in the industrial district of Riverton on "
            "Tuesday\u2026",
        ),
        ("", ""),
    ],
    ids=["first-sentence", "cut-at-a-word", "empty"],
)
def test_lead_title(text: str, expected: str) -> None:
    assert lead_title(text) == expected


@pytest.mark.parametrize(
    ("title", "body", "silent"),
    [
        ("en", "", True),
        ("March 11, 2014, 2:02 am", "", True),
        ("Home - News", "  ", True),
        ("en", "Two killed as a quake hits Iquique.", False),
        ("Q & A on bitcoins", "", False),
        ("Monday television", "", False),
        ("Quake hits Chile", "", False),
    ],
    ids=["language-code", "time-stamp", "section-label", "body", "short", "two-words", "headline"],
)
def test_says_nothing(title: str, body: str, silent: bool) -> None:
    assert says_nothing(title, body) is silent
