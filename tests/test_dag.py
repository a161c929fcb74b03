"""The Airflow DAG in ``dags/storyline.py``: it parses, and it runs end to end.

Airflow never runs inside the pytest process: importing it configures logging and global
state for the whole process. Each check runs ``python -c`` in a subprocess with its own
``AIRFLOW_HOME`` under ``tmp_path``, a SQLite metadata database there, and no examples, so
nothing of the user's Airflow installation is read or written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml
from sqlalchemy import Engine, func, select

from models import Article, Embedding, Story, StoryArticle
from pipeline.db import make_engine, migrate, session_scope
from pipeline.feeds import load_feeds_file, sync_feeds
from pipeline.stories import current_stories
from tests.factories import row_counts
from tests.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "dags"
AIRFLOW = Path(sys.executable).parent / "airflow"
DAG_ID = "storyline"
RESULT_MARKER = "@@STORYLINE-RESULT@@ "

# -- running Airflow in a subprocess ---------------------------------------------------


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an isolated Airflow: nothing from the user's AIRFLOW_* or STORYLINE_*."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "AIRFLOW__", "STORYLINE_", "_AIRFLOW"))
    }
    home.mkdir(parents=True, exist_ok=True)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Ran:
    """A finished subprocess, its wall time, and the JSON result it printed."""

    output: str
    seconds: float
    result: dict[str, Any]


def run_python(code: str, env: dict[str, str], *args: str, timeout: float = 600) -> Ran:
    """Run ``code`` in a fresh interpreter; it prints one ``RESULT_MARKER`` + JSON line."""
    return _run([sys.executable, "-c", code, *args], env, timeout=timeout, expect_result=True)


def _run(
    command: list[str], env: dict[str, str], *, timeout: float, expect_result: bool = False
) -> Ran:
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
        f"$ {' '.join(command[:2])} ... ({seconds:.1f}s)\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
    # Shown by pytest only when the test fails.
    print(output)
    if proc.returncode != 0:
        pytest.fail(
            f"{command[0]} exited {proc.returncode} after {seconds:.1f}s:\n{_tail(output)}",
            pytrace=False,
        )
    result: dict[str, Any] = {}
    if expect_result:
        lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
        if not lines:
            pytest.fail(f"no result line in the output:\n{_tail(output)}", pytrace=False)
        result = json.loads(lines[-1][len(RESULT_MARKER) :])
    return Ran(output, seconds, result)


def _tail(output: str, lines: int = 80) -> str:
    return "\n".join(output.splitlines()[-lines:])


# -- the DAG parses ------------------------------------------------------------------------

PARSE_SCRIPT = f"""
import json, time
start = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag()
parsed = time.perf_counter()
dag = bag.dags.get({DAG_ID!r})
summary = {{
    "import_errors": bag.import_errors,
    "warnings": {{path: list(w) for path, w in bag.captured_warnings.items()}},
    "dag_ids": sorted(bag.dag_ids),
    "import_airflow_s": imported - start,
    "dagbag_s": parsed - imported,
    "file_s": max([s.duration.total_seconds() for s in bag.dagbag_stats], default=0.0),
}}
if dag is not None:
    summary.update(
        tags=sorted(dag.tags),
        owner=dag.owner,
        schedule=getattr(dag.timetable, "expression", None),
        timetable=type(dag.timetable).__name__,
        catchup=dag.catchup,
        max_active_runs=dag.max_active_runs,
        start_date=dag.start_date.isoformat(),
        has_doc=bool(dag.doc_md),
        tasks={{
            t.task_id: {{
                "upstream": sorted(t.upstream_task_ids),
                "downstream": sorted(t.downstream_task_ids),
                "owner": t.owner,
                "retries": t.retries,
                "retry_delay_s": t.retry_delay.total_seconds(),
                "retry_exponential_backoff": float(t.retry_exponential_backoff),
            }}
            for t in dag.tasks
        }},
        topological=[t.task_id for t in dag.topological_sort()],
    )

# run_time(): data_interval_end, else logical_date, else the fallback; always a plain datetime.
import datetime as dt
import importlib.util
import pendulum

