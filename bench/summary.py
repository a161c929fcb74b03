"""Story summaries: what they take from real articles, and what they cost.

    .venv/bin/python -m bench.summary [--corpus PATH.jsonl ...] [--window 10000] [--show 5]

For each labelled corpus (default: the gva and ECB+ dev corpora in
``../shared/datasets/``), its gold stories stand for the pipeline's: each article's vector
is its story's random direction plus noise (cosine about 0.9), so no embedding model runs,
and the whole corpus is one window. Every story is summarised (``summary.summarise`` with
the window's ``Boilerplate``), and beside it a naive lead (the first three sentences, by the
same splitter, of the story's most central articles, one each, no filter). For both:

- boilerplate: the share of chosen sentences that the corpus prints, verbatim once squashed,
  in articles of two or more other stories (a site's notice, not news: judged on whole
  texts, not only the leads the method reads);
- duplicates: sentences that repeat one already in the same summary (squashed equal);
- near-duplicates: pairs of sentences in one summary that share half the words (of four
  letters or more) of the shorter: one fact told twice.

Then the time to summarise the stories of a ``--window``-article window (the corpora's
articles cycled to that size, each copy a story of its own) against the keywords pass
(``story_keywords`` over the same window, as ``write._refresh_keywords`` runs it), in the
same run.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pipeline.evaluate import LabelledArticle, load_corpus
from pipeline.stories.keywords import story_keywords
from pipeline.stories.summary import (
    READ_ARTICLES,
    Boilerplate,
    SummaryArticle,
    lead_sentences,
    summarise,
)
from pipeline.text import article_text

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CORPORA = [DATASETS / "gva-2013-2015.jsonl", DATASETS / "ecbplus.jsonl"]
_SQUASH = re.compile(r"\w+")
DIM = 64
EPOCH = datetime(2015, 1, 1, tzinfo=UTC)


def squash(text: str) -> str:
    return " ".join(_SQUASH.findall(text.casefold()))


def stories_of(
    corpus: list[LabelledArticle], copies: int = 1, seed: int = 0
) -> dict[str, list[SummaryArticle]]:
    """The corpus' gold stories as summary records, ``copies`` times over (copy k's stories
    named ``story#k``), with vectors near a random direction per story."""
    rng = np.random.default_rng(seed)
    directions: dict[str, np.ndarray] = {}
    stories: dict[str, list[SummaryArticle]] = defaultdict(list)
    number = 0
    for copy in range(copies):
        for article in corpus:
            story = f"{article.story}#{copy}"
            if story not in directions:
                direction = rng.normal(size=DIM)
                directions[story] = direction / np.linalg.norm(direction)
            noise = rng.normal(size=DIM)
            noise -= (noise @ directions[story]) * directions[story]
            noise /= np.linalg.norm(noise)
            vector = (0.9 * directions[story] + np.sqrt(1 - 0.81) * noise).astype(np.float32)
            number += 1
            stories[story].append(
                SummaryArticle(
                    id=number,
                    outlet=article.source or "?",
                    url=article.url,
                    title=article.title,
                    text=article.text,
                    vector=vector,
                    published=article.published or EPOCH,
                )
            )
    return dict(stories)


def window_boilerplate(stories: dict[str, list[SummaryArticle]]) -> Boilerplate:
    index = {story: n for n, story in enumerate(sorted(stories))}
    return Boilerplate(
        (index[story], article.title, article.text)
        for story, articles in stories.items()
        for article in articles
    )


def naive_lead(articles: list[SummaryArticle]) -> list[str]:
    """The first sentence of each of the three most central articles, unfiltered."""
    unit = np.stack([a.vector for a in articles])
    center = unit.mean(axis=0)
    order = sorted(range(len(articles)), key=lambda i: -float(unit[i] @ center))[:3]
    chosen = []
    for i in order:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", articles[i].text.strip()) if s]
        if sentences:
            chosen.append(sentences[0].strip())
    return chosen


def content_words(sentence: str) -> set[str]:
    return {word for word in _SQUASH.findall(sentence.casefold()) if len(word) >= 4}


