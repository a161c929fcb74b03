from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest.parse import ParseError, canonical_url, html_to_text, parse_feed

FETCHED = datetime(2015, 11, 18, 12, 0, tzinfo=UTC)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Harbor Daily</title><language>en-gb</language>
<item><title>Raids in Molenbeek</title><link>https://harbor.example/a?utm_source=rss&amp;id=7#top</link>
<guid isPermaLink="false">hd-1</guid><pubDate>Mon, 16 Nov 2015 09:30:00 +0100</pubDate>
<description>&lt;p&gt;Police &lt;em&gt;raided&lt;/em&gt; homes.&lt;/p&gt;&lt;p&gt;Two held.&lt;/p&gt;</description></item>
<item><title>No guid here</title><link>https://harbor.example/b</link>
<description>Plain text.</description></item>
<item><title>From the future</title><guid>hd-3</guid><pubDate>Tue, 01 Jan 2030 00:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Meridian</title>
<entry><id>tag:meridian.example,2015:1</id><title>Assaut à Saint-Denis</title>
<link href="https://meridian.example/saint-denis"/><published>2015-11-18T07:10:00Z</published>
<summary type="html">&lt;b&gt;Abaaoud&lt;/b&gt; killed</summary></entry>
</feed>""".encode()

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://atlas.example/"><title>Atlas</title><link>https://atlas.example/</link>
<items><rdf:Seq><rdf:li rdf:resource="https://atlas.example/1"/></rdf:Seq></items></channel>
<item rdf:about="https://atlas.example/1"><title>Sinai bomb confirmed</title>
<link>https://atlas.example/1</link><description>FSB says a bomb.</description>
<dc:date>2015-11-17T08:00:00Z</dc:date></item></rdf:RDF>"""


def test_rss_entries_are_cleaned() -> None:
    feed = parse_feed(RSS, fetched_at=FETCHED)
    first, second, third = feed.entries
    assert feed.problem is None
    assert first.guid == "hd-1"
    assert first.url == "https://harbor.example/a?id=7"
    assert first.summary == "Police raided homes. Two held."
    assert first.published_at == datetime(2015, 11, 16, 8, 30, tzinfo=UTC)
    assert not first.published_estimated
    assert first.language == "en"
    # no guid given; no date: the fetch time, flagged
    assert second.guid is None
    assert (second.published_at, second.published_estimated) == (FETCHED, True)
    # a date in the future is a publisher's clock error
    assert (third.published_at, third.published_estimated) == (FETCHED, True)


def test_atom_entry() -> None:
    (entry,) = parse_feed(ATOM, fetched_at=FETCHED, default_language="fr").entries
    assert entry.guid == "tag:meridian.example,2015:1"
    assert entry.title == "Assaut à Saint-Denis"
    assert entry.summary == "Abaaoud killed"
    assert entry.published_at == datetime(2015, 11, 18, 7, 10, tzinfo=UTC)
    assert entry.language == "fr"


def test_rdf_entry() -> None:
    (entry,) = parse_feed(RDF, fetched_at=FETCHED).entries
    assert entry.guid == "https://atlas.example/1"
    assert entry.published_at == datetime(2015, 11, 17, 8, tzinfo=UTC)


RSS091 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old Wire</title><link>https://old.example/</link>
<description>d</description><language>en-us</language>
<item><title>Sinai crash probe</title><link>https://old.example/sinai</link>
<description>Investigators examine wreckage.</description></item></channel></rss>"""


def test_rss_091_with_its_netscape_doctype() -> None:
    feed = parse_feed(RSS091, fetched_at=FETCHED)
    (entry,) = feed.entries
    assert feed.problem is None
    assert (entry.title, entry.url, entry.summary) == (
        "Sinai crash probe",
        "https://old.example/sinai",
        "Investigators examine wreckage.",
    )
    assert entry.language == "en"


def test_http_charset_is_used() -> None:
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        "<item><title>Café Élysée</title><guid>g</guid></item></channel></rss>"
    ).encode("latin-1")
    feed = parse_feed(
        body,
        headers={"Content-Type": "application/rss+xml; charset=ISO-8859-1"},
        fetched_at=FETCHED,
    )
    assert feed.entries[0].title == "Café Élysée"


def test_entry_without_guid_or_link_still_parses() -> None:
    body = b'<rss version="2.0"><channel><item><title>Only a title</title></item></channel></rss>'
    (entry,) = parse_feed(body, fetched_at=FETCHED).entries
    assert (entry.guid, entry.url, entry.title) == (None, None, "Only a title")
    again = parse_feed(body, fetched_at=FETCHED + timedelta(hours=1)).entries[0]
    assert again.content_hash == entry.content_hash


@pytest.mark.parametrize(
    "body",
    [b"<html><body><p>Not a feed</p></body></html>", b"", b"\x00\x01garbage"],
    ids=["html-page", "empty", "binary"],
)
def test_not_a_feed_is_an_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(body, fetched_at=FETCHED)


def test_malformed_feed_with_entries_is_kept_with_its_problem() -> None:
    body = RSS.replace(b"</channel></rss>", b"<item><title>broken & bad</title></item>")
    feed = parse_feed(body, fetched_at=FETCHED)
    assert feed.entries
    assert feed.problem is not None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.COM/a?utm_source=x&b=1#frag", "https://example.com/a?b=1"),
        ("https://example.com/a?fbclid=1&gclid=2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("", None),
        (None, None),
        ("tag:example.com,2015:1", "tag:example.com,2015:1"),
    ],
    ids=["utm-and-fragment", "click-ids", "empty-path", "whitespace", "empty", "none", "not-http"],
)
def test_canonical_url(url: str | None, expected: str | None) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>a</p><p>b</p>", "a b"),
        ("<p>as <em>allies</em>. Then</p>", "as allies. Then"),
        ("x &amp; y", "x & y"),
        ("plain   text\n here", "plain text here"),
        ("<script>alert(1)</script><style>p{}</style>ok", "ok"),
    ],
    ids=[
        "paragraphs",
        "inline-tag-before-period",
        "entity",
        "whitespace",
        "script-and-style-dropped",
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_entity_declarations_are_dropped_before_parsing() -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY boom "BOOM"><!ENTITY file SYSTEM "file:///etc/hostname">]>
<rss version="2.0"><channel><title>t</title>
<item><title>Quiet &amp; calm</title><guid>a</guid><description>x &boom; &file; y</description></item>
</channel></rss>"""
    feed = parse_feed(body, fetched_at=FETCHED)
    (entry,) = feed.entries
    assert feed.problem is not None
    assert feed.problem.startswith("entity declarations ignored")
    assert entry.title == "Quiet & calm"
    assert "BOOM" not in entry.summary
