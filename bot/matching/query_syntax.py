"""The /track query's syntax: text to tree (lexer, parser), and the tree's normal form.

(Over 400 lines, a tenth of them this description: the lexer, the parser and the normal form
change together whenever the grammar does, so they are kept in one place.)

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
from dataclasses import dataclass
from typing import Literal

from bot.arxiv.categories import ARCHIVES_WITH_SUBJECTS
from bot.matching.normalize import is_unspecific, name_tokens, stem, to_plain, words
from bot.matching.query_tree import (
    FIELDS,
    And,
    Author,
    Category,
    Node,
    Not,
    Or,
    Phrase,
    QueryError,
    TextField,
)

MAX_DEPTH = 10
MAX_TERMS = 30

_KEYWORDS = frozenset({"OR", "AND", "NOT"})
_NOT_BARE = frozenset('"()|:')
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})  # chat apps "smarten" quotes
_NO_QUOTES = str.maketrans({'"': " ", "\u201c": " ", "\u201d": " ", "\u201e": " "})
_CATEGORY = re.compile(r"([a-z]+(?:-[a-z]+)?)(?:\.([a-z]+(?:-[a-z]+)*))?", re.IGNORECASE)


def tree(text: str) -> Node:
    """The normal-form tree of a query's text (quotes already straightened); QueryError if invalid."""
    return _Parser(_lex(text)).parse_query()


def canonical(node: Node) -> str:
    """The canonical text of a normal-form tree: it re-parses to an equal tree."""
    return _canon(node)


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
        return Category(archive, prefix or archive in ARCHIVES_WITH_SUBJECTS)
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
