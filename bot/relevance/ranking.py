"""Relevance beyond keywords, as one step after keyword matching: `like:` topics and learned taste.

`Deliverer.new_matches` matches the keyword queries (bot.digest.compose), then hands the result here.
When no channel in the run tracks a `like:` topic or learns from reactions, nothing happens
here and no text model is fitted: the keyword path costs what it did. Otherwise:

1. `like:` topics find their papers among the same candidates (bot.relevance.similar), merged into the
   channel's entries (a paper matched by a query and a topic is one card naming both);
2. a channel with a learned model (bot.relevance.feedback) gets its entries ordered by it, and up to three
   "you may also like" papers that nothing matched.

Models are trained at most once per digest run, and only again when the channel's reactions or
the text model changed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np

from bot.digest import compose as digest
from bot.digest import matches as channel_matches
from bot.digest.compose import Entry
from bot.digest.why import SIMILAR
from bot.matching.reasons import MatchReason, Reasons
from bot.models import ChannelRef, Paper, Subscription
from bot.relevance import feedback, similar
from bot.relevance.textmodel import Corpus, Matrix, TextModel
from storage import Store

RANKERS_KEPT = 64


class Relevance:
    """The text model, `like:` topics and per-channel rankers, cached between runs."""

    def __init__(self, store: Store, corpus: Corpus | None = None) -> None:
        self.store = store
        self.corpus = corpus or Corpus()
        self._topics: similar.Topics | None = None
        # A linear model is a weight per word (a megabyte at 150,000 words): the last RANKERS_KEPT
        # channels' are kept, the others retrained at their next run (0.1 s each).
        self._rankers: OrderedDict[ChannelRef, tuple[object, feedback.Ranker | None]] = OrderedDict()

    async def topics(self, queries: Iterable[str]) -> tuple[TextModel, dict[str, similar.Topic]]:
        """The current text model, and the `like:` topics among `queries` whose examples are stored."""
        model = await self.corpus.model(self.store)
        if self._topics is None or self._topics.model is not model:
            self._topics = await asyncio.to_thread(similar.Topics, model)
        wanted = {q: similar.example_ids(q) for q in queries if similar.is_like(q)}
        papers = await self.store.papers.get_many(sorted({i for ids in wanted.values() for i in ids}))
        examples = {q: [papers[i] for i in ids if i in papers] for q, ids in wanted.items()}
        return model, await asyncio.to_thread(self._topics.topics, examples)

    async def ranker(self, channel: ChannelRef, model: TextModel) -> feedback.Ranker | None:
        """The channel's learned model: retrained only when its reactions or the text model changed."""
        opinions = await self.store.reactions.opinions(channel)
        key = (model.generation, tuple(opinions))
        cached = self._rankers.get(channel)
        if cached is not None and cached[0] == key:
            self._rankers.move_to_end(channel)
            return cached[1]
        papers = await self.store.papers.get_many([o.arxiv_id for o in opinions])
        ranker = await asyncio.to_thread(feedback.train, opinions, papers, model, str(channel))
        self._rankers[channel] = (key, ranker)
        self._rankers.move_to_end(channel)
        while len(self._rankers) > RANKERS_KEPT:
            self._rankers.popitem(last=False)
        return ranker

    async def extend(
        self,
        found: dict[ChannelRef, list[Entry]],
        subscriptions: Sequence[Subscription],
        candidates: Sequence[tuple[Paper, datetime]],
        delivered: Mapping[ChannelRef, set[str]],
        channels: Collection[ChannelRef],
    ) -> dict[ChannelRef, list[Entry]]:
        """`found` (the keyword matches) with `like:` topics' papers added and learned ranking applied.

        `channels` are those of `subscriptions` (the caller has them already).
        """
        # A pass over 100,000 subscriptions takes tens of milliseconds: not on the event loop.
        liking = await asyncio.to_thread(_liking, subscriptions)
        learning = [
            c for c in await self.store.reactions.learning_channels(feedback.MIN_LIKES) if c in channels
        ]
        if not liking and not learning:
            return found
        model, topics = await self.topics({s.query for s in liking})
        rankers = {c: r for c in learning if (r := await self.ranker(c, model)) is not None}
        return await asyncio.to_thread(
            extend_matches, found, subscriptions, candidates, delivered, model, topics, rankers
        )


def _liking(subscriptions: Sequence[Subscription]) -> list[Subscription]:
    """The `like:` topics among `subscriptions`."""
    return [s for s in subscriptions if similar.is_like(s.query)]


