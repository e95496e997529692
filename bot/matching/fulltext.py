"""The full-text index's format: what is indexed for a paper, and a query as an FTS5 expression.

The index (SQLite FTS5: `storage.search`; searching it: `bot.matching.search`) does not tokenise paper
text itself: it is given the matcher's own tokens (LaTeX as text, case and accents folded,
stemmed: `bot.matching.normalize.tokens`) joined by spaces, under FTS5's `ascii` tokenizer, which splits only
at ASCII punctuation and spaces and keeps every other character. So each indexed token is exactly
one matcher token, and an FTS5 phrase `title : "video retriev"` holds exactly when the matcher's
`ti:"video retrieval"` does. Phrases, single-word authors and categories are decided by the index
alone; only a multi-word author name (`au:"j muller"`: initials, the order of names within one
author) is beyond it, so such a query gets a superset from the index and the matcher decides.

User text never reaches FTS5 syntax: a query is parsed by `bot.matching.query` first, and only its
folded, stemmed tokens (letters and digits, nothing FTS5 reads as an operator) are written,
inside double quotes, into an expression this module builds from the parse tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.matching.normalize import name_variants, to_plain, tokens
from bot.matching.query import And, Author, Category, Node, Not, Or, Phrase, Query
from bot.models import Paper

# What a category or archive must look like to be one index token under `ascii tokenchars '.-'`
# (query categories are always of this form, so a paper category that is not can never match).
_INDEXABLE_CATEGORY = re.compile(r"[a-z0-9.\-]+")
_FIELD_COLUMNS = {"any": "{title abstract}", "ti": "title", "abs": "abstract"}


@dataclass(frozen=True, slots=True)
class SearchText:
    """A paper as the index holds it: one space-separated token string per column."""

    title: str
    abstract: str
    authors: str
    categories: str
    archives: str

    def values(self) -> tuple[str, str, str, str, str]:
        return (self.title, self.abstract, self.authors, self.categories, self.archives)


def text_tokens(text: str) -> str:
    """The matcher's tokens of a title or abstract, space-separated."""
    return " ".join(tokens(to_plain(text)))


def author_tokens(authors: Iterable[str]) -> str:
    """Every folded word of every author name, in every form the matcher finds it under."""
    return " ".join(w for name in authors for variant in name_variants(name) for w in variant)


def category_tokens(categories: Iterable[str]) -> tuple[str, str]:
    """The paper's categories and their archives ('cs.cv', 'cs'), lowercased, as index tokens."""
    cats = dict.fromkeys(c.lower() for c in categories)
    archives = dict.fromkeys(c.split(".", 1)[0] for c in cats)
    usable = _INDEXABLE_CATEGORY.fullmatch
    return " ".join(c for c in cats if usable(c)), " ".join(a for a in archives if usable(a))


def search_text(paper: Paper) -> SearchText:
    """What the index holds for `paper`."""
    cats, archives = category_tokens(paper.categories)
    return SearchText(
        text_tokens(paper.title), text_tokens(paper.abstract), author_tokens(paper.authors), cats, archives
    )


def search_text_of_row(title: str, abstract: str, authors_json: str, categories_json: str) -> SearchText:
    """`search_text` of a stored row (authors and categories as the JSON arrays storage keeps)."""
    authors, categories = _json_list(authors_json), _json_list(categories_json)
    cats, archives = category_tokens(categories)
    return SearchText(text_tokens(title), text_tokens(abstract), author_tokens(authors), cats, archives)


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class FtsQuery:
    """A query as an FTS5 MATCH expression; `exact` when the index alone decides it."""

    expression: str
    exact: bool


def to_fts(query: Query) -> FtsQuery:
    """The FTS5 expression for `query`: exactly its matches, or (not `exact`) a superset of them."""
    expression, exact = _node(query.root)
    return FtsQuery(expression, exact)


def _string(toks: Sequence[str]) -> str:
    # Tokens hold only letters and digits; doubling quotes keeps even a surprise inside the string.
    return '"' + " ".join(toks).replace('"', '""') + '"'


def _node(node: Node) -> tuple[str, bool]:
    if isinstance(node, Phrase):
        return f"{_FIELD_COLUMNS[node.field]} : {_string(node.toks)}", True
    if isinstance(node, Author):
        return _author(node.words)
    if isinstance(node, Category):
        column = "archives" if node.prefix else "categories"
        return f"{column} : {_string([node.value.lower()])}", True
    if isinstance(node, Or):
        parts = [_node(c) for c in node.children]
        return "(" + " OR ".join(e for e, _ in parts) + ")", all(x for _, x in parts)
    if isinstance(node, And):
        return _conjunction(node)
    # A NOT stands only inside an AND that has a positive term (the parser refuses the rest).
    raise ValueError(f"a NOT outside an AND has no FTS5 form: {node!r}")


def _conjunction(node: And) -> tuple[str, bool]:
    positive = [_node(c) for c in node.children if not isinstance(c, Not)]
    negative = [_node(c.child) for c in node.children if isinstance(c, Not)]
    exact = all(x for _, x in positive)
    expression = "(" + " AND ".join(e for e, _ in positive) + ")"
    # Excluding a superset would exclude real matches: an inexact exclusion is left to the matcher.
    excluded = [e for e, x in negative if x]
    if len(excluded) < len(negative):
        exact = False
    if excluded:
        expression = f"({expression} NOT ({' OR '.join(excluded)}))"
    return expression, exact


def _author(words: tuple[str, ...]) -> tuple[str, bool]:
    """The surname must be an author word; each given name that word or its initial (or, for an initial,
    any word it starts), though maybe in another author's name: exact for a surname alone."""
    *given, surname = words
    parts = [f"authors : {_string([surname])}"]
    for g in given:
        if len(g) == 1:
            parts.append(f"authors : {_string([g])}*")
        else:
            parts.append(f"(authors : {_string([g])} OR authors : {_string([g[0]])})")
    return "(" + " AND ".join(parts) + ")", not given
