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

import itertools
import logging
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from bot.memory import gc_paused
from bot.models import Paper
from bot.query import And, Author, Category, Leaf, Node, Not, Or, Phrase, Query, TextField
from bot.text import STOP_WORDS, WordSpans, name_matches, name_variants, stem, to_plain, tokens

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

FIELD_ORDER = ("title", "abstract", "author", "category")
_MAX_SURFACES = 3

# Anchor domains: where a paper key comes from.
_W1, _T1, _A1, _W2, _T2, _A2, _W3, _T3, _A3, _AU, _CAT, _ARCH = range(12)
_DOMAINS = 12

# Stems so frequent in arXiv abstracts that they make poor anchors.
_COMMON = frozenset(
    stem(
        [
            "model",
            "models",
            "learning",
            "learn",
            "method",
            "methods",
            "propose",
            "proposed",
            "approach",
            "results",
            "show",
            "data",
            "network",
            "networks",
            "based",
            "using",
            "use",
            "task",
            "tasks",
            "performance",
            "training",
            "train",
            "framework",
            "new",
            "novel",
            "paper",
            "work",
            "state",
            "art",
            "large",
            "deep",
            "neural",
            "language",
            "image",
            "images",
            "video",
            "text",
            "multimodal",
            "vision",
            "system",
            "systems",
            "problem",
            "information",
            "different",
            "existing",
            "two",
            "one",
            "also",
            "however",
            "can",
            "via",
            "well",
            "high",
            "low",
            "time",
        ]
    )
) | frozenset(stem(STOP_WORDS))


@dataclass(frozen=True, slots=True)
class MatchReason:
    """Why a paper matched: the field, and the words as the paper (or query) writes them."""

    field: str  # title | abstract | author | category
    terms: tuple[str, ...]


class Reasons:
    """Why a paper matched one or more queries, worked out on first use and shared by their hits.

    Finding the words as the paper writes them ('Video Retrieval') was half of a day's match at
    100,000 subscriptions, yet a digest shows a dozen papers per channel: only the cards shown
    need the words. Ranking needs only `in_title`, which is one token scan. Hits of the same paper
    whose queries credit the same leaves share one instance.
    """

    __slots__ = ("_explained", "_ids", "_in_title", "_index", "_paper", "_why")

    def __init__(
        self,
        index: MatchIndex[Any] | None,
        paper: PreparedPaper | None,
        ids: tuple[int, ...],
        explained: dict[int, list[tuple[str, list[str]]]],
    ) -> None:
        self._index = index
        self._paper = paper
        self._ids = ids
        self._explained = explained  # per paper: leaf id -> its reasons, shared by its Reasons
        self._why: tuple[MatchReason, ...] | None = None
        self._in_title: bool | None = None

    @classmethod
    def known(cls, why: tuple[MatchReason, ...]) -> Reasons:
        """Reasons already worked out (the naive scan, tests)."""
        reasons = cls(None, None, (), {})
        reasons._why = why
        return reasons

    @property
    def why(self) -> tuple[MatchReason, ...]:
        if self._why is None:
            assert self._index is not None and self._paper is not None
            self._why = self._index._why(self._ids, self._paper, self._explained)
        return self._why

    def explain(self) -> tuple[MatchReason, ...]:
        """`why`, worked out without being kept: for a caller that keeps what it needs of it."""
        if self._why is not None:
            return self._why
        assert self._index is not None and self._paper is not None
        return self._index._why(self._ids, self._paper, self._explained)

    def forget_words(self) -> None:
        """Drop the words worked out (a run keeps them in its records); worked out again if asked."""
        if self._index is None:  # known reasons (the naive scan): nothing to work them out from
            return
        self._why = None
        self._explained.clear()
        if self._paper is not None:
            self._paper.forget_words()

    @property
    def in_title(self) -> bool:
        if self._in_title is None:
            if self._why is not None or self._index is None or self._paper is None:
                self._in_title = any(r.field == "title" for r in self.why)
            else:
                self._in_title = self._index._in_title(self._ids, self._paper)
        return self._in_title

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reasons) and self.why == other.why

    def __hash__(self) -> int:
        return hash(self.why)

    def __repr__(self) -> str:
        return f"Reasons({self.why!r})"


