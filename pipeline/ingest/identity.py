"""Telling feed entries apart across fetches. Pure.

A feed's GUIDs are its own promise of identity, and some feeds break it: the same GUID on
different entries, or a fresh GUID for the same entry on every fetch. Such a feed is
switched to ``link`` identity: the canonical link, else a hash of the title.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from pipeline.ingest.parse import EntryRecord

GUID = "guid"
LINK = "link"


MAX_KEY_LENGTH = 512
"""Longer keys are stored as their hash: an index cannot hold arbitrarily long values."""


def identity_key(entry: EntryRecord, mode: str) -> str:
    """The key an entry is stored under in its feed."""
    if mode == GUID and entry.guid:
        key = entry.guid
    elif entry.url:
        key = entry.url
    else:
        # Neither GUID nor link: the title names the entry, so changed text is an update.
        key = entry.title
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    if len(key) > MAX_KEY_LENGTH:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def guids_collide(entries: Iterable[EntryRecord]) -> bool:
    """True if one GUID labels entries with different links or titles in one document."""
    seen: dict[str, tuple[str | None, str]] = {}
    for entry in entries:
        if entry.guid is None:
            continue
        label = (entry.url, entry.title)
        if seen.setdefault(entry.guid, label) != label:
            return True
    return False


def guids_changed(entries: Iterable[EntryRecord], stored_guid_by_url: Mapping[str, str]) -> bool:
    """True if an entry comes back under a link already stored with a different GUID."""
    return any(
        entry.guid is not None
        and entry.url is not None
        and entry.url in stored_guid_by_url
        and stored_guid_by_url[entry.url] != identity_key(entry, GUID)
        for entry in entries
    )
