"""The ``storyline`` command line: a thin layer over the stage functions."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from sqlalchemy import Engine, func, select

from pipeline import logs
from pipeline.db import (
    Timeouts,
    display_url,
    make_engine,
    migrate,
    require_schema,
    session_scope,
)
from pipeline.errors import (
    ConfigError,
    DatabaseError,
    StorylineError,
    first_line,
    library_error_message,
)
from pipeline.progress import terminal_progress
from pipeline.settings import Settings, default_cache_dir
from pipeline.stopping import StopFlag, StoppedError, exit_at_once, signal_name
from pipeline.version import package_version

if TYPE_CHECKING:
    from pipeline.embed.stage import EmbedReport
    from pipeline.entities.stage import EntitiesReport
    from pipeline.extract.stage import ExtractReport
    from pipeline.ingest.feeds import FeedSpec, SyncResult
    from pipeline.ingest.stage import IngestReport
    from pipeline.serve.queries import ArticleQuery
    from pipeline.stories.stage import ClusterReport

log = logging.getLogger(__name__)

DATABASE_KEY = "storyline.database"
"""Where a command's context keeps the database it opened, for the error boundary."""
TIMEOUTS_KEY = "storyline.timeouts"
"""The timeouts of that database's connections, for the error boundary's sentence."""
GLOBAL_DB_KEY = "storyline.global-db"
"""``--db`` given before the subcommand (``storyline --db URL init``)."""
VERBOSE_KEY = "storyline.verbose"

P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str, status: int = 1) -> None:
    click.echo(f"storyline: error: {message}", err=True)
    sys.exit(status)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """The CLI's one boundary for errors: one sentence on stderr and a non-zero exit.

    An error a user can cause (a ``StorylineError``, or a library's error that
    ``library_error_message`` recognises) is its sentence; the status is 1, or the error's
    own ``exit_status`` (3 when no due feed could be fetched). Anything else is a bug: its
    traceback goes to a file, named in one line (``-v`` prints it too).

    It also receives SIGTERM and SIGINT (``Signals``): a command that took the stop flag
    (``Context.stop``) stops at its next safe point, others at once; either way one
    sentence and status 128 + the signal (143, or 130 for Ctrl-C). A second signal ends
    the process at once.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with Signals.installed():
            try:
                return fn(*args, **kwargs)
            except StoppedError as exc:
                _stopped(exc)
            except StorylineError as exc:
                _fail(str(exc), getattr(exc, "exit_status", 1))
            except KeyboardInterrupt as exc:
                signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
                _fail(
                    f"interrupted by signal {signal_name(signum)}; "
                    "a rerun converges to the same state",
                    128 + signum,
                )
            except (
                click.exceptions.ClickException,
                click.exceptions.Exit,
                click.exceptions.Abort,
            ):
                raise
            except Exception as exc:  # the boundary: every other error ends here
                message = library_error_message(exc, _database_used(), _timeouts_used())
                if message is not None:
                    log.debug("user error", exc_info=True)
                    _fail(message)
                _fail(_unexpected(exc), 2)
        raise AssertionError("unreachable")

    return wrapper


STOP_KEY = "storyline.signals"
"""Where the running command's ``Signals`` are kept, for ``Context.stop``."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM to a command that took no stop flag: raised at once, as Ctrl-C is, so the
    transaction in flight rolls back."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGTERM and SIGINT while a command runs.

    The first signal sets ``flag`` when the command took it (``Context.stop``: its stages
    look at it between units of work); otherwise it raises :class:`Interrupted` (SIGINT:
    ``KeyboardInterrupt``) where the command is. A second signal ends the process at once,
    with one line: whoever sends it twice means it.
    """

    def __init__(self) -> None:
        self.flag = StopFlag()
        self.cooperative = False

    def take(self) -> StopFlag:
        """The stop flag; from now on the command looks at it, and signals only set it."""
        self.cooperative = True
        return self.flag

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.flag.requested:
            exit_at_once(signum)
        self.flag.request(signum)
        if self.cooperative:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signum)

    @classmethod
    @contextmanager
    def installed(cls) -> Iterator[Signals]:
        """Signals handled for the block (on the main thread; elsewhere none can be)."""
        signals = cls()
        context = click.get_current_context(silent=True)
        if context is not None:
            context.meta[STOP_KEY] = signals
        if threading.current_thread() is not threading.main_thread():
            yield signals
            return
        previous = {sig: signal.signal(sig, signals.handle) for sig in STOP_SIGNALS}
        try:
            yield signals
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stopped(exc: StoppedError) -> None:
    """A command stopped at a safe point: say what it finished, and exit 128 + signal.

    Fetches still in flight on worker threads hold no transaction (each stage's own
    exception has committed or rolled back its unit) and store nothing: the process does
    not wait for their deadline, it closes its database connections and exits.
    """
    click.echo(f"storyline: {exc}", err=True)
    lingering = [
        thread
        for thread in threading.enumerate()
        if thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
    ]
    if not lingering:
        sys.exit(exc.exit_status)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.close()  # dispose of the engine: its connections end cleanly
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exc.exit_status)


def _unexpected(exc: Exception) -> str:
    """Keep an unexpected error's traceback in a file (and on stderr with ``-v``); say where."""
    import os
    import tempfile
    import traceback

    trace = "".join(traceback.format_exception(exc))
    command = " ".join(["storyline", *sys.argv[1:]])
    if _verbose():
        click.echo(trace, err=True, nl=False)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"traceback-{stamp}-{os.getpid()}.txt"
    written = None
    for folder in (default_cache_dir() / "tracebacks", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"{command}\n\n{trace}", encoding="utf-8")
        except OSError:
            continue
        written = folder / name
        break
    where = f"the traceback is in {written}" if written else "the traceback could not be saved"
    shown = "" if _verbose() else "; rerun with -v to print it"
    return (
        f"unexpected {type(exc).__name__} ({first_line(exc)}); {where}{shown}, and please report it"
    )


