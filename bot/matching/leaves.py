"""Queries compiled for the match index: leaf ids, the paper keys that decide each leaf, anchors.

Every distinct leaf (phrase, author, category) of every tracked query gets an id, and is
indexed under one key a paper must carry for the leaf to be true: the word, word pair or word
triple of a phrase of up to three words (which decides the leaf on its own), a triple around
the rarest pair of a longer phrase and the surname of an author with given names (those are
verified), a category or archive. Per paper, intersecting its keys with that index yields the
set of true leaves. Each query is indexed under "anchor" leaves, one of which must be true for
it to match (its rarest conjunct; every branch of an OR), and only queries with a true anchor
are evaluated, by set operations on the true leaves.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator
from collections.abc import Set as AbstractSet
from typing import Generic, TypeVar

from bot.matching.normalize import STOP_WORDS, stem
from bot.matching.paper import PreparedPaper
from bot.matching.query import And, Author, Category, Leaf, Node, Not, Or, Phrase, Query

K = TypeVar("K", bound=Hashable)

# Anchor domains: where a paper key comes from.
W1, T1, A1, W2, T2, A2, W3, T3, A3, AU, CAT, ARCH = range(12)
DOMAINS = 12

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

Lookup = tuple[int, str, bool]  # (domain, key, whether the key alone decides the leaf)

_UNI = {"any": W1, "ti": T1, "abs": A1}
_BI = {"any": W2, "ti": T2, "abs": A2}
_TRI = {"any": W3, "ti": T3, "abs": A3}


def _token_score(tok: str) -> float:
    if tok in _COMMON:
        return 0.2
    return 1.0 + min(len(tok), 12) / 12


def _best_pair(toks: tuple[str, ...]) -> tuple[float, int]:
    return max((_token_score(a) + _token_score(b), i) for i, (a, b) in enumerate(itertools.pairwise(toks)))


def leaf_identity(leaf: Leaf) -> Hashable:
    """What truth and reasons depend on: 'videos retrieval' and 'video retrieval' are one leaf."""
    if isinstance(leaf, Phrase):
        return ("p", leaf.field, leaf.toks)
    if isinstance(leaf, Author):
        return ("a", leaf.words)
    return ("c", leaf.value.lower(), leaf.prefix)


def leaf_lookup(leaf: Leaf) -> Lookup:
    if isinstance(leaf, Phrase):
        toks = leaf.toks
        if len(toks) == 1:
            return _UNI[leaf.field], toks[0], True
        if len(toks) == 2:
            return _BI[leaf.field], f"{toks[0]} {toks[1]}", True
        i = min(_best_pair(toks)[1], len(toks) - 3)  # a triple around the rarest pair
        return _TRI[leaf.field], " ".join(toks[i : i + 3]), len(toks) == 3
    if isinstance(leaf, Author):
        return AU, leaf.words[-1], len(leaf.words) == 1
    return (ARCH if leaf.prefix else CAT), leaf.value.lower(), True


def leaf_score(leaf: Leaf) -> float:
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
Eval = Callable[[AbstractSet[int]], bool]


def _compile(node: Node, lid: Callable[[Leaf], int]) -> Eval:
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


EXACT, CONJ, GENERAL = range(3)
NO_LEAVES: frozenset[int] = frozenset()


class CompiledQuery(Generic[K]):
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
        self.pos = self.neg = NO_LEAVES
        self.groups: tuple[frozenset[int], ...] = ()
        self.evaluate: Eval | None = None
        # Anchors and leaves are only iterated: tuples (56 bytes for one id) rather than frozensets
        # (216): at 100,000 subscriptions that is 20 MB.
        if isinstance(root, Phrase | Author | Category):  # most queries: one phrase, name or category
            i = lid(root)
            self.anchors: tuple[int, ...] = (i,)
            self.leaves: tuple[int, ...] = self.anchors
            self.positives: tuple[int, ...] = self.anchors
            self.kind = EXACT
            return
        found = _anchors(root, lid, score)
        if found is None:
            raise ValueError(f"query {query.canonical!r} has no positive term to index")
        anchors = frozenset(found[1])
        self.anchors = tuple(anchors)
        self.leaves = tuple(dict.fromkeys(lid(leaf) for leaf in all_leaves(root)))
        self.positives = tuple(dict.fromkeys(lid(leaf) for leaf in query.positive_leaves()))
        self.kind = GENERAL
        if _leaves_only(root):
            self.kind = EXACT  # a true anchor is a true query
        elif isinstance(root, And) and self._conjunction(root, lid, anchors):
            self.kind = CONJ
        else:
            self.evaluate = _compile(root, lid)

    def _conjunction(self, root: And, lid: Callable[[Leaf], int], anchors: frozenset[int]) -> bool:
        """Literals and ORs of leaves, ANDed: testable with a few set operations."""
        pos: list[int] = []
        neg: list[int] = []
        groups: list[frozenset[int]] = []
        for c in root.children:
            ids = frozenset(lid(leaf) for leaf in all_leaves(c))
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
        self.pos = frozenset(pos) if pos else NO_LEAVES
        self.neg = frozenset(neg) if neg else NO_LEAVES
        self.groups = tuple(groups)
        return True


def all_leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, And | Or):
        for c in node.children:
            yield from all_leaves(c)
    elif isinstance(node, Not):
        yield from all_leaves(node.child)
    else:
        yield node


# Words, pairs, triples: their domains in either field, the title, the abstract.
_BY_LENGTH = ((1, W1, T1, A1), (2, W2, T2, A2), (3, W3, T3, A3))


def paper_keys(paper: PreparedPaper, wanted: list[bool]) -> Iterator[tuple[int, AbstractSet[str]]]:
    """The paper's keys in each domain the index uses."""
    for n, either, title, abstract in _BY_LENGTH:
        if wanted[either] or wanted[title] or wanted[abstract]:
            t, a = _field_keys(paper, n)
            if wanted[either]:
                yield either, t | a
            if wanted[title]:
                yield title, t
            if wanted[abstract]:
                yield abstract, a
    if wanted[AU]:
        yield AU, paper.author_words
    if wanted[CAT]:
        yield CAT, paper.categories
    if wanted[ARCH]:
        yield ARCH, paper.archives


def _field_keys(paper: PreparedPaper, n: int) -> tuple[AbstractSet[str], AbstractSet[str]]:
    """The title's and the abstract's words (n=1), word pairs (2) or triples (3)."""
    if n == 1:
        return paper.title_words, paper.abstract_words
    grams = _pairs if n == 2 else _triples
    return grams(paper.title), grams(paper.abstract)


def _pairs(seq: tuple[str, ...]) -> set[str]:
    return set(map(" ".join, itertools.pairwise(seq)))


def _triples(seq: tuple[str, ...]) -> set[str]:
    return set(map(" ".join, zip(seq, seq[1:], seq[2:], strict=False)))
