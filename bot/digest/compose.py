"""A channel's digest: which papers, in which order, and how each card reads.

Pure functions over a channel's ranked entries (found by `bot.digest.matches`); `bot.digest.delivery`
does the ledger and `bot.digest.posting` the posting. A paper matched by several of a channel's queries
is one entry listing all of them.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from bot.digest.tldr import tldr
from bot.digest.why import LEARNED, SIMILAR, TRENDING, QueryWhy, Why, learned
from bot.matching.reasons import Reasons
from bot.matching.search import last_update
from bot.models import Card, Link, Paper
from bot.ports import CommandNaming, slash
from bot.textcut import shorten

AUTHORS_SHOWN = 3
MAX_SUGGESTED = 3  # "you may also like" papers a digest adds, beyond its cap
SUGGESTED_LINE = "you may also like"
TRENDING_LINE = "Trending on Hugging Face"  # a paper on Hugging Face's daily list (bot.trending.daily)
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

    def why(self, *, words: bool = True) -> Why:
        """What matched, per query: the ledger keeps this and cards are drawn from it.

        Without `words`, only the queries: finding the matched words in the paper is the costly
        part of matching, and a paper that will never be shown (over the cap) does not need them.
        """
        if self.suggested:
            return learned()
        return [
            {"query": q, "why": [{"field": m.field, "terms": list(m.terms)} for m in r.why] if words else []}
            for q, r in zip(self.queries, self.reasons, strict=True)
        ]


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
        links=paper.links(),
        paper_id=paper.arxiv_id,
    )


def with_why(base: Card, why: Sequence[QueryWhy]) -> Card:
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
    paper: Paper, why: Sequence[QueryWhy] = (), summary: str | None = None, *, dated: bool = False
) -> Card:
    """The render-neutral card of one paper; `why` is the ledger's record of what matched.

    `summary` is an LLM's TL;DR of the paper (bot.digest.llm), marked as such; without one, the extractive
    TL;DR. `dated` adds which version and when (`/papers`).
    """
    return with_why(paper_card(paper, dated=dated, summary=summary), why)


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


def overflow_footer(rest: Sequence[Entry], name: CommandNaming = slash) -> str:
    """`+12 more — /papers video retrieval`: the query most of the rest matched, in `name`'s names."""
    if not rest:
        return ""
    counts = Counter(itertools.chain.from_iterable(map(_queries, rest)))
    top = min(counts, key=lambda q: (-counts[q], q))
    return f"+{len(rest)} more — {name('papers')} {top}"


@dataclass(frozen=True, slots=True)
class Plan:
    """A digest before posting: the parent's text, the papers shown, and the overflow."""

    header: str
    lines: tuple[str, ...]
    footer: str
    shown: tuple[Entry, ...]
    rest: tuple[Entry, ...]
    day: date | None = None  # the newest announcement day among its papers


# C-level getters: a run plans 10,000 digests of some 40 entries each.
_announced = operator.attrgetter("paper.announced")
_caught_up = operator.attrgetter("caught_up")
_queries = operator.attrgetter("queries")
_suggested = operator.attrgetter("suggested")


def split(entries: Sequence[Entry], max_papers: int) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    """The entries a digest of ranked `entries` shows (capped, then its suggestions), and the rest."""
    if any(map(_suggested, entries)):
        matched = [e for e in entries if not e.suggested]
        suggested = tuple(e for e in entries if e.suggested)[:MAX_SUGGESTED]
        return tuple(matched[:max_papers]) + suggested, tuple(matched[max_papers:])
    return tuple(entries[:max_papers]), tuple(entries[max_papers:])


def plan(entries: Sequence[Entry], max_papers: int, name: CommandNaming = slash) -> Plan:
    """The digest of ranked `entries`, capped at `max_papers`; suggestions come after, beyond the cap."""
    shown, rest = split(entries, max_papers)
    entries = shown + rest  # without the suggestions beyond MAX_SUGGESTED
    day = max(filter(None, map(_announced, entries)), default=None)
    read_late = (
        {e.paper.announced for e in entries if e.caught_up and e.paper.announced}
        if any(map(_caught_up, entries))
        else ()
    )
    head, lines = header(day, shown, len(entries), sorted(read_late))
    return Plan(head, lines, overflow_footer(rest, name), shown, rest, day)
