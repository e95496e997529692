"""A parsed /track query's tree: its nodes (phrase, author, category, NOT, AND, OR), and parse errors.

`bot.matching.query_syntax` builds the tree from text, `bot.matching.query` reads it (canonical
form, description, arXiv form, evaluation), and the match index (`bot.matching.index`) compiles
its leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.errors import UserError

FIELDS = ("ti", "abs", "au", "cat")
TextField = Literal["any", "ti", "abs"]


class QueryError(UserError):
    """A query that cannot be parsed; the message names the column and the fix."""

    def __init__(self, message: str, column: int = 1) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear consecutively in a text field ('any' is title or abstract)."""

    field: TextField
    text: str  # casefolded, whitespace collapsed: what the user sees
    words: tuple[str, ...]  # folded, unstemmed: what arXiv is asked for
    toks: tuple[str, ...]  # stemmed: what matching compares


@dataclass(frozen=True, slots=True)
class Author:
    """An author name: a surname, or given names/initials followed by the surname."""

    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Category:
    """An arXiv category in arXiv case ('cs.CV'); with prefix, the archive ('cs' for cs.*)."""

    value: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Leaf = Phrase | Author | Category
Node = Phrase | Author | Category | Not | And | Or


class PaperView(Protocol):
    """What evaluating a query needs from a paper (see bot.matching.index.PreparedPaper)."""

    def has_phrase(self, field: TextField, toks: tuple[str, ...]) -> bool: ...

    def has_author(self, words: tuple[str, ...]) -> bool: ...

    def has_category(self, value: str, prefix: bool) -> bool: ...