def near_duplicates(sentences: list[str]) -> int:
    words = [content_words(sentence) for sentence in sentences]
    return sum(
        1
        for i in range(len(words))
        for j in range(i + 1, len(words))
        if words[i]
        and words[j]
        and len(words[i] & words[j]) >= 0.5 * min(len(words[i]), len(words[j]))
    )


def judge(
    summaries: dict[str, list[str]], stories: dict[str, list[SummaryArticle]]
) -> tuple[int, int, int, int]:
    """(sentences, boilerplate, duplicates, near-duplicate pairs) of ``summaries``."""
    texts = {story: [squash(a.text) for a in articles] for story, articles in stories.items()}
    total = boiler = duplicates = near = 0
    for story, sentences in summaries.items():
        near += near_duplicates(sentences)
        seen: set[str] = set()
        for sentence in sentences:
            key = squash(sentence)
            total += 1
            if key in seen:
                duplicates += 1
            seen.add(key)
            elsewhere = sum(
                1
                for other, others in texts.items()
                if other != story and any(key and key in text for text in others)
            )
            if elsewhere >= 2:
                boiler += 1
    return total, boiler, duplicates, near


def measure(path: Path, show: int) -> None:
    corpus = [article for article in load_corpus(path) if article.text]
    stories = stories_of(corpus)
    boilerplate = window_boilerplate(stories)
    ours = {
        story: [s.sentence for s in summarise(articles, boilerplate)]
        for story, articles in stories.items()
    }
    naive = {story: naive_lead(articles) for story, articles in stories.items()}
    print(f"{path.name}: {len(corpus)} articles with text, {len(stories)} stories")
    for name, summaries in (("summary", ours), ("naive lead", naive)):
        total, boiler, duplicates, near = judge(summaries, stories)
        empty = sum(1 for sentences in summaries.values() if not sentences)
        print(
            f"  {name:>10}: {total} sentences, boilerplate {boiler} ({boiler / max(total, 1):.1%}),"
            f" duplicates {duplicates}, near-duplicate pairs {near}, stories with none {empty}"
        )
    for story in random.Random(0).sample(sorted(stories), min(show, len(stories))):
        print(f"  - {story} ({len(stories[story])} articles)")
        for sentence in ours[story]:
            print(f"      {sentence}")


def timing(paths: list[Path], size: int) -> None:
    corpus = [article for path in paths for article in load_corpus(path) if article.text]
    copies = -(-size // len(corpus))
    stories: dict[str, list[SummaryArticle]] = {}
    taken = 0
    for story, members in stories_of(corpus, copies).items():
        if taken + len(members) > size:
            break
        stories[story] = members
        taken += len(members)
    articles = sum(len(a) for a in stories.values())
    started = time.perf_counter()
    story_keywords(
        {
            n: [text for a in members for text in (a.title, article_text(a.title, a.text, 1000))]
            for n, members in enumerate(stories.values())
        },
        top_n=8,
    )
    keywords = time.perf_counter() - started
    started = time.perf_counter()
    boilerplate = window_boilerplate(stories)
    index = time.perf_counter() - started
    started = time.perf_counter()
    for members in stories.values():
        summarise(members, boilerplate)
    chosen = time.perf_counter() - started
    lead_sentences([("", "warm")])
    print(
        f"window of {articles} articles, {len(stories)} stories (read at most {READ_ARTICLES} "
        f"articles a story):\n"
        f"  keywords pass (baseline) {keywords:6.2f} s\n"
        f"  boilerplate index        {index:6.2f} s\n"
        f"  summarise every story    {chosen:6.2f} s\n"
        f"  summaries in all         {index + chosen:6.2f} s "
        f"({(index + chosen) / keywords:.2f} x the keywords pass)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, action="append")
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--show", type=int, default=5)
    parser.add_argument("--time-only", action="store_true", help="skip the measures")
    args = parser.parse_args()
    paths = args.corpus or CORPORA
    lead_sentences([("", "Warm the splitter up before anything is timed.")])
    for path in [] if args.time_only else paths:
        measure(path, args.show)
    timing(paths, args.window)


if __name__ == "__main__":
    main()
