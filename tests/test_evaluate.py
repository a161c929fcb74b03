from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.evaluate import load_corpus, score


@pytest.mark.parametrize(
    ("gold", "predicted", "bcubed", "pairwise"),
    [
        (["a", "a", "b", "b"], ["1", "1", "2", "2"], (1.0, 1.0), (1.0, 1.0)),
        (["a", "a", "b", "b"], [None, None, None, None], (1.0, 0.5), (1.0, 0.0)),
        (["a", "a", "b", "b"], ["1", "1", "1", "1"], (0.5, 1.0), (2 / 6, 1.0)),
        (["a", "a", "a", "b"], ["1", "1", "2", "2"], (0.75, 2 / 3), (0.5, 1 / 3)),
    ],
    ids=["perfect", "all-unclustered", "all-in-one", "mixed"],
)
def test_score(
    gold: list[str],
    predicted: list[str | None],
    bcubed: tuple[float, float],
    pairwise: tuple[float, float],
) -> None:
    result = score(gold, predicted)
    assert (result.bcubed_precision, result.bcubed_recall) == pytest.approx(bcubed)
    assert (result.pairwise_precision, result.pairwise_recall) == pytest.approx(pairwise)
    if predicted == ["1", "1", "2", "2"] and gold == ["a", "a", "b", "b"]:
        assert (result.bcubed_f1, result.ami, result.ari) == pytest.approx((1.0, 1.0, 1.0))


def write_corpus(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], "line 1 is not a labelled article"),
        (['{"id": "x", "title": "t"}'], "line 1 is not a labelled article"),
        ([], "has no articles"),
    ],
    ids=["bad-json", "no-story", "empty"],
)
def test_bad_corpus_is_one_clear_error(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_corpus(path)


EVENTS = {
    "quake": [
        "Magnitude 7.1 earthquake strikes northern Chile near Iquique",
        "Chile earthquake: Iquique residents flee homes after 7.1 tremor",
        "Rescuers search rubble in Iquique after powerful Chilean quake",
    ],
    "rates": [
        "European Central Bank cuts interest rates to record low",
        "ECB surprises markets with cut in main interest rate",
        "Euro falls after European Central Bank lowers rates",
    ],
    "final": [
        "Real Madrid beat Atletico in Champions League final in Lisbon",
        "Champions League final: Real Madrid win tenth European title",
        "Lisbon final ends with Real Madrid lifting the Champions League trophy",
    ],
}


def test_evaluate_replays_and_scores(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = []
    for day, (story, titles) in enumerate(EVENTS.items()):
        for hour, title in enumerate(titles):
            rows.append(
                {
                    "id": f"{story}-{hour}",
                    "story": story,
                    "title": title,
                    "text": "",
                    "published": f"2014-03-{10 + day:02d}T{8 + hour:02d}:00:00Z",
                    "source": f"outlet-{hour}",
                    "url": f"https://outlet{hour}.example/{story}",
                    "lang": "en",
                }
            )
    rows.append(
        {
            "id": "undated",
            "story": "other",
            "title": "Bakery wins bread prize",
            "published": None,
            "source": None,
        }
    )
    # the same article labelled with a second story (GVA has such rows): stored once,
    # scored as two rows, so it cannot be right for both labels
    rows.append({**rows[0], "story": "quake-aftermath"})
    path = write_corpus(tmp_path / "tiny.jsonl", rows)
    # The stories database in use is never the replay's: not from the environment, not
    # from a --db before the subcommand.
    real = tmp_path / "real.db"
    result = CliRunner(env={"STORYLINE_DATABASE_URL": f"sqlite:///{real}"}).invoke(
        cli, ["--db", f"sqlite:///{real}", "evaluate", str(path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert not real.exists()
    report = json.loads(result.stdout)
    assert {
        "bcubed_f1",
        "bcubed_precision",
        "bcubed_recall",
        "pairwise_f1",
        "ami",
        "ari",
        "stories",
        "seconds",
    } <= report.keys()
    assert report["articles"] == 11
    assert 0.9 < report["bcubed_f1"] < 1.0
    assert report["stories"] == 3
    assert report["id_changes"] == 0
    assert set(report["seconds"]) == {"store", "embed", "cluster"}
    # 6-hour steps from the first article on, skipping empty ones: 08:00 and 14:00 each day
    assert report["steps"] == 6
    # the evaluation used a scratch database: nothing was written here
    assert not (tmp_path / "storyline.db").exists()


def test_a_corpus_line_may_hold_any_character_a_json_string_may(tmp_path: Path) -> None:
    """JSON Lines end at "\\n" only: U+0085, U+2028 and U+2029 inside a string (a page's
    cp1252 "…" read as U+0085) are text, not line ends."""
    row = {"id": "a", "story": "s", "title": "t", "text": "one\u0085two\u2028three\u2029four"}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [article.text for article in load_corpus(path)] == [row["text"]]


def page_of(title: str, teaser: str, body: list[str]) -> str:
    paragraphs = "".join(f"<p>{line}</p>" for line in [teaser, *body])
    return (
        f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>Sign up for our newsletter. All rights reserved.</footer></body></html>"
    )


def test_a_corpus_with_pages_is_read_from_its_pages(tmp_path: Path) -> None:
    """Rows with ``html``: the replay takes each article's text from its page through the
    extract stage, the row's ``text`` being the feed's teaser. Here every teaser and title
    says nothing, so only the pages tell the three stories apart."""
    teaser = "Read the full report from our correspondents on the ground today."
    rows: list[dict[str, object]] = []
    for day, (story, lines) in enumerate(EVENTS.items()):
        for hour in range(3):
            title = f"Latest news {day * 3 + hour}"
            rows.append(
                {
                    "id": f"{story}-{hour}",
                    "story": story,
                    "title": title,
                    "text": teaser,
                    "published": f"2014-03-{10 + day:02d}T{8 + hour:02d}:00:00Z",
                    "source": f"outlet-{hour}",
                    "lang": "en",
                    "html": page_of(title, teaser, lines[hour:] + lines[:hour]),
                }
            )

    def replay(name: str, corpus: list[dict[str, object]]) -> dict[str, Any]:
        path = write_corpus(tmp_path / f"{name}.jsonl", corpus)
        db = f"sqlite:///{tmp_path / name}.db"
        result = CliRunner().invoke(cli, ["evaluate", str(path), "--format", "json", "--db", db])
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    with_pages = replay("pages", rows)
    teasers_only = replay(
        "teasers", [{k: v for k, v in row.items() if k != "html"} for row in rows]
    )
    assert with_pages["stories"] == 3
    assert with_pages["bcubed_f1"] == pytest.approx(1.0)
    assert set(with_pages["seconds"]) == {"store", "extract", "embed", "cluster"}
    assert teasers_only["bcubed_f1"] < 0.8