path = {str(DAGS_FOLDER / "storyline.py")!r}
spec = importlib.util.spec_from_file_location("storyline_dag_module", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
end, logical = pendulum.datetime(2026, 5, 1, 12), pendulum.datetime(2026, 5, 1, 11)
fallback = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
cases = {{
    "interval": {{"data_interval_end": end, "logical_date": logical}},
    "logical": {{"data_interval_end": None, "logical_date": logical}},
    "none": {{"data_interval_end": None, "logical_date": None}},
    "empty": {{}},
}}
summary["run_time"] = {{}}
for name, context in cases.items():
    value = module.run_time(context, fallback=fallback)
    summary["run_time"][name] = [value.isoformat(), type(value).__name__]
print({RESULT_MARKER!r} + json.dumps(summary, default=str))
"""


def test_dag_file_parses(tmp_path: Path) -> None:
    ran = run_python(PARSE_SCRIPT, airflow_env(tmp_path / "airflow"), timeout=120)
    summary = ran.result

    assert summary["import_errors"] == {}
    assert summary["warnings"] == {}
    assert summary["dag_ids"] == [DAG_ID]
    assert summary["file_s"] < 1.0, f"parsing dags/storyline.py took {summary['file_s']:.2f}s"
    assert summary["tags"] == ["storyline"]
    assert summary["owner"] == "storyline"
    assert summary["catchup"] is False
    assert summary["max_active_runs"] == 1
    assert summary["schedule"] == "*/15 * * * *"
    assert summary["timetable"] == "CronTriggerTimetable"
    assert summary["start_date"] == "2026-01-01T00:00:00+00:00"
    assert summary["has_doc"]

    tasks = summary["tasks"]
    assert summary["topological"] == ["ingest", "embed", "cluster"]
    assert tasks["ingest"]["upstream"] == []
    assert tasks["embed"]["upstream"] == ["ingest"]
    assert tasks["cluster"]["upstream"] == ["embed"]
    assert tasks["cluster"]["downstream"] == []
    for task in tasks.values():
        assert task["owner"] == "storyline"
        assert task["retries"] == 2
        assert task["retry_delay_s"] == 60
        assert task["retry_exponential_backoff"] == 2.0

    assert summary["run_time"] == {
        "interval": ["2026-05-01T12:00:00+00:00", "datetime"],
        "logical": ["2026-05-01T11:00:00+00:00", "datetime"],
        "none": ["2030-01-01T00:00:00+00:00", "datetime"],
        "empty": ["2030-01-01T00:00:00+00:00", "datetime"],
    }


# -- the DAG runs end to end ---------------------------------------------------------------

DAG_TEST_SCRIPT = f"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag

bag = DagBag()
assert not bag.import_errors, bag.import_errors
dag = bag.dags[{DAG_ID!r}]
# Fail fast: a failing task would otherwise wait out its retry delays inside dag.test().
for task in dag.tasks:
    task.retries = 0

# "manual": no logical date, like a run triggered by hand or by an asset in Airflow 3.
kwargs = {{"logical_date": None}} if sys.argv[1:] == ["manual"] else {{}}
start = time.perf_counter()
run = dag.test(**kwargs)
seconds = time.perf_counter() - start

from airflow import settings
from airflow.models.xcom import XComModel

with settings.Session() as session:
    states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}}
    rows = session.scalars(
        XComModel.get_many(run_id=run.run_id, dag_ids={DAG_ID!r}, key="return_value")
    ).all()
    xcoms = {{row.task_id: XComModel.deserialize_value(row) for row in rows}}
print({RESULT_MARKER!r} + json.dumps(
    {{"state": str(run.state), "tasks": states, "xcoms": xcoms, "dag_test_s": seconds}},
    default=str,
))
"""

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


def feed_items(base_url: str, now: datetime) -> dict[str, list[Item]]:
    """Five items per outlet: one on each shared event plus three unrelated singletons.

    Published 1-20 hours before ``now``: inside the 72-hour cluster window that ends at
    the run's time, whichever of its data-interval end or logical date Airflow gives.
    """
    feeds: dict[str, list[Item]] = {}
    for index, outlet in enumerate(OUTLETS):
        slug = outlet.lower().replace(" ", "-")
        stories = [
            ("quake", *QUAKE[index]),
            ("rates", *RATES[index]),
            *((None, *single) for single in SINGLETONS[index]),
        ]
        feeds[slug] = [
            Item(
                guid=f"urn:{slug}:{number}",
                link=f"{base_url}/{slug}/articles/{number}.html",
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
    yield engine
    engine.dispose()


@pytest.mark.airflow
@pytest.mark.postgres
def test_dag_runs_end_to_end(tmp_path: Path, pg_url: str, stories_engine: Engine) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    env = airflow_env(tmp_path / "airflow", STORYLINE_DATABASE_URL=pg_url)
    _run([str(AIRFLOW), "db", "migrate"], env, timeout=300)

    with FeedServer() as server:
        feeds = feed_items(server.base_url, now)
        for (slug, items), outlet in zip(feeds.items(), OUTLETS, strict=True):
            server.route(
                f"/{slug}.xml",
                rss(outlet, items),
                headers={"Content-Type": "application/rss+xml; charset=utf-8"},
            )
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text(
            yaml.safe_dump(
                {
                    "feeds": [
                        {"name": slug, "url": server.url(f"/{slug}.xml"), "outlet": outlet}
                        for slug, outlet in zip(feeds, OUTLETS, strict=True)
                    ]
                }
            ),
            encoding="utf-8",
        )
        migrate(stories_engine)  # what `storyline init` does
        with session_scope(stories_engine) as session:
            sync_feeds(session, load_feeds_file(feeds_file), now)

        first = run_python(DAG_TEST_SCRIPT, env)
        print(f"dag.test() #1: {first.result['dag_test_s']:.1f}s, process {first.seconds:.1f}s")
        assert first.result["state"] == "success", first.result
        assert first.result["tasks"] == dict.fromkeys(("ingest", "embed", "cluster"), "success")
        for slug in feeds:
            assert len(server.requests_for(f"/{slug}.xml")) == 1
        assert server.errors == []

        served = [item for items in feeds.values() for item in items]
        xcoms = first.result["xcoms"]
        assert xcoms["ingest"]["feeds"] == len(feeds)
        assert xcoms["ingest"]["failed"] == 0, xcoms["ingest"]["errors"]
        assert xcoms["ingest"]["new_articles"] == len(served)
        assert xcoms["embed"]["embedded"] == len(served)
        assert xcoms["cluster"]["articles"] == len(served)
        assert xcoms["cluster"]["skipped"] is False

        with session_scope(stories_engine) as session:
            stored = session.execute(select(Article.guid, Article.url)).all()
            assert sorted(stored) == sorted((item.guid, item.link) for item in served)
            unembedded = session.scalar(
                select(func.count())
                .select_from(Article)
                .outerjoin(Embedding, Embedding.article_id == Article.id)
                .where(Embedding.id.is_(None))
            )
            assert unembedded == 0
            stories = current_stories(session)
        story_of = {article.url: story.id for story in stories for article in story.articles}
        for event in ("quake", "rates"):
            links = {item.link for item in served if item.event == event}
            homes = {story_of.get(link) for link in links}
            assert None not in homes, (event, stories)
            assert len(homes) == 1, (event, stories)
            (home,) = [story for story in stories if story.id in homes]
            assert home.source_count == len(OUTLETS), home
            assert {a.url for a in home.articles} == links, home
        multi_outlet = [story for story in stories if story.source_count >= 2]
        assert len(multi_outlet) >= 2

        counts = row_counts(stories_engine, (Article, Embedding, Story, StoryArticle))
        # The second run has no logical date (as when triggered by hand or by an asset):
        # the cluster task falls back to the current time, and nothing changes.
        before = datetime.now(UTC)
        second = run_python(DAG_TEST_SCRIPT, env, "manual")
        print(f"dag.test() #2: {second.result['dag_test_s']:.1f}s, process {second.seconds:.1f}s")
        assert second.result["state"] == "success", second.result
        assert second.result["tasks"] == dict.fromkeys(("ingest", "embed", "cluster"), "success")
        assert datetime.fromisoformat(second.result["xcoms"]["cluster"]["now"]) >= before
        assert second.result["xcoms"]["cluster"]["skipped"] is True
        # the feeds were fetched minutes ago: none is due yet, none is requested again
        assert second.result["xcoms"]["ingest"]["feeds"] == 0
        assert second.result["xcoms"]["ingest"]["new_articles"] == 0
        assert second.result["xcoms"]["embed"]["embedded"] == 0
        assert second.result["xcoms"]["cluster"]["stories_created"] == 0
        assert row_counts(stories_engine, (Article, Embedding, Story, StoryArticle)) == counts
        for slug in feeds:
            assert len(server.requests_for(f"/{slug}.xml")) == 1