class Hit(NamedTuple, Generic[K]):
    """A paper that matched the query tracked under `key`, and (on demand) why.

    A named tuple rather than a dataclass: a day at 100,000 subscriptions makes about a million
    hits, and a tuple is built in C (a frozen dataclass's __init__ took a fifth of the match).
    """

    key: K
    arxiv_id: str
    reasons: Reasons

    @property
    def why(self) -> tuple[MatchReason, ...]:
        """The fields and words of the paper that the query's positive terms found."""
        return self.reasons.why

    @property
    def in_title(self) -> bool:
        """True when the title itself matched (such hits rank before abstract-only ones)."""
        return self.reasons.in_title

    @property
    def highlights(self) -> tuple[str, ...]:
        """The matched words from title and abstract, for renderers to mark."""
        return tuple(t for r in self.why if r.field in ("title", "abstract") for t in r.terms)


class PreparedPaper:
    """A paper tokenised once for matching: token positions per field, folded authors, categories."""

    __slots__ = (
        "_spans",
        "_surfaces",
        "abstract",
        "abstract_plain",
        "abstract_words",
        "archives",
        "author_words",
        "authors",
        "categories",
        "paper",
        "title",
        "title_plain",
        "title_words",
    )

    def __init__(self, paper: Paper) -> None:
        self.paper = paper
        self.title_plain = to_plain(paper.title)
        self.abstract_plain = to_plain(paper.abstract)
        self.title = tuple(tokens(self.title_plain))
        self.abstract = tuple(tokens(self.abstract_plain))
        self.title_words = frozenset(self.title)
        self.abstract_words = frozenset(self.abstract)
        self.authors = tuple((name, name_variants(name)) for name in paper.authors)
        self.author_words = frozenset(w for _, variants in self.authors for v in variants for w in v)
        self.categories = frozenset(c.lower() for c in paper.categories)
        self.archives = frozenset(c.split(".", 1)[0] for c in self.categories)
        self._spans: dict[str, WordSpans] = {}
        self._surfaces: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    @property
    def arxiv_id(self) -> str:
        return self.paper.arxiv_id

    def forget_words(self) -> None:
        """Drop the phrases found as written (they are found again if asked)."""
        self._spans = {}
        self._surfaces = {}

    def matched(self) -> None:
        """Matching is over: drop the word sets only it uses (explaining and ranking need none).

        A day's papers stay alive with their matches until the digests are posted; these sets were
        a tenth of a run's memory. `has_phrase` and friends are not to be asked afterwards.
        """
        self.title_words = self.abstract_words = self.author_words = frozenset()

    def has_phrase(self, field: TextField, toks: tuple[str, ...]) -> bool:
        """Whether the tokens occur consecutively in the title and/or abstract, as `field` says."""
        if field != "abs" and toks[0] in self.title_words and _find(self.title, toks):
            return True
        return field != "ti" and toks[0] in self.abstract_words and _find(self.abstract, toks)

    def has_author(self, words: tuple[str, ...]) -> bool:
        """Whether one author's name matches the folded name words."""
        return any(name_matches(words, v) for _, variants in self.authors for v in variants)

    def has_category(self, value: str, prefix: bool) -> bool:
        """Whether the paper is listed in the category (or, with prefix, anywhere in the archive)."""
        return value.lower() in (self.archives if prefix else self.categories)

    def surfaces(self, field: str, toks: tuple[str, ...]) -> list[str]:
        """The phrase as written in the title or abstract ('Video Retrieval'), up to three forms."""
        # Many leaves share words ('video retrieval' anywhere, in the title, OR'ed): find them once.
        known = self._surfaces.get((field, toks))
        if known is None:
            known = self._surfaces[field, toks] = self._find_surfaces(field, toks)
        return list(known)

    def _find_surfaces(self, field: str, toks: tuple[str, ...]) -> list[str]:
        seq, plain = (
            (self.title, self.title_plain) if field == "title" else (self.abstract, self.abstract_plain)
        )
        out: list[str] = []
        at = _occurrences(seq, toks)
        if not at:
            return out
        spans = self._spans.get(field)
        if spans is None:
            spans = self._spans[field] = WordSpans(plain)
        if len(spans) != len(seq):  # cannot happen (both come from the same words); never misreport
            return out
        n = len(toks)
        for p in at:
            surface = (
                plain[spans.span(p)[0] : spans.span(p + n - 1)[1]] if n > 1 else plain[slice(*spans.span(p))]
            )
            if all(surface.casefold() != s.casefold() for s in out):
                out.append(surface)
                if len(out) == _MAX_SURFACES:
                    break
        return out

    def author_names(self, words: tuple[str, ...]) -> list[str]:
        """The authors (as the paper writes them) whose names match."""
        return [name for name, variants in self.authors if any(name_matches(words, v) for v in variants)]

    def category_names(self, value: str, prefix: bool) -> list[str]:
        """The paper's categories (arXiv case) that the category or archive covers."""
        v = value.lower()
        return [
            c for c in self.paper.categories if (c.lower().split(".", 1)[0] if prefix else c.lower()) == v
        ]