def extend_matches(
    found: Mapping[ChannelRef, list[Entry]],
    subscriptions: Sequence[Subscription],
    candidates: Sequence[tuple[Paper, datetime]],
    delivered: Mapping[ChannelRef, set[str]],
    model: TextModel,
    topics: Mapping[str, similar.Topic],
    rankers: Mapping[ChannelRef, feedback.Ranker],
) -> dict[ChannelRef, list[Entry]]:
    """The pure part of `Relevance.extend` (runs in a worker thread)."""
    out = {channel: list(entries) for channel, entries in found.items()}
    papers = [p for p, _ in candidates]
    harvested = {p.arxiv_id: at for p, at in candidates}
    vectors = model.vectors(papers)
    liking = [s for s in subscriptions if s.query in topics]
    if liking and papers:
        _add_similar(out, liking, papers, harvested, delivered, vectors, topics)
    row = {p.arxiv_id: i for i, p in enumerate(papers)}
    for channel, ranker in rankers.items():
        entries = out.get(channel)
        if not entries:  # no digest today: suggestions alone do not make one
            continue
        scores = ranker.scores(vectors[[row[e.paper.arxiv_id] for e in entries]])
        order = np.argsort(-scores, kind="stable")  # ties keep the keyword ranking
        ranked = [entries[i] for i in order]
        since = min(s.created_at for s in subscriptions if s.channel == channel)
        taken = {e.paper.arxiv_id for e in entries} | delivered.get(channel, set())
        others = [
            i for i, p in enumerate(papers) if p.arxiv_id not in taken and harvested[p.arxiv_id] >= since
        ]
        if others:
            extra = ranker.scores(vectors[others])
            for k in np.argsort(-extra, kind="stable")[: digest.MAX_SUGGESTED]:
                if extra[k] > 0:
                    p = papers[others[k]]
                    ranked.append(
                        Entry(p, (), (), channel_matches.late(p, harvested[p.arxiv_id]), suggested=True)
                    )
        out[channel] = ranked
    return out


def _add_similar(
    out: dict[ChannelRef, list[Entry]],
    liking: Sequence[Subscription],
    papers: Sequence[Paper],
    harvested: Mapping[str, datetime],
    delivered: Mapping[ChannelRef, set[str]],
    vectors: Matrix,
    topics: Mapping[str, similar.Topic],
) -> None:
    """Each `like:` subscription's papers, merged into its channel's entries (one entry per paper)."""
    distinct = list(dict.fromkeys(s.query for s in liking))
    column = {q: j for j, q in enumerate(distinct)}
    scores = similar.scores(vectors, [topics[q] for q in distinct])
    changed: set[ChannelRef] = set()
    for sub in liking:
        topic = topics[sub.query]
        own = {p.arxiv_id for p in topic.examples}
        seen = delivered.get(sub.channel, set())
        for i in np.nonzero(scores[:, column[sub.query]] >= topic.threshold)[0]:
            paper = papers[int(i)]
            if paper.arxiv_id in own or paper.arxiv_id in seen or harvested[paper.arxiv_id] < sub.created_at:
                continue
            example = topic.closest_example(vectors[i])
            reason = MatchReason(SIMILAR, (similar.example_title(example),))
            why = Reasons.known((reason,))
            score = float(scores[i, column[sub.query]])
            _merge(out.setdefault(sub.channel, []), paper, (why, sub.query, score), harvested[paper.arxiv_id])
            changed.add(sub.channel)
    for channel in changed:
        out[channel] = channel_matches.rank(out[channel])


def _merge(
    entries: list[Entry], paper: Paper, found: tuple[Reasons, str, float], harvested_at: datetime
) -> None:
    """Add a `like:` topic's (reasons, query, similarity) to the paper's entry, or a new entry."""
    why, query, score = found
    for i, e in enumerate(entries):
        if e.paper.arxiv_id == paper.arxiv_id:
            pairs = sorted([*zip(e.queries, e.reasons, strict=True), (query, why)], key=lambda qr: qr[0])
            reasons, queries = tuple(r for _, r in pairs), tuple(q for q, _ in pairs)
            entries[i] = e._replace(reasons=reasons, queries=queries, similarity=max(e.similarity, score))
            return
    entries.append(
        Entry(paper, (why,), (query,), channel_matches.late(paper, harvested_at), similarity=score)
    )