def _database_used() -> str:
    context = click.get_current_context(silent=True)
    url = context.meta.get(DATABASE_KEY) if context else None
    return f"database {url}" if url else "the database"


def _timeouts_used() -> Timeouts | None:
    context = click.get_current_context(silent=True)
    timeouts = context.meta.get(TIMEOUTS_KEY) if context else None
    return timeouts if isinstance(timeouts, Timeouts) else None


def _verbose() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context and context.meta.get(VERBOSE_KEY))


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A callback keeping an option's value in the contexts' shared ``meta``, so that a
    global option means the same before the subcommand or after it."""

    def store(context: click.Context, _param: click.Parameter, value: Any) -> None:
        if value:
            context.meta[key] = value

    return store


def verbose_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_remember(VERBOSE_KEY),
        help="Log progress and details to stderr.",
    )(fn)


def summary_format(fn: Callable[P, R]) -> Callable[P, R]:
    """``--format text|json``: the summary stays one line on stderr; ``json`` also prints
    the command's report on stdout, for scripts."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        help="json: also print the report on stdout.",
    )(fn)


def _print_report(fmt: str, report: object) -> None:
    if fmt == "json":
        from pipeline.reports import jsonable

        click.echo(json.dumps(jsonable(report), indent=2, ensure_ascii=False))


DB_HELP = "Database URL [env STORYLINE_DATABASE_URL; default sqlite:///storyline.db]."


def db_option(fn: Callable[P, R]) -> Callable[P, R]:
    """``--db`` and ``-v`` on a command; both are also accepted before the subcommand."""
    return verbose_option(click.option("--db", "db", metavar="URL", default=None, help=DB_HELP)(fn))


EARLIEST_NOW = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_NOW = datetime(9000, 1, 1, tzinfo=UTC)
"""``--now`` stays this far inside the calendar, so a window or a dormancy cut-off
(capped at a century by the settings) computed from it is a date too."""


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"--now {value!r} is not an ISO 8601 time; use e.g. 2015-11-18T12:00:00Z"
        ) from exc
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        inside = EARLIEST_NOW <= moment < LATEST_NOW
    except OverflowError:  # its offset moves it off the calendar
        inside = False
    if not inside:
        raise ConfigError(
            f"--now {value!r} is outside the years {EARLIEST_NOW.year} to "
            f"{LATEST_NOW.year - 1}; use a time in them, e.g. 2015-11-18T12:00:00Z"
        )
    return moment