def prepare(paper: Paper) -> PreparedPaper:
    """Tokenise a paper once so many queries can be checked against it."""
    return PreparedPaper(paper)


# Positions are found with tuple.index, a C scan, instead of a token -> positions dict per
# paper: building those dicts for every paper cost more than all the lookups the index leaves.


def _find(seq: tuple[str, ...], toks: tuple[str, ...]) -> bool:
    """Whether `toks` occurs as consecutive whole tokens in `seq`."""
    first, n = toks[0], len(toks)
    i = -1
    try:
        while True:
            i = seq.index(first, i + 1)
            if n == 1 or seq[i : i + n] == toks:
                return True
    except ValueError:
        return False


def _occurrences(seq: tuple[str, ...], toks: tuple[str, ...]) -> list[int]:
    """Start positions of every occurrence of `toks` in `seq`."""
    first, n = toks[0], len(toks)
    out: list[int] = []
    i = -1
    try:
        while True:
            i = seq.index(first, i + 1)
            if n == 1 or seq[i : i + n] == toks:
                out.append(i)
    except ValueError:
        return out


def explain(query: Query, paper: PreparedPaper) -> tuple[MatchReason, ...]:
    """The fields and words of `paper` that the positive terms of `query` found."""
    return _merge_reasons(_leaf_reasons(leaf, paper) for leaf in query.positive_leaves())


# --- leaves and anchors ----------------------------------------------------------
#
# Every distinct leaf (phrase, author, category) of every tracked query gets an id, and is
# indexed under one key a paper must carry for the leaf to be true: the word, word pair or word
# triple of a phrase of up to three words (which decides the leaf on its own), a triple around
# the rarest pair of a longer phrase and the surname of an author with given names (those are
# verified), a category or archive. Per paper, intersecting its keys with that index yields the
# set of true leaves. Each query is indexed under "anchor" leaves, one of which must be true for
# it to match (its rarest conjunct; every branch of an OR), and only queries with a true anchor
# are evaluated, by set operations on the true leaves.

_Lookup = tuple[int, str, bool]  # (domain, key, whether the key alone decides the leaf)

_UNI = {"any": _W1, "ti": _T1, "abs": _A1}
_BI = {"any": _W2, "ti": _T2, "abs": _A2}
_TRI = {"any": _W3, "ti": _T3, "abs": _A3}


def _token_score(tok: str) -> float:
    if tok in _COMMON:
        return 0.2
    return 1.0 + min(len(tok), 12) / 12


def _best_pair(toks: tuple[str, ...]) -> tuple[float, int]:
    return max((_token_score(a) + _token_score(b), i) for i, (a, b) in enumerate(itertools.pairwise(toks)))


def _leaf_identity(leaf: Leaf) -> Hashable:
    """What truth and reasons depend on: 'videos retrieval' and 'video retrieval' are one leaf."""
    if isinstance(leaf, Phrase):
        return ("p", leaf.field, leaf.toks)
    if isinstance(leaf, Author):
        return ("a", leaf.words)
    return ("c", leaf.value.lower(), leaf.prefix)


