"""The read-only HTTP API (FastAPI): stories, one story, its related stories, the trending
stories, health, and the dashboard page.

A thin layer over ``pipeline.serve.queries``: it parses and validates parameters, opens one
session per request and answers with the ``pipeline.serve.schema`` models the queries
return (the same that ``storyline stories --format json`` prints), adding the paging and
the clock; the queries live with the rest of the story reading code. Run it with
``storyline serve``.

The routes sit on the module's ``router``, each taking its parameters and two dependencies:
``SessionDep``, one read transaction on the engine that ``create_app`` keeps in
``app.state``, and ``WallClock``. ``create_app`` wires the rest around them: the lifespan
that disposes of the engine, the error handlers, the ETag middleware, the deadline that
answers 503 when the database does not (``Deadline``) and the static files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.db import Timeouts, display_url, make_engine, session_scope
from pipeline.errors import first_line
from pipeline.serve import queries
from pipeline.serve.entities import entity_detail
from pipeline.serve.schema import (
    ArticleList,
    ArticlePage,
    EntityDetail,
    Health,
    OutletList,
    Problem,
    RelatedList,
    StoryList,
    StoryOut,
    TrendingList,
)
from pipeline.settings import Settings
from pipeline.stories.status import StoryStatus
from pipeline.version import package_version

log = logging.getLogger(__name__)
WEB_DIR = Path(str(resources.files("pipeline.serve") / "web"))

StatusParam = Literal["active", "dormant", "merged", "dissolved"]
"""``StoryStatus`` as the ``status`` parameter takes it: its strings rather than the
enum, so the OpenAPI schema lists them inline (an enum would become a ``$ref``) and a wrong
one is still a ``literal_error``. ``tests/serve/test_api.py`` checks that the two agree."""
StatusesQuery = Annotated[
    list[StatusParam] | None,
    Query(description="Repeat for several; default: active and dormant."),
]

MAX_OFFSET = 2**31 - 1
"""Far beyond any real list, and within what both backends take as an OFFSET."""
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
"""``since``/``until`` must lie a day inside the calendar, so that any offset converts to UTC."""


def _session(request: Request) -> Iterator[Session]:
    """One read transaction per request, on the app's engine."""
    with session_scope(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


def _wall_clock() -> datetime:
    """The wall clock, read once per request: what "now" is when no cluster run has set the
    pipeline's clock (``queries.PipelineClock.at``)."""
    return datetime.now(UTC)


WallClock = Annotated[datetime, Depends(_wall_clock)]
UNREADABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "The stories database cannot be read."}
}
"""Every route that reads the database answers 503 when it cannot (``_unreadable``)."""
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No story has this id."},
    **UNREADABLE,
}


def create_app(settings: Settings) -> FastAPI:
    """The API on the stories database of ``settings``; the engine is made once, here, and
    kept in ``app.state`` for the routes' sessions (``_session``) and the error handlers."""
    engine = make_engine(
        settings.database_url,
        Timeouts.for_api(settings),
        pool_timeout=settings.api_timeout_seconds,
    )
    # FastAPI's own /docs and /redoc load their scripts from a CDN; fastapi-offline serves
    # Swagger UI and ReDoc from its package, so both work with no network.
    app = FastAPIOffline(
        title="Storyline",
        summary="News stories clustered from many outlets, with their articles and history.",
        version=package_version(),
        lifespan=_lifespan,
        static_url="/docs/assets",
    )
    app.state.engine = engine
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(DataError)(_out_of_range)
    app.exception_handler(SQLAlchemyError)(_unreadable)
    app.middleware("http")(_etag)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.add_middleware(
        Deadline,
        seconds=settings.api_timeout_seconds,
        health_seconds=min(HEALTH_TIMEOUT_SECONDS, settings.api_timeout_seconds),
        database=display_url(settings.database_url),
    )
    app.add_middleware(HeadAsGet)  # the outermost: a HEAD's 503 has no body either
    return app


