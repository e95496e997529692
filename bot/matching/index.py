"""Match a day's papers against every subscription through a two-level index.

Leaves first: every distinct term of every query (a phrase in a field, an
author, a category) is indexed under one key a paper must carry for it to be
true: a word, word pair or word triple (which decides a phrase of up to three
words), an author's surname, a category. Intersecting a paper's keys (its
words, pairs and triples per field, author words, categories) with that index
gives the set of its true leaves; only long phrases and full author names are
then verified. Queries second: each distinct query is indexed under "anchor"
leaves, one of which is true whenever it matches (its rarest conjunct; every
branch of an OR), and only queries with a true anchor are evaluated, with set
operations on the true leaves (a query that is one leaf or an OR of leaves
needs none).

Identical queries from many channels share one entry: each distinct query is
evaluated and explained once per paper and its hit is fanned out to every key
that tracks it. Reasons (`why`) are computed per paper once per set of
credited leaves and shared by the hits that have it.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from bot.matching.leaves import (
    CONJ,
    DOMAINS,
    GENERAL,
    CompiledQuery,
    leaf_identity,
    leaf_lookup,
    leaf_score,
    paper_keys,
)
from bot.matching.paper import PreparedPaper, find_phrase, prepare
from bot.matching.query import Leaf, Phrase, Query
from bot.matching.reasons import Hit, MatchReason, Reasons, leaf_reasons, leaf_true, merge_reasons
from bot.models import Paper
from bot.runtime.memory import gc_paused

K = TypeVar("K", bound=Hashable)


class MatchIndex(Generic[K]):
    """Subscriptions indexed by anchor; `match` returns the hits of a batch of papers."""

    def __init__(self) -> None:
        self._entries: list[CompiledQuery[K] | None] = []
        self._free: list[int] = []
        self._slot_of_query: dict[str, int] = {}  # by canonical form (what Query equality compares)
        self._slot_of_key: dict[K, int] = {}
        # Leaves: id -> leaf, identity -> id, how many distinct queries use each, ids to reuse.
        self._leaves: list[Leaf | None] = []
        self._leaf_ids: dict[Hashable, int] = {}
        self._leaf_users: list[int] = []
        self._leaf_scores: list[float] = []  # how selective each leaf is as an anchor
        self._free_leaves: list[int] = []
        # Per key domain, key -> ids of the leaves it decides / that must then be verified.
        # (One leaf id, or a list of several: most keys have one, and a list each was 8 MB at 100k.)
        self._decided: list[dict[str, int | list[int]]] = [{} for _ in range(DOMAINS)]
        self._checked: list[dict[str, int | list[int]]] = [{} for _ in range(DOMAINS)]
        # leaf id -> slot(s) of the queries anchored on it: one slot, or a set of several
        self._anchored: dict[int, int | set[int]] = {}

    def __len__(self) -> int:
        return len(self._slot_of_key)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of_key

    @property
    def distinct_queries(self) -> int:
        return len(self._slot_of_query)

    def add(self, key: K, query: Query) -> None:
        """Track `query` under `key`, replacing what the key tracked before."""
        slot = self._slot_of_key.get(key)
        if slot is not None:
            entry = self._entries[slot]
            if entry is not None and entry.canonical == query.canonical:
                return
            self.remove(key)
        slot = self._slot_of_query.get(query.canonical)
        if slot is None:
            slot = self._insert(query)
        entry = self._entries[slot]
        assert entry is not None
        if isinstance(entry.keys, dict):
            entry.keys[key] = None
        else:
            entry.keys = (key,) if not entry.keys else dict.fromkeys((*entry.keys, key))
        self._slot_of_key[key] = slot

    def remove(self, key: K) -> None:
        """Stop tracking under `key`; unknown keys are ignored."""
        slot = self._slot_of_key.pop(key, None)
        if slot is None:
            return
        entry = self._entries[slot]
        assert entry is not None
        if isinstance(entry.keys, dict):
            del entry.keys[key]
        else:
            entry.keys = ()
        if entry.keys:
            return
        for i in entry.anchors:
            slots = self._anchored[i]
            if isinstance(slots, int) or len(slots) == 1:
                del self._anchored[i]
            else:
                slots.discard(slot)
        for i in entry.leaves:
            self._release_leaf(i)
        del self._slot_of_query[entry.canonical]
        self._entries[slot] = None
        self._free.append(slot)

    def _insert(self, query: Query) -> int:
        ids: dict[Hashable, int] = {}

        seen: dict[int, int] = {}  # id(leaf object) -> leaf id: the tree is alive while we look

        def lid(leaf: Leaf) -> int:
            i = seen.get(id(leaf))
            if i is not None:
                return i
            identity = leaf_identity(leaf)
            i = ids.get(identity)
            if i is None:
                i = ids[identity] = self._leaf_ids.get(identity, -1)
                if i < 0:
                    i = ids[identity] = self._new_leaf(identity, leaf)
                self._leaf_users[i] += 1  # once per distinct query
            seen[id(leaf)] = i
            return i

        try:
            entry: CompiledQuery[K] = CompiledQuery(query, lid, self._leaf_scores.__getitem__)
        except ValueError:
            for i in ids.values():
                self._release_leaf(i)
            raise
        if self._free:
            slot = self._free.pop()
            self._entries[slot] = entry
        else:
            slot = len(self._entries)
            self._entries.append(entry)
        self._slot_of_query[query.canonical] = slot
        anchored = self._anchored
        for i in entry.anchors:
            slots = anchored.get(i)
            if slots is None:
                anchored[i] = slot  # most leaves anchor one query: an int, not a set (17 MB at 100k)
            elif isinstance(slots, int):
                anchored[i] = {slots, slot}
            else:
                slots.add(slot)
        return slot

    def _new_leaf(self, identity: Hashable, leaf: Leaf) -> int:
        if self._free_leaves:
            i = self._free_leaves.pop()
            self._leaves[i] = leaf
            self._leaf_scores[i] = leaf_score(leaf)
        else:
            i = len(self._leaves)
            self._leaves.append(leaf)
            self._leaf_users.append(0)
            self._leaf_scores.append(leaf_score(leaf))
        self._leaf_ids[identity] = i
        domain, key, decided = leaf_lookup(leaf)
        table = (self._decided if decided else self._checked)[domain]
        ids = table.get(key)
        if ids is None:
            table[key] = i
        elif isinstance(ids, int):
            table[key] = [ids, i]
        else:
            ids.append(i)
        return i

    def _release_leaf(self, i: int) -> None:
        self._leaf_users[i] -= 1
        if self._leaf_users[i]:
            return
        leaf = self._leaves[i]
        assert leaf is not None
        domain, key, decided = leaf_lookup(leaf)
        table = (self._decided if decided else self._checked)[domain]
        ids = table[key]
        if isinstance(ids, int):
            del table[key]
        else:
            ids.remove(i)
            if not ids:
                del table[key]
        del self._leaf_ids[leaf_identity(leaf)]
        self._leaves[i] = None
        self._free_leaves.append(i)

    def match(self, papers: Sequence[Paper]) -> list[Hit[K]]:
        """Every (key, paper) pair whose query the paper satisfies, in paper order."""
        return self.match_prepared(prepare(p) for p in papers)

    def match_prepared(self, papers: Iterable[PreparedPaper]) -> list[Hit[K]]:
        """Like `match`, for papers already prepared."""
        new = tuple.__new__  # what Hit(...) does, without a Python-level call per hit
        with gc_paused():
            found = self._match(papers)
            return [new(Hit, (key, arxiv_id, reasons)) for arxiv_id, reasons, keys in found for key in keys]

    def match_queries(self, papers: Sequence[PreparedPaper]) -> Sequence[tuple[str, Reasons, Collection[K]]]:
        """Per paper (in order) and matching distinct query: the paper's id, why, and the keys tracking it.

        `match` without the fan-out to every key: a caller that groups hits anyway (a digest run,
        a million hits at 100,000 subscriptions) need not build a Hit per key first. The key
        collections are the index's own: valid until it changes.
        """
        with gc_paused():
            return self._match(papers)

    def _match(self, papers: Iterable[PreparedPaper]) -> list[tuple[str, Reasons, Collection[K]]]:
        found: list[tuple[str, Reasons, Collection[K]]] = []
        entries = self._entries
        anchored = self._anchored
        for paper in papers:
            true = self._true_leaves(paper)
            candidates: set[int] = set()
            for i in anchored.keys() & true:
                slots = anchored[i]
                if isinstance(slots, int):
                    candidates.add(slots)
                else:
                    candidates |= slots
            # Distinct queries share leaves ('video retrieval' in many ANDs and ORs): each leaf is
            # explained, and each set of true leaves merged into a `why`, once per paper.
            explained: dict[int, list[tuple[str, list[str]]]] = {}
            shared: dict[tuple[int, ...], Reasons] = {}
            arxiv_id = paper.arxiv_id
            for slot in sorted(candidates):
                entry = entries[slot]
                assert entry is not None
                kind = entry.kind
                if kind == CONJ:
                    if not (entry.pos <= true and true.isdisjoint(entry.neg)):
                        continue
                    if entry.groups and any(true.isdisjoint(g) for g in entry.groups):
                        continue
                elif kind == GENERAL:
                    assert entry.evaluate is not None
                    if not entry.evaluate(true):
                        continue
                credited = entry.positives
                if len(credited) > 1:
                    credited = tuple(filter(true.__contains__, credited))
                reasons = shared.get(credited)
                if reasons is None:
                    reasons = shared[credited] = Reasons(self, paper, credited, explained)
                found.append((arxiv_id, reasons, entry.keys))
        return found

    def _true_leaves(self, paper: PreparedPaper) -> set[int]:
        """The ids of the indexed leaves that `paper` satisfies."""
        true: set[int] = set()
        decided, checked = self._decided, self._checked
        leaves = self._leaves
        for domain, keys in paper_keys(paper, [bool(decided[d] or checked[d]) for d in range(DOMAINS)]):
            table = decided[domain]
            if table:
                for key in table.keys() & keys:
                    ids = table[key]
                    if isinstance(ids, int):
                        true.add(ids)
                    else:
                        true.update(ids)
            table = checked[domain]
            if table:
                for key in table.keys() & keys:
                    ids = table[key]
                    for i in (ids,) if isinstance(ids, int) else ids:
                        leaf = leaves[i]
                        assert leaf is not None
                        if leaf_true(leaf, paper):
                            true.add(i)
        return true

    def _in_title(self, ids: tuple[int, ...], paper: PreparedPaper) -> bool:
        """Whether one of the leaves is a phrase the paper's title holds (what a title reason means)."""
        for i in ids:
            leaf = self._leaves[i]
            if isinstance(leaf, Phrase) and leaf.field != "abs" and find_phrase(paper.title, leaf.toks):
                return True
        return False

    def _why(
        self, ids: tuple[int, ...], paper: PreparedPaper, reasons: dict[int, list[tuple[str, list[str]]]]
    ) -> tuple[MatchReason, ...]:
        parts = []
        for i in ids:
            part = reasons.get(i)
            if part is None:
                leaf = self._leaves[i]
                assert leaf is not None
                part = reasons[i] = leaf_reasons(leaf, paper)
            parts.append(part)
        return merge_reasons(parts)