class Context:
    """Settings and engine for one command, built lazily so `--help` needs no database."""

    def __init__(self, db: str | None) -> None:
        meta = click.get_current_context().meta
        self.settings = Settings.load(database_url=db or meta.get(GLOBAL_DB_KEY))
        meta[DATABASE_KEY] = display_url(self.settings.database_url)
        self.timeouts = meta[TIMEOUTS_KEY] = Timeouts.of(self.settings)
        logs.configure("INFO" if _verbose() else self.settings.log_level)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url, self.timeouts)
            click.get_current_context().call_on_close(self._engine.dispose)
        return self._engine

    @property
    def stop(self) -> StopFlag:
        """The command's stop flag: its stages look at it between units of work, and
        SIGTERM or Ctrl-C only set it (``Signals``)."""
        signals = click.get_current_context().meta.get(STOP_KEY)
        return signals.take() if isinstance(signals, Signals) else StopFlag()

    def ready_engine(self) -> Engine:
        """The engine of a database that has the schema; fails with one sentence otherwise."""
        require_schema(self.engine)
        return self.engine


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_version(), prog_name="storyline")
@verbose_option
@click.option(
    "--db", metavar="URL", expose_value=False, callback=_remember(GLOBAL_DB_KEY), help=DB_HELP
)
def cli() -> None:
    """Storyline: cluster news feeds into evolving multi-outlet stories.

    `--db` and `-v` go before or after the subcommand; after it, `--db` wins.
    """


@cli.command()
@summary_format
@db_option
@handle_errors
def init(fmt: str, db: str | None) -> None:
    """Create or migrate the schema (idempotent)."""
    ctx = Context(db)
    revision = migrate(ctx.engine)
    database = display_url(ctx.settings.database_url)
    if fmt == "json":
        _print_report(fmt, {"database": database, "revision": revision})
    else:
        click.echo(f"schema of {database} is at revision {revision}")


@cli.group()
def feeds() -> None:
    """Manage the feed registry."""


@feeds.command("sync")
@click.argument("file", type=click.Path(path_type=Path))
@summary_format
@db_option
@handle_errors
def feeds_sync(file: Path, fmt: str, db: str | None) -> None:
    """Upsert the feed registry from FILE (YAML with a top-level `feeds:` list)."""
    from pipeline.ingest.feeds import load_feeds_file

    ctx = Context(db)
    engine = ctx.ready_engine()
    _print_report(fmt, _sync(engine, load_feeds_file(file)))


@feeds.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@summary_format
@db_option
@handle_errors
def feeds_import(file: Path, fmt: str, db: str | None) -> None:
    """Upsert the feed registry from FILE, an OPML subscription list from a feed reader.

    Each feed is named after its title (a slug, made unique), so importing the same list
    again changes nothing; its outlet is the title. Feeds not in FILE are left as they are.
    """
    from pipeline.ingest.opml import load_opml_file

    ctx = Context(db)
    engine = ctx.ready_engine()
    _print_report(fmt, _sync(engine, load_opml_file(file)))


@feeds.command("export")
@click.option("--format", "fmt", type=click.Choice(["opml", "yaml"]), default="opml")
@db_option
@handle_errors
def feeds_export(fmt: str, db: str | None) -> None:
    """Print the feed registry as OPML (for a feed reader) or as a feeds YAML file."""
    from pipeline.ingest.feeds import registry_specs, render_feeds_file
    from pipeline.ingest.opml import render_opml

    ctx = Context(db)
    with session_scope(ctx.ready_engine()) as session:
        specs = registry_specs(session)
    if fmt == "yaml":
        click.echo(render_feeds_file(specs), nl=False)
        return
    document, local = render_opml(specs)
    click.echo(document)
    if local:
        click.echo(
            f"feeds export: left out {len(local)} feed(s) read from a local path, which a "
            f"reader elsewhere cannot open ({', '.join(local)}); `--format yaml` keeps them",
            err=True,
        )


def _sync(engine: Engine, specs: list[FeedSpec]) -> SyncResult:
    from pipeline.ingest.feeds import sync_feeds

    with session_scope(engine) as session:
        result = sync_feeds(session, specs, datetime.now(UTC))
    click.echo(
        f"feeds: {result.added} added, {result.updated} updated, {result.unchanged} unchanged",
        err=True,
    )
    return result


