"""A channel's digest: which papers, in which order, and how each card reads.

Pure functions over papers and subscriptions; `bot.delivery` does the ledger
and the posting. A paper matched by several of a channel's queries is one
entry listing all of them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from bot.arxiv_calendar import ARXIV_TZ
from bot.matching import MatchIndex, Reasons, prepare
from bot.memory import checkpoint, long_lived
from bot.models import Card, ChannelRef, Link, Paper, Post, Subscription, ThreadItem
from bot.query import Query, QueryError, parse
from bot.search import last_update
from bot.tldr import shorten, tldr

AUTHORS_SHOWN = 3
MAX_SUGGESTED = 3  # "you may also like" papers a digest adds, beyond its cap
# `why` fields beside the matcher's (title, abstract, author, category): a `like:` topic's example
# the paper reads like, and a paper the channel's learned taste picked.
SIMILAR, LEARNED = "similar", "learned"
SUGGESTED_LINE = "you may also like"
# A paper on Hugging Face's daily list (bot.trending): its `why` holds the upvotes and the day.
TRENDING, TRENDING_LINE = "trending", "Trending on Hugging Face"
TITLE_CHARS = 250  # inside every platform's title limit (Discord's embed title is 256)


class Entry(NamedTuple):
    """One paper of a digest and the queries that matched it (with, on demand, the words they matched).

    A named tuple: a run at 100,000 subscriptions makes some 400,000 of them.
    """

    paper: Paper
    reasons: tuple[Reasons, ...]  # per query, why it matched
    queries: tuple[str, ...]
    caught_up: bool = False  # harvested after its announcement day: a missed day read later
    suggested: bool = False  # no query matched: the channel's learned taste picked it ("you may also like")
    similarity: float = 0.0  # how close to a `like:` topic's examples (0: no topic found it)

    @property
    def in_title(self) -> bool:
        return any(r.in_title for r in self.reasons)

    def why(self, *, words: bool = True) -> list[dict[str, Any]]:
        """What matched, per query: the ledger keeps this and cards are drawn from it.

        Without `words`, only the queries: finding the matched words in the paper is the costly
        part of matching, and a paper that will never be shown (over the cap) does not need them.
        """
        if self.suggested:
            return [{"query": "", "why": [{"field": LEARNED, "terms": []}]}]
        return [
            {"query": q, "why": [{"field": m.field, "terms": list(m.terms)} for m in r.why] if words else []}
            for q, r in zip(self.queries, self.reasons, strict=True)
        ]


class SubscriptionIndex:
    """The match index over stored subscriptions, kept from one digest run to the next.

    Subscriptions change a few at a time, while every run matches against all of them: a sync
    parses and indexes only what changed (building from scratch took ~2.5 s at 100,000).
    """

    def __init__(self) -> None:
        self.index: MatchIndex[int] = MatchIndex()
        self.subscriptions: dict[int, Subscription] = {}  # by id: what is indexed

    def sync(self, subscriptions: Iterable[Subscription]) -> MatchIndex[int]:
        current = {s.id: s for s in subscriptions}
        gone = self.subscriptions.keys() - current.keys()
        for sub_id in gone:
            self.index.remove(sub_id)
        # Many channels track the same text: in text order each is parsed once, and its tree is
        # dropped once indexed (the index keeps none; holding them all was 50 MB at 100,000).
        changed = sorted(
            (s.query, s.id)
            for s in current.values()
            if (old := self.subscriptions.get(s.id)) is None or old.query != s.query
        )
        self.subscriptions = current
        last_text: str | None = None
        query: Query | None = None
        for text, sub_id in changed:
            if text != last_text:
                last_text = text
                try:
                    query = parse(text)
                except QueryError:
                    query = None
            if query is None:
                # Stored before a grammar change: /tracked still lists it, /untrack removes it.
                self.index.remove(sub_id)
                continue
            self.index.add(sub_id, query)
        return self.index


def matches(
    subscriptions: Sequence[Subscription],
    candidates: Iterable[tuple[Paper, datetime]],
    delivered: Mapping[ChannelRef, Collection[str]],
    index: SubscriptionIndex | None = None,
    only: Collection[ChannelRef] | None = None,
) -> dict[ChannelRef, list[Entry]]:
    """Each channel's new matches, ranked: one index over all the subscriptions, one pass over the papers.

    `candidates` are (paper, harvested_at); `delivered` holds, per channel, the papers it already
    got (those among the candidates are enough). A subscription only gets papers harvested after
    it was created: tracking a topic does not replay the past into the next digest. `index`, when
    given, is synced to `subscriptions` and kept for the next call: give it all of them, and the
    channels wanted as `only` (syncing it to a few channels' would drop everyone else's).
    """
    with long_lived():  # the index and a million entries, none in a cycle: see bot.memory
        return _matches(subscriptions, candidates, delivered, index, only)


def _matches(
    subscriptions: Sequence[Subscription],
    candidates: Iterable[tuple[Paper, datetime]],
    delivered: Mapping[ChannelRef, Collection[str]],
    index: SubscriptionIndex | None,
    only: Collection[ChannelRef] | None,
) -> dict[ChannelRef, list[Entry]]:
    kept = index or SubscriptionIndex()
    matcher = kept.sync(subscriptions)
    papers: list[Paper] = []
    harvested: list[datetime] = []
    for paper, at in candidates:
        papers.append(paper)
        harvested.append(at)
    if not papers:
        return {}
    # A day at 100,000 subscriptions is about a million hits: they are grouped on integers (channel
    # number * papers + paper number), not on (ChannelRef, arXiv id) tuples, which cost seconds.
    n = len(papers)
    position = {p.arxiv_id: i for i, p in enumerate(papers)}
    channel_no: dict[ChannelRef, int] = {}
    channels: list[ChannelRef] = []

    def number(channel: ChannelRef) -> int:
        c = channel_no.get(channel)
        if c is None:
            c = channel_no[channel] = len(channels)
            channels.append(channel)
        return c

    oldest = min(harvested)
    # Harvested after its announcement day: a missed day read later (the header says so).
    read_late = [late(p, at) for p, at in zip(papers, harvested, strict=True)]
    done = {
        number(channel) * n + i
        for channel, ids in delivered.items()
        for a in ids
        if (i := position.get(a)) is not None
    }
    subs = kept.subscriptions
    # Matches come paper by paper: group each paper's per channel, then file them as entries. Most
    # entries have one query: their 1-tuples of query and of reasons are shared, not made per entry.
    per_channel: dict[int, list[Entry]] = {}
    one_query: dict[str, tuple[str]] = {}
    targets_of: dict[int, list[tuple[int, datetime | None, tuple[str]]]] = {}  # id(keys) -> targets
    new = tuple.__new__  # what Entry(...) does, without a Python-level call per entry
    current: dict[int, _Found] = {}  # this paper's matches, by channel number
    last_id, i = "", -1
    for arxiv_id, why, keys in _match_in_batches(matcher, papers):
        if arxiv_id != last_id:
            if current:
                _file(papers[i], read_late[i], current, per_channel, new)
                current = {}
            last_id = arxiv_id
            i = position[arxiv_id]
        targets = targets_of.get(id(keys))
        if targets is None:  # the same query (its keys) matches several papers: look them up once
            targets = targets_of[id(keys)] = [
                (
                    number(sub.channel),
                    sub.created_at if sub.created_at > oldest else None,  # None: it cannot matter
                    one_query.get(sub.query) or one_query.setdefault(sub.query, (sub.query,)),
                )
                for sub in map(subs.__getitem__, keys)
                if only is None or sub.channel in only
            ]
        reasons = (why,)
        for c, created, queries in targets:
            if created is not None and harvested[i] < created:
                continue
            if done and c * n + i in done:
                continue
            found = current.get(c)
            if found is None:
                current[c] = (queries, reasons)
            elif isinstance(found, list):
                found.append((queries[0], why))
            else:  # a second query of the channel matches this paper
                current[c] = [(found[0][0], found[1][0]), (queries[0], why)]
    if current:
        _file(papers[i], read_late[i], current, per_channel, new)
    return {channels[c]: rank(entries) for c, entries in per_channel.items()}


# A paper's matches in one channel: one query (its shared 1-tuples), or several (query, reasons).
_Found = tuple[tuple[str], tuple[Reasons]] | list[tuple[str, Reasons]]


# Papers matched between two checkpoints of the collector (see bot.memory): each collection then
# scans one batch's objects, a few hundredths of a second, not a whole fortnight's at once.
MATCH_BATCH = 2_500


def _match_in_batches(
    matcher: MatchIndex[int], papers: Sequence[Paper]
) -> Iterator[tuple[str, Reasons, Collection[int]]]:
    for start in range(0, len(papers), MATCH_BATCH):
        prepared = [prepare(p) for p in papers[start : start + MATCH_BATCH]]
        found = matcher.match_queries(prepared)
        for p in prepared:
            p.matched()
        yield from found
        checkpoint()


def _file(
    paper: Paper,
    caught_up: bool,
    found: Mapping[int, _Found],
    per_channel: dict[int, list[Entry]],
    new: Callable[..., Entry],
) -> None:
    """One paper's matches, per channel number, as entries of those channels."""
    for c, hits in found.items():
        if isinstance(hits, list):
            hits.sort(key=lambda qr: qr[0])
            entry = new(
                Entry, (paper, tuple(r for _, r in hits), tuple(q for q, _ in hits), caught_up, False, 0.0)
            )
        else:
            entry = new(Entry, (paper, hits[1], hits[0], caught_up, False, 0.0))
        entries = per_channel.get(c)
        if entries is None:
            per_channel[c] = [entry]
        else:
            entries.append(entry)


