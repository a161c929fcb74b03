"""The Airflow DAGs in ``dags/``: they load, they have the shape the issue asks for, and
ingest -> extract -> embed -> cluster (and maintenance) run end to end against PostgreSQL,
with the feeds and the article pages served over real HTTP; a task killed midway loses
nothing and doubles nothing; unreachable feeds and pages fail their task.

Airflow never runs inside the pytest process: importing it configures logging and global
state for the whole process. Each check runs ``tests/airflow_runner.py`` in a subprocess
with its own ``AIRFLOW_HOME`` (a SQLite metadata database there, no examples), so nothing
of the user's Airflow installation is read or written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from models import Article, Embedding, Feed, Story, StoryArticle
from pipeline.db import make_engine, migrate, session_scope
from pipeline.ingest.feeds import load_feeds_file, sync_feeds
from pipeline.serve import queries
from pipeline.serve.schema import ArticleOut, Summary
from tests.airflow_runner import RESULT_MARKER, airflow_env
from tests.celery_cluster import free_port
from tests.extract.test_stage import page
from tests.factories import row_counts
from tests.feedserver import FeedServer, Gate, Response

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "dags"
AIRFLOW = Path(sys.executable).parent / "airflow"
DAG_IDS = [
    "storyline_cluster",
    "storyline_embed",
    "storyline_extract",
    "storyline_ingest",
    "storyline_maintenance",
]
RSS_HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8"}

# -- running Airflow in a subprocess ---------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """A finished subprocess, its wall time, and the JSON result it printed."""

    output: str
    seconds: float
    result: dict[str, Any]


def runner(env: dict[str, str], *args: str, timeout: float = 600) -> Ran:
    """Run ``tests/airflow_runner.py`` with ``args``; it prints one result line."""
    return _run([sys.executable, "-m", "tests.airflow_runner", *args], env, timeout=timeout)


def run_dags(env: dict[str, str], *steps: dict[str, Any]) -> list[dict[str, Any]]:
    """``dag.test()`` each step's DAG in turn, in one subprocess; each run's report."""
    ran = runner(env, "run", json.dumps(list(steps)))
    runs: list[dict[str, Any]] = ran.result["runs"]
    for run in runs:
        print(f"{run['dag_id']}: {run['state']} in {run['seconds']:.1f}s")
    return runs


def _run(command: list[str], env: dict[str, str], *, timeout: float) -> Ran:
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - start
    output = (
        f"$ {' '.join(command[:4])} ... ({seconds:.1f}s)\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
    # Shown by pytest only when the test fails.
    print(output)
    if proc.returncode != 0:
        pytest.fail(
            f"{command[0]} exited {proc.returncode} after {seconds:.1f}s:\n{_tail(output)}",
            pytrace=False,
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        pytest.fail(f"no result line in the output:\n{_tail(output)}", pytrace=False)
    return Ran(output, seconds, json.loads(lines[-1][len(RESULT_MARKER) :]))


def _tail(output: str, lines: int = 80) -> str:
    return "\n".join(output.splitlines()[-lines:])


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated Airflow metadata database for the module's runs."""
    home = tmp_path_factory.mktemp("airflow")
    _run_plain([str(AIRFLOW), "db", "migrate"], airflow_env(home))
    return home


def _run_plain(command: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"{command} exited {proc.returncode}:\n{proc.stderr[-4000:]}", pytrace=False)


# -- the DAGs load and have the right shape --------------------------------------------


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DAG folder as the DAG processor loads it, described by the runner."""
    return runner(airflow_env(tmp_path_factory.mktemp("airflow-parse")), "parse").result


def test_dags_load_with_no_import_errors(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert parsed["warnings"] == {}
    assert parsed["dag_ids"] == DAG_IDS
    # What keeps a parse cheap: no model, ML or parsing library is imported by it. (The time
    # per file is a benchmark's figure, `python -m bench.dags`, not a timed test.)
    assert parsed["heavy_imports"] == []
    assert set(parsed["file_s"]) >= {f"{dag_id}.py" for dag_id in DAG_IDS}


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_dag_has_tags_an_owner_and_retries(parsed: dict[str, Any], dag_id: str) -> None:
    dag = parsed["dags"][dag_id]
    assert dag["tags"] == ["storyline"]
    assert dag["owner"] == "storyline"
    assert dag["has_doc"]
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert dag["start_date"] == "2026-01-01T00:00:00+00:00"
    for task in dag["tasks"].values():
        assert task["owner"] == "storyline"
        assert task["retries"] == 3
        assert task["retry_delay_s"] == 60
        assert task["retry_exponential_backoff"] == 2.0
        assert task["max_retry_delay_s"] == 15 * 60
        assert task["execution_timeout_s"] == 3600


def test_the_retry_delay_is_a_setting(tmp_path: Path) -> None:
    # What the fault test (tests/test_celery_faults.py) shortens; an operator may too.
    env = airflow_env(tmp_path / "airflow", STORYLINE_TASK_RETRY_DELAY_SECONDS="5")
    parsed = runner(env, "parse").result
    assert parsed["import_errors"] == {}
    assert sorted(parsed["dags"]) == DAG_IDS
    for dag in parsed["dags"].values():
        assert {task["retry_delay_s"] for task in dag["tasks"].values()} == {5}


def test_celery_hands_no_running_task_to_a_second_worker(parsed: dict[str, Any]) -> None:
    """Redis gives an unacknowledged message to another worker after the visibility
    timeout: it must outlast every task's execution_timeout (docs/DEPLOYMENT.md, "Faults")."""
    from tests.test_compose import common_environment

    compose = common_environment()
    visibility = float(compose["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"])
    assert compose["AIRFLOW__CELERY__TASK_ACKS_LATE"] == "true"
    longest = max(
        task["execution_timeout_s"]
        for dag in parsed["dags"].values()
        for task in dag["tasks"].values()
    )
    assert visibility >= 2 * longest, (visibility, longest)


