from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from pipeline.extract.article import Extraction, decode_html, extract_article

FLOOD = [
    "Floodwater swept through the lower town of Marrow on Tuesday night after the river "
    "Esk burst its banks, forcing more than four hundred residents from their homes.",
    "Emergency crews worked through the night to move elderly residents from two care homes "
    "near the bridge, the county fire service said in a statement on Wednesday morning.",
    "The river rose by almost two metres in six hours after three days of heavy rain in the "
    "hills above the town, according to readings from the environment agency's gauge.",
    "Shopkeepers on the high street said the water reached the counters within minutes. "
    "Many had moved their stock upstairs after a warning on Monday, but not all of them.",
    "The council has opened the sports hall as a shelter and asked people who can stay with "
    "friends or family to do so, leaving the beds for those who have nowhere else to go.",
]
FLOOD_TITLE = "River Esk bursts its banks in Marrow, hundreds leave their homes"

STRIKE = [
    "Bus drivers in the city of Halden walked out at dawn on Friday in a dispute over pay, "
    "leaving commuters to find their own way to work across the rain-soaked centre.",
    "The drivers' union said talks with the operator had broken down late on Thursday after "
    "the company offered a rise of two per cent, well below the rate of inflation.",
    "Schools reported that about a third of their pupils arrived late, and the main hospital "
    "asked staff who live nearby to walk or cycle if they possibly could manage it.",
    "The operator said it regretted the disruption and remained ready to meet the union at "
    "any time, adding that its offer was the most it could afford this financial year.",
]
STRIKE_TITLE = "Halden bus drivers strike over pay, commuters stranded"

BOILERPLATE = [
    "Home",
    "Weather warnings for the week ahead",
    "We use cookies to improve your experience on our site",
    "Advertisement",
    "By Jane Doe, Chief Reporter",
    "Sign up for our morning newsletter",
    "Get the top stories of the day delivered to your inbox every morning",
    "Mayor opens new library on the harbour front after three years of building work",
    "Local football club names new manager after a difficult season",
    "Police appeal for witnesses after a crash on the ring road on Sunday",
    "Follow us on Twitter and Facebook",
    "Copyright 2026 The Valley Courier. All rights reserved.",
]