@feeds.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@db_option
@handle_errors
def feeds_list(fmt: str, db: str | None) -> None:
    """Show every feed's health: status, articles, errors, last success, next check."""
    from pipeline.ingest.feeds import feed_statuses

    ctx = Context(db)
    with session_scope(ctx.ready_engine()) as session:
        statuses = feed_statuses(session)
    if fmt == "json":
        click.echo(json.dumps([row.as_json() for row in statuses], indent=2, ensure_ascii=False))
        return
    from tabulate import tabulate

    rows = [
        [
            row.name,
            row.status,
            row.article_count,
            row.error_count,
            _when(row.last_success_at),
            _when(row.next_check_at),
            _shorten(row.last_error or "", 60),
        ]
        for row in statuses
    ]
    headers = ["feed", "status", "articles", "errors", "last success", "next check", "last error"]
    click.echo(tabulate(rows, headers=headers) if rows else "no feeds yet")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


@cli.command()
@click.option(
    "--force",
    is_flag=True,
    help="Fetch every enabled feed now, not only those due (a server's "
    "Retry-After is still honoured).",
)
@summary_format
@db_option
@handle_errors
def ingest(force: bool, fmt: str, db: str | None) -> None:
    """Fetch the feeds that are due and store new and changed articles.

    Exits 3 when feeds were due and none could be fetched (an outage a cron job must see);
    a partial failure exits 0 and lists the failed feeds.
    """
    from pipeline.ingest.stage import check_outage

    ctx = Context(db)
    report = _ingest(ctx.ready_engine(), ctx.settings, ctx.stop, force=force)
    _print_report(fmt, report)
    check_outage(report)


def _ingest(
    engine: Engine, settings: Settings, stop: StopFlag, *, force: bool = False
) -> IngestReport:
    from pipeline.ingest.stage import ingest as run_ingest

    report = run_ingest(
        engine, settings, force=force, progress=terminal_progress("ingest: feeds"), stop=stop
    )
    click.echo(
        f"ingest: {report.feeds} feeds checked, {report.entries} entries, "
        f"{report.new_articles} new articles ({report.reprints} reprints), "
        f"{report.updated_articles} updated, {report.not_modified} unchanged feeds, "
        f"{report.failed} failed",
        err=True,
    )
    for name, reason in sorted(report.errors.items()):
        click.echo(f"  feed {name!r} failed: {reason}", err=True)
    return report


@cli.command()
@summary_format
@db_option
@handle_errors
def extract(fmt: str, db: str | None) -> None:
    """Read the page of each article whose feed gives only a teaser, for its whole text.

    Pages that fail for a while are retried by later runs, a few times; each article keeps
    its outcome and why (`storyline articles`). Failed pages are reported, not fatal;
    exits 3 when pages were due and none could be reached (the network is down).
    """
    from pipeline.extract.stage import check_outage

    ctx = Context(db)
    report = _extract(ctx.ready_engine(), ctx.settings, ctx.stop)
    _print_report(fmt, report)
    check_outage(report)


def _extract(engine: Engine, settings: Settings, stop: StopFlag) -> ExtractReport:
    from pipeline.extract.stage import extract as run_extract

    report = run_extract(engine, settings, progress=terminal_progress("extract: pages"), stop=stop)
    click.echo(
        f"extract: {report.articles} pages asked for: {report.ok} read, {report.kept} kept "
        f"the feed's text, {report.skipped} skipped, {report.retrying} to retry, "
        f"{report.failed} given up",
        err=True,
    )
    return report


@cli.command()
@summary_format
@db_option
@handle_errors
def embed(fmt: str, db: str | None) -> None:
    """Embed every article that has no embedding for the configured model."""
    ctx = Context(db)
    _print_report(fmt, _embed(ctx.ready_engine(), ctx.settings, ctx.stop))


def _embed(engine: Engine, settings: Settings, stop: StopFlag) -> EmbedReport:
    from pipeline.embed.stage import embed as run_embed

    report = run_embed(engine, settings, progress=terminal_progress("embed: articles"), stop=stop)
    click.echo(
        f"embed: {report.embedded} new, {report.refreshed} refreshed with {settings.model_name}",
        err=True,
    )
    return report