def _assets(timetable: dict[str, Any]) -> list[str]:
    condition = timetable["__var"]["asset_condition"]
    return [asset["name"] for asset in condition["objects"]]


def test_ingest_maps_the_due_feeds_in_the_feed_pool(parsed: dict[str, Any]) -> None:
    dag = parsed["dags"]["storyline_ingest"]
    assert dag["timetable"]["__type"] == "airflow.timetables.trigger.DeltaTriggerTimetable"
    assert dag["timetable"]["__var"]["delta"] == 15 * 60
    assert dag["topological"] == ["plan_feeds", "fetch_feeds", "publish"]
    tasks = dag["tasks"]
    assert tasks["fetch_feeds"]["upstream"] == ["plan_feeds"]
    assert tasks["fetch_feeds"]["mapped"] is True
    assert tasks["fetch_feeds"]["pool"] == "storyline_feeds"
    assert "label" in tasks["fetch_feeds"]["map_index_template"]
    assert tasks["plan_feeds"]["pool"] == tasks["publish"]["pool"] == "default_pool"
    assert tasks["publish"]["upstream"] == ["fetch_feeds"]
    assert tasks["publish"]["outlets"] == ["storyline_articles"]


def test_extract_runs_on_new_articles_mapped_over_hosts_in_the_feed_pool(
    parsed: dict[str, Any],
) -> None:
    dag = parsed["dags"]["storyline_extract"]
    assert dag["timetable"]["__type"] == "airflow.timetables.simple.AssetTriggeredTimetable"
    assert _assets(dag["timetable"]) == ["storyline_articles"]
    assert dag["topological"][:2] == ["plan_pages", "extract_pages"]
    assert sorted(dag["topological"][2:]) == ["check_batches", "publish"]
    tasks = dag["tasks"]
    assert tasks["extract_pages"]["upstream"] == ["plan_pages"]
    assert tasks["extract_pages"]["mapped"] is True
    assert tasks["extract_pages"]["pool"] == "storyline_feeds"
    assert "label" in tasks["extract_pages"]["map_index_template"]
    # embed follows even when a batch failed; the run fails all the same
    assert tasks["publish"]["upstream"] == ["extract_pages"]
    assert tasks["publish"]["trigger_rule"] == "all_done"
    assert tasks["publish"]["outlets"] == ["storyline_texts"]
    assert tasks["check_batches"]["upstream"] == ["extract_pages"]
    assert tasks["check_batches"]["trigger_rule"] == "one_failed"
    assert tasks["check_batches"]["outlets"] == []


def test_embed_runs_on_new_texts_mapped_over_batches(parsed: dict[str, Any]) -> None:
    dag = parsed["dags"]["storyline_embed"]
    assert dag["timetable"]["__type"] == "airflow.timetables.simple.AssetTriggeredTimetable"
    assert _assets(dag["timetable"]) == ["storyline_texts"]
    assert dag["topological"] == ["plan_batches", "embed_batch", "tag_entities", "publish"]
    tasks = dag["tasks"]
    assert tasks["embed_batch"]["mapped"] is True
    assert "article_ids" in tasks["embed_batch"]["map_index_template"]
    assert tasks["publish"]["upstream"] == ["embed_batch", "plan_batches", "tag_entities"]
    assert tasks["tag_entities"]["upstream"] == ["embed_batch"]
    assert tasks["tag_entities"]["trigger_rule"] == "all_done"
    assert tasks["publish"]["outlets"] == ["storyline_embeddings"]


def test_cluster_runs_on_new_embeddings_and_hourly(parsed: dict[str, Any]) -> None:
    dag = parsed["dags"]["storyline_cluster"]
    timetable = dag["timetable"]
    assert timetable["__type"] == "airflow.timetables.assets.AssetOrTimeSchedule"
    assert _assets(timetable) == ["storyline_embeddings"]
    assert timetable["__var"]["timetable"]["__var"]["expression"] == "0 * * * *"
    assert dag["topological"] == ["cluster", "publish"]
    assert dag["tasks"]["publish"]["outlets"] == ["storyline_stories"]


def test_maintenance_runs_daily(parsed: dict[str, Any]) -> None:
    dag = parsed["dags"]["storyline_maintenance"]
    assert dag["timetable"]["__type"] == "airflow.timetables.trigger.CronTriggerTimetable"
    assert dag["timetable"]["__var"]["expression"] == "30 3 * * *"
    tasks = dag["tasks"]
    assert tasks["apply_retention"]["upstream"] == ["mark_dormant"]
    assert tasks["optimise"]["upstream"] == ["apply_retention"]
    assert tasks["publish"]["upstream"] == ["apply_retention", "mark_dormant"]
    assert tasks["publish"]["outlets"] == ["storyline_stories"]


def test_settings_shape_the_dags(tmp_path: Path) -> None:
    env = airflow_env(
        tmp_path / "airflow",
        STORYLINE_INGEST_INTERVAL_MINUTES="5",
        STORYLINE_FEED_POOL="feeds_elsewhere",
    )
    dags = runner(env, "parse").result["dags"]
    dag = dags["storyline_ingest"]
    assert dag["timetable"]["__var"]["delta"] == 5 * 60
    assert dag["tasks"]["fetch_feeds"]["pool"] == "feeds_elsewhere"
    assert dags["storyline_extract"]["tasks"]["extract_pages"]["pool"] == "feeds_elsewhere"


