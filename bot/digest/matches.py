"""Every channel's new matches in one pass: one index over all subscriptions, grouped on integer ids, ranked.

A digest run at 10,000 channels matches once for all of them (bot.digest.delivery);
`bot.digest.compose` then plans each channel's digest from its ranked entries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime

from bot.arxiv.calendar import ARXIV_TZ
from bot.digest.compose import Entry
from bot.matching.index import MatchIndex
from bot.matching.paper import prepare
from bot.matching.query import parse_stored
from bot.matching.reasons import Reasons
from bot.models import ChannelRef, Paper, Subscription
from bot.runtime.memory import checkpoint, keep, long_lived

SYNC_BATCH = 1_000  # subscriptions indexed between two checkpoints of the collector


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
        # Many channels track the same text: grouped by text, each is parsed once, and its tree is
        # dropped once indexed (the index keeps none; holding them all was 50 MB at 100,000). Grouped
        # in a dict, not sorted: sorting 100,000 pairs is one call that holds the GIL for a tenth
        # of a second, and the event loop waits.
        changed: dict[str, list[int]] = {}
        for s in current.values():
            if (old := self.subscriptions.get(s.id)) is None or old.query != s.query:
                ids = changed.get(s.query)
                if ids is None:
                    changed[s.query] = [s.id]
                else:
                    ids.append(s.id)
        self.subscriptions = current
        n = 0
        for text, ids in changed.items():
            query = parse_stored(text)
            for sub_id in ids:
                n += 1
                if n % SYNC_BATCH == 0:
                    # Building from scratch makes millions of objects: the collector passes over them
                    # a batch at a time, not in one pause of a third of a second (see
                    # bot.runtime.memory): over what the batch made.
                    checkpoint()
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
    # The index and half a million entries, none in a cycle; what preparing papers leaves is
    # collected as it is made (see `_match_in_batches` and bot.runtime.memory).
    with long_lived(collect=False):
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
    # Newest first (as digests rank equal entries), so each channel's entries come in that order
    # and ranking them needs no sort but of the few that several queries matched (see `_ranked`).
    listed = sorted(candidates, key=lambda pa: (pa[0].announced or date.min, pa[0].arxiv_id), reverse=True)
    if not listed:
        return {}
    papers = [p for p, _ in listed]
    harvested = [at for _, at in listed]
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
    # entries have one query: the entry of a paper and a query is the same in every channel that
    # tracks the query, and is made once (there are a third as many as entries in digests).
    filed = _Filed()
    one_query: dict[str, tuple[str]] = {}
    # id(keys) -> per query text (one, unless a stored text is not in its canonical form), its
    # 1-tuple and its targets: (channel number, created_at)
    targets_of: dict[int, list[tuple[tuple[str], list[tuple[int, datetime | None]]]]] = {}
    current: dict[int, _Hit] = {}  # this paper's matches, by channel number
    several: dict[int, list[tuple[str, Reasons]]] = {}  # ... where several queries matched it
    ones: dict[int, tuple[Reasons]] = {}  # this paper's 1-tuples of reasons, by id
    last_id, i = "", -1
    new = tuple.__new__  # what Entry(...) does, without a Python-level call per entry
    for arxiv_id, why, keys in _match_in_batches(matcher, papers):
        if arxiv_id != last_id:
            if current:
                filed.file(current, several)
                current, several, ones = {}, {}, {}
            last_id = arxiv_id
            i = position[arxiv_id]
            paper, at, caught_up = papers[i], harvested[i], read_late[i]
        found = targets_of.get(id(keys))
        if found is None:  # the same query (its keys) matches several papers: look them up once
            found = targets_of[id(keys)] = _targets(
                (sub for sub in map(subs.__getitem__, keys) if only is None or sub.channel in only),
                number,
                oldest,
                one_query,
            )
        reasons = ones.get(id(why))
        if reasons is None:  # a paper's hits of the same words share their `why`
            reasons = ones[id(why)] = (why,)
        in_title = why.in_title
        for queries, targets in found:
            hit = (new(Entry, (paper, reasons, queries, caught_up, False, 0.0)), in_title)
            for c, created in targets:
                if created is not None and at < created:  # None: created before every candidate
                    continue
                if done and c * n + i in done:
                    continue
                first = current.setdefault(c, hit)
                if first is not hit:  # a second query of the channel matches this paper
                    many = several.get(c)
                    if many is None:
                        several[c] = [(first[0].queries[0], first[0].reasons[0]), (queries[0], why)]
                    else:
                        many.append((queries[0], why))
    if current:
        filed.file(current, several)
    return {channels[c]: entries for c, entries in filed.ranked()}


# One query's match of a paper: its entry (shared by the channels tracking the query), and
# whether the title matched.
_Hit = tuple[Entry, bool]


def _targets(
    subs: Iterable[Subscription],
    number: Callable[[ChannelRef], int],
    oldest: datetime,
    one_query: dict[str, tuple[str]],
) -> list[tuple[tuple[str], list[tuple[int, datetime | None]]]]:
    """The subscriptions of one indexed query, per query text: (channel number, created_at or None).

    None: created before every candidate, so no paper is too old for it.
    """
    by_text: dict[str, list[tuple[int, datetime | None]]] = {}
    for sub in subs:
        target = (number(sub.channel), sub.created_at if sub.created_at > oldest else None)
        by_text.setdefault(sub.query, []).append(target)
    return [(one_query.get(t) or one_query.setdefault(t, (t,)), targets) for t, targets in by_text.items()]


# Papers prepared between two checkpoints of the collector (see bot.runtime.memory): each collection then
# scans what one batch made, a few milliseconds, not a whole fortnight's at once.
PREPARE_BATCH = 500
MATCH_BATCH = 250  # papers whose hits are listed at once (a day's were 16 MB)


def _match_in_batches(
    matcher: MatchIndex[int], papers: Sequence[Paper]
) -> Iterator[tuple[str, Reasons, Collection[int]]]:
    for start in range(0, len(papers), PREPARE_BATCH):
        if start:
            # What matching made since the last checkpoint (entries, reasons: no cycle) is frozen
            # uncollected, so that the collection below passes over what preparing made alone.
            keep()
        prepared = [prepare(p) for p in papers[start : start + PREPARE_BATCH]]
        # Preparing is what leaves cyclic garbage (pylatexenc's parser); matching leaves none.
        checkpoint()
        for at in range(0, len(prepared), MATCH_BATCH):
            some = prepared[at : at + MATCH_BATCH]
            found = matcher.match_queries(some)
            for p in some:
                p.matched()
            yield from found


class _Filed:
    """Each channel's entries as matching files them, paper by paper, newest first, in rank groups.

    A digest ranks title hits first, then by the number of queries, then newest first. Entries of
    one query (nearly all) go to the channel's list of title hits or of the others, already in
    order; the few of several queries are sorted at the end. Sorting 400,000 entries with a
    Python key took a tenth of a run.
    """

    def __init__(self) -> None:
        self.title: dict[int, list[Entry]] = {}
        self.other: dict[int, list[Entry]] = {}
        self.several: dict[int, list[Entry]] = {}

    def file(self, found: Mapping[int, _Hit], several: Mapping[int, list[tuple[str, Reasons]]]) -> None:
        """One paper's matches, per channel number, as entries of those channels."""
        title, other = self.title, self.other
        for c, (entry, in_title) in found.items():
            hits = several.get(c) if several else None
            if hits is None:
                group = title if in_title else other
            else:
                hits.sort(key=lambda qr: qr[0])
                reasons, queries = tuple(r for _, r in hits), tuple(q for q, _ in hits)
                entry = entry._replace(reasons=reasons, queries=queries)
                group = self.several
            entries = group.get(c)
            if entries is None:
                group[c] = [entry]
            else:
                entries.append(entry)

    def ranked(self) -> Iterator[tuple[int, list[Entry]]]:
        """Per channel number, its entries ranked (see `rank`)."""
        title, other, several = self.title, self.other, self.several
        for c in title.keys() | other.keys() | several.keys():
            many = several.get(c)
            if many is None:
                first = title.get(c)
                rest = other.get(c)
                yield c, (first + rest if first and rest else first or rest or [])
                continue
            many.sort(key=_queries_count, reverse=True)  # stable: newest first among equals
            yield (
                c,
                [
                    *(e for e in many if e.in_title),
                    *title.get(c, ()),
                    *(e for e in many if not e.in_title),
                    *other.get(c, ()),
                ],
            )


def _queries_count(e: Entry) -> int:
    return len(e.queries)


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
