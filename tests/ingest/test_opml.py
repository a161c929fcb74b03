"""OPML subscription lists in and out of the feed registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.ingest.feeds import FeedSpec
from pipeline.ingest.opml import load_opml_file, parse_opml, render_opml

# As readers write it: folders, a duplicate, a folder with no URL, a local path, entities.
READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="World" title="World">
      <outline type="rss" text="BBC News - World" title="BBC News - World"
               xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml" htmlUrl="https://bbc.co.uk"/>
      <outline type="rss" text="Le Monde &amp; Cie" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
    </outline>
    <outline text="Again">
      <outline type="rss" text="BBC (again)" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
      <outline type="rss" text="BBC News - World" xmlUrl="https://feeds.bbci.co.uk/news/uk/rss.xml"/>
      <outline type="rss" text="" xmlUrl="https://www.aljazeera.com/xml/rss/all.xml"/>
      <outline type="rss" text="A local one" xmlUrl="/var/feeds/x.xml"/>
    </outline>
  </body>
</opml>
"""


def test_a_reader_export_becomes_feed_specs() -> None:
    assert parse_opml(READER_EXPORT) == [
        FeedSpec(
            name="bbc-news-world",
            url="https://feeds.bbci.co.uk/news/world/rss.xml",
            outlet="BBC News - World",
        ),
        FeedSpec(
            name="le-monde-cie", url="https://www.lemonde.fr/rss/une.xml", outlet="Le Monde & Cie"
        ),
        FeedSpec(
            name="bbc-news-world-2",
            url="https://feeds.bbci.co.uk/news/uk/rss.xml",
            outlet="BBC News - World",
        ),
        FeedSpec(name="www-aljazeera-com", url="https://www.aljazeera.com/xml/rss/all.xml"),
    ]


def test_render_then_parse_gives_the_remote_feeds_back() -> None:
    specs = [
        FeedSpec(name="bbc-world", url="https://feeds.bbci.co.uk/news/world/rss.xml", outlet="BBC"),
        FeedSpec(name="élysée", url="https://www.elysee.fr/rss", outlet="L'Élysée <fr>"),
        FeedSpec(name="local", url="/var/feeds/local.xml"),
    ]
    document, left_out = render_opml(specs)
    assert left_out == ["local"]
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert [(s.url, s.outlet) for s in parse_opml(document.encode())] == [
        ("https://feeds.bbci.co.uk/news/world/rss.xml", "BBC"),
        ("https://www.elysee.fr/rss", "L'Élysée <fr>"),
    ]


@pytest.mark.parametrize("content", [b"", b"garbage<<", b"<opml><body></body></opml>"])
def test_a_file_with_no_feeds_is_one_sentence(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "subs.opml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"OPML file .*subs.opml lists no feeds"):
        load_opml_file(path)


def test_import_is_idempotent_and_export_round_trips(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "subs.opml").write_bytes(READER_EXPORT)
    assert runner.invoke(cli, ["init", "--db", db_url]).exit_code == 0
    first = runner.invoke(cli, ["feeds", "import", str(tmp_path / "subs.opml"), "--db", db_url])
    assert first.exit_code == 0, first.output
    assert "feeds: 4 added, 0 updated, 0 unchanged" in first.stderr
    again = runner.invoke(cli, ["feeds", "import", str(tmp_path / "subs.opml"), "--db", db_url])
    assert "feeds: 0 added, 0 updated, 4 unchanged" in again.stderr

    exported = runner.invoke(cli, ["feeds", "export", "--db", db_url])
    assert exported.exit_code == 0, exported.output
    (tmp_path / "out.opml").write_text(exported.stdout, encoding="utf-8")
    assert {s.url for s in load_opml_file(tmp_path / "out.opml")} == {
        s.url for s in parse_opml(READER_EXPORT)
    }
    as_yaml = runner.invoke(cli, ["feeds", "export", "--format", "yaml", "--db", db_url])
    (tmp_path / "feeds.yaml").write_text(as_yaml.stdout, encoding="utf-8")
    synced = runner.invoke(cli, ["feeds", "sync", str(tmp_path / "feeds.yaml"), "--db", db_url])
    assert "feeds: 0 added, 0 updated, 4 unchanged" in synced.stderr
    assert "left out" not in exported.stderr


def test_export_names_the_feeds_opml_cannot_hold(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "local.xml").write_text("<rss/>", encoding="utf-8")
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n"
        "  - {name: local-wire, url: local.xml}\n"
        "  - {name: remote-wire, url: 'https://wire.example/rss'}\n",
        encoding="utf-8",
    )
    assert runner.invoke(cli, ["init", "--db", db_url]).exit_code == 0
    synced = runner.invoke(cli, ["feeds", "sync", str(tmp_path / "feeds.yaml"), "--db", db_url])
    assert synced.exit_code == 0, synced.output
    exported = runner.invoke(cli, ["feeds", "export", "--db", db_url])
    assert exported.exit_code == 0, exported.output
    assert "https://wire.example/rss" in exported.stdout
    assert "local.xml" not in exported.stdout
    assert exported.stdout.endswith("</opml>\n")
    assert "left out 1 feed(s) read from a local path" in exported.stderr
    assert "(local-wire)" in exported.stderr