def _rank_key(e: Entry) -> tuple[bool, int, date, str]:
    reasons = e.reasons
    first = e.similarity > 0 or (
        reasons[0].in_title if len(reasons) == 1 else any(r.in_title for r in reasons)
    )
    paper = e.paper
    return (first, len(e.queries), paper.announced or date.min, paper.arxiv_id)


def late(paper: Paper, harvested_at: datetime) -> bool:
    """Harvested after its announcement day: a missed day read later (the header says so)."""
    return paper.announced is not None and harvested_at.astimezone(ARXIV_TZ).date() > paper.announced


def rank(entries: Iterable[Entry]) -> list[Entry]:
    """Title hits (and papers a `like:` topic found) before abstract-only ones, then more matching
    queries, then newer, then by id."""
    return sorted(entries, key=_rank_key, reverse=True)


def authors_line(authors: Sequence[str]) -> str:
    """The first three authors, then "et al.": a 300-author collaboration stays one line."""
    if len(authors) <= AUTHORS_SHOWN:
        return ", ".join(authors)
    return ", ".join(authors[:AUTHORS_SHOWN]) + f" et al. ({len(authors)} authors)"


def categories_line(paper: Paper) -> str:
    cross = paper.categories[1:]
    line = paper.primary_category
    if cross:
        line += " (also " + ", ".join(cross[:5]) + (", …" if len(cross) > 5 else "") + ")"
    return line