def test_run_time_falls_back_to_the_runs_own_time(parsed: dict[str, Any]) -> None:
    # data_interval_end, else logical_date, else the run's run_after (asset-triggered and
    # manual runs have no logical date), else the fallback; always a plain UTC datetime
    assert parsed["run_time"] == {
        "interval": ["2026-05-01T12:00:00+00:00", "datetime"],
        "logical": ["2026-05-01T11:00:00+00:00", "datetime"],
        "run_after": ["2026-05-01T10:30:00+00:00", "datetime"],
        "none": ["2030-01-01T00:00:00+00:00", "datetime"],
        "empty": ["2030-01-01T00:00:00+00:00", "datetime"],
    }


def test_connection_becomes_a_database_url(parsed: dict[str, Any]) -> None:
    assert parsed["database_url"] == {
        # pipeline.db.make_engine points postgres:// at psycopg 3
        "postgresql": "postgres://story:p%40ss@db.internal:5432/storyline",
        "psycopg": "postgresql+psycopg://story@db.internal/storyline",
        "sslmode": "postgres://story@db.internal:5432/storyline?sslmode=require",
        "sqlite-uri": "sqlite:////var/lib/storyline/stories.db",
        "sqlite-fields": "sqlite:////var/lib/storyline/stories.db",
    }


# -- the DAGs run end to end ---------------------------------------------------------------

OUTLETS = ("Daily Planet", "Global Wire", "Metro Courier")

QUAKE = (
    (
        "Magnitude 7.1 earthquake strikes northern Chile",
        "A powerful earthquake of magnitude 7.1 shook northern Chile on Tuesday, damaging "
        "buildings in Antofagasta and cutting power to thousands of homes, seismologists said.",
    ),
    (
        "Strong quake rocks Chile's north, buildings damaged in Antofagasta",
        "Chile's northern coast was hit by a 7.1-magnitude earthquake; rescuers searched "
        "collapsed houses in Antofagasta and authorities briefly issued a tsunami warning.",
    ),
    (
        "Chile earthquake: thousands without power after 7.1 tremor",
        "Emergency services in northern Chile reported injuries and power cuts after a "
        "magnitude 7.1 earthquake struck near the port city of Antofagasta.",
    ),
)

RATES = (
    (
        "European Central Bank cuts interest rates by a quarter point",
        "The ECB lowered its key deposit rate by 0.25 percentage points on Thursday, citing "
        "easing inflation in the euro zone, and said further cuts depend on the data.",
    ),
    (
        "ECB lowers key rate as eurozone inflation eases",
        "Policymakers at the European Central Bank reduced borrowing costs by 25 basis "
        "points, the bank's president told reporters in Frankfurt.",
    ),
    (
        "Euro zone borrowing costs fall after ECB rate cut",
        "The European Central Bank trimmed its benchmark interest rate by a quarter of a "
        "percentage point, its latest move to support the euro zone economy as prices cool.",
    ),
)

SINGLETONS = (
    (
        (
            "Local bakery wins national sourdough award",
            "A family-run bakery took first prize for its rye sourdough at the national "
            "bread championship held in Manchester.",
        ),
        (
            "Museum reopens dinosaur hall after renovation",
            "The natural history museum's dinosaur gallery reopened with a restored "
            "Tyrannosaurus skeleton and new interactive displays for children.",
        ),
        (
            "Chess prodigy, 12, becomes youngest grandmaster",
            "A twelve-year-old from Chennai secured her final grandmaster norm at an "
            "open tournament, breaking the age record by three months.",
        ),
    ),
    (
        (
            "New smartphone promises two-day battery life",
            "The handset maker unveiled a phone with a larger battery and a faster "
            "charging chip, going on sale next month.",
        ),
        (
            "City marathon draws record 40,000 runners",
            "A record field of runners took part in the annual city marathon, with the "
            "men's race won in just over two hours and six minutes.",
        ),
        (
            "Astronomers spot comet that may be visible to the naked eye",
            "A newly discovered comet is brightening as it nears the Sun and could be "
            "seen without a telescope in the evening sky next month.",
        ),
    ),
    (
        (
            "Rare orchid blooms at botanical garden for first time in decades",
            "Gardeners said the tropical orchid, which flowers once every few decades, "
            "opened overnight in the glasshouse.",
        ),
        (
            "Jazz festival announces summer lineup",
            "Organisers of the riverside jazz festival named the headline acts for "
            "this year's three-day event.",
        ),
        (
            "Volunteers restore historic canal towpath",
            "Weekend volunteers cleared brambles and relaid stone along two miles of the "
            "old canal towpath, reopening it to walkers and cyclists.",
        ),
    ),
)


@dataclass(frozen=True)
class Item:
    guid: str
    link: str
    title: str
    description: str
    published: datetime
    event: str | None


QUAKE_PAGE = (
    "Rescue teams worked through the night in Antofagasta, where several older buildings "
    "collapsed and roads along the coast were blocked by landslides.",
    "The national disaster agency said the tsunami warning had been lifted after a few "
    "hours, and that aftershocks were expected for days.",
)
"""What the quake articles' pages say beyond their teaser."""


