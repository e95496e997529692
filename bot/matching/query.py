"""The /track query language: a query parsed, and its readings.

Readings: the canonical form, a description, the arXiv API form, evaluation against a paper.

Its syntax (grammar, decisions, canonical form) is described and built in `bot.matching.query_syntax`; the
tree's node types are in `bot.matching.query_tree` and exported here too, as most code needs only this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.matching import query_syntax
from bot.matching.normalize import has_lone_surrogate, visible
from bot.matching.query_tree import (
    FIELDS,
    And,
    Author,
    Category,
    Leaf,
    Node,
    Not,
    Or,
    PaperView,
    Phrase,
    QueryError,
    TextField,
)

__all__ = [
    "FIELDS",
    "MAX_QUERY_CHARS",
    "And",
    "Author",
    "Category",
    "Leaf",
    "Node",
    "Not",
    "Or",
    "PaperView",
    "Phrase",
    "Query",
    "QueryError",
    "TextField",
    "parse",
    "parse_stored",
    "positive_leaves",
]

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500
_FIELD_NAMES: dict[str, str] = {"any": "title or abstract", "ti": "title", "abs": "abstract"}
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})  # chat apps "smarten" quotes


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query; equal (and hashed) by its canonical form."""

    canonical: str
    root: Node = field(compare=False, repr=False)

    def __str__(self) -> str:
        return self.canonical

    def describe(self) -> str:
        """A human reading: 'title or abstract contains the phrase "video retrieval"'."""
        return _describe(self.root, negated=False)

    def to_arxiv(self) -> str:
        """The arXiv API `search_query` for this query, phrases quoted and operators explicit."""
        return _arxiv(self.root)

    def categories(self) -> frozenset[str] | None:
        """Categories ('cs.CV', 'cs.*') one of which every match is listed in; None if any may match."""
        return _required_categories(self.root)

    def matches(self, paper: PaperView) -> bool:
        """Whether a prepared paper satisfies the query."""
        return _eval(self.root, paper)

    def positive_leaves(self) -> Iterator[Leaf]:
        """The terms not under a NOT: what a matching paper can be credited for."""
        return positive_leaves(self.root)


def parse(text: str) -> Query:
    """Parse a /track query; raises QueryError (and nothing else) on bad input."""
    if has_lone_surrogate(text):
        raise QueryError("the query contains a broken character (half of a UTF-16 pair); type it again", 1)
    text = visible(text)
    if not text.strip():
        raise QueryError("the query is empty: give words to track, e.g. video retrieval", 1)
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text)} characters long: the limit is {MAX_QUERY_CHARS}; shorten it",
            MAX_QUERY_CHARS + 1,
        )
    root = query_syntax.tree(text.translate(_QUOTES))
    canonical = query_syntax.canonical(root)
    if len(canonical) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(canonical)} characters long once written out in full ({canonical!r}): "
            f"the limit is {MAX_QUERY_CHARS}; shorten it",
            1,
        )
    return Query(canonical, root)


def parse_stored(text: str) -> Query | None:
    """A stored subscription's query; None, with one warning, if the grammar no longer accepts it.

    The one policy for such a query: /tracked shows it as stored, /untrack removes it by that
    text, matching and harvest planning skip it, and nothing crashes on it.
    """
    try:
        return parse(text)
    except QueryError as err:
        log.warning("the stored query %r no longer parses, so it matches nothing: %s", text, err)
        return None


# --- readings ----------------------------------------------------------------


def _describe(node: Node, *, negated: bool) -> str:
    if isinstance(node, Phrase):
        verb = "does not contain" if negated else "contains"
        what = f'"{node.text}"' if len(node.words) == 1 else f'the phrase "{node.text}"'
        return f"{_FIELD_NAMES[node.field]} {verb} {what}"
    if isinstance(node, Author):
        return f'{"no" if negated else "an"} author is named "{" ".join(node.words)}"'
    if isinstance(node, Category):
        verb = "is not" if negated else "is"
        if node.prefix:
            return f"category {verb} in {node.value}.*"
        return f"category {verb} {node.value}"
    if isinstance(node, Not):
        if isinstance(node.child, And | Or):
            return f"not ({_describe(node.child, negated=False)})"
        return _describe(node.child, negated=not negated)
    if isinstance(node, And):
        return " and ".join(
            f"({_describe(c, negated=False)})" if isinstance(c, Or) else _describe(c, negated=False)
            for c in node.children
        )
    return " or ".join(
        f"({_describe(c, negated=False)})" if isinstance(c, And) else _describe(c, negated=False)
        for c in node.children
    )


def _arxiv_term(ws: tuple[str, ...]) -> str:
    return ws[0] if len(ws) == 1 else '"' + " ".join(ws) + '"'


def _arxiv(node: Node) -> str:
    if isinstance(node, Phrase):
        term = _arxiv_term(node.words)
        if node.field == "any":
            return f"(ti:{term} OR abs:{term})"
        return f"{node.field}:{term}"
    if isinstance(node, Author):
        return f"au:{_arxiv_term(node.words)}"
    if isinstance(node, Category):
        return f"cat:{node.value}.*" if node.prefix else f"cat:{node.value}"
    if isinstance(node, Or):
        return " OR ".join(_arxiv_group(c) for c in node.children)
    if isinstance(node, Not):  # validation keeps NOT inside an AND with a positive term
        raise ValueError("a NOT outside an AND has no arXiv form")
    pos = [c for c in node.children if not isinstance(c, Not)]
    neg = [c.child for c in node.children if isinstance(c, Not)]
    out = " AND ".join(_arxiv_group(c) for c in pos)
    if not neg:
        return out
    if len(pos) > 1:
        out = f"({out})"
    excluded = (
        _arxiv_group(neg[0]) if len(neg) == 1 else "(" + " OR ".join(_arxiv_group(c) for c in neg) + ")"
    )
    return f"{out} ANDNOT {excluded}"


def _arxiv_group(node: Node) -> str:
    return f"({_arxiv(node)})" if isinstance(node, And | Or) else _arxiv(node)


def _required_categories(node: Node) -> frozenset[str] | None:
    if isinstance(node, Category):
        return frozenset({f"{node.value}.*" if node.prefix else node.value})
    if isinstance(node, Or):
        parts = [_required_categories(c) for c in node.children]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*(p for p in parts if p is not None))
    if isinstance(node, And):
        options = [p for c in node.children if (p := _required_categories(c)) is not None]
        return min(options, key=lambda p: (len(p), sorted(p))) if options else None
    return None


def _eval(node: Node, paper: PaperView) -> bool:
    if isinstance(node, Phrase):
        return paper.has_phrase(node.field, node.toks)
    if isinstance(node, And):
        return all(_eval(c, paper) for c in node.children)
    if isinstance(node, Or):
        return any(_eval(c, paper) for c in node.children)
    if isinstance(node, Not):
        return not _eval(node.child, paper)
    if isinstance(node, Author):
        return paper.has_author(node.words)
    return paper.has_category(node.value, node.prefix)


def positive_leaves(node: Node) -> Iterator[Leaf]:
    """Leaves of `node` not under a NOT."""
    if isinstance(node, And | Or):
        for c in node.children:
            yield from positive_leaves(c)
    elif not isinstance(node, Not):
        yield node
