"""The /track query language: parse, canonical form, description, arXiv form, evaluation.

Grammar (uppercase keywords; precedence NOT > AND > OR)::

    query   := or
    or      := and (("OR" | "|") and)*
    and     := unary ("AND"? unary)*          adjacent terms are ANDed
    unary   := ("NOT" | "-")* primary
    primary := words | "quoted phrase" | field ":" (word | "phrase" | "(" or ")") | "(" or ")"
    field   := ti | abs | au | cat

Decisions:

- A run of bare words is ONE phrase: `video retrieval` is the phrase "video
  retrieval" in the title or abstract, not two ANDed words. The run stops at
  any operator, quote, field, parenthesis or `-`, and terms that are not part
  of one run are ANDed: `"video retrieval" -audio` is the phrase AND NOT audio.
- `-` and a field bind to exactly one word (or one quoted phrase or group), as
  in web search: `-audio visual` is NOT audio AND visual; `ti:video retrieval`
  is ti:video AND "retrieval" anywhere (use `ti:"video retrieval"`). `NOT`
  takes the next term, which may be a run: `NOT audio visual` excludes the
  phrase "audio visual".
- Words inside a phrase are kept, stop-words too ("learning to rank" keeps
  "to"); only a phrase made of nothing but common words ("the", "of and") is
  refused as too unspecific.
- Every OR branch, every group and the whole query need a positive term:
  a query that only excludes would match nearly every paper.
- Under `cat:`, adjacent words are separate categories, ANDed:
  `cat:(cs.CV cs.LG)` is a paper listed in both.

The canonical form lowercases (NFKC + casefold) and collapses whitespace,
distributes fields into groups (`ti:(a OR b)` -> `ti:a OR ti:b`), drops
redundant parentheses and double negations, writes every operator explicitly
in uppercase (`a AND NOT b`), sorts and de-duplicates the terms of AND/OR
(positive terms first) and writes categories in arXiv case (`cat:cs.CV`).
It always re-parses to an equal query; two queries are equal exactly when
their canonical forms are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.errors import UserError
from bot.text import has_lone_surrogate, is_unspecific, name_tokens, stem, to_plain, visible, words

MAX_QUERY_CHARS = 500
MAX_DEPTH = 10
MAX_TERMS = 30
FIELDS = ("ti", "abs", "au", "cat")

TextField = Literal["any", "ti", "abs"]
_FIELD_NAMES: dict[str, str] = {"any": "title or abstract", "ti": "title", "abs": "abstract"}
_KEYWORDS = frozenset({"OR", "AND", "NOT"})
_NOT_BARE = frozenset('"()|:')
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})  # chat apps "smarten" quotes
_NO_QUOTES = str.maketrans({'"': " ", "\u201c": " ", "\u201d": " ", "\u201e": " "})
# Archives that are split into subject classes (astro-ph and cond-mat also exist bare on old papers).
_SUBJECT_ARCHIVES = frozenset(
    {"cs", "math", "physics", "stat", "eess", "econ", "q-bio", "q-fin", "nlin", "astro-ph", "cond-mat"}
)
_CATEGORY = re.compile(r"([a-z]+(?:-[a-z]+)?)(?:\.([a-z]+(?:-[a-z]+)*))?", re.IGNORECASE)


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
    """What evaluating a query needs from a paper (see bot.matching.PreparedPaper)."""

    def has_phrase(self, field: TextField, toks: tuple[str, ...]) -> bool: ...

    def has_author(self, words: tuple[str, ...]) -> bool: ...

    def has_category(self, value: str, prefix: bool) -> bool: ...


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
    parser = _Parser(_lex(text.translate(_QUOTES)))
    root = parser.parse_query()
    canonical = _canon(root)
    if len(canonical) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(canonical)} characters long once written out in full ({canonical!r}): "
            f"the limit is {MAX_QUERY_CHARS}; shorten it",
            1,
        )
    return Query(canonical, root)


# --- lexer -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: Literal["WORD", "QUOTED", "FIELD", "LP", "RP", "OR", "AND", "NOT", "NEG"]
    text: str
    col: int
    glued: bool = False  # a WORD written right after a field: `ti:video`


_TERM_START = frozenset({"WORD", "QUOTED", "FIELD", "LP", "NEG", "NOT"})


_WORD_RUN = re.compile(r'[^\s"()|]+')  # \s is str.isspace() for str patterns


def _lex(s: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        col = i + 1
        if c.isspace():
            i += 1
        elif c == '"':
            j = s.find('"', i + 1)
            if j < 0:
                raise QueryError(f'unbalanced quote at column {col}: add the closing "', col)
            out.append(_Tok("QUOTED", s[i + 1 : j], col))
            i = j + 1
        elif c == "(":
            out.append(_Tok("LP", c, col))
            i += 1
        elif c == ")":
            out.append(_Tok("RP", c, col))
            i += 1
        elif c == "|":
            out.append(_Tok("OR", c, col))
            i += 1
        elif c == "-":
            if i + 1 == n or s[i + 1].isspace() or s[i + 1] in ")|":
                raise QueryError(
                    f"lone - at column {col}: put the word to exclude right after it, e.g. -audio", col
                )
            out.append(_Tok("NEG", c, col))
            i += 1
        else:
            m = _WORD_RUN.match(s, i)
            j = m.end() if m else i + 1  # (c itself always starts a run: it is none of the above)
            word = s[i:j]
            i = j
            colon = word.find(":")
            name = word[:colon]
            if colon > 0 and name.isascii() and name.isalpha():
                out.extend(_lex_field(name.lower(), word[colon + 1 :], col, s[j] if j < n else ""))
            elif word in _KEYWORDS:
                out.append(_Tok(word, word, col))  # type: ignore[arg-type]  # word is a keyword kind
            else:
                out.append(_Tok("WORD", word, col))
    return out


def _lex_field(name: str, rest: str, col: int, following: str) -> list[_Tok]:
    if name not in FIELDS:
        raise QueryError(
            f'unknown field "{name}:" at column {col}: '
            "use ti:, abs:, au: or cat: (or put the text in quotes)",
            col,
        )
    field_tok = _Tok("FIELD", name, col)
    if rest.startswith("-"):
        raise QueryError(f"put the - before the field at column {col}: -{name}:{rest[1:]}", col)
    if rest:
        return [field_tok, _Tok("WORD", rest, col + len(name) + 1, glued=True)]
    if following in ('"', "("):
        return [field_tok]
    raise QueryError(
        f'{name}: at column {col} needs a word, a "phrase" or a (group) right after it, with no space', col
    )


# --- parser ------------------------------------------------------------------


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse_query(self) -> Node:
        node = self.parse_or(None)
        extra = self.peek()
        if extra is not None:  # only a ')' can stop parse_or early
            raise QueryError(f"unexpected ) at column {extra.col}: remove it or add a ( before it", extra.col)
        if not _positive(node):
            raise QueryError(
                "a query needs at least one positive term: say what papers should contain, "
                "e.g. video retrieval -audio",
                1,
            )
        return node

    def parse_or(self, ctx: str | None) -> Node:
        branches = [self.parse_and(ctx)]
        ors: list[_Tok] = []
        while (tok := self.peek()) is not None and tok.kind == "OR":
            ors.append(self.take())
            self._need_term_after(tok)
            branches.append(self.parse_and(ctx))
        if len(branches) > 1:
            for k, branch in enumerate(branches):
                if not _positive(branch):
                    op = ors[max(k - 1, 0)]
                    raise QueryError(
                        f"each side of OR at column {op.col} needs a positive term, not only exclusions",
                        op.col,
                    )
        return _or(branches)

    def parse_and(self, ctx: str | None) -> Node:
        items = [self.parse_unary(ctx)]
        while (tok := self.peek()) is not None:
            if tok.kind == "AND":
                self.take()
                self._need_term_after(tok)
            elif tok.kind not in _TERM_START:
                break
            items.append(self.parse_unary(ctx))
        return _and(items)

    def parse_unary(self, ctx: str | None) -> Node:
        prefixes: list[_Tok] = []
        while (tok := self.peek()) is not None and tok.kind in ("NEG", "NOT"):
            prefixes.append(self.take())
        if prefixes:
            last = prefixes[-1]
            nxt = self.peek()
            if nxt is None or nxt.kind not in _TERM_START:
                what = "NOT" if last.kind == "NOT" else "-"
                raise QueryError(
                    f"{what} at column {last.col} needs a term after it, e.g. {what} audio", last.col
                )
        node = self.parse_primary(ctx, single=bool(prefixes) and prefixes[-1].kind == "NEG")
        for _ in prefixes:
            node = _not(node)
        if prefixes and isinstance(node, Not) and not _positive(node.child):
            col = prefixes[0].col
            raise QueryError(f"the exclusion at column {col} needs a positive term inside it", col)
        return node

    def parse_primary(self, ctx: str | None, *, single: bool) -> Node:
        tok = self.peek()
        if tok is None:
            raise QueryError("the query ends too early: a term is missing at the end", 1)
        if tok.kind in ("OR", "AND"):
            raise QueryError(f"{tok.text} at column {tok.col} needs a term on both sides", tok.col)
        if tok.kind == "RP":
            raise QueryError(f"unexpected ) at column {tok.col}: remove it or add a ( before it", tok.col)
        self.take()
        if tok.kind == "WORD":
            run = [tok]
            while not single and (nxt := self.peek()) is not None and nxt.kind == "WORD" and not nxt.glued:
                run.append(self.take())
            if ctx == "cat":
                return _and([self.leaf(w.text, w.col, ctx) for w in run])
            return self.leaf(" ".join(w.text for w in run), tok.col, ctx)
        if tok.kind == "QUOTED":
            if not tok.text.strip():
                raise QueryError(f"empty quotes at column {tok.col}: put words between them", tok.col)
            return self.leaf(tok.text, tok.col, ctx)
        if tok.kind == "LP":
            return self.group(tok, ctx)
        # FIELD: the lexer guarantees a glued word, a quote or a '(' follows.
        if ctx is not None:
            raise QueryError(
                f"{tok.text}: at column {tok.col} is inside a {ctx}: group; fields cannot be nested", tok.col
            )
        value = self.take()
        if value.kind == "LP":
            return self.group(value, tok.text)
        if value.kind == "QUOTED" and not value.text.strip():
            raise QueryError(f"empty quotes at column {value.col}: put words between them", value.col)
        return self.leaf(value.text, value.col, tok.text)

    def group(self, lp: _Tok, ctx: str | None) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"parentheses nested too deeply at column {lp.col}: the limit is {MAX_DEPTH} levels", lp.col
            )
        nxt = self.peek()
        if nxt is not None and nxt.kind == "RP":
            raise QueryError(
                f"empty parentheses at column {lp.col}: put a term inside or remove them", lp.col
            )
        node = self.parse_or(ctx)
        close = self.peek()
        if close is None or close.kind != "RP":
            raise QueryError(f"( at column {lp.col} is never closed: add a )", lp.col)
        self.take()
        self.depth -= 1
        return node

    def leaf(self, raw: str, col: int, ctx: str | None) -> Node:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(
                f"too many terms at column {col}: the limit is {MAX_TERMS}; split the query into several",
                col,
            )
        if ctx == "au":
            name = name_tokens(raw)
            if not name:
                raise QueryError(f"au: at column {col} needs a name with letters, e.g. au:muller", col)
            return Author(name)
        if ctx == "cat":
            return _category(raw, col)
        fld: TextField = "ti" if ctx == "ti" else "abs" if ctx == "abs" else "any"
        return _phrase(fld, raw, col)

    def _need_term_after(self, op: _Tok) -> None:
        nxt = self.peek()
        if nxt is None or nxt.kind not in _TERM_START:
            raise QueryError(f"{op.text} at column {op.col} needs a term on both sides", op.col)


def _normalise(raw: str) -> str:
    s = raw
    for _ in range(4):  # casefold can un-normalise NFKC; a couple of passes reach the fixpoint
        nxt = " ".join(unicodedata.normalize("NFKC", s).casefold().translate(_NO_QUOTES).split())
        if nxt == s:
            break
        s = nxt
    return s


def _phrase(fld: TextField, raw: str, col: int) -> Phrase:
    text = _normalise(raw)
    folded = words(to_plain(text))
    if not folded:
        raise QueryError(
            f'"{raw.strip()}" at column {col} has no letters or digits: track words, e.g. video retrieval',
            col,
        )
    if is_unspecific(folded):
        raise QueryError(
            f'"{raw.strip()}" at column {col} has only common words like "the" or "of": '
            "add a more specific word",
            col,
        )
    return Phrase(fld, text, tuple(folded), tuple(stem(folded)))


def _category(raw: str, col: int) -> Category:
    value = raw.strip()
    prefix = value.endswith(".*")
    m = _CATEGORY.fullmatch(value[:-2] if prefix else value)
    if m is None or (prefix and m.group(2)):
        raise QueryError(
            f"cat:{value} at column {col} is not an arXiv category: use one like cs.CV, hep-th or cs.*", col
        )
    archive, subject = m.group(1).lower(), m.group(2)
    if subject is None:
        # 'cat:cs' can only mean the whole archive: no paper is listed under plain 'cs'.
        return Category(archive, prefix or archive in _SUBJECT_ARCHIVES)
    # arXiv writes two-letter subject classes in capitals (cs.CV, astro-ph.CO), longer ones in lowercase.
    subject = subject.upper() if len(subject) == 2 and subject.isalpha() else subject.lower()
    return Category(f"{archive}.{subject}")


# --- normal form ---------------------------------------------------------------


def _positive(node: Node) -> bool:
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_positive(c) for c in node.children)
    if isinstance(node, Or):
        return all(_positive(c) for c in node.children)
    return True


def _not(node: Node) -> Node:
    return node.child if isinstance(node, Not) else Not(node)


def _sorted_unique(children: list[Node]) -> tuple[Node, ...]:
    seen: dict[str, Node] = {}
    for c in children:
        seen.setdefault(_canon(c), c)
    ordered = sorted(seen.items(), key=lambda kv: (isinstance(kv[1], Not), kv[0]))
    return tuple(c for _, c in ordered)


def _and(items: list[Node]) -> Node:
    if len(items) == 1 and not isinstance(items[0], And):
        return items[0]  # what the general case gives, without writing out canonical forms
    flat: list[Node] = []
    for it in items:
        flat.extend(it.children if isinstance(it, And) else (it,))
    children = _sorted_unique(flat)
    return children[0] if len(children) == 1 else And(children)


def _or(items: list[Node]) -> Node:
    if len(items) == 1 and not isinstance(items[0], Or):
        return items[0]
    flat: list[Node] = []
    for it in items:
        flat.extend(it.children if isinstance(it, Or) else (it,))
    children = _sorted_unique(flat)
    return children[0] if len(children) == 1 else Or(children)


def _bare(text: str) -> bool:
    parts = text.split(" ")
    return all(p and p[0] != "-" and p not in _KEYWORDS and _NOT_BARE.isdisjoint(p) for p in parts)


def _canon(node: Node) -> str:
    if isinstance(node, Phrase):
        if node.field == "any":
            return node.text if _bare(node.text) else f'"{node.text}"'
        single = _bare(node.text) and " " not in node.text
        return f"{node.field}:{node.text}" if single else f'{node.field}:"{node.text}"'
    if isinstance(node, Author):
        name = " ".join(node.words)
        return f"au:{name}" if len(node.words) == 1 else f'au:"{name}"'
    if isinstance(node, Category):
        return f"cat:{node.value}.*" if node.prefix else f"cat:{node.value}"
    if isinstance(node, Not):
        inner = _canon(node.child)
        return f"NOT ({inner})" if isinstance(node.child, And | Or) else f"NOT {inner}"
    if isinstance(node, And):
        return " AND ".join(f"({_canon(c)})" if isinstance(c, Or) else _canon(c) for c in node.children)
    return " OR ".join(_canon(c) for c in node.children)


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