def site_page(title: str, paragraphs: list[str], *, date: str = "2026-03-03") -> str:
    """An article in a news site's template: navigation, a cookie banner, a byline, an
    advertisement, a newsletter box and related headlines after the text, a footer. The
    class names say nothing (as a bundler's are), so only the structure tells them apart."""
    related = "".join(
        f'<div class="c9"><a href="/news/{i}">{BOILERPLATE[i]}</a></div>' for i in (7, 8, 9)
    )
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html><head><title>{title} | The Valley Courier</title>
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{date}T08:00:00+00:00"></head>
<body><div class="c1"><a href="/">The Valley Courier</a><div class="c2">
<a href="/">{BOILERPLATE[0]}</a><a href="/weather">{BOILERPLATE[1]}</a></div></div>
<div class="c3"><p>{BOILERPLATE[2]}</p><button>Accept</button></div>
<div class="c4"><div class="c5"><h1>{title}</h1><p>{BOILERPLATE[4]}</p>
<div class="c6">{BOILERPLATE[3]}</div><div class="c7">{body}</div>
<div class="c8"><h3>{BOILERPLATE[5]}</h3><p>{BOILERPLATE[6]}</p></div>
<div class="c10"><h3>More from the Courier</h3>{related}</div></div></div>
<div class="c11"><p>{BOILERPLATE[10]}</p><p>{BOILERPLATE[11]}</p></div></body></html>"""


def plain_page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"


def extract(
    html: str,
    title: str = FLOOD_TITLE,
    teaser: str = FLOOD[0],
    published: datetime | None = None,
) -> Extraction:
    return extract_article(
        html, url="https://courier.example/news/1", title=title, teaser=teaser, published=published
    )


def words(text: str) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text.lower())
    return {tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3)}


CONSENT = """<html><head><title>Before you continue</title></head><body>
<div class="consent"><h1>We value your privacy</h1>
<p>We and our 842 partners store and access information on your device, such as cookies,
and process personal data to show you personalised ads and content and to measure them.</p>
<p>You can accept all, reject all, or manage your preferences at any time in the settings
at the bottom of every page.</p>
<p>Your choices will apply to this site only. You can change your mind at any time,
including withdrawing what you agreed to, through the link at the foot of each page.</p>
<button>Accept all</button><button>Reject all</button><button>Manage preferences</button>
</div></body></html>"""

PAYWALL = f"""<html><head><title>{FLOOD_TITLE}</title></head><body>
<article><h1>{FLOOD_TITLE}</h1><p>{FLOOD[0]}</p>
<div class="paywall"><p>Subscribe to continue reading. Already a subscriber? Log in.</p>
</div></article></body></html>"""

NOT_FOUND = """<html><head><title>Page not found | The Valley Courier</title></head><body>
<h1>Sorry, we could not find that page</h1>
<p>The page you were looking for may have been moved, or it may never have existed at all.
Try our search, or start again from the front page of the Valley Courier.</p>
<p>If you followed a link from another site, please let them know that it is broken.</p>
</body></html>"""


def links_page() -> str:
    """A section front: headlines only, each a link."""
    titles = [FLOOD_TITLE, STRIKE_TITLE, *BOILERPLATE[7:10]]
    items = "".join(
        f'<div class="c"><p><a href="/n/{n}">{t}</a> (video)</p></div>'
        for n, t in enumerate(titles)
    )
    return f"""<html><head><title>Latest | The Valley Courier</title></head><body>
<h1>Latest</h1><div class="m">{items}</div></body></html>"""


def index_page() -> str:
    cards = [
        (FLOOD_TITLE, FLOOD[0]),
        (STRIKE_TITLE, STRIKE[0]),
        *[(BOILERPLATE[i], FLOOD[j]) for i, j in ((7, 1), (8, 2), (9, 3))],
    ]
    items = "".join(
        f'<article><h2><a href="/news/{n}">{title}</a></h2><p>{lead}</p></article>'
        for n, (title, lead) in enumerate(cards)
    )
    return f"""<html><head><title>Latest news | The Valley Courier</title></head><body>