def dated_line(paper: Paper) -> str:
    """Which version and when, as DailyArXiv's tables date a paper: `v3, updated 9 Oct 2025`."""
    when = last_update(paper)
    if when.year <= 1:
        return f"v{paper.version}"
    day = f"{when.day} {when:%b %Y}"
    return f"v{paper.version}, updated {day}" if paper.version > 1 else f"v1, {day}"


def paper_card(paper: Paper, *, dated: bool = False, summary: str | None = None) -> Card:
    """What a card says about the paper itself (title, authors, meta, TL;DR, links): the costly part."""
    meta = [categories_line(paper)]
    if dated:
        meta.append(dated_line(paper))
    if paper.comment:
        meta.append(shorten(" ".join(paper.comment.split()), 200))
    if paper.journal_ref:
        meta.append(shorten(paper.journal_ref, 200))
    links = [Link("abs", paper.abs_url), Link("pdf", paper.pdf_url)]
    if paper.doi:
        links.append(Link("doi", f"https://doi.org/{paper.doi}"))
    return Card(
        title=shorten(" ".join(paper.title.split()), TITLE_CHARS),
        url=paper.abs_url,
        authors=authors_line(paper.authors),
        meta=tuple(meta),
        body=f"TL;DR (LLM): {summary}"
        if summary
        else ("TL;DR: " + tldr(paper.abstract))
        if paper.abstract.strip()
        else "",
        links=tuple(links),
        paper_id=paper.arxiv_id,
    )


