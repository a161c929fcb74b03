from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.ingest.identity import GUID, LINK, guids_changed, guids_collide, identity_key
from pipeline.ingest.parse import EntryRecord

WHEN = datetime(2015, 11, 18, tzinfo=UTC)


def entry(guid: str | None, url: str | None, title: str = "Title") -> EntryRecord:
    return EntryRecord(guid, url, title, "", WHEN, False, None, f"hash-{title}")


@pytest.mark.parametrize(
    ("record", "mode", "expected"),
    [
        (entry("g1", "https://a.example/1"), GUID, "g1"),
        (entry("g1", "https://a.example/1"), LINK, "https://a.example/1"),
        (entry(None, "https://a.example/1"), GUID, "https://a.example/1"),
        (entry(None, None, "Headline"), GUID, "sha256:" + "0" * 0),
    ],
    ids=["guid", "link-mode", "no-guid", "nothing-but-a-title"],
)
def test_identity_key(record: EntryRecord, mode: str, expected: str) -> None:
    key = identity_key(record, mode)
    assert key.startswith(expected)
    if expected.startswith("sha256:"):
        assert key == identity_key(entry(None, None, "Headline"), LINK)
        assert key != identity_key(entry(None, None, "Other headline"), LINK)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([entry("g1", "https://a/1"), entry("g2", "https://a/2")], False),
        ([entry("g1", "https://a/1"), entry("g1", "https://a/1")], False),
        ([entry("g1", "https://a/1"), entry("g1", "https://a/2")], True),
        ([entry("same", None, "One"), entry("same", None, "Two")], True),
        ([entry(None, "https://a/1"), entry(None, "https://a/2")], False),
    ],
    ids=["distinct", "repeated-entry", "one-guid-two-links", "one-guid-two-titles", "no-guids"],
)
def test_guids_collide(entries: list[EntryRecord], expected: bool) -> None:
    assert guids_collide(entries) is expected


def test_guids_changed() -> None:
    stored = {"https://a/1": "g1"}
    assert not guids_changed([entry("g1", "https://a/1")], stored)
    assert guids_changed([entry("g1-fetch2", "https://a/1")], stored)
    assert not guids_changed([entry("g9", "https://a/9")], stored)
    assert not guids_changed([entry(None, "https://a/1")], stored)