@cli.command()
@summary_format
@db_option
@handle_errors
def entities(fmt: str, db: str | None) -> None:
    """Find the people, places and organisations of every article not read for them yet
    (new, or whose text changed)."""
    ctx = Context(db)
    _print_report(fmt, _entities(ctx.ready_engine(), ctx.settings, ctx.stop))


def _entities(engine: Engine, settings: Settings, stop: StopFlag) -> EntitiesReport:
    from pipeline.entities.stage import tag_entities

    report = tag_entities(
        engine, settings, progress=terminal_progress("entities: articles"), stop=stop
    )
    click.echo(
        f"entities: {report.articles} articles read, {report.mentions} names linked, "
        f"{report.new_entities} new entities",
        err=True,
    )
    return report


@cli.command()
@click.option("--now", "now", metavar="ISO-TIME", help="End of the window (default: now).")
@summary_format
@db_option
@handle_errors
def cluster(now: str | None, fmt: str, db: str | None) -> None:
    """Re-cluster the recent window and update stories."""
    ctx = Context(db)
    moment = parse_time(now)
    _print_report(fmt, _cluster(ctx.ready_engine(), ctx.settings, moment, ctx.stop))


def _cluster(
    engine: Engine, settings: Settings, now: datetime | None, stop: StopFlag
) -> ClusterReport:
    from pipeline.stories.stage import cluster as run_cluster

    report = run_cluster(engine, settings, now, stop=stop)
    if report.skipped:
        click.echo(f"cluster: window unchanged since run {report.run_id}; nothing to do", err=True)
    else:
        click.echo(
            f"cluster: {report.articles} articles, {report.clusters} clusters, "
            f"{report.noise} unclustered, {report.stories_created} new stories, "
            f"{report.stories_changed} stories changed",
            err=True,
        )
    if report.not_embedded:
        click.echo(
            f"cluster: {report.not_embedded} articles of the window are not embedded yet "
            "and were left out; run `storyline embed`",
            err=True,
        )
    return report