def with_why(base: Card, why: Sequence[Mapping[str, Any]]) -> Card:
    """`base` with what matched (the ledger's record): the queries and fields, the words to mark."""
    matched, similar, highlights, upvotes = [], [], [], []
    learned = False
    for item in why:
        fields = sorted({r["field"] for r in item["why"]})
        if TRENDING in fields:
            upvotes += [r["terms"][0] for r in item["why"] if r["field"] == TRENDING and r["terms"]]
        elif LEARNED in fields:
            learned = True
        elif SIMILAR in fields:
            similar += [t for r in item["why"] if r["field"] == SIMILAR for t in r["terms"]]
        else:
            matched.append(f"{item['query']} ({', '.join(fields)})" if fields else item["query"])
        highlights += [t for r in item["why"] if r["field"] in ("title", "abstract") for t in r["terms"]]
    reasons = ["matched: " + "; ".join(matched)] if matched else []
    reasons += [f"similar to: {title}" for title in dict.fromkeys(similar)]
    if learned:
        reasons.append(
            f"{SUGGESTED_LINE}: no query matched it, but it reads like the papers this channel liked"
        )
    links = base.links
    if upvotes:
        count = int(upvotes[0])
        reasons.append(f"{TRENDING_LINE}: ▲ {count} upvote{'' if count == 1 else 's'}")
        links += (Link("Hugging Face", f"https://huggingface.co/papers/{base.paper_id}"),)
    if not reasons:
        return base
    return dataclasses.replace(
        base, footer=" · ".join(reasons), highlights=tuple(dict.fromkeys(highlights)), links=links
    )


def card(
    paper: Paper, why: Sequence[Mapping[str, Any]] = (), summary: str | None = None, *, dated: bool = False
) -> Card:
    """The render-neutral card of one paper; `why` is the ledger's record of what matched.

    `summary` is an LLM's TL;DR of the paper (bot.llm), marked as such; without one, the extractive
    TL;DR. `dated` adds which version and when (`/papers`).
    """
    return with_why(paper_card(paper, dated=dated, summary=summary), why)


def _identity(entry: Entry) -> int:
    """One int for the pair of tuple identities (ids are below 2**64)."""
    return id(entry.reasons) << 64 | id(entry.queries)


class RunCache:
    """What the channels of one digest run share, worked out once: cards, TL;DRs, `why` records.

    At 10,000 channels a popular paper is in hundreds of digests. Its title, authors, meta and
    TL;DR are the same in each, and so is what a query matched in it: an entry's `why` record and
    card are made once per paper and query, and shared. Keep one per run (papers change between
    runs: a comment or DOI arrives).
    """

    def __init__(self) -> None:
        self._base: dict[tuple[str, int, str | None], Card] = {}
        self._cards: dict[tuple[str, int, str, str | None], Card] = {}
        # By the identities of an entry's reasons and queries tuples, which `matches` shares between
        # the entries of one paper and query (and makes afresh for an entry of several queries).
        # Plain dicts of ints and strings, which the cyclic collector does not track; `_alive`
        # keeps the tuples alive so an identity is never reused within the run.
        self._why: dict[int, str] = {}
        self._facts_of: dict[int, tuple[str, str, tuple[str, ...]]] = {}
        self._entry_cards: dict[int, Card] = {}
        self._alive: list[object] = []
        self._explained: list[Reasons] = []

    def _base_card(self, paper: Paper, summary: str | None = None) -> Card:
        key = (paper.arxiv_id, paper.version, summary)
        base = self._base.get(key)
        if base is None:
            base = self._base[key] = paper_card(paper, summary=summary)
        return base

    def why_json(self, entry: Entry) -> str:
        """`json.dumps(entry.why())`: the ledger's record of a shown entry, with the matched words."""
        key = _identity(entry)
        found = self._why.get(key)
        if found is None and (entry.suggested or entry.similarity > 0):  # rare: the plain way
            found = self._why[key] = json.dumps(entry.why(), ensure_ascii=False)
            self._alive.append(entry)
        if found is None:
            parts = [
                f'{{"query": {json.dumps(q, ensure_ascii=False)}, "why": {self._facts(r)[0]}}}'
                for q, r in zip(entry.queries, entry.reasons, strict=True)
            ]
            found = self._why[key] = "[" + ", ".join(parts) + "]"
            self._alive.append(entry)
        return found

    def _facts(self, reasons: Reasons) -> tuple[str, str, tuple[str, ...]]:
        """What a query's reasons give a record and a card: the JSON, the fields, the words to mark."""
        found = self._facts_of.get(id(reasons))
        if found is None:
            why = reasons.why
            fragment = json.dumps(
                [{"field": m.field, "terms": list(m.terms)} for m in why], ensure_ascii=False
            )
            fields = ", ".join(sorted({m.field for m in why}))
            marks = tuple(dict.fromkeys(t for m in why if m.field in ("title", "abstract") for t in m.terms))
            found = self._facts_of[id(reasons)] = (fragment, fields, marks)
            self._explained.append(reasons)
        return found

    def entry_card(self, entry: Entry) -> Card:
        """The card of a shown entry: `card(entry.paper, entry.why())`, shared by equal entries."""
        key = _identity(entry)
        found = self._entry_cards.get(key)
        if found is None and (entry.suggested or entry.similarity > 0):  # rare: the plain way
            found = self._entry_cards[key] = with_why(self._base_card(entry.paper), entry.why())
            self._alive.append(entry)
        if found is None:
            base = self._base_card(entry.paper)
            facts = [self._facts(r) for r in entry.reasons]
            footer = "; ".join(
                f"{q} ({f[1]})" if f[1] else q for q, f in zip(entry.queries, facts, strict=True)
            )
            marks = facts[0][2] if len(facts) == 1 else tuple(dict.fromkeys(t for f in facts for t in f[2]))
            found = self._entry_cards[key] = dataclasses.replace(
                base, footer="matched: " + footer, highlights=marks
            )
            self._alive.append(entry)
        return found

    def card(self, paper: Paper, why_json: str = "[]", summary: str | None = None) -> Card:
        """`card(paper, json.loads(why_json), summary)` (from the ledger), the paper's part made once."""
        key = (paper.arxiv_id, paper.version, why_json, summary)
        found = self._cards.get(key)
        if found is None:
            found = self._cards[key] = with_why(self._base_card(paper, summary), json.loads(why_json))
        return found

    def forget_words(self) -> None:
        """Let go of the matched words worked out for the records and cards made so far.

        They are in those now; kept, they were most of the objects a run leaves behind (the
        collector's pass over them took a fourth of a second at 100,000 subscriptions).
        """
        for reasons in self._explained:
            reasons.forget_words()
        self._explained = []

    @property
    def papers(self) -> int:
        """How many papers' cards (and TL;DRs) were built."""
        return len(self._base)


