"""A channel's digest: which papers, in which order, and how each card reads.

Pure functions over papers and subscriptions; `bot.delivery` does the ledger
and the posting. A paper matched by several of a channel's queries is one
entry listing all of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.arxiv_calendar import ARXIV_TZ
from bot.matching import Hit, MatchIndex
from bot.models import Card, ChannelRef, Link, Paper, Subscription
from bot.query import Query, QueryError, parse
from bot.tldr import shorten, tldr

AUTHORS_SHOWN = 3
MAX_SUGGESTED = 3  # "you may also like" papers a digest adds, beyond its cap
# `why` fields beside the matcher's (title, abstract, author, category): a `like:` topic's example
# the paper reads like, and a paper the channel's learned taste picked.
SIMILAR, LEARNED = "similar", "learned"
SUGGESTED_LINE = "you may also like"
TITLE_CHARS = 250  # inside every platform's title limit (Discord's embed title is 256)


@dataclass(frozen=True, slots=True)
class Entry:
    """One paper of a digest and the queries that matched it (with the words they matched)."""

    paper: Paper
    hits: tuple[Hit[int], ...]
    queries: tuple[str, ...]
    caught_up: bool = False  # harvested after its announcement day: a missed day read later
    suggested: bool = False  # no query matched: the channel's learned taste picked it ("you may also like")
    similarity: float = 0.0  # how close to a `like:` topic's examples (0: no topic found it)

    @property
    def in_title(self) -> bool:
        return any(h.in_title for h in self.hits)

    def why(self, *, words: bool = True) -> list[dict[str, Any]]:
        """What matched, per query: the ledger keeps this and cards are drawn from it.

        Without `words`, only the queries: finding the matched words in the paper is the costly
        part of matching, and a paper that will never be shown (over the cap) does not need them.
        """
        if self.suggested:
            return [{"query": "", "why": [{"field": LEARNED, "terms": []}]}]
        return [
            {"query": q, "why": [{"field": r.field, "terms": list(r.terms)} for r in h.why] if words else []}
            for q, h in zip(self.queries, self.hits, strict=True)
        ]


# Stored queries are canonical text: parsing each distinct one once per process is enough.
_parse_stored = functools.lru_cache(maxsize=1 << 17)(parse)


class SubscriptionIndex:
    """The match index over stored subscriptions, kept from one digest run to the next.

    Subscriptions change a few at a time, while every run matches against all of them: a sync
    parses and indexes only what changed (building from scratch took ~2.5 s at 100,000).
    """

    def __init__(self) -> None:
        self.index: MatchIndex[int] = MatchIndex()
        self._texts: dict[int, str] = {}  # subscription id -> the query text indexed for it

    def sync(self, subscriptions: Iterable[Subscription]) -> MatchIndex[int]:
        current = {s.id: s.query for s in subscriptions}
        for sub_id in self._texts.keys() - current.keys():
            self.index.remove(sub_id)
            del self._texts[sub_id]
        for sub_id, text in current.items():
            if self._texts.get(sub_id) == text:
                continue
            self._texts[sub_id] = text
            try:
                query: Query = _parse_stored(text)
            except QueryError:
                # Stored before a grammar change: /tracked still lists it, /untrack removes it.
                self.index.remove(sub_id)
                continue
            self.index.add(sub_id, query)
        return self.index


def matches(
    subscriptions: Sequence[Subscription],
    candidates: Iterable[tuple[Paper, datetime]],
    delivered: Mapping[ChannelRef, set[str]],
    index: SubscriptionIndex | None = None,
) -> dict[ChannelRef, list[Entry]]:
    """Each channel's new matches, ranked: one index over all the subscriptions, one pass over the papers.

    `candidates` are (paper, harvested_at); `delivered` holds, per channel, the papers it already
    got. A subscription only gets papers harvested after it was created: tracking a topic does
    not replay the past into the next digest. `index`, when given, is synced to `subscriptions`
    and kept for the next call.
    """
    matcher = (index or SubscriptionIndex()).sync(subscriptions)
    harvested = {}
    papers = []
    for paper, at in candidates:
        harvested[paper.arxiv_id] = at
        papers.append(paper)
    by_id = {s.id: s for s in subscriptions}
    grouped: dict[tuple[ChannelRef, str], list[Hit[int]]] = {}
    for hit in matcher.match(papers):
        sub = by_id[hit.key]
        if harvested[hit.arxiv_id] >= sub.created_at and hit.arxiv_id not in delivered.get(sub.channel, ()):
            grouped.setdefault((sub.channel, hit.arxiv_id), []).append(hit)
    paper_of = {p.arxiv_id: p for p in papers}
    per_channel: dict[ChannelRef, list[Entry]] = {}
    for (channel, arxiv_id), hits in grouped.items():
        hits.sort(key=lambda h: by_id[h.key].query)
        paper = paper_of[arxiv_id]
        entry = Entry(
            paper, tuple(hits), tuple(by_id[h.key].query for h in hits), late(paper, harvested[arxiv_id])
        )
        per_channel.setdefault(channel, []).append(entry)
    return {channel: rank(entries) for channel, entries in per_channel.items()}


def late(paper: Paper, harvested_at: datetime) -> bool:
    """Harvested after its announcement day: a missed day read later (the header says so)."""
    return paper.announced is not None and harvested_at.astimezone(ARXIV_TZ).date() > paper.announced


def rank(entries: Iterable[Entry]) -> list[Entry]:
    """Title hits (and papers a `like:` topic found) before abstract-only ones, then more matching
    queries, then newer, then by id."""

    # Two stable sorts: newest first, then by relevance, so ties in relevance stay newest first.
    newest = sorted(entries, key=lambda e: (e.paper.announced or date.min, e.paper.arxiv_id), reverse=True)
    return sorted(newest, key=lambda e: (not (e.in_title or e.similarity > 0), -len(e.queries)))


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


def card(paper: Paper, why: Sequence[Mapping[str, Any]] = (), summary: str | None = None) -> Card:
    """The render-neutral card of one paper; `why` is the ledger's record of what matched.

    `summary` is an LLM's TL;DR of the paper (bot.llm), marked as such; without one, the extractive TL;DR.
    """
    meta = [categories_line(paper)]
    if paper.comment:
        meta.append(shorten(" ".join(paper.comment.split()), 200))
    if paper.journal_ref:
        meta.append(shorten(paper.journal_ref, 200))
    links = [Link("abs", paper.abs_url), Link("pdf", paper.pdf_url)]
    if paper.doi:
        links.append(Link("doi", f"https://doi.org/{paper.doi}"))
    matched, similar, highlights = [], [], []
    learned = False
    for item in why:
        fields = sorted({r["field"] for r in item["why"]})
        if LEARNED in fields:
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
        footer=" · ".join(reasons),
        highlights=tuple(dict.fromkeys(highlights)),
        paper_id=paper.arxiv_id,
    )


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
