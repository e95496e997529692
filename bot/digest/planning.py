"""A digest run's plans, made at once for all its channels: each digest, its ledger rows, its cards.

`Deliverer.prepare` matches every channel of a run in one pass (bot.digest.compose) and hands the ranked
matches here. Per channel: the plan (capped by the channel's setting), the ledger's rows (the
shown papers with the words that matched; the ids of the rest, its overflow) and a card per shown paper. A
popular paper is in hundreds of digests: its card, TL;DR and `why` record are made once per paper
and query (`RunCache`) and shared. Channels come out in batches, which the deliverer writes to the
ledger (storage.deliveries.plan_many) while the next batch is made.
"""

from __future__ import annotations

import gc
import json
import json.encoder
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.digest.compose import Entry, paper_card, plan, split, with_why
from bot.digest.why import loads as read_why
from bot.matching.reasons import Reasons
from bot.models import Card, ChannelRef, Paper, Platform
from bot.ports import CommandNaming, slash
from bot.runtime.allocator import give_back
from storage.deliveries import NewDigest

BATCH_ROWS = 10_000  # ledger rows per batch at most: one transaction of a tenth of a second or two
BATCH_SECONDS = 0.25  # ... and making a batch takes about this long at most
RELEASE_SLICE = 5_000  # entries freed at once when a run is planned


# JSON string literals, made in C: `json.dumps(text)` costs ten times as much for one string, and
# a run makes hundreds of thousands. `_text` is `ensure_ascii=False`, `_ascii` the default.
_text: Callable[[str], str] = json.encoder.encode_basestring
_ascii: Callable[[str], str] = json.encoder.encode_basestring_ascii


def queries_json(queries: Sequence[str]) -> str:
    """`json.dumps(list(queries))`: the ledger's record of which queries matched."""
    return "[" + ", ".join(map(_ascii, queries)) + "]"


class _Ids(dict[str, str]):
    """Per arXiv id, its JSON literal."""

    def __missing__(self, arxiv_id: str) -> str:
        literal = self[arxiv_id] = _ascii(arxiv_id)
        return literal