def _leaf_lookup(leaf: Leaf) -> _Lookup:
    if isinstance(leaf, Phrase):
        toks = leaf.toks
        if len(toks) == 1:
            return _UNI[leaf.field], toks[0], True
        if len(toks) == 2:
            return _BI[leaf.field], f"{toks[0]} {toks[1]}", True
        i = min(_best_pair(toks)[1], len(toks) - 3)  # a triple around the rarest pair
        return _TRI[leaf.field], " ".join(toks[i : i + 3]), len(toks) == 3
    if isinstance(leaf, Author):
        return _AU, leaf.words[-1], len(leaf.words) == 1
    return (_ARCH if leaf.prefix else _CAT), leaf.value.lower(), True


def _leaf_score(leaf: Leaf) -> float:
    """How selective a leaf is as an anchor (higher is rarer)."""
    if isinstance(leaf, Phrase):
        toks = leaf.toks
        return _token_score(toks[0]) if len(toks) == 1 else 2.0 + _best_pair(toks)[0]
    if isinstance(leaf, Author):
        return 3.0
    return 0.05 if leaf.prefix else 0.1


def _is_leaf(node: Node) -> bool:
    return isinstance(node, Phrase | Author | Category)


def _leaves_only(node: Node) -> bool:
    return isinstance(node, Or) and all(_is_leaf(c) for c in node.children)


def _anchors(
    node: Node, lid: Callable[[Leaf], int], score: Callable[[int], float]
) -> tuple[float, list[int]] | None:
    """Leaves one of which is true in every paper the node matches, and how selective they are."""
    if isinstance(node, Phrase | Author | Category):
        i = lid(node)
        return score(i), [i]
    if isinstance(node, Not):
        return None
    if isinstance(node, And):
        options = [a for c in node.children if (a := _anchors(c, lid, score)) is not None]
        return max(options, key=lambda a: a[0]) if options else None
    parts = [_anchors(c, lid, score) for c in node.children]
    if any(p is None for p in parts):
        return None  # the parser refuses such queries; without an anchor we cannot index one
    found = [p for p in parts if p is not None]
    return min(p[0] for p in found), [i for p in found for i in p[1]]


# A compiled query (general form): is it true, given the ids of the leaves true of a paper?
_Eval = Callable[[AbstractSet[int]], bool]


def _compile(node: Node, lid: Callable[[Leaf], int]) -> _Eval:
    if isinstance(node, Phrase | Author | Category):
        i = lid(node)
        return lambda true: i in true
    if isinstance(node, Not):
        inner = _compile(node.child, lid)
        return lambda true: not inner(true)
    parts = tuple(_compile(c, lid) for c in node.children)
    if isinstance(node, And):
        return lambda true: all(p(true) for p in parts)
    return lambda true: any(p(true) for p in parts)


_EXACT, _CONJ, _GENERAL = range(3)
_NONE: frozenset[int] = frozenset()