class Stages:
    """The stages of one command run in turn (``run``, ``maintenance``, ``demo``), so
    that a stop names what was finished: a stop between two stages starts none, and a
    stage's own stop says the stages before it finished."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.finished: list[str] = []

    def run(self, name: str, stage: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        self.stop.check(lambda: self.said() or "nothing was begun")
        try:
            result = stage(*args, **kwargs)
        except StoppedError as exc:
            raise exc.after(self.said()) from None
        self.finished.append(name)
        return result

    def said(self) -> str:
        """``ingest and extract finished``; empty before the first stage finished."""
        if not self.finished:
            return ""
        names = self.finished
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{listed} finished"


@cli.command()
@click.option("--feeds", "feeds_file", type=click.Path(path_type=Path), help="Sync this first.")
@click.option("--now", "now", metavar="ISO-TIME", help="End of the clustering window.")
@click.option("--force", is_flag=True, help="Fetch every enabled feed, not only those due.")
@summary_format
@db_option
@handle_errors
def run(feeds_file: Path | None, now: str | None, force: bool, fmt: str, db: str | None) -> None:
    """Sync feeds (if given), ingest, extract, embed, find entities, cluster.

    When no due feed could be fetched, or pages were due and none could be reached, the
    later stages still run (articles stored earlier may be waiting), then the command exits
    3, as ``ingest`` and ``extract`` do.
    """
    from pipeline.extract.stage import check_outage as check_pages
    from pipeline.ingest.feeds import load_feeds_file
    from pipeline.ingest.stage import check_outage

    ctx = Context(db)
    moment = parse_time(now)
    migrate(ctx.engine)
    synced = _sync(ctx.engine, load_feeds_file(feeds_file)) if feeds_file is not None else None
    stages = Stages(ctx.stop)
    report = stages.run("ingest", _ingest, ctx.engine, ctx.settings, stages.stop, force=force)
    extracted = stages.run("extract", _extract, ctx.engine, ctx.settings, stages.stop)
    embedded = stages.run("embed", _embed, ctx.engine, ctx.settings, stages.stop)
    named = stages.run("entities", _entities, ctx.engine, ctx.settings, stages.stop)
    clustered = stages.run("cluster", _cluster, ctx.engine, ctx.settings, moment, stages.stop)
    _print_report(
        fmt,
        {
            "feeds": synced,
            "ingest": report,
            "extract": extracted,
            "embed": embedded,
            "entities": named,
            "cluster": clustered,
        },
    )
    check_outage(report)
    check_pages(extracted)


@cli.command()
@click.option("--now", "now", metavar="ISO-TIME", help="The time to judge ages by (default: now).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@db_option
@handle_errors
def maintenance(now: str | None, fmt: str, db: str | None) -> None:
    """Dormancy, retention and the database's housekeeping, as the daily DAG does.

    For cron without Airflow: stories quiet for STORYLINE_DORMANT_AFTER_HOURS go dormant;
    with STORYLINE_RETENTION_DAYS set, what is older is deleted (stories kept whole);
    then VACUUM / ANALYZE as the database allows. Idempotent: a rerun finds nothing to do.
    """
    from pipeline.maintenance import apply_retention, mark_dormant_stories, optimise

    ctx = Context(db)
    moment = parse_time(now) or datetime.now(UTC)
    engine = ctx.ready_engine()
    steps = Stages(ctx.stop)
    dormant = steps.run("dormancy", mark_dormant_stories, engine, ctx.settings, moment)
    retention = steps.run("retention", apply_retention, engine, ctx.settings, moment)
    housekeeping = steps.run("housekeeping", optimise, engine)
    kept = "kept everything (STORYLINE_RETENTION_DAYS unset)"
    if retention.cutoff is not None:
        kept = (
            f"deleted {retention.stories} stories, {retention.articles} articles and "
            f"{retention.cluster_runs} cluster runs older than {retention.cutoff:%Y-%m-%d %H:%M}"
        )
    click.echo(
        f"maintenance: {len(dormant)} stories went dormant; {kept}; "
        f"{'vacuumed' if housekeeping.vacuumed else 'analysed'} in {housekeeping.seconds:.1f} s",
        err=True,
    )
    if fmt == "json":
        report = {
            "now": moment,
            "dormant": dormant,
            "retention": retention,
            "optimise": housekeeping,
        }
        _print_report(fmt, report)


STORY_SEARCH_HELP = (
    "Words of one of its articles (any case and accents), or part of its title or a keyword."
)
ARTICLE_SEARCH_HELP = "Words of the title or the text, in any case and accents."
OUTLET_HELP = "Outlets with these words in their name, in any case and accents."


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N stories.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["active", "dormant", "merged", "dissolved"]),
    help="Only stories of this status (repeatable) [default: active and dormant].",
)
@click.option(
    "--entity",
    type=click.IntRange(min=1, max=2**31 - 1),
    metavar="ID",
    help="Only stories with an article naming this entity (an id of `entities`).",
)
@click.option("--q", "text", metavar="TEXT", help=STORY_SEARCH_HELP)
@click.option("--outlet", metavar="NAME", help=OUTLET_HELP)
@db_option
@handle_errors
def stories(
    limit: int | None,
    fmt: str,
    statuses: tuple[str, ...],
    entity: int | None,
    text: str | None,
    outlet: str | None,
    db: str | None,
) -> None:
    """Print the stories ranked as the API ranks them: most articles in the last 24 hours,
    then outlets, articles, last seen. JSON: the items of GET /api/stories, with each
    story's top people, places and organisations."""
    ctx = Context(db)
    _print_stories(
        ctx.ready_engine(), limit, fmt, statuses, entity=entity, text=text, outlet=outlet
    )


def _print_stories(
    engine: Engine,
    limit: int | None,
    fmt: str,
    statuses: tuple[str, ...] = (),
    entity: int | None = None,
    text: str | None = None,
    outlet: str | None = None,
) -> None:
    from pipeline.serve import queries
    from pipeline.stories.status import StoryStatus

    wanted = tuple(StoryStatus(status) for status in statuses) or queries.DEFAULT_STATUSES
    query = queries.StoryQuery(
        statuses=wanted, outlet=outlet, text=text, limit=limit, entity=entity
    )
    with session_scope(engine) as session:
        now = queries.pipeline_clock(session).at(datetime.now(UTC))
        page = queries.list_stories(session, query, now)
    if fmt == "json":
        listed = [summary.model_dump(mode="json") for summary in page.items]
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    from tabulate import tabulate

    rows: list[list[Any]] = [
        [
            summary.id,
            _shorten(summary.title, 72),
            summary.status,
            summary.articles,
            summary.outlets,
            summary.articles_last_24h,
            summary.first_seen.strftime("%Y-%m-%d %H:%M"),
            summary.last_seen.strftime("%Y-%m-%d %H:%M"),
        ]
        for summary in page.items
    ]
    headers = [
        "id",
        "story",
        "status",
        "articles",
        "outlets",
        "last 24 h",
        "first seen (UTC)",
        "last seen (UTC)",
    ]
    if rows:
        click.echo(tabulate(rows, headers=headers))
    elif text or outlet:
        click.echo("no stories match")
    else:
        shown = " or ".join(wanted)
        click.echo(f"no {shown} stories" if statuses else "no stories yet")