class RunCache:
    """What the channels of one digest run share, worked out once: cards, TL;DRs, `why` records.

    At 10,000 channels a popular paper is in hundreds of digests. Its title, authors, meta and
    TL;DR are the same in each, and so is what a query matched in it: an entry's `why` record and
    card are made once per paper and query, and shared. Keep one per run (papers change between
    runs: a comment or DOI arrives). `summaries` are the run's LLM TL;DRs by arXiv id (bot.digest.llm);
    `names`, how each platform's adapter names commands (a digest's footer mentions /papers).
    """

    def __init__(
        self,
        summaries: Mapping[str, str] | None = None,
        names: Mapping[Platform, CommandNaming] | None = None,
    ) -> None:
        self.summaries = summaries or {}
        self.names = names or {}
        self._base: dict[tuple[str, int, str | None], Card] = {}
        self._cards: dict[tuple[str, int, str, str | None], Card] = {}
        # By entry identity: `matches` makes one entry per paper and query, shared by every channel
        # tracking the query (and one per channel for a paper several of its queries matched).
        # Plain dicts of ints and strings, which the cyclic collector does not track; `_alive`
        # keeps the entries alive so an identity is never reused within the run.
        self._why: dict[int, str] = {}
        self._facts_of: dict[int, tuple[str, str, tuple[str, ...]]] = {}
        self._entry_cards: dict[int, Card] = {}
        # A shown entry as a batch has it: the tail of its ledger row (`"<queries>","<why>"`), its card.
        self._shown: dict[int, tuple[str, Card]] = {}
        self._alive: list[object] = []
        self._explained: list[Reasons] = []
        self._ids = _Ids()
        # Per paper, its entries to be shown whose parts are not made yet (`expect`).
        self._waiting: dict[str, dict[int, Entry]] = {}

    def _base_card(self, paper: Paper, summary: str | None = None) -> Card:
        key = (paper.arxiv_id, paper.version, summary)
        base = self._base.get(key)
        if base is None:
            base = self._base[key] = paper_card(paper, summary=summary)
        return base

    def why_json(self, entry: Entry) -> str:
        """`json.dumps(entry.why())`: the ledger's record of a shown entry, with the matched words."""
        key = id(entry)
        found = self._why.get(key)
        if found is None:
            found = self._why[key] = self._why_text(entry)
            self._alive.append(entry)
        return found

    def _why_text(self, entry: Entry) -> str:
        if entry.suggested or entry.similarity > 0:  # rare: the plain way
            return json.dumps(entry.why(), ensure_ascii=False)
        parts = [
            f'{{"query": {_text(q)}, "why": {self._facts(r)[0]}}}'
            for q, r in zip(entry.queries, entry.reasons, strict=True)
        ]
        return "[" + ", ".join(parts) + "]"

    def _facts(self, reasons: Reasons) -> tuple[str, str, tuple[str, ...]]:
        """What a query's reasons give a record and a card: the JSON, the fields, the words to mark."""
        found = self._facts_of.get(id(reasons))
        if found is None:
            why = reasons.explain()  # not kept: what is needed of it is kept here
            fragment = (  # json.dumps([{"field": ..., "terms": [...]}, ...], ensure_ascii=False)
                "["
                + ", ".join(
                    f'{{"field": {_text(m.field)}, "terms": [{", ".join(map(_text, m.terms))}]}}' for m in why
                )
                + "]"
            )
            fields = ", ".join(sorted({m.field for m in why}))
            marks = tuple(dict.fromkeys(t for m in why if m.field in ("title", "abstract") for t in m.terms))
            found = self._facts_of[id(reasons)] = (fragment, fields, marks)
            self._explained.append(reasons)
        return found

    def entry_card(self, entry: Entry) -> Card:
        """The card of a shown entry: `card(entry.paper, entry.why(), summary)`, shared by equal entries."""
        key = id(entry)
        found = self._entry_cards.get(key)
        if found is None:
            found = self._entry_cards[key] = self._card_of(entry)
            self._alive.append(entry)
        return found

    def _card_of(self, entry: Entry) -> Card:
        base = self._base_card(entry.paper, self.summaries.get(entry.paper.arxiv_id))
        if entry.suggested or entry.similarity > 0:  # rare: the plain way
            return with_why(base, entry.why())
        facts = [self._facts(r) for r in entry.reasons]
        footer = "; ".join(f"{q} ({f[1]})" if f[1] else q for q, f in zip(entry.queries, facts, strict=True))
        marks = facts[0][2] if len(facts) == 1 else tuple(dict.fromkeys(t for f in facts for t in f[2]))
        # What `with_why` makes, field by field (dataclasses.replace took a tenth of a run).
        b = base
        return Card(
            b.title, b.url, b.authors, b.meta, b.body, b.links, "matched: " + footer, marks, b.paper_id
        )

    def card(self, paper: Paper, why_json: str = "[]", summary: str | None = None) -> Card:
        """`card(paper, read_why(why_json), summary)` (from the ledger), the paper's part made once."""
        key = (paper.arxiv_id, paper.version, why_json, summary)
        found = self._cards.get(key)
        if found is None:
            found = self._cards[key] = with_why(self._base_card(paper, summary), read_why(why_json))
        return found

    def ledger(
        self, number: int, shown: Sequence[Entry], rest: Sequence[Entry]
    ) -> tuple[str, str, tuple[Card, ...]]:
        """A digest's ledger rows and overflow as `plan_many` takes them, and its shown entries' cards.

        The rows are JSON array elements, comma-separated: `[number, position, arxiv_id, queries
        JSON, why JSON, "pending"]`, one per shown entry, with the words that matched. Their JSON
        texts are string literals inside the batch's JSON, each made once per paper, query and
        record. The overflow is the JSON array of the rest's ids.
        """
        ids, made = self._ids, self._shown
        parts = []
        cards = []
        for position, e in enumerate(shown):
            found = made.get(id(e))
            if found is None:
                waiting = self._waiting.pop(e.paper.arxiv_id, None)
                if waiting is not None:  # the first of the paper's entries to be shown: make them all
                    self._make_paper(waiting)
                    found = made.get(id(e))
                if found is None:  # not expected
                    found = self._make(e)
            parts.append(f"[{number},{position},{ids[e.paper.arxiv_id]},{found[0]}]")
            cards.append(found[1])
        overflow = "[" + ",".join([ids[e.paper.arxiv_id] for e in rest]) + "]"
        return ",".join(parts), overflow, tuple(cards)

    def expect(self, digests: Iterable[Sequence[Entry]]) -> None:
        """Say which entries the run's digests will show: their parts are then made paper by paper.

        Working out the matched words needs, per paper, the positions of its words and the phrases
        found. Made digest by digest, those were held for every paper until the whole run was
        planned (some 25 MB at 100,000 subscriptions). Told what will be shown, `ledger` makes every
        shown entry of a paper when the first of them is needed, then lets go of that paper's words.
        """
        waiting = self._waiting
        made = self._shown
        for shown in digests:
            for e in shown:
                if id(e) not in made:
                    waiting.setdefault(e.paper.arxiv_id, {})[id(e)] = e

    def _make_paper(self, entries: dict[int, Entry]) -> None:
        """The ledger tails and cards of a paper's shown entries; then its words are let go of."""
        made = self._shown
        for key, e in entries.items():
            if key not in made:
                self._make(e)
        facts = self._facts_of
        for reasons in self._explained:  # this paper's: its words are in its records and cards now
            reasons.forget_words()
            del facts[id(reasons)]
        self._explained = []

    def _make(self, e: Entry) -> tuple[str, Card]:
        """A shown entry's ledger tail and card, kept for every digest showing it."""
        found = self._shown[id(e)] = (self._tail(e), self._card_of(e))
        self._alive.append(e)  # its identity is the key: never reused within the run
        return found

    def _tail(self, e: Entry) -> str:
        """The end of a shown entry's ledger row, the same in every digest showing it."""
        return f'{_text(queries_json(e.queries))},{_text(self._why_text(e))},"pending"'

    def forget_words(self) -> None:
        """Let go of the matched words worked out for the records and cards made so far.

        They are in those now; kept, they were most of the objects a run leaves behind (the
        collector's pass over them took a fourth of a second at 100,000 subscriptions).
        """
        for reasons in self._explained:
            reasons.forget_words()
        self._explained = []

    def planned(self) -> None:
        """Planning is over: let go of what only the ledger's rows needed (cards stay, until posted)."""
        self.forget_words()
        held: tuple[dict[Any, Any], ...] = (
            self._why,
            self._facts_of,
            self._entry_cards,
            self._shown,
            self._ids,
        )
        alive = self._alive
        self._why, self._facts_of, self._entry_cards, self._shown, self._alive = {}, {}, {}, {}, []
        self._ids = _Ids()
        self._waiting = {}  # empty, unless a batch failed before every digest was made
        # What the run held (records, entries, and what only they hold) is freed a slice at a time:
        # freeing a hundred thousand objects at once is one call that holds the GIL for a tenth of
        # a second, and the event loop (slash commands) waits.
        for table in held:  # key by key: each a moment
            for key in list(table):
                del table[key]
        while alive:
            del alive[-RELEASE_SLICE:]

    @property
    def papers(self) -> int:
        """How many papers' cards (and TL;DRs) were built."""
        return len(self._base)