HEALTH_TIMEOUT_SECONDS = 3.0
"""``/api/health`` says the database is not answering after this (or ``api_timeout_seconds``
if shorter): a health check that hangs is worse than one that fails."""


class Deadline:
    """Answers 503 "not answering" to an ``/api/`` request that has no answer after its
    deadline, whatever holds it up: a database that accepted the connection and froze, a
    pool with no free connection, a query the server is slow to cancel.

    The routes run in worker threads, which cannot be interrupted: the request's work goes on
    in the background, and anything it sends then is dropped, until the database answers or
    the connection's own wait for an answer ends it (``api_timeout_seconds`` and 5 s,
    ``pipeline.db.Timeouts``), which frees its thread and its connection even while the
    server stays frozen. Meanwhile at most the pool's connections (5, and 10 more for bursts)
    wait so; further requests wait for one at most ``api_timeout_seconds`` (the engine's
    ``pool_timeout``) and are answered 503 all the same."""

    def __init__(self, app: ASGIApp, *, seconds: float, health_seconds: float, database: str):
        self.app = app
        self.seconds = seconds
        self.health_seconds = health_seconds
        self.database = database
        self.abandoned: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        health = scope["path"] == "/api/health"
        seconds = self.health_seconds if health else self.seconds
        started = answered = False

        async def send_unless_answered(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def respond() -> None:
            await self.app(scope, receive, send_unless_answered)

        work = asyncio.create_task(respond())
        try:
            await asyncio.wait({work}, timeout=seconds)
        except asyncio.CancelledError:
            # The server is stopping and its grace period ran out (``serve.server``): a
            # request not yet answered is told to come again, rather than a bare 500.
            if not started:
                answered = True
                stopping = _unavailable("the server is stopping; retry in a moment", 1, close=True)
                await stopping(scope, receive, send)
            raise
        if work.done() or started:
            await work
            return
        answered = True
        self.abandoned.add(work)
        work.add_done_callback(self._forget)
        log.warning(
            "stories database not answering",
            extra={
                "database": self.database,
                "path": scope["path"],
                "seconds": seconds,
                "waiting": len(self.abandoned),
            },
        )
        detail = f"the stories database is not answering (no answer within {seconds:g} s)"
        await _unavailable(f"{detail}; retry later", max(1, round(seconds)))(scope, receive, send)

    def _forget(self, work: asyncio.Task[None]) -> None:
        """A request answered 503 finished at last: its error, if any, was logged by the
        app's handlers or is dropped here (its client has its answer)."""
        self.abandoned.discard(work)
        error = None if work.cancelled() else work.exception()
        if error is not None:
            log.info("abandoned request failed", extra={"reason": first_line(error)})


def _unavailable(detail: str, retry_after: int, *, close: bool = False) -> JSONResponse:
    """A 503 that says why and when to ask again (``close``: on a connection that ends)."""
    headers = {"Retry-After": str(retry_after), **({"Connection": "close"} if close else {})}
    return JSONResponse(status_code=503, content={"detail": detail}, headers=headers)


class HeadAsGet:
    """Answers ``HEAD`` on every route that answers ``GET``, as HTTP asks: the same status
    and headers (``ETag``, ``Content-Length`` included, so a conditional ``HEAD`` gets its
    304), no body. FastAPI's routes take only the methods they declare, and declaring
    ``HEAD`` on each would put a second operation per path in the OpenAPI schema."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.engine.dispose()


router = APIRouter()
"""The API's routes and the dashboard's page, in the order the OpenAPI schema lists them."""


@router.get("/api/health", response_model=Health, responses=UNREADABLE)
def health(db: SessionDep) -> Health:
    """Whether the API can read the stories database, and how fresh the stories are."""
    clock = queries.pipeline_clock(db)
    return Health(
        status="ok",
        database="ok",
        stories=queries.story_count(db),
        last_run_at=clock.finished_at,
    )


@router.get("/api/stories", response_model=StoryList, responses=UNREADABLE)
def list_stories(
    db: SessionDep,
    wall_clock: WallClock,
    status: StatusesQuery = None,
    since: Annotated[
        datetime | None, Query(description="Stories seen at or after this (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Stories seen at or before this (ISO 8601).")
    ] = None,
    outlet: Annotated[
        str | None,
        Query(
            description="Stories with an article from an outlet with these words in its "
            "name, any case and accents."
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words of one of the story's articles (every word, the last also "
            "as a prefix; any case and accents), or a substring of its title or a keyword.",
        ),
    ] = None,
    entity: Annotated[
        int | None,
        Query(
            ge=1,
            le=queries.MAX_ID,
            description="Stories with an article that names this entity (its id).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    order: Annotated[
        queries.StoryOrder,
        Query(
            description="rank: most articles in the last 24 h, then outlets, articles, "
            "last seen; recent: last seen; size: articles."
        ),
    ] = "rank",
) -> StoryList:
    """Stories matching every filter given, one page at a time."""
    _no_nul(outlet=outlet, q=q)
    query = queries.StoryQuery(
        statuses=_statuses(status),
        since=_query_time("since", since),
        until=_query_time("until", until),
        outlet=outlet,
        text=q,
        entity=entity,
        order=order,
        limit=limit,
        offset=offset,
    )
    clock = queries.pipeline_clock(db)
    page = queries.list_stories(db, query, clock.at(wall_clock))
    return StoryList(
        total=page.total,
        limit=limit,
        offset=offset,
        updated_at=clock.finished_at,
        items=page.items,
    )


@router.get("/api/entities/{entity_id}", response_model=EntityDetail, responses=NOT_FOUND)
def get_entity(entity_id: int, db: SessionDep) -> EntityDetail:
    """One person, place or organisation, with how many articles and live stories name it."""
    found = None
    if 1 <= entity_id <= queries.MAX_ID:
        found = entity_detail(db, entity_id, queries.DEFAULT_STATUSES)
    if found is None:
        raise HTTPException(status_code=404, detail=f"entity {entity_id} not found")
    return found


@router.get("/api/stories/{story_id}", response_model=StoryOut, responses=NOT_FOUND)
def get_story(
    story_id: int,
    db: SessionDep,
    wall_clock: WallClock,
    article_limit: Annotated[
        int, Query(ge=1, le=500, description="Articles in the page (newest first).")
    ] = 50,
    article_offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Articles skipped before the page.")
    ] = 0,
) -> StoryOut:
    """One story with a page of its articles, its outlets, hourly timeline and lineage."""
    _known_id(story_id)
    now = queries.pipeline_clock(db).at(wall_clock)
    detail = queries.story_detail(db, story_id, now, article_limit, article_offset)
    if detail is None:
        raise _not_found(story_id)
    return _story_out(detail, article_limit, article_offset)


@router.get("/api/stories/{story_id}/related", response_model=RelatedList, responses=NOT_FOUND)
def related(
    story_id: int,
    db: SessionDep,
    wall_clock: WallClock,
    status: StatusesQuery = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    min_similarity: Annotated[
        float,
        Query(ge=0, le=1, description="The lowest cosine similarity of a related story."),
    ] = queries.RELATED_MIN_SIMILARITY,
) -> RelatedList:
    """The stories whose centroids are nearest (cosine) to this one's, at least
    ``min_similarity``, nearest first."""
    _known_id(story_id)
    now = queries.pipeline_clock(db).at(wall_clock)
    found = queries.related_stories(db, story_id, now, limit, _statuses(status), min_similarity)
    if found is None:
        raise _not_found(story_id)
    return RelatedList(story_id=story_id, items=found)


@router.get("/api/trending", response_model=TrendingList, responses=UNREADABLE)
def trending(
    db: SessionDep,
    wall_clock: WallClock,
    hours: Annotated[
        int,
        Query(
            ge=1,
            le=48,
            description="Recent hours, up to the pipeline's clock, compared with the 48 "
            "hours before them.",
        ),
    ] = 6,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    min_articles: Annotated[
        int,
        Query(
            ge=1,
            le=queries.TRENDING_MAX_MIN_ARTICLES,
            description="The fewest articles in the recent hours a story needs to be listed.",
        ),
    ] = queries.TRENDING_MIN_ARTICLES,
) -> TrendingList:
    """Active stories growing against their own earlier pace (faster now than before, with
    at least ``min_articles`` new articles), fastest first, each marked ``new`` (first seen
    in the window) or ``developing``."""
    at = queries.pipeline_clock(db).at(wall_clock)
    items = queries.trending_stories(db, at, hours, limit, min_articles)
    return TrendingList(at=at, hours=hours, min_articles=min_articles, items=items)


@router.get("/api/outlets", response_model=OutletList, responses=UNREADABLE)
def outlets(db: SessionDep) -> OutletList:
    """Every outlet of the feed registry, by name, with its feeds, articles and stories."""
    return OutletList(items=queries.outlets(db))


@router.get("/api/articles", response_model=ArticleList, responses=UNREADABLE)
def list_articles(
    db: SessionDep,
    story: Annotated[
        int | None,
        Query(description="The articles of this story (none if no story has this id)."),
    ] = None,
    unclustered: Annotated[
        bool, Query(description="Only the articles in no story (not with story).")
    ] = False,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words of the title and the text read (every word, the last also "
            "as a prefix; any case and accents).",
        ),
    ] = None,
    outlet: Annotated[
        str | None,
        Query(description="Articles of an outlet with these words in its name, any case, accents."),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Published at or after this (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Published at or before this (ISO 8601).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ArticleList:
    """Articles matching every filter given, newest first, with the text read and where it
    came from (the article's page or its feed), one page at a time."""
    _no_nul(outlet=outlet, q=q)
    if story is not None and unclustered:
        raise _invalid("unclustered", "cannot be true with a story: pick one", unclustered)
    query = queries.ArticleQuery(
        story=story,
        unclustered=unclustered,
        text=q,
        outlet=outlet,
        since=_query_time("since", since),
        until=_query_time("until", until),
        limit=limit,
        offset=offset,
    )
    page = queries.list_articles(db, query)
    return ArticleList(total=page.total, limit=limit, offset=offset, items=page.items)


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html")


def _known_id(story_id: int) -> None:
    """A 404 for an id no row can have, without asking the database (which would overflow)."""
    if not 1 <= story_id <= queries.MAX_ID:
        raise _not_found(story_id)


def _not_found(story_id: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"story {story_id} not found")


def _statuses(status: list[StatusParam] | None) -> tuple[StoryStatus, ...]:
    """The ``status`` parameters once each, in their order; none: ``DEFAULT_STATUSES``."""
    return tuple(map(StoryStatus, dict.fromkeys(status or ()))) or queries.DEFAULT_STATUSES


def _story_out(detail: queries.StoryDetail, article_limit: int, article_offset: int) -> StoryOut:
    """``detail`` as the API answers it, with the page of articles it was read with."""
    article_page = ArticlePage(
        total=detail.article_total,
        limit=article_limit,
        offset=article_offset,
        items=detail.articles,
    )
    return StoryOut(
        **detail.summary.model_dump(),
        summary=detail.sentences,
        merged_into_id=detail.merged_into_id,
        merged_from=detail.merged_from,
        split_from=detail.split_from,
        split_into=detail.split_into,
        article_page=article_page,
        sources=detail.sources,
        timeline=detail.timeline,
        history=detail.history,
    )


async def _etag(request: Request, call_next: Any) -> Response:
    """An ``ETag`` on every successful ``GET /api/...``, and 304 with no body when the
    client's ``If-None-Match`` names it: a dashboard polling every few seconds (browsers
    revalidate by themselves under ``Cache-Control: no-cache``) gets the stories again only
    when they changed.

    The tag is a hash of the answer itself, so it can never be stale: a cluster run, a
    story gone dormant or an article's new title all change it. The server still computes
    the answer (one read transaction); what a poll saves is the transfer and the page's
    work. ``Last-Modified`` is not sent: no clock in the tables marks every change (a
    replayed pipeline's clock is years old), and a wrong one would turn a change into a 304.
    """
    response: StreamingResponse = await call_next(request)
    if (
        request.method != "GET"
        or not request.url.path.startswith("/api/")
        or response.status_code != 200
    ):
        return response
    body = b"".join(
        [
            chunk
            if isinstance(chunk, bytes)
            else bytes(chunk, "utf-8")
            if isinstance(chunk, str)
            else bytes(chunk)
            async for chunk in response.body_iterator
        ]
    )
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {key: value for key, value in response.headers.items() if key != "content-length"}
    headers.update({"ETag": tag, "Cache-Control": "no-cache"})
    wanted = {
        part.strip().removeprefix("W/")
        for part in request.headers.get("if-none-match", "").split(",")
    }
    if tag in wanted or "*" in wanted:
        headers.pop("content-type", None)
        return Response(status_code=304, headers=headers)
    return Response(content=body, status_code=200, headers=headers)


def _invalid(name: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", name), "msg": message, "type": "value_error", "input": value}]
    )


def _no_nul(**texts: str | None) -> None:
    """A NUL character matches nothing a feed can hold and PostgreSQL refuses it: a 422."""
    for name, value in texts.items():
        if value is not None and "\x00" in value:
            raise _invalid(name, "must not contain a NUL character", value)


def _query_time(name: str, moment: datetime | None) -> datetime | None:
    """``moment`` in UTC, or a 422 naming the parameter when it is at the calendar's edge."""
    if moment is None:
        return None
    try:
        value = _utc(moment)
    except OverflowError:
        value = None
    if value is None or not EARLIEST <= value <= LATEST:
        raise _invalid(name, "must be a time between the years 1 and 9999, in UTC", str(moment))
    return value


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's list of errors stays in "detail"; "message" says it in one sentence.
    errors: list[dict[str, Any]] = list(exc.errors())
    message = "; ".join(f"{_where(error['loc'])}: {error['msg']}" for error in errors)
    return JSONResponse(
        status_code=422,
        content=jsonable_encoder({"detail": errors, "message": f"invalid request: {message}"}),
    )


async def _out_of_range(_request: Request, exc: DataError) -> JSONResponse:
    # A value the database cannot hold slipped past the checks above: the client's
    # request, not the server, so a 422; the driver's words go to the log only.
    log.warning("query refused by the database", extra={"reason": first_line(exc)})
    # Shaped as every other 422 (the schema's HTTPValidationError): a list in "detail".
    error = {"loc": ["query"], "msg": "outside what the database holds", "type": "value_error"}
    return JSONResponse(
        status_code=422,
        content={
            "detail": [error],
            "message": "invalid request: a parameter is outside what the database can hold",
        },
    )


async def _unreadable(request: Request, exc: SQLAlchemyError) -> JSONResponse:
    # The address and the driver's message stay in the server's log: a response never
    # names the database (its host, user or name).
    engine: Engine = request.app.state.engine
    log.warning(
        "stories database cannot be read",
        extra={"database": display_url(str(engine.url)), "reason": first_line(exc)},
    )
    return JSONResponse(
        status_code=503,
        content={
            "detail": "the stories database cannot be read; the server's log says why "
            "(check that the database is running and migrated: storyline init)"
        },
    )


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc]
    if len(parts) >= 2 and parts[0] in ("query", "path"):
        return f"{parts[0]} parameter {parts[1]!r}"
    return ".".join(parts)