class _Entry(Generic[K]):
    """One distinct query: how to test it on a candidate paper, and the keys that track it."""

    __slots__ = (
        "anchors",
        "canonical",
        "evaluate",
        "groups",
        "keys",
        "kind",
        "leaves",
        "neg",
        "pos",
        "positives",
    )

    def __init__(self, query: Query, lid: Callable[[Leaf], int], score: Callable[[int], float]) -> None:
        root = query.root
        # Only the canonical text is kept: the parse tree is not needed once compiled, and at
        # 100,000 subscriptions the trees would be a third of the index's memory.
        self.canonical = query.canonical
        # The keys tracking it, in order: a 1-tuple for the usual one key, a dict (as an ordered set)
        # from the second on. A dict per query was 11 MB at 100,000 subscriptions.
        self.keys: tuple[K, ...] | dict[K, None] = ()
        self.pos = self.neg = _NONE
        self.groups: tuple[frozenset[int], ...] = ()
        self.evaluate: _Eval | None = None
        # Anchors and leaves are only iterated: tuples (56 bytes for one id) rather than frozensets
        # (216): at 100,000 subscriptions that is 20 MB.
        if isinstance(root, Phrase | Author | Category):  # most queries: one phrase, name or category
            i = lid(root)
            self.anchors: tuple[int, ...] = (i,)
            self.leaves: tuple[int, ...] = self.anchors
            self.positives: tuple[int, ...] = self.anchors
            self.kind = _EXACT
            return
        found = _anchors(root, lid, score)
        if found is None:
            raise ValueError(f"query {query.canonical!r} has no positive term to index")
        anchors = frozenset(found[1])
        self.anchors = tuple(anchors)
        self.leaves = tuple(dict.fromkeys(lid(leaf) for leaf in _all_leaves(root)))
        self.positives = tuple(dict.fromkeys(lid(leaf) for leaf in query.positive_leaves()))
        self.kind = _GENERAL
        if _leaves_only(root):
            self.kind = _EXACT  # a true anchor is a true query
        elif isinstance(root, And) and self._conjunction(root, lid, anchors):
            self.kind = _CONJ
        else:
            self.evaluate = _compile(root, lid)

    def _conjunction(self, root: And, lid: Callable[[Leaf], int], anchors: frozenset[int]) -> bool:
        """Literals and ORs of leaves, ANDed: testable with a few set operations."""
        pos: list[int] = []
        neg: list[int] = []
        groups: list[frozenset[int]] = []
        for c in root.children:
            ids = frozenset(lid(leaf) for leaf in _all_leaves(c))
            if (_is_leaf(c) or _leaves_only(c)) and ids >= anchors:
                continue  # the anchor: true in every candidate paper
            if _is_leaf(c):
                pos.extend(ids)
            elif isinstance(c, Not) and (_is_leaf(c.child) or _leaves_only(c.child)):
                neg.extend(ids)
            elif _leaves_only(c):
                groups.append(ids)
            else:
                return False
        self.pos = frozenset(pos) if pos else _NONE
        self.neg = frozenset(neg) if neg else _NONE
        self.groups = tuple(groups)
        return True


def _all_leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, And | Or):
        for c in node.children:
            yield from _all_leaves(c)
    elif isinstance(node, Not):
        yield from _all_leaves(node.child)
    else:
        yield node


def _leaf_true(leaf: Leaf, paper: PreparedPaper) -> bool:
    if isinstance(leaf, Phrase):
        return paper.has_phrase(leaf.field, leaf.toks)
    if isinstance(leaf, Author):
        return paper.has_author(leaf.words)
    return paper.has_category(leaf.value, leaf.prefix)


def _leaf_reasons(leaf: Leaf, paper: PreparedPaper) -> list[tuple[str, list[str]]]:
    if isinstance(leaf, Phrase):
        return [
            (fld, found)
            for fld, wanted in (("title", leaf.field != "abs"), ("abstract", leaf.field != "ti"))
            if wanted and (found := paper.surfaces(fld, leaf.toks))
        ]
    if isinstance(leaf, Author):
        return [("author", paper.author_names(leaf.words))]
    return [("category", paper.category_names(leaf.value, leaf.prefix))]


def _merge_reasons(parts: Iterable[list[tuple[str, list[str]]]]) -> tuple[MatchReason, ...]:
    found: dict[str, list[str]] = {}
    for part in parts:
        for fld, terms in part:
            bucket = found.setdefault(fld, [])
            bucket.extend(t for t in terms if t not in bucket)
    return tuple(MatchReason(f, tuple(found[f])) for f in FIELD_ORDER if found.get(f))


