"""The feed registry: read a feeds YAML file and upsert it into the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Article, Feed
from pipeline.errors import ConfigError, first_line

FullText = Literal["auto", "always", "never"]


class FeedSpec(BaseModel):
    """One entry of a feeds file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1)
    outlet: str | None = None
    language: str | None = Field(default=None, max_length=16)
    enabled: bool = True
    full_text: FullText = "auto"
    """Whether the extract stage reads the page of each article: ``auto`` when the feed's
    text is a teaser (shorter than ``teaser_max_chars``), ``always``, or ``never``."""

    @field_validator("name", "url")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedSpec]


def is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def load_feeds_file(path: Path) -> list[FeedSpec]:
    """Parse and validate a feeds YAML file; local feed paths become absolute.

    A relative path in the file is relative to the file itself, so a feeds file and its
    local feeds can move together.
    """
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read feeds file {path} ({exc.strerror}); check the path"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"feeds file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}); save it as UTF-8"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"feeds file {path} is not valid YAML ({first_line(exc)})") from exc
    if not isinstance(raw, dict) or "feeds" not in raw:
        raise ConfigError(f"feeds file {path} needs a top-level `feeds:` list")
    try:
        specs = FeedsFile.model_validate(raw).feeds
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"feeds file {path}: {where}: {err['msg']}") from exc
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"feeds file {path} names feeds more than once: {', '.join(duplicates)}")
    return [_resolve(spec, path.parent) for spec in specs]


def _resolve(spec: FeedSpec, base: Path) -> FeedSpec:
    if is_remote(spec.url):
        return spec
    local = Path(spec.url.removeprefix("file://")).expanduser()
    if not local.is_absolute():
        local = (base / local).resolve()
    return spec.model_copy(update={"url": str(local)})


def _start_over(feed: Feed) -> None:
    """A new URL is a new feed as far as fetching goes: forget what the old one taught us."""
    feed.fetch_url = None
    feed.etag = None
    feed.last_modified = None
    feed.disabled_reason = None
    feed.error_count = 0
    feed.last_error = None
    feed.retry_after_until = None
    feed.next_check_at = None
    feed.identity = "guid"


@dataclass(frozen=True)
class SyncResult:
    added: int
    updated: int
    unchanged: int


def check_local_files(specs: list[FeedSpec]) -> None:
    """Refuse an enabled feed whose local path names no file, before anything is registered.

    Otherwise the mistake shows only at the first ingest, as a failing feed. It is easy to
    make under Docker Compose, which mounts the feeds file alone into the containers: a path
    relative to the file then points at nothing there.
    """
    for spec in specs:
        if spec.enabled and not is_remote(spec.url) and not Path(spec.url).is_file():
            raise ConfigError(
                f"feed {spec.name!r} points at the local file {spec.url}, which does not "
                "exist; give it an http(s) URL, or put the file beside the feeds file "
                "(under Docker Compose, also mount its folder into the containers)"
            )


def sync_feeds(session: Session, specs: list[FeedSpec], now: datetime) -> SyncResult:
    """Upsert feeds by name. Feeds absent from the file are left as they are.

    An enabled feed whose local file is missing fails the whole sync (``check_local_files``).
    """
    check_local_files(specs)
    existing = {feed.name: feed for feed in session.scalars(select(Feed))}
    added = updated = unchanged = 0
    for spec in specs:
        outlet = spec.outlet or spec.name
        feed = existing.get(spec.name)
        if feed is None:
            session.add(
                Feed(
                    name=spec.name,
                    url=spec.url,
                    outlet=outlet,
                    language=spec.language,
                    enabled=spec.enabled,
                    full_text=spec.full_text,
                    created_at=now,
                    updated_at=now,
                    error_count=0,
                )
            )
            added += 1
            continue
        wanted = {
            "url": spec.url,
            "outlet": outlet,
            "language": spec.language,
            "enabled": spec.enabled,
            "full_text": spec.full_text,
        }
        changes = {key: value for key, value in wanted.items() if getattr(feed, key) != value}
        if not changes:
            unchanged += 1
            continue
        for key, value in changes.items():
            setattr(feed, key, value)
        if "url" in changes:
            _start_over(feed)
        if changes.get("enabled") is True:
            feed.next_check_at = None  # due at once
        feed.updated_at = now
        updated += 1
    session.flush()
    return SyncResult(added=added, updated=updated, unchanged=unchanged)


@dataclass(frozen=True)
class FeedStatus:
    """One row of ``storyline feeds list``."""

    name: str
    url: str
    outlet: str
    status: str
    article_count: int
    error_count: int
    last_error: str | None
    last_success_at: datetime | None
    next_check_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "outlet": self.outlet,
            "status": self.status,
            "articles": self.article_count,
            "errors_in_a_row": self.error_count,
            "last_error": self.last_error,
            "last_success_at": _iso(self.last_success_at),
            "next_check_at": _iso(self.next_check_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def registry_specs(session: Session) -> list[FeedSpec]:
    """The registry as feeds-file entries, by name (what ``feeds export`` writes)."""
    return [
        FeedSpec(
            name=feed.name,
            url=feed.url,
            outlet=feed.outlet,
            language=feed.language,
            enabled=feed.enabled,
        )
        for feed in session.scalars(select(Feed).order_by(Feed.name))
    ]


def render_feeds_file(specs: list[FeedSpec]) -> str:
    """A feeds YAML file listing ``specs``, as ``load_feeds_file`` reads it."""
    entries = [spec.model_dump(exclude_defaults=True) for spec in specs]
    return yaml.safe_dump({"feeds": entries}, sort_keys=False, allow_unicode=True)


def feed_statuses(session: Session) -> list[FeedStatus]:
    """Every feed with its health and article count, by name."""
    counts = dict(
        session.execute(select(Article.feed_id, func.count()).group_by(Article.feed_id)).all()
    )
    return [
        FeedStatus(
            name=feed.name,
            url=feed.effective_url,
            outlet=feed.outlet,
            status=feed.status,
            article_count=counts.get(feed.id, 0),
            error_count=feed.error_count,
            last_error=feed.disabled_reason or feed.last_error,
            last_success_at=feed.last_success_at,
            next_check_at=feed.next_check_at if feed.status != "disabled" else None,
        )
        for feed in session.scalars(select(Feed).order_by(Feed.name))
    ]