MAX_ARTICLES = 1_000_000
"""``articles --limit`` at most: a number every backend takes as a LIMIT."""


@cli.command()
@click.option("--story", type=int, metavar="ID", help="The articles of this story.")
@click.option("--unclustered", is_flag=True, help="Only the articles in no story.")
@click.option("--q", "text", metavar="TEXT", help=ARTICLE_SEARCH_HELP)
@click.option("--outlet", metavar="NAME", help=OUTLET_HELP)
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=MAX_ARTICLES),
    default=50,
    show_default=True,
    help="At most N articles.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@db_option
@handle_errors
def articles(
    story: int | None,
    unclustered: bool,
    text: str | None,
    outlet: str | None,
    limit: int,
    fmt: str,
    db: str | None,
) -> None:
    """Print the articles, newest first, with the text read (from the article's page or
    its feed). A story id no story has lists none. JSON: the items of GET /api/articles."""
    if story is not None and unclustered:
        raise click.UsageError("--story and --unclustered exclude each other; pick one")
    from pipeline.serve import queries

    query = queries.ArticleQuery(
        story=story, unclustered=unclustered, text=text, outlet=outlet, limit=limit
    )
    with session_scope(Context(db).ready_engine()) as session:
        page = queries.list_articles(session, query)
    if fmt == "json":
        listed = [article.model_dump(mode="json") for article in page.items]
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    if not page.items:
        click.echo(_no_articles(query))
        return
    from tabulate import tabulate

    rows = [
        [
            article.id,
            article.published_at.strftime("%Y-%m-%d %H:%M"),
            _shorten(article.outlet, 20),
            "-" if article.story_id is None else article.story_id,
            article.text_source,
            _shorten(article.title, 48),
            _shorten(_first_line(article.text), 48),
        ]
        for article in page.items
    ]
    headers = ["id", "published (UTC)", "outlet", "story", "source", "title", "text"]
    click.echo(tabulate(rows, headers=headers))
    if page.total > len(page.items):
        click.echo(f"the newest {len(page.items)} of {page.total} articles; --limit shows more")


def _no_articles(query: ArticleQuery) -> str:
    if query.story is not None:
        return f"no articles in story {query.story}"
    if query.text or query.outlet:
        return "no articles match"
    return "no articles in no story" if query.unclustered else "no articles yet"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--step-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=6.0,
    show_default=True,
    help="How far the replay clock advances between clusterings.",
)
@click.option(
    "--db",
    "db",
    metavar="URL",
    default=None,
    help="Replay into this (empty) database [default: a fresh temporary SQLite file; the "
    "database given before the subcommand or by STORYLINE_DATABASE_URL is never used].",
)
@verbose_option
@handle_errors
def evaluate(dataset: Path, fmt: str, step_hours: float, db: str | None) -> None:
    """Replay a labelled corpus (JSONL) through the pipeline and score its stories."""
    import tempfile

    from pipeline.evaluate import evaluate as run_evaluate
    from pipeline.evaluate import load_corpus

    corpus = load_corpus(dataset)
    with tempfile.TemporaryDirectory(prefix="storyline-evaluate-") as scratch:
        # A fresh database unless --db names one: evaluation never touches the real stories.
        ctx = Context(db or f"sqlite:///{Path(scratch) / 'evaluate.db'}")
        migrate(ctx.engine)
        result = run_evaluate(
            ctx.engine,
            ctx.settings,
            corpus,
            name=dataset.name,
            step_hours=step_hours,
            progress=terminal_progress("evaluate: steps"),
        )
        ctx.engine.dispose()
    report = result.as_json()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    from tabulate import tabulate

    rows = [
        [key, f"{value:.4f}" if isinstance(value, float) else value]
        for key, value in report.items()
        if key != "seconds"
    ]
    rows += [[f"seconds ({stage})", value] for stage, value in report["seconds"].items()]
    click.echo(tabulate(rows, headers=["measure", "value"]))


