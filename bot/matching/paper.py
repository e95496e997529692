"""A paper prepared for matching: its words, word pairs and triples, authors and categories, once.

Every query is tested against these (bot.matching.index); where a phrase occurs, and how the paper writes
the words it matched, is found here on demand (bot.matching.reasons).
"""

from __future__ import annotations

from bot.matching.normalize import WordSpans, name_matches, name_variants, to_plain, tokens
from bot.matching.query import TextField
from bot.models import Paper

_MAX_SURFACES = 3


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
        if field != "abs" and toks[0] in self.title_words and find_phrase(self.title, toks):
            return True
        return field != "ti" and toks[0] in self.abstract_words and find_phrase(self.abstract, toks)

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


def find_phrase(seq: tuple[str, ...], toks: tuple[str, ...]) -> bool:
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