<h1>Latest news</h1><main>{items}</main></body></html>"""


CASES = [
    (plain_page(FLOOD_TITLE, FLOOD), FLOOD_TITLE, FLOOD[0], "ok"),
    (site_page(FLOOD_TITLE, FLOOD), FLOOD_TITLE, FLOOD[0], "ok"),
    (site_page(FLOOD_TITLE, FLOOD), FLOOD_TITLE, FLOOD[0][:150].rstrip() + "…", "ok"),
    (CONSENT, FLOOD_TITLE, FLOOD[0], "wall"),
    (PAYWALL, FLOOD_TITLE, FLOOD[0], "wall"),
    (NOT_FOUND, FLOOD_TITLE, FLOOD[0], "error-page"),
    (index_page(), FLOOD_TITLE, FLOOD[0], "not-article"),
    (site_page(STRIKE_TITLE, FLOOD), FLOOD_TITLE, FLOOD[0], "title-missing"),
    (site_page(FLOOD_TITLE, FLOOD), FLOOD_TITLE, STRIKE[0], "teaser-missing"),
    (plain_page(FLOOD_TITLE, FLOOD[:1]), FLOOD_TITLE, FLOOD[0], "short"),
    ("  ", FLOOD_TITLE, FLOOD[0], "empty"),
    (links_page(), "", "", "not-article"),
    (site_page(FLOOD_TITLE, FLOOD), "", "", "ok"),
]


@pytest.mark.parametrize(
    ("html", "title", "teaser", "reason"),
    CASES,
    ids=[
        "plain-article",
        "heavy-boilerplate",
        "teaser-cut-with-ellipsis",
        "consent-wall",
        "paywall-stub",
        "error-page-served-with-200",
        "index-of-headlines",
        "title-not-on-page",
        "teaser-not-on-page",
        "page-adds-nothing-to-the-teaser",
        "blank-page",
        "headlines-without-the-feeds-title",
        "no-title-or-teaser-from-the-feed",
    ],
)
def test_reason(html: str, title: str, teaser: str, reason: str) -> None:
    found = extract(html, title, teaser)
    assert found.reason == reason
    assert (found.text is not None) == (reason == "ok")


@pytest.mark.parametrize(
    "teaser",
    [FLOOD[0], FLOOD[0][:150].rstrip() + "…", FLOOD[0].upper(), ""],
    ids=["whole-sentence", "cut-with-ellipsis", "other-case", "no-teaser"],
)
def test_body_is_the_article_and_only_it(teaser: str) -> None:
    text = extract(site_page(FLOOD_TITLE, FLOOD), teaser=teaser).text
    assert text is not None
    assert text.split("\n") == FLOOD
    for line in BOILERPLATE:
        assert line not in text


def test_two_articles_of_one_site_share_no_text() -> None:
    flood = extract(site_page(FLOOD_TITLE, FLOOD)).text
    strike = extract(site_page(STRIKE_TITLE, STRIKE), STRIKE_TITLE, STRIKE[0]).text
    assert flood is not None
    assert strike is not None
    assert words(flood) & words(strike) == set()


def test_pointers_inside_the_body_are_dropped() -> None:
    pointers = (
        f'<p><a href="/news/8">{BOILERPLATE[8]}</a> (video)</p><p>Advertisement</p>'
        '<p>Read more: <a href="/news/9">Police appeal</a> for witnesses</p>'
    )
    html = plain_page(FLOOD_TITLE, FLOOD[:2]).replace("</body>", pointers + "</body>")
    html = html.replace("</body>", "".join(f"<p>{p}</p>" for p in FLOOD[2:]) + "</body>")
    assert extract(html).text == "\n".join(FLOOD)


def test_boilerplate_inside_the_main_text_is_cut() -> None:
    # the sign-up and follow-us lines sit in the article's own element, after its text
    tail = "<p>Sign up for our morning newsletter.</p><p>Follow us on Twitter and Facebook.</p>"
    html = plain_page(FLOOD_TITLE, FLOOD).replace("</body>", f"{tail}</body>")
    assert extract(html).text == "\n".join(FLOOD)


@pytest.mark.parametrize(
    ("published", "teaser", "reason"),
    [
        (datetime(2026, 3, 3, 22, tzinfo=UTC), "", "ok"),
        (datetime(2026, 3, 5, 9, tzinfo=UTC), "", "ok"),
        (datetime(2026, 4, 20, 9, tzinfo=UTC), "", "date-mismatch"),
        (None, "", "ok"),
        (datetime(2026, 4, 20, 9, tzinfo=UTC), FLOOD[0], "ok"),
    ],
    ids=[
        "same-day",
        "two-days-later",
        "weeks-apart",
        "feed-gave-no-date",
        "weeks-apart-but-the-teaser-is-there",
    ],
)
def test_the_date_vouches_where_no_teaser_can(
    published: datetime | None, teaser: str, reason: str
) -> None:
    """A page holding the item's title and teaser is its article whatever date it prints (a
    site's stale template date, an item fed again); without a teaser the date must agree."""
    page = site_page(FLOOD_TITLE, FLOOD, date="2026-03-03")
    assert extract(page, teaser=teaser, published=published).reason == reason


