"""Benchmark: retraining a channel's model from 1,000 reactions (target < 1 s), as a digest run does.

Run from the repo root: `python benchmarks/bench_feedback.py`.

A store of 20,000 papers (the two real clusters of benchmarks/data and bench_similar's generated
noise), a channel with 1,000 reactions on 1,000 papers (600 👍, 400 👎). Timed: fitting the text
model (once per harvest), and `Relevance.ranker` for the channel, which is what a digest run pays:
reading the reactions and their papers from SQLite, and training the linear SVM against a
sample of 1,000 other papers. Then the same training with every paper of the store as a
negative, as arxiv-sanity-lite trains, for comparison; and how many of the 100 papers a fresh
day would bring from the liked cluster the model ranks in its top 20.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_similar import load, noise, shuffled_ids  # noqa: E402
from bot.models import ChannelRef, Paper, Platform  # noqa: E402
from bot.relevance import feedback  # noqa: E402
from bot.relevance.ranking import Relevance  # noqa: E402
from storage import Store  # noqa: E402
from storage.reactions import Opinion  # noqa: E402

SEED = 20261201
N_PAPERS = 20_000
LIKES, DISLIKES = 600, 400
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHANNEL = ChannelRef(Platform.SLACK, "T0BENCH", "C0PAPERS", "papers")


async def main() -> None:
    rng = random.Random(SEED)
    video = load("video_retrieval_arxiv.jsonl", "v")
    multimodal = load("hf_papers_multimodal_ssl.jsonl", "m")
    papers: list[Paper] = shuffled_ids(
        video + multimodal + noise(N_PAPERS - len(video) - len(multimodal), rng), rng
    )
    liked_cluster = papers[: len(video)]  # the video retrieval papers, under their new ids
    fresh_day = {p.arxiv_id for p in liked_cluster[50:]}  # half of them kept out of the reactions
    others = papers[len(video) :]
    liked = liked_cluster[:50] + rng.sample(others, LIKES - 50)
    disliked = rng.sample([p for p in others if p not in liked], DISLIKES)

    with tempfile.TemporaryDirectory() as tmp:
        async with await Store.open(Path(tmp) / "bench.db") as store:
            await store.papers.upsert_many(papers, NOW)
            for i, p in enumerate(liked + disliked):
                await store.reactions.add(CHANNEL, p.arxiv_id, f"U{i % 7}", 1 if i < LIKES else -1, NOW)
            relevance = Relevance(store)

            started = time.perf_counter()
            model = await relevance.corpus.model(store)
            t_fit = time.perf_counter() - started

            started = time.perf_counter()
            ranker = await relevance.ranker(CHANNEL, model)
            t_train = time.perf_counter() - started
            assert ranker is not None and ranker.reactions == LIKES + DISLIKES

            started = time.perf_counter()
            assert await relevance.ranker(CHANNEL, model) is ranker
            t_again = time.perf_counter() - started

    opinions = [Opinion(p.arxiv_id, 1, 1) for p in liked] + [Opinion(p.arxiv_id, -1, 1) for p in disliked]
    by_id = {p.arxiv_id: p for p in liked + disliked}
    started = time.perf_counter()
    everything = feedback.train(opinions, by_id, model, "naive", background=len(model.papers))
    t_naive = time.perf_counter() - started
    assert everything is not None

    # A fresh day: the 50 liked-cluster papers nobody reacted to, among 1,000 others.
    day = [p for p in papers if p.arxiv_id in fresh_day] + rng.sample(
        [p for p in others if p not in liked and p not in disliked], 1_000
    )
    top = np.argsort(-ranker.scores(model.vectors(day)))[:20]
    found = sum(day[i].arxiv_id in fresh_day for i in top)

    print(
        f"{N_PAPERS:,} papers stored; a channel with {LIKES + DISLIKES:,} reactions"
        f" ({LIKES} likes, {DISLIKES} dislikes)"
    )
    print(f"text model fit         {t_fit:7.2f} s   (once per harvest, in a worker thread)")
    print(
        f"retrain (digest run)   {t_train:7.3f} s   (reactions and papers from SQLite, SVM vs 1,000 others;"
        f" target < 1 s: {'met' if t_train < 1 else 'NOT met'})"
    )
    print(f"same reactions again   {t_again:7.3f} s   (no retraining: the model is kept)")
    print(
        f"all papers as negatives{t_naive:7.3f} s"
        f"   (arxiv-sanity-lite's way; {t_naive / t_train:.1f}x the time)"
    )
    print(f"fresh day: {found} of the top 20 (of 1,050) are from the liked cluster's 50 unseen papers")


if __name__ == "__main__":
    asyncio.run(main())