class MatchIndex(Generic[K]):
    """Subscriptions indexed by anchor; `match` returns the hits of a batch of papers."""

    def __init__(self) -> None:
        self._entries: list[_Entry[K] | None] = []
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
        self._decided: list[dict[str, int | list[int]]] = [{} for _ in range(_DOMAINS)]
        self._checked: list[dict[str, int | list[int]]] = [{} for _ in range(_DOMAINS)]
        # leaf id -> slot(s) of the queries anchored on it: one slot, or a set of several
        self._anchored: dict[int, int | set[int]] = {}

    @classmethod
    def build(cls, subscriptions: Iterable[tuple[K, Query]]) -> MatchIndex[K]:
        """An index of (key, query) pairs; a repeated key keeps its last query."""
        index: MatchIndex[K] = cls()
        with gc_paused():
            for key, query in subscriptions:
                index.add(key, query)
        return index

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
            identity = _leaf_identity(leaf)
            i = ids.get(identity)
            if i is None:
                i = ids[identity] = self._leaf_ids.get(identity, -1)
                if i < 0:
                    i = ids[identity] = self._new_leaf(identity, leaf)
                self._leaf_users[i] += 1  # once per distinct query
            seen[id(leaf)] = i
            return i

        try:
            entry: _Entry[K] = _Entry(query, lid, self._leaf_scores.__getitem__)
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
            self._leaf_scores[i] = _leaf_score(leaf)
        else:
            i = len(self._leaves)
            self._leaves.append(leaf)
            self._leaf_users.append(0)
            self._leaf_scores.append(_leaf_score(leaf))
        self._leaf_ids[identity] = i
        domain, key, decided = _leaf_lookup(leaf)
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
        domain, key, decided = _leaf_lookup(leaf)
        table = (self._decided if decided else self._checked)[domain]
        ids = table[key]
        if isinstance(ids, int):
            del table[key]
        else:
            ids.remove(i)
            if not ids:
                del table[key]
        del self._leaf_ids[_leaf_identity(leaf)]
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
                if kind == _CONJ:
                    if not (entry.pos <= true and true.isdisjoint(entry.neg)):
                        continue
                    if entry.groups and any(true.isdisjoint(g) for g in entry.groups):
                        continue
                elif kind == _GENERAL:
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
        for domain, keys in _paper_keys(paper, [bool(decided[d] or checked[d]) for d in range(_DOMAINS)]):
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
                        if _leaf_true(leaf, paper):
                            true.add(i)
        return true

    def _in_title(self, ids: tuple[int, ...], paper: PreparedPaper) -> bool:
        """Whether one of the leaves is a phrase the paper's title holds (what a title reason means)."""
        for i in ids:
            leaf = self._leaves[i]
            if isinstance(leaf, Phrase) and leaf.field != "abs" and _find(paper.title, leaf.toks):
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
                part = reasons[i] = _leaf_reasons(leaf, paper)
            parts.append(part)
        return _merge_reasons(parts)


def _paper_keys(paper: PreparedPaper, wanted: list[bool]) -> Iterator[tuple[int, AbstractSet[str]]]:
    """The paper's keys in each domain the index uses."""
    if wanted[_W1]:
        yield _W1, paper.title_words | paper.abstract_words
    if wanted[_T1]:
        yield _T1, paper.title_words
    if wanted[_A1]:
        yield _A1, paper.abstract_words
    if wanted[_W2] or wanted[_T2] or wanted[_A2]:
        title_pairs = _pairs(paper.title)
        abstract_pairs = _pairs(paper.abstract)
        if wanted[_W2]:
            yield _W2, title_pairs | abstract_pairs
        if wanted[_T2]:
            yield _T2, title_pairs
        if wanted[_A2]:
            yield _A2, abstract_pairs
    if wanted[_W3] or wanted[_T3] or wanted[_A3]:
        title_triples = _triples(paper.title)
        abstract_triples = _triples(paper.abstract)
        if wanted[_W3]:
            yield _W3, title_triples | abstract_triples
        if wanted[_T3]:
            yield _T3, title_triples
        if wanted[_A3]:
            yield _A3, abstract_triples
    if wanted[_AU]:
        yield _AU, paper.author_words
    if wanted[_CAT]:
        yield _CAT, paper.categories
    if wanted[_ARCH]:
        yield _ARCH, paper.archives


def _pairs(seq: tuple[str, ...]) -> set[str]:
    return set(map(" ".join, itertools.pairwise(seq)))


def _triples(seq: tuple[str, ...]) -> set[str]:
    return set(map(" ".join, zip(seq, seq[1:], seq[2:], strict=False)))


def naive_match(subscriptions: Iterable[tuple[K, Query]], papers: Sequence[Paper]) -> list[Hit[K]]:
    """Every query verified against every paper: the reference the index must agree with."""
    prepared = [prepare(p) for p in papers]
    subs = list(subscriptions)
    hits: list[Hit[K]] = []
    for paper in prepared:
        for key, query in subs:
            if query.matches(paper):
                hits.append(Hit(key, paper.arxiv_id, Reasons.known(explain(query, paper))))
    return hits