@cli.command()
@db_option
@handle_errors
def demo(db: str | None) -> None:
    """Run the pipeline on the bundled demo feeds, then print the stories."""
    from models import Article, Feed
    from pipeline.ingest.feeds import load_feeds_file

    ctx = Context(db)
    migrate(ctx.engine)
    specs = load_feeds_file(Path(str(resources.files("pipeline.demo") / "feeds.yaml")))
    _sync(ctx.engine, specs)
    stages = Stages(ctx.stop)
    stages.run("ingest", _ingest, ctx.engine, ctx.settings, stages.stop)
    stages.run("extract", _extract, ctx.engine, ctx.settings, stages.stop)
    stages.run("embed", _embed, ctx.engine, ctx.settings, stages.stop)
    stages.run("entities", _entities, ctx.engine, ctx.settings, stages.stop)
    names = [spec.name for spec in specs]
    with session_scope(ctx.engine) as session:
        # The demo news is from November 2015: end the window at its newest article.
        newest = session.scalar(
            select(func.max(Article.published_at))
            .join(Feed, Feed.id == Article.feed_id)
            .where(Feed.name.in_(names))
        )
    if newest is None:
        raise DatabaseError("the demo feeds gave no articles; see the ingest errors above")
    stages.run("cluster", _cluster, ctx.engine, ctx.settings, newest, stages.stop)
    _print_stories(ctx.engine, None, "table")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@db_option
@handle_errors
def serve(host: str, port: int, db: str | None) -> None:
    """Serve the read-only HTTP API and the dashboard (OpenAPI schema at /openapi.json)."""
    import uvicorn

    from pipeline.serve.api import create_app
    from pipeline.serve.server import DrainingServer

    ctx = Context(db)
    ctx.ready_engine()
    verbose = _verbose()
    config = uvicorn.Config(
        create_app(ctx.settings),
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        timeout_graceful_shutdown=ctx.settings.serve_grace_seconds,
    )
    click.echo(
        f"serving {display_url(ctx.settings.database_url)} on http://{host}:{port}/", err=True
    )
    # From here a signal only sets the stop flag: uvicorn drains on SIGTERM (DrainingServer
    # says so), then hands the signal on to the handler it found, ours, which must not raise.
    _ = ctx.stop
    DrainingServer(config).run()


@cli.command("demo-feeds")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8090, show_default=True, help="TCP port."
)
@click.option(
    "--public-url",
    metavar="URL",
    default=None,
    help="How fetchers reach this server, for the feeds file [default: http://HOST:PORT].",
)
@click.option(
    "--write-feeds",
    "write_feeds",
    type=click.Path(path_type=Path),
    default=None,
    help="First write the feeds file (as served at /feeds.yaml) here.",
)
@verbose_option
@handle_errors
def demo_feeds(host: str, port: int, public_url: str | None, write_feeds: Path | None) -> None:
    """Serve the demo feeds, re-dated to end before the current hour, until stopped.

    Each feed is at /NAME.xml and a feeds file for them at /feeds.yaml, so a deployment with
    no internet shows the demo's stories: `storyline feeds sync` that file, then ingest.
    """
    from pipeline.demo.server import serve_until_stopped, start_server, write_feeds_file

    Context(None)  # logging as for every command; no database is opened
    server = start_server(host, port, public_url=public_url)
    site = server.site
    try:
        if write_feeds is not None:
            write_feeds_file(write_feeds, site.feeds_file)
    except BaseException:
        server.server_close()
        raise
    hours = round(site.shift.total_seconds() / 3600)
    written = f", written to {write_feeds}" if write_feeds is not None else ""
    click.echo(
        f"demo-feeds: serving {site.feed_count} demo feeds on {server.url}/ with their "
        f"dates moved {hours:+d} hours; feeds file {site.feeds_url}{written}",
        err=True,
    )
    serve_until_stopped(server)


def main() -> None:
    cli(prog_name="storyline")