def feed_items(now: datetime, origins: dict[str, str] | None = None) -> dict[str, list[Item]]:
    """Five items per outlet: one on each shared event plus three unrelated singletons.

    Published 1-15 hours before ``now``: inside the 72-hour cluster window that ends at
    the run's time, whichever of its data-interval end or run_after Airflow gives. Items
    link to ``origins[slug]`` (``https://{slug}.example/articles`` if not given).
    """
    origins = origins or {}
    feeds: dict[str, list[Item]] = {}
    for index, outlet in enumerate(OUTLETS):
        slug = outlet.lower().replace(" ", "-")
        stories = [
            ("quake", *QUAKE[index]),
            ("rates", *RATES[index]),
            *((None, *single) for single in SINGLETONS[index]),
        ]
        origin = origins.get(slug, f"https://{slug}.example/articles")
        feeds[slug] = [
            Item(
                guid=f"urn:{slug}:{number}",
                link=f"{origin}/{number}.html",
                title=title,
                description=description,
                published=now - timedelta(hours=1 + 3 * number + index),
                event=event,
            )
            for number, (event, title, description) in enumerate(stories)
        ]
    return feeds


def rss(outlet: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"""
    <item>
      <title>{escape(item.title)}</title>
      <link>{escape(item.link)}</link>
      <guid isPermaLink="false">{escape(item.guid)}</guid>
      <description>{escape(item.description)}</description>
      <pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>
    </item>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{escape(outlet)}</title>
    <link>https://example.invalid/</link>
    <description>Test feed of {escape(outlet)}</description>
    <language>en</language>{entries}
  </channel>
</rss>
""".encode()


@pytest.fixture
def stories_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    migrate(engine)  # what `storyline init` does
    yield engine
    engine.dispose()


def article_page(item: Item) -> bytes:
    """The page of a quake item: its title, its teaser and more, in a site's furniture."""
    return page(item.title, [item.description, *QUAKE_PAGE])


def register(engine: Engine, feeds_file: Path, urls: dict[str, str], now: datetime) -> None:
    """Write the feeds file for ``urls`` (slug -> URL) and sync it, as ``feeds sync`` does."""
    feeds_file.write_text(
        yaml.safe_dump(
            {
                "feeds": [
                    {"name": slug, "url": url, "outlet": outlet}
                    for (slug, url), outlet in zip(urls.items(), OUTLETS, strict=True)
                ]
            }
        ),
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(feeds_file), now)


def pages_env(home: Path, pg_url: str, **extra: str) -> dict[str, str]:
    """The environment of runs whose article pages are on the test's server (127.0.0.1),
    in batches of about 5 pages, with the stories database as the Airflow connection."""
    return airflow_env(
        home,
        AIRFLOW_CONN_STORYLINE_DB=pg_url,
        STORYLINE_PAGE_ALLOW_PRIVATE_ADDRESSES="true",
        STORYLINE_EXTRACT_TASK_ARTICLES="5",
        **extra,
    )


def tasks_of(run: dict[str, Any]) -> dict[str, Any]:
    """Each task's state; a mapped task's as the list of its instances' states."""
    return {
        task_id: [ti["state"] for ti in entry] if isinstance(entry, list) else entry["state"]
        for task_id, entry in run["tasks"].items()
    }


@dataclass(frozen=True)
class ReadStory:
    """A story as the product lists it, with every article its detail pages hold."""

    summary: Summary
    articles: list[ArticleOut]


PAGE = 2
"""Stories and articles read per page: small, so that paging is exercised."""


def read_stories(session: Session) -> list[ReadStory]:
    """Every listed (live) story, page by page, each with all its articles page by page,
    through the read functions the CLI and the API use, at the pipeline's clock."""
    now = queries.pipeline_clock(session).at(datetime.now(UTC))
    stories: list[ReadStory] = []
    total: int | None = None
    while total is None or len(stories) < total:
        query = queries.StoryQuery(limit=PAGE, offset=len(stories))
        page = queries.list_stories(session, query, now)
        assert total in (None, page.total), (total, page)
        assert page.items or not page.total, (len(stories), page)
        total = page.total
        for summary in page.items:
            articles: list[ArticleOut] = []
            article_total: int | None = None
            while article_total is None or len(articles) < article_total:
                detail = queries.story_detail(session, summary.id, now, PAGE, len(articles))
                assert detail is not None, summary
                assert detail.articles, (summary, len(articles), detail)
                assert article_total in (None, detail.article_total), detail
                article_total = detail.article_total
                articles += detail.articles
            assert len(articles) == summary.articles, (summary, articles)
            assert len({article.id for article in articles}) == len(articles), articles
            stories.append(ReadStory(summary, articles))
    assert len({story.summary.id for story in stories}) == len(stories), stories
    return stories


def check_stories(engine: Engine, served: list[Item]) -> list[ReadStory]:
    """Every served item stored once and embedded once; each shared event one story."""
    with session_scope(engine) as session:
        stored = session.execute(select(Article.guid, Article.url)).all()
        assert sorted(stored) == sorted((item.guid, item.link) for item in served)
        embedded = session.scalars(select(Embedding.article_id)).all()
        assert sorted(embedded) == sorted(session.scalars(select(Article.id)))
        members = session.scalar(select(func.count()).select_from(StoryArticle))
        assert members == session.scalar(
            select(func.coalesce(func.sum(Story.article_count), 0)).where(
                Story.status.in_(("active", "dormant"))
            )
        )
        stories = read_stories(session)
    story_of = {article.url: story.summary.id for story in stories for article in story.articles}
    for event in ("quake", "rates"):
        links = {item.link for item in served if item.event == event}
        homes = {story_of.get(link) for link in links}
        assert None not in homes, (event, stories)
        assert len(homes) == 1, (event, stories)
        (home,) = [story for story in stories if story.summary.id in homes]
        assert home.summary.outlets == len(OUTLETS), home
        assert {a.url for a in home.articles} == links, home
    return stories


@pytest.mark.airflow
@pytest.mark.postgres
def test_dags_run_end_to_end(
    airflow_home: Path, pg_url: str, stories_engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # The stories database is the Airflow connection; the fallback URL must not be used.
    env = pages_env(
        airflow_home,
        pg_url,
        STORYLINE_DATABASE_URL="postgresql://nobody@127.0.0.1:9/not-this-one",
        STORYLINE_INGEST_TASK_FEEDS="1",
        STORYLINE_EMBED_TASK_BATCH="5",
    )
    with FeedServer() as server:
        # two hosts, so the due feeds (and their pages) make two batches each
        slugs = [outlet.lower().replace(" ", "-") for outlet in OUTLETS]
        hosts = {slug: "localhost" if slug == "global-wire" else "127.0.0.1" for slug in slugs}
        origins = {slug: f"http://{host}:{server.port}/{slug}" for slug, host in hosts.items()}
        feeds = feed_items(now, origins)
        served = [item for items in feeds.values() for item in items]
        urls = {}
        for (slug, items), outlet in zip(feeds.items(), OUTLETS, strict=True):
            server.route(f"/{slug}.xml", rss(outlet, items), headers=RSS_HEADERS)
            urls[slug] = f"http://{hosts[slug]}:{server.port}/{slug}.xml"
        # the quake articles have pages; the others' links are dead (404)
        quake = [item for item in served if item.event == "quake"]
        for item in quake:
            server.route(urlsplit(item.link).path, article_page(item), headers=HTML_HEADERS)
        register(stories_engine, tmp_path / "feeds.yaml", urls, now)

        started = datetime.now(UTC)
        ingest, extract, embed, cluster = run_dags(
            env,
            {"dag_id": "storyline_ingest"},
            # as started by the asset events: no logical date
            {"dag_id": "storyline_extract", "logical_date": None},
            {"dag_id": "storyline_embed", "logical_date": None},
            {"dag_id": "storyline_cluster", "logical_date": None},
        )
        cycle = sum(run["seconds"] for run in (ingest, extract, embed, cluster))
        print(f"one ingest -> extract -> embed -> cluster cycle in dag.test(): {cycle:.1f}s")
        for slug in feeds:
            assert len(server.requests_for(f"/{slug}.xml")) == 1
        for item in served:
            assert len(server.requests_for(urlsplit(item.link).path)) == 1, item
        assert server.errors == []

    # ingest: one mapped task per host's batch, named after its feeds
    assert ingest["state"] == "success", ingest
    assert tasks_of(ingest) == {
        "plan_feeds": "success",
        "fetch_feeds": ["success", "success"],
        "publish": "success",
    }
    fetched = ingest["tasks"]["fetch_feeds"]
    assert sorted(ti["label"] for ti in fetched) == ["daily-planet, metro-courier", "global-wire"]
    assert sum(ti["xcom"]["new_articles"] for ti in fetched) == len(served)
    assert all(ti["xcom"]["failed"] == 0 for ti in fetched), fetched
    summary = ingest["tasks"]["publish"]["xcom"]
    assert (summary["feeds"], summary["new_articles"], summary["failed"]) == (3, len(served), 0)
    assert ingest["asset_events"] == [
        {
            "asset": "storyline_articles",
            "extra": {"feeds": 3, "new_articles": len(served), "updated_articles": 0},
        }
    ]

    # extract: one mapped task per host's pages; the quake pages arrive, dead links are
    # recorded on their articles and fail nothing
    assert extract["state"] == "success", extract
    assert tasks_of(extract) == {
        "plan_pages": "success",
        "extract_pages": ["success", "success"],
        "publish": "success",
        "check_batches": "skipped",
    }
    read = extract["tasks"]["extract_pages"]
    assert sorted(ti["label"] for ti in read) == ["10 pages: 127.0.0.1", "5 pages: localhost"]
    assert sum(ti["xcom"]["ok"] for ti in read) == len(quake)
    assert sum(ti["xcom"]["skipped"] for ti in read) == len(served) - len(quake)
    assert extract["tasks"]["publish"]["xcom"]["reasons"] == {
        "http 404": len(served) - len(quake),
        "ok": len(quake),
    }
    assert extract["asset_events"] == [
        {"asset": "storyline_texts", "extra": {"articles": len(served), "ok": len(quake)}}
    ]
    with session_scope(stories_engine) as session:
        bodies = dict(session.execute(select(Article.url, Article.body)).all())
    assert {url for url, body in bodies.items() if body} == {item.link for item in quake}
    assert all(QUAKE_PAGE[0] in (bodies[item.link] or "") for item in quake)

    # embed: the 15 articles split over three mapped tasks, the quakes with their pages
    assert embed["state"] == "success", embed
    assert tasks_of(embed) == {
        "plan_batches": "success",
        "embed_batch": ["success"] * 3,
        "tag_entities": "success",
        "publish": "success",
    }
    assert embed["tasks"]["tag_entities"]["xcom"]["articles"] == 15
    batches = embed["tasks"]["embed_batch"]
    assert [ti["xcom"]["articles"] for ti in batches] == [5, 5, 5]
    assert [ti["xcom"]["embedded"] for ti in batches] == [5, 5, 5]
    assert all(ti["label"].startswith("5 articles, ids ") for ti in batches), batches
    assert embed["tasks"]["publish"]["xcom"]["articles_per_task"] == [5, 5, 5]
    assert [event["asset"] for event in embed["asset_events"]] == ["storyline_embeddings"]
    with session_scope(stories_engine) as session:
        hashes = session.execute(
            select(Article.url, Embedding.content_hash, Article.text_hash).join(
                Embedding, Embedding.article_id == Article.id
            )
        ).all()
    assert {url for url, made_from, page_hash in hashes if made_from == page_hash} == {
        item.link for item in quake
    }

    # cluster: the window ends at the run's run_after, since it has no logical date
    assert cluster["state"] == "success", cluster
    assert tasks_of(cluster) == {"cluster": "success", "publish": "success"}
    report = cluster["tasks"]["cluster"]["xcom"]
    assert started <= datetime.fromisoformat(report["now"]) <= datetime.now(UTC)
    assert (report["articles"], report["skipped"]) == (len(served), False)
    assert report["stories_created"] >= 2
    assert [event["asset"] for event in cluster["asset_events"]] == ["storyline_stories"]
    stories = check_stories(stories_engine, served)
    assert len([story for story in stories if story.summary.outlets >= 2]) >= 2

    # A second cycle finds nothing to do; a rerun of the cluster at an explicit time (as a
    # backfill would) sees the same window: nothing is fetched, written or doubled.
    counts = row_counts(stories_engine)
    again = run_dags(
        env,
        {"dag_id": "storyline_ingest", "logical_date": None},
        {"dag_id": "storyline_extract", "logical_date": None},
        {"dag_id": "storyline_embed", "logical_date": None},
        {"dag_id": "storyline_cluster", "logical_date": None},
        {"dag_id": "storyline_cluster", "logical_date": (now + timedelta(minutes=1)).isoformat()},
    )
    assert [run["state"] for run in again] == ["success"] * 5, again
    assert tasks_of(again[0]) == {
        "plan_feeds": "success",
        "fetch_feeds": "skipped",  # mapped over no batch
        "publish": "skipped",
    }
    assert again[0]["tasks"]["plan_feeds"]["xcom"] == []  # fetched minutes ago: none is due
    assert tasks_of(again[1]) == {
        "plan_pages": "success",
        "extract_pages": "skipped",  # every page was read or given up
        "publish": "skipped",
        "check_batches": "skipped",
    }
    assert tasks_of(again[2])["publish"] == "skipped"
    for rerun in again[3:]:
        assert rerun["tasks"]["cluster"]["xcom"]["skipped"] is True
        assert rerun["tasks"]["cluster"]["xcom"]["stories_created"] == 0
        assert tasks_of(rerun)["publish"] == "skipped"
    assert [event for run in again for event in run["asset_events"]] == []
    assert row_counts(stories_engine) == counts

    # Maintenance, with the database from STORYLINE_DATABASE_URL as there is no connection
    # (the plain CLI's way), and a retention of 12 hours.
    with session_scope(stories_engine) as session:
        before = session.execute(
            select(Article.id, Article.published_at, StoryArticle.story_id).outerjoin(
                StoryArticle, StoryArticle.article_id == Article.id
            )
        ).all()
    fallback = airflow_env(
        airflow_home, STORYLINE_DATABASE_URL=pg_url, STORYLINE_RETENTION_DAYS="0.5"
    )
    (maintenance,) = run_dags(fallback, {"dag_id": "storyline_maintenance", "logical_date": None})
    assert maintenance["state"] == "success", maintenance
    tasks = maintenance["tasks"]
    assert tasks["mark_dormant"]["xcom"]["dormant"] == 0
    retention = tasks["apply_retention"]["xcom"]
    cutoff = datetime.fromisoformat(retention["cutoff"])
    doomed = {row.id for row in before if row.published_at < cutoff and row.story_id is None}
    assert len(doomed) >= 3  # the oldest singletons
    assert (retention["articles"], retention["stories"]) == (len(doomed), 0)
    with session_scope(stories_engine) as session:
        assert set(session.scalars(select(Article.id))) == {row.id for row in before} - doomed
        assert session.scalar(select(func.count()).select_from(Embedding)) == len(before) - len(
            doomed
        )
    assert tasks["optimise"]["xcom"]["vacuumed"] is True
    assert tasks["publish"]["state"] == "skipped"  # no story went dormant or was deleted


# -- a task killed midway --------------------------------------------------------------


def wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 300
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            err = proc.communicate()[1]
            pytest.fail(f"the run ended ({proc.returncode}) before {what}:\n{err[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def article_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


EMBED_UNTIL_KILLED = """
import os, signal, sys
from pipeline.db import make_engine
from pipeline.embed.stage import embed
from pipeline.settings import Settings

settings = Settings.load(database_url=sys.argv[1], embed_batch_size=4)
engine = make_engine(settings.database_url)

def die_after_first_batch(done: int, total: int) -> None:
    # called after each batch's transaction committed: die as a killed worker would
    os.kill(os.getpid(), signal.SIGKILL)

embed(engine, settings, progress=die_after_first_batch, article_ids=[int(i) for i in sys.argv[2:]])
"""


@pytest.mark.airflow
@pytest.mark.postgres
def test_killed_tasks_lose_nothing_and_double_nothing(
    airflow_home: Path, pg_url: str, stories_engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    env = airflow_env(
        airflow_home, AIRFLOW_CONN_STORYLINE_DB=pg_url, STORYLINE_EMBED_TASK_BATCH="5"
    )
    feeds = feed_items(now)
    served = [item for items in feeds.values() for item in items]
    first, hanging, last = list(feeds)
    gate = Gate(rss(OUTLETS[1], feeds[hanging]))
    with FeedServer() as server:
        server.route(f"/{first}.xml", rss(OUTLETS[0], feeds[first]), headers=RSS_HEADERS)
        server.respond(f"/{hanging}.xml", gate)
        server.route(f"/{last}.xml", rss(OUTLETS[2], feeds[last]), headers=RSS_HEADERS)
        register(
            stories_engine,
            tmp_path / "feeds.yaml",
            {slug: server.url(f"/{slug}.xml") for slug in feeds},
            now,
        )

        # 1. The ingest task stores the first feed (one transaction per feed, in order),
        #    hangs on the second, and is killed there with its whole process group.
        steps = json.dumps([{"dag_id": "storyline_ingest"}])
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.airflow_runner", "run", steps],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: (
                    bool(server.requests_for(f"/{hanging}.xml"))
                    and article_count(stories_engine) == len(feeds[first])
                ),
                proc,
                "the first feed stored and the second requested",
            )
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate(timeout=60)
            gate.open.set()
        assert proc.returncode == -signal.SIGKILL
        with session_scope(stories_engine) as session:
            done = dict(session.execute(select(Feed.name, Feed.last_success_at)).all())
        assert done[first] is not None
        assert done[hanging] is None
        assert done[last] is None
        assert article_count(stories_engine) == len(feeds[first])

        # 2. The rerun fetches only the feeds the killed run did not finish.
        asked = {slug: len(server.requests_for(f"/{slug}.xml")) for slug in feeds}
        (ingest,) = run_dags(env, {"dag_id": "storyline_ingest"})
        assert ingest["state"] == "success", ingest
        (fetched,) = ingest["tasks"]["fetch_feeds"]
        assert (fetched["xcom"]["feeds"], fetched["xcom"]["new_articles"]) == (
            2,
            len(feeds[hanging]) + len(feeds[last]),
        )
        again = {slug: len(server.requests_for(f"/{slug}.xml")) - asked[slug] for slug in feeds}
        assert again == {first: 0, hanging: 1, last: 1}
    assert article_count(stories_engine) == len(served)

    # 3. An embed worker dies (SIGKILL) right after its first batch of 4 committed (the
    #    backlog is embedded shortest text first, so which four is up to the texts).
    with session_scope(stories_engine) as session:
        ids = list(session.scalars(select(Article.id).order_by(Article.id)))
    killed = subprocess.run(
        [sys.executable, "-c", EMBED_UNTIL_KILLED, pg_url, *map(str, ids[:10])],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    with session_scope(stories_engine) as session:
        embedded = sorted(session.scalars(select(Embedding.article_id)))
    assert len(embedded) == 4, embedded
    assert set(embedded) <= set(ids[:10]), embedded

    # 4. The embed DAG plans what is still missing, then the cluster runs.
    embed, cluster = run_dags(
        env,
        {"dag_id": "storyline_embed", "logical_date": None},
        {"dag_id": "storyline_cluster", "logical_date": None},
    )
    assert embed["state"] == cluster["state"] == "success", (embed, cluster)
    plan = embed["tasks"]["plan_batches"]["xcom"]
    assert [i for batch in plan for i in batch] == [i for i in ids if i not in embedded]
    assert [len(batch) for batch in plan] == [4, 4, 3]
    assert sum(ti["xcom"]["embedded"] for ti in embed["tasks"]["embed_batch"]) == len(ids) - 4
    check_stories(stories_engine, served)
    with session_scope(stories_engine) as session:
        assert session.scalar(select(func.count(func.distinct(Article.url)))) == len(served)
        assert session.scalar(select(func.count()).select_from(Embedding)) == len(served)


@pytest.mark.airflow
@pytest.mark.postgres
def test_sigterm_to_a_task_stops_it_after_its_unit_and_fails_it(
    airflow_home: Path, pg_url: str, stories_engine: Engine, tmp_path: Path
) -> None:
    """Airflow stops a running task with SIGTERM (cleared, marked, its worker shut down):
    its own handler in the task's process (``dag.test`` runs the task runner in-process)
    calls ``on_kill`` and goes on; the handler the task chained before it asks the stage to
    stop, which fails the task at once with one line, the feeds stored kept."""
    now = datetime.now(UTC).replace(microsecond=0)
    env = airflow_env(airflow_home, AIRFLOW_CONN_STORYLINE_DB=pg_url)
    feeds = feed_items(now)
    first, hanging, last = list(feeds)
    gate = Gate(rss(OUTLETS[1], feeds[hanging]))
    said = "stopped by signal TERM; 1 of 3 due feeds stored, a rerun continues"
    output: list[str] = []
    stopped = threading.Event()
    with FeedServer() as server:
        server.route(f"/{first}.xml", rss(OUTLETS[0], feeds[first]), headers=RSS_HEADERS)
        server.respond(f"/{hanging}.xml", gate)
        server.route(f"/{last}.xml", rss(OUTLETS[2], feeds[last]), headers=RSS_HEADERS)
        register(
            stories_engine,
            tmp_path / "feeds.yaml",
            {slug: server.url(f"/{slug}.xml") for slug in feeds},
            now,
        )
        steps = json.dumps([{"dag_id": "storyline_ingest"}])
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.airflow_runner", "run", steps],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                output.append(line)
                if said in line:
                    stopped.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_for(
                lambda: (
                    bool(server.requests_for(f"/{hanging}.xml"))
                    and article_count(stories_engine) == len(feeds[first])
                ),
                proc,
                "the first feed stored and the second requested",
            )
            proc.send_signal(signal.SIGTERM)
            stopped.wait(timeout=60)  # the old code went on, waiting for the hanging feed
        finally:
            gate.open.set()
            try:
                proc.wait(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
            reader.join(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
    text = "".join(output)
    assert stopped.is_set(), text[-4000:]
    (result,) = [line for line in output if line.startswith(RESULT_MARKER)]
    (ingest,) = json.loads(result[len(RESULT_MARKER) :])["runs"]
    (fetched,) = ingest["tasks"]["fetch_feeds"]
    assert fetched["state"] == "failed", text[-4000:]
    assert ingest["tasks"]["publish"]["state"] == "upstream_failed"
    with session_scope(stories_engine) as session:
        done = dict(session.execute(select(Feed.name, Feed.last_success_at)).all())
    assert done[first] is not None
    assert (done[hanging], done[last]) == (None, None)
    assert article_count(stories_engine) == len(feeds[first])


# -- feeds that fail -------------------------------------------------------------------


@pytest.mark.airflow
@pytest.mark.postgres
def test_a_batch_whose_every_feed_failed_fails_its_task_and_the_run(
    airflow_home: Path, pg_url: str, stories_engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    env = airflow_env(
        airflow_home, AIRFLOW_CONN_STORYLINE_DB=pg_url, STORYLINE_INGEST_TASK_FEEDS="2"
    )
    feeds = feed_items(now)
    first, second, third = list(feeds)
    with FeedServer() as server:
        # localhost: first and third, one of them down (a partial failure);
        # 127.0.0.1: second, down (every feed of that batch failed).
        server.route(f"/{first}.xml", rss(OUTLETS[0], feeds[first]), headers=RSS_HEADERS)
        server.respond(f"/{second}.xml", Response(503, {}, b"down"))
        server.respond(f"/{third}.xml", Response(500, {}, b"broken"))
        urls = {
            first: f"http://localhost:{server.port}/{first}.xml",
            second: f"http://127.0.0.1:{server.port}/{second}.xml",
            third: f"http://localhost:{server.port}/{third}.xml",
        }
        register(stories_engine, tmp_path / "feeds.yaml", urls, now)
        (ingest,) = run_dags(env, {"dag_id": "storyline_ingest", "retries": 1})
        asked = {slug: len(server.requests_for(f"/{slug}.xml")) for slug in feeds}

    assert ingest["state"] == "failed", ingest
    fetched = {ti["label"]: ti for ti in ingest["tasks"]["fetch_feeds"]}
    assert sorted(fetched) == sorted([second, f"{first}, {third}"])
    # every feed of its batch failed: the task failed, and its retry fetched the batch again
    # (the feed's own backoff would have made the retry find nothing due, and succeed)
    assert fetched[second]["state"] == "failed", fetched[second]
    assert asked[second] == 2
    # a partial failure succeeds once, naming the feed that failed
    partial = fetched[f"{first}, {third}"]
    assert partial["state"] == "success", partial
    assert (partial["xcom"]["failed"], partial["xcom"]["new_articles"]) == (1, len(feeds[first]))
    assert list(partial["xcom"]["errors"]) == [third]
    assert (asked[first], asked[third]) == (1, 1)
    assert ingest["tasks"]["publish"]["state"] == "upstream_failed"
    assert ingest["asset_events"] == []


@pytest.mark.airflow
@pytest.mark.postgres
def test_a_batch_whose_every_page_was_unreachable_fails_its_task_not_the_chain(
    airflow_home: Path, pg_url: str, stories_engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    env = pages_env(airflow_home, pg_url)
    dead = free_port()  # bound, then let go: nothing listens there
    with FeedServer() as server:
        # global-wire's pages on localhost, served; the others' on a port nobody answers
        slugs = [outlet.lower().replace(" ", "-") for outlet in OUTLETS]
        origins = {
            slug: f"http://localhost:{server.port}/{slug}"
            if slug == "global-wire"
            else f"http://127.0.0.1:{dead}/{slug}"
            for slug in slugs
        }
        feeds = feed_items(now, origins)
        for (slug, items), outlet in zip(feeds.items(), OUTLETS, strict=True):
            server.route(f"/{slug}.xml", rss(outlet, items), headers=RSS_HEADERS)
        (served,) = [item for item in feeds["global-wire"] if item.event == "quake"]
        server.route(urlsplit(served.link).path, article_page(served), headers=HTML_HEADERS)
        urls = {slug: server.url(f"/{slug}.xml") for slug in slugs}
        register(stories_engine, tmp_path / "feeds.yaml", urls, now)
        ingest, extract = run_dags(
            env,
            {"dag_id": "storyline_ingest"},
            {"dag_id": "storyline_extract", "logical_date": None, "retries": 1},
        )

    assert ingest["state"] == "success", ingest
    assert extract["state"] == "failed", extract
    read = {ti["label"]: ti for ti in extract["tasks"]["extract_pages"]}
    assert sorted(read) == ["10 pages: 127.0.0.1", "5 pages: localhost"]
    # no page of the batch reached: the task failed, once (a retry would find the pages
    # waiting for their own next try, and succeed)
    assert read["10 pages: 127.0.0.1"]["state"] == "failed"
    # dead links beside a page read are a site's answers, not an outage
    alive = read["5 pages: localhost"]
    assert alive["state"] == "success", alive
    assert (alive["xcom"]["ok"], alive["xcom"]["skipped"]) == (1, 4)
    # embed follows all the same (on the feeds' text); the run shows the failure
    assert extract["tasks"]["publish"]["state"] == "success"
    assert extract["tasks"]["check_batches"]["state"] == "failed"
    assert extract["asset_events"] == [
        {"asset": "storyline_texts", "extra": {"articles": 5, "ok": 1}}
    ]
    with session_scope(stories_engine) as session:
        rows = session.execute(
            select(
                Article.extract_state,
                Article.extract_reason,
                Article.extract_attempts,
                Article.extract_after,
            ).where(Article.url.like(f"http://127.0.0.1:{dead}/%"))
        ).all()
    assert len(rows) == 10
    for state, reason, attempts, after in rows:
        assert (state, reason, attempts) == ("pending", "robots unavailable", 1)
        assert after is not None
        assert after > now
