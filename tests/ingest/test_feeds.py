from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from models import Feed
from pipeline.db import session_scope
from pipeline.errors import ConfigError
from pipeline.ingest.feeds import load_feeds_file, sync_feeds

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n"
        "  - {name: a, url: local/a.xml, outlet: Alpha}\n"
        "  - {name: b, url: 'https://b.example/rss', enabled: false, language: de}\n",
    )
    a, b = load_feeds_file(path)
    assert a.url == str(tmp_path / "local" / "a.xml")
    assert (a.outlet, a.enabled) == ("Alpha", True)
    assert (b.url, b.enabled, b.language, b.outlet) == ("https://b.example/rss", False, "de", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds: [\n", "not valid YAML"),
        ("- name: a\n", "top-level `feeds:` list"),
        ("feeds:\n  - {url: x}\n", "feeds.0.name"),
        ("feeds:\n  - {name: a, url: x, colour: red}\n", "colour"),
        ("feeds:\n  - {name: a, url: '  '}\n", "feeds.0.url"),
        ("feeds:\n  - {name: a, url: x}\n  - {name: a, url: y}\n", "more than once: a"),
        ("feeds:\n  - {name: a, url: x, enabled: maybe}\n", "feeds.0.enabled"),
    ],
    ids=[
        "bad-yaml",
        "no-feeds-key",
        "missing-name",
        "unknown-key",
        "blank-url",
        "duplicate",
        "bad-bool",
    ],
)
def test_malformed_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="feeds") as caught:
        load_feeds_file(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read feeds file"):
        load_feeds_file(tmp_path / "nope.yaml")


def test_sync_upserts_by_name_and_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    first = load_feeds_file(write(tmp_path, "feeds:\n  - {name: a, url: 'https://a.example/1'}\n"))
    with session_scope(engine) as session:
        assert sync_feeds(session, first, NOW).added == 1
    with session_scope(engine) as session:
        again = sync_feeds(session, first, NOW)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)

    moved = load_feeds_file(
        write(tmp_path, "feeds:\n  - {name: a, url: 'https://a.example/2', outlet: A}\n")
    )
    with session_scope(engine) as session:
        feed = session.scalars(select(Feed)).one()
        feed.etag = '"v1"'
        feed.fetch_url = "https://a.example/moved"
        feed.disabled_reason = "HTTP 410 Gone"
        feed.error_count = 3
        feed.identity = "link"
    with session_scope(engine) as session:
        assert sync_feeds(session, first, NOW).unchanged == 1
        feed = session.scalars(select(Feed)).one()
        # a permanent redirect learned by the fetcher survives a sync of the same file
        assert (feed.fetch_url, feed.status) == ("https://a.example/moved", "disabled")
    with session_scope(engine) as session:
        assert sync_feeds(session, moved, NOW).updated == 1
    with session_scope(engine) as session:
        feed = session.scalars(select(Feed)).one()
        # a new URL in the registry starts the feed afresh
        assert (feed.url, feed.outlet, feed.etag, feed.fetch_url) == (
            "https://a.example/2",
            "A",
            None,
            None,
        )
        assert (feed.status, feed.error_count, feed.identity) == ("active", 0, "guid")
