"""What finding people, places and organisations costs beside embedding, per article, one run.

    .venv/bin/python -m bench.entities [--corpus PATH.jsonl] [--limit 500] [--repeat 1]

Both stages run on the same articles, each on a fresh SQLite database with its model
loaded first (loading is printed apart: a worker pays it once per process): the embed stage
(``pipeline.embed.stage.embed``, the default backend) and the entity stage
(``pipeline.entities.stage.tag_entities``: spaCy's recogniser over the title and the first
``entities_text_chars`` of the text, then the writes). The bare rows time the models alone
on the same texts (``encode`` of the embedding texts; ``nlp.pipe`` of the entity texts).
With ``--repeat N`` each row is the best of N runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import DATASETS, insert_articles, keep_best
from pipeline.db import make_engine, migrate
from pipeline.embed.backends import settings_embedder
from pipeline.embed.stage import embed
from pipeline.entities.model import load_ner
from pipeline.entities.stage import tag_entities
from pipeline.errors import ConfigError
from pipeline.evaluate import load_corpus
from pipeline.settings import Settings
from pipeline.text import embedding_text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DATASETS / "ecbplus.jsonl")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs per row")
    args = parser.parse_args()
    rows = load_corpus(args.corpus)[: args.limit]
    settings = Settings.load()

    loads: dict[str, float] = {}
    started = time.perf_counter()
    embedder = settings_embedder(settings)
    loads["embedding model"] = time.perf_counter() - started
    started = time.perf_counter()
    nlp = load_ner(settings.entities_model)
    loads["entity model"] = time.perf_counter() - started

    embed_texts = [embedding_text(r.title, r.text, settings.embed_text_chars) for r in rows]
    entity_texts = [f"{r.title}.\n\n{r.text[: settings.entities_text_chars]}" for r in rows]
    embedder.encode(embed_texts[:32])  # warm up both alike
    list(nlp.pipe(entity_texts[:32]))
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeat):
            started = time.perf_counter()
            embedder.encode(embed_texts)
            keep_best(seconds, "bare embed", time.perf_counter() - started)
            started = time.perf_counter()
            list(nlp.pipe(entity_texts, batch_size=settings.entities_batch_size))
            keep_best(seconds, "bare entities", time.perf_counter() - started)

            url = f"sqlite:///{Path(tmp) / f'run-{run}.db'}"
            engine = make_engine(url)
            migrate(engine)
            insert_articles(engine, rows)
            stage = settings.model_copy(update={"database_url": url})
            started = time.perf_counter()
            embedded = embed(engine, stage, embedder=embedder)
            keep_best(seconds, "pipeline embed", time.perf_counter() - started)
            started = time.perf_counter()
            tagged = tag_entities(engine, stage, nlp=nlp)
            keep_best(seconds, "pipeline entities", time.perf_counter() - started)
            engine.dispose()
            assert embedded.embedded == tagged.articles == len(rows), (embedded, tagged)

    chars = sum(len(t) for t in entity_texts) / len(entity_texts)
    print(
        f"entities vs embedding: {len(rows)} articles from {args.corpus.name}, entity text "
        f"mean {chars:.0f} chars (title + {settings.entities_text_chars} of the text), "
        f"{settings.model_name} (torch) vs {settings.entities_model}, best of {args.repeat}, "
        f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}"
    )
    for name, took in loads.items():
        print(f"load the {name} (once per process): {took:.1f} s")
    print(f"{'':34} {'seconds':>8} {'ms/article':>11}")
    for key in ("bare embed", "bare entities", "pipeline embed", "pipeline entities"):
        print(f"{key:34} {seconds[key]:8.2f} {1000 * seconds[key] / len(rows):11.1f}")
    for kind in ("bare", "pipeline"):
        ratio = seconds[f"{kind} entities"] / seconds[f"{kind} embed"]
        print(f"{kind}: entities cost {ratio:.2f} x the embedding per article")


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:  # a missing or malformed corpus: one line, no traceback
        raise SystemExit(f"bench.entities: {exc}") from None