@dataclass(slots=True)
class Batch:
    """Digests to write to the ledger in one transaction, with the cards of each (by position)."""

    digests: list[NewDigest] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)  # per digest: its shown papers' rows (`RunCache.ledger`)
    cards: list[tuple[Card, ...]] = field(default_factory=list)  # per digest: its shown papers' cards
    entries: int = 0  # its rows


def batches(
    found: dict[ChannelRef, list[Entry]],
    targets: Sequence[tuple[ChannelRef, int]],
    run: RunCache,
    today: date,
    size: int = BATCH_ROWS,
    seconds: float = BATCH_SECONDS,
) -> Iterator[Batch]:
    """The digests of `targets` (channel, cap) from their ranked matches in `found`, in batches.

    CPU work (seconds at 10,000 channels): take each batch with `next_batch` in a worker thread.
    A channel's matches are taken out of `found` as its digest is made: a run's 400,000 entries
    are let go of as they are planned. Numbers count from 1 within each batch.

    A batch ends at `size` rows or after `seconds` of making, whichever comes first: the first
    digests cost most (each of their papers has all its cards made, `RunCache.expect`), and the
    ledger's writes, each made while the next batch is, would otherwise wait for them all and
    then run back to back.
    """
    run.expect(split(found[channel], cap)[0] for channel, cap in targets)
    batch, began = Batch(), time.perf_counter()
    for channel, cap in targets:
        planned = plan(found.pop(channel), cap, run.names.get(channel.platform, slash))
        number = len(batch.digests) + 1
        day = planned.day or today
        rows, overflow, cards = run.ledger(number, planned.shown, planned.rest)
        batch.digests.append(
            NewDigest(
                channel,
                number,
                day.isoformat(),
                planned.header,
                planned.lines,
                planned.footer,
                overflow=overflow,
            )
        )
        batch.rows.append(rows)
        batch.cards.append(cards)
        batch.entries += len(planned.shown)
        if batch.entries >= size or time.perf_counter() - began >= seconds:
            yield batch
            batch, began = Batch(), time.perf_counter()
    if batch.digests:
        yield batch


def next_batch(made: Iterator[Batch]) -> Batch | None:
    """The next batch of `batches` (None when done)."""
    return next(made, None)


def finish(run: RunCache) -> None:
    """After the last batch: the matched words are let go of (they are in the rows and cards now),
    and what lives on (cards, until posted) is put out of the collector's way, uncollected: planning
    makes no garbage cycle (see bot.runtime.memory)."""
    run.planned()
    gc.freeze()
    give_back()  # what planning freed, to the system (bot.runtime.allocator)