def header(
    day: date | None, shown: Sequence[Entry], total: int, caught_up: Sequence[date] = ()
) -> tuple[str, tuple[str, ...]]:
    """The parent post: the day, how many papers (saying which days were caught up), and per query."""
    when = day.strftime("%a %d %b %Y") if day else "recent days"
    noun = "paper" if total == 1 else "papers"
    head = f"arXiv digest for {when}: {total} new {noun}"
    notes = [f"top {len(shown)} below"] if len(shown) < total else []
    earlier = [d.strftime("%a %d %b") for d in sorted(caught_up) if d != day]
    if earlier:
        notes.append(f"includes {', '.join(earlier)}, caught up")
    elif caught_up:
        notes.append("caught up")
    if notes:
        head += f" ({'; '.join(notes)})"
    per_query: dict[str, int] = {}
    for e in shown:
        for q in e.queries:
            per_query[q] = per_query.get(q, 0) + 1
    lines = tuple(f"• {q}: {n}" for q, n in sorted(per_query.items(), key=lambda kv: (-kv[1], kv[0])))
    suggested = sum(1 for e in shown if e.suggested)
    if suggested:
        lines += (f"• {SUGGESTED_LINE}: {suggested}",)
    return head, lines


def overflow_footer(rest: Sequence[Entry]) -> str:
    """`+12 more — /papers video retrieval` (the query most of the rest matched)."""
    if not rest:
        return ""
    counts: dict[str, int] = {}
    for e in rest:
        for q in e.queries:
            counts[q] = counts.get(q, 0) + 1
    top = min(counts, key=lambda q: (-counts[q], q))
    return f"+{len(rest)} more — /papers {top}"


@dataclass(frozen=True, slots=True)
class Plan:
    """A digest before posting: the parent's text, the papers shown, and the overflow."""

    header: str
    lines: tuple[str, ...]
    footer: str
    shown: tuple[Entry, ...]
    rest: tuple[Entry, ...]


