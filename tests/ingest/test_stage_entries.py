"""The pure parts of storing a feed: its report, and which entry is which stored article."""

from __future__ import annotations

from pipeline.ingest.stage import FeedReport, IngestReport, Stored


def test_the_run_report_adds_each_feeds_report() -> None:
    report = IngestReport(feeds=3)
    report.add(FeedReport("stored", entries=5, stored=Stored(new=3, updated=1, reprints=1)))
    report.add(FeedReport("same", not_modified=True))
    report.add(FeedReport("down", error="HTTP 500 Internal Server Error"))
    assert report == IngestReport(
        feeds=3,
        failed=1,
        not_modified=1,
        entries=5,
        new_articles=3,
        updated_articles=1,
        reprints=1,
        errors={"down": "HTTP 500 Internal Server Error"},
    )
    assert report.partial