CAFE = "Café “Zur Brücke” \u2013 5 €"
RUSSIAN = "Наводнение в городе"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            f'<meta charset="utf-8"><p>{CAFE}</p>'.encode("cp1252"),
            "text/html; charset=windows-1252",
            CAFE,
        ),
        (
            f'<html><head><meta charset="windows-1252"></head><p>{CAFE}</p>'.encode("cp1252"),
            None,
            CAFE,
        ),
        (
            f'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"><p>{CAFE}'.encode(
                "cp1252"
            ),
            "text/html",
            CAFE,
        ),
        (
            f'<meta charset="windows-1252"><p>{CAFE}</p>'.encode(),
            'text/html; charset="UTF-8"',
            CAFE,
        ),
        (f'<meta charset="windows-1251"><p>{RUSSIAN}</p>'.encode("cp1251"), None, RUSSIAN),
        (f"<p>{CAFE}</p>".encode(), None, CAFE),
        (f"<p>{CAFE}</p>".encode("cp1252"), None, CAFE),
        (b"\xef\xbb\xbf" + f"<p>{CAFE}</p>".encode(), "text/html; charset=cp1252", CAFE),
        (f"<p>{CAFE}</p>".encode(), "text/html; charset=hex", CAFE),
        (f"<p>{CAFE}</p>".encode(), "text/html; charset=no-such-charset", CAFE),
        (b"<p>caf\xe9 \x81</p>", "text/html; charset=utf-8", "caf\ufffd \ufffd"),
    ],
    ids=[
        "cp1252-declared-in-header-over-a-wrong-meta",
        "cp1252-declared-in-meta-charset",
        "latin1-in-http-equiv-read-as-cp1252",
        "header-wins-over-meta",
        "cp1251-declared-in-meta",
        "undeclared-utf8",
        "undeclared-not-utf8-falls-back-to-cp1252",
        "byte-order-mark-wins",
        "bytes-codec-label-ignored",
        "unknown-label-ignored",
        "undecodable-bytes-replaced",
    ],
)
def test_decode_html(body: bytes, content_type: str | None, expected: str) -> None:
    assert expected in decode_html(body, content_type)


def test_decode_html_never_raises() -> None:
    noise = bytes(range(256)) * 4
    for content_type in (None, "text/html; charset=utf-16", "charset=rot13", "charset=utf-7"):
        assert isinstance(decode_html(noise, content_type), str)


BIO = (
    "Jane Doe has covered the valley for the Courier since 2009. She writes about rivers, "
    "farming, the county council and the people who keep the town running."
)


def bio_page(title: str, paragraphs: list[str]) -> str:
    """A short article, then its author's note in a box of its own inside the same column."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<html><head><title>{title}</title></head><body><nav><a href="/">Home</a></nav>
<div class="c4"><h1>{title}</h1><div class="c7">{body}</div><div class="c8"><p>{BIO}</p></div>
</div><footer><p>The Valley Courier</p></footer></body></html>"""


def test_paragraphs_set_apart_after_the_article_are_aside() -> None:
    found = extract(bio_page(FLOOD_TITLE, FLOOD[:2]))
    assert found.text is not None
    assert found.aside == (BIO,)
    # a body split across boxes of one kind has nothing aside
    boxes = "".join(f'<div class="c7"><p>{p}</p></div>' for p in FLOOD)
    split = extract(f"<html><body><div><h1>{FLOOD_TITLE}</h1>{boxes}</div></body></html>")
    assert (split.text, split.aside) == ("\n".join(FLOOD), ())


def test_a_longer_text_elsewhere_on_the_page_is_not_the_body() -> None:
    # the page's main text, as trafilatura sees it, is another and longer article; the
    # item's own text is the box that holds its teaser
    other = "".join(f"<p>{p} {p}</p>" for p in STRIKE * 3)
    own = "".join(f"<p>{p}</p>" for p in FLOOD[:3])
    html = f"""<html><head><title>{FLOOD_TITLE}</title></head><body><div class="content">
<h1>{FLOOD_TITLE}</h1><div class="x"><div>{own}</div></div><div class="post">{other}</div>
</div></body></html>"""
    assert extract(html).text == "\n".join(FLOOD[:3])