def plan(entries: Sequence[Entry], max_papers: int) -> Plan:
    """The digest of ranked `entries`, capped at `max_papers`; suggestions come after, beyond the cap."""
    matched = [e for e in entries if not e.suggested]
    suggested = tuple(e for e in entries if e.suggested)[:MAX_SUGGESTED]
    entries = matched + list(suggested)
    shown, rest = tuple(matched[:max_papers]) + suggested, tuple(matched[max_papers:])
    days = [e.paper.announced for e in entries if e.paper.announced]
    read_late = {e.paper.announced for e in entries if e.caught_up and e.paper.announced}
    head, lines = header(max(days) if days else None, shown, len(entries), sorted(read_late))
    return Plan(head, lines, overflow_footer(rest), shown, rest)


class Row(NamedTuple):
    """One entry as the ledger records it."""

    arxiv_id: str
    queries: tuple[str, ...]
    why: str  # JSON: per query, the fields and (for a shown paper) the words that matched
    state: str  # pending (to be shown) | overflow (summarised in the footer)


@dataclass(frozen=True, slots=True)
class Ready:
    """A channel's digest ready to record and send: its plan, the shown papers' `why`, its messages."""

    plan: Plan
    why: tuple[str, ...]  # the ledger's record of each shown entry (JSON, with the matched words)
    parent: Post
    thread: tuple[ThreadItem, ...]  # a card per shown entry, then the footer (if any)

    def rows(self) -> Iterator[Row]:
        """The ledger's rows, in order: the shown papers, then the overflow (made as they are written)."""
        for e, why in zip(self.plan.shown, self.why, strict=True):
            yield Row(e.paper.arxiv_id, e.queries, why, "pending")
        for e in self.plan.rest:
            yield Row(e.paper.arxiv_id, e.queries, _queries_only(e.queries), "overflow")


@functools.lru_cache(maxsize=1 << 14)
def _queries_only(queries: tuple[str, ...]) -> str:
    """The `why` of an entry not shown: its queries, no words."""
    return json.dumps([{"query": q, "why": []} for q in queries], ensure_ascii=False)


def ready(
    found: Mapping[ChannelRef, Sequence[Entry]], max_papers: Callable[[ChannelRef], int], run: RunCache
) -> dict[ChannelRef, Ready]:
    """Every channel's digest from its ranked matches: plans, `why` records, cards (shared via `run`).

    CPU work for seconds at 10,000 channels: call it in a worker thread.
    """
    with long_lived():  # hundreds of thousands of objects kept until posted (see bot.memory)
        return _ready(found, max_papers, run)


READY_BATCH = 2_000  # channels between two checkpoints of the collector


def _ready(
    found: Mapping[ChannelRef, Sequence[Entry]], max_papers: Callable[[ChannelRef], int], run: RunCache
) -> dict[ChannelRef, Ready]:
    out: dict[ChannelRef, Ready] = {}
    for k, (channel, entries) in enumerate(found.items(), start=1):
        if k % READY_BATCH == 0:
            checkpoint()
        planned = plan(entries, max_papers(channel))
        why = tuple(run.why_json(e) for e in planned.shown)
        cards = tuple(run.entry_card(e) for e in planned.shown)
        thread: tuple[ThreadItem, ...] = cards + ((planned.footer,) if planned.footer else ())
        out[channel] = Ready(planned, why, Post(planned.header, planned.lines), thread)
    run.forget_words()
    return out


def digests(
    subscriptions: Sequence[Subscription],
    candidates: Iterable[tuple[Paper, datetime]],
    delivered: Mapping[ChannelRef, Collection[str]],
    max_papers: Callable[[ChannelRef], int],
    run: RunCache,
    *,
    index: SubscriptionIndex | None = None,
    only: Collection[ChannelRef] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[ChannelRef, Ready]:
    """`matches` then `ready` in one go: the whole of a digest run before the first message is sent.

    One pause of the cyclic collector, and one pass of it at the end (see bot.memory), rather
    than one after each step. `timings`, when given, gets the seconds of each step.
    """
    times = timings if timings is not None else {}
    started = time.perf_counter()
    with long_lived():
        found = _matches(subscriptions, candidates, delivered, index, only)
        matched = time.perf_counter()
        out = _ready(found, max_papers, run)
        times["plans"] = time.perf_counter() - matched
        finished = time.perf_counter()
    times["match"] = matched - started
    times["collector"] = time.perf_counter() - finished
    return out
