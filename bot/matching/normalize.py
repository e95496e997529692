"""Text normalisation shared by queries and papers, so both sides compare equal.

The pipeline is: LaTeX to plain text (`to_plain`), fold case and accents
(`fold`), split into letter/digit runs and stem (`tokens`). Author names are
folded but never stemmed (`name_variants`, `name_matches`).

Snowball stemming is not idempotent on its own output ('database' -> 'databas'
-> 'databa'), so `stem` iterates to a fixpoint: then re-tokenising a token list
gives the same list, and a canonical query built from tokens re-parses equal.
The fixpoint merges a few more words than one Snowball pass would
('represent' and 'repr'), which only ever widens a match slightly.
"""

from __future__ import annotations

import array
import bisect
import functools
import itertools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

import Stemmer
from pylatexenc.latex2text import LatexNodes2Text

log = logging.getLogger(__name__)

# Common English words: a phrase made only of these is too unspecific to track.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "may",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "of",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)

# Letters NFKD does not decompose into a base letter plus a mark.
_FOLD_EXTRA = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŀ": "l",
        "ſ": "s",
    }
)
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})

_WORD = re.compile(r"[^\W_]+")
# Every ASCII character but a-z and 0-9 (once lowercased) to a space: then str.split() gives the
# [a-z0-9]+ runs, five times faster than a regex, and abstracts are tokenised at every store.
_ASCII_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isdigit() or c.islower())})
_WORD_SPLIT = re.compile(r"([^\W_]+)")
_NON_ASCII = re.compile(r"([^\x00-\x7f]+)")

# LaTeX islands: math, or a command with its bracketed/braced arguments. Only
# these go through pylatexenc, which is far too slow (ms per abstract) for whole texts.
_LATEX_ISLAND = re.compile(
    r"\$\$.*?\$\$|\$[^$]*\$"
    r"|\\[A-Za-z]+\*?(?:\[[^\[\]{}]*\])*(?:\{[^{}]*\})*"
    r"|\\[^A-Za-z\s](?:\{[^{}]*\}|[A-Za-z])?",
    re.DOTALL,
)
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_COMMAND = re.compile(r"\\[A-Za-z]+\*?|\\[^A-Za-z]")
_BRACES = str.maketrans({"{": None, "}": None})

_latex = LatexNodes2Text()
_stemmer = Stemmer.Stemmer("english")
_stem_lock = threading.Lock()  # a PyStemmer instance is not safe to share between threads
_stem_cache: dict[str, str] = {}
_STEM_CACHE_MAX = 500_000
_STEM_MAX_PASSES = 8


def to_plain(text: str) -> str:
    """LaTeX markup to plain text ('$\\alpha$' -> 'α', '\\emph{foo}' -> 'foo'); never raises."""
    if "\\" not in text and "$" not in text:
        return text.translate(_BRACES) if "{" in text or "}" in text else text
    return _LATEX_ISLAND.sub(lambda m: _island_to_plain(m.group()), text).translate(_BRACES)


@functools.lru_cache(maxsize=8192)
def _island_to_plain(island: str) -> str:
    try:
        # pylatexenc reads an unescaped % as a comment and would drop the rest of the text.
        return str(_latex.latex_to_text(_UNESCAPED_PERCENT.sub(r"\\%", island)))
    except Exception:  # pylatexenc fails on some malformed macros (e.g. \href with one argument)
        log.debug("pylatexenc failed on %r; stripping commands instead", island, exc_info=True)
        return _COMMAND.sub("", island).replace("}{", " ").replace("$", "").translate(_BRACES)


def visible(text: str) -> str:
    """NFKC, without format characters (bidi overrides, zero-width spaces, soft hyphens).

    Two texts that look the same then compare the same: "video retrieval" and the same words
    behind a right-to-left override are one query, not two subscriptions that read alike.
    """
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")


def has_lone_surrogate(text: str) -> bool:
    """Half of a UTF-16 pair with no other half: JSON allows it, UTF-8 (and SQLite) cannot store it."""
    return not text.isascii() and any("\ud800" <= c <= "\udfff" for c in text)


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKC, casefold, accents dropped ('Müller' -> 'muller')."""
    if text.isascii():
        return text.lower()
    s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    s = "".join(c for c in s if not unicodedata.combining(c)).translate(_FOLD_EXTRA)
    return unicodedata.normalize("NFC", s)


def words(text: str) -> list[str]:
    """Folded letter/digit words of `text`, unstemmed ('Text-to-Video' -> text, to, video)."""
    if text.isascii():
        return text.lower().translate(_ASCII_SEPARATORS).split()
    pieces = _NON_ASCII.split(text)
    folded = "".join(p.lower() if i % 2 == 0 else "".join(map(_fold_char, p)) for i, p in enumerate(pieces))
    return [w if w.isascii() else unicodedata.normalize("NFC", w) for w in _WORD.findall(folded)]


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """`words(text)`, each with the (start, end) of the original text it came from."""
    located = WordSpans(text)
    return [(w, *located.span(k)) for k, w in enumerate(words(text))]


# Texts whose folded form certainly has offsets below 2**31: folding one character gives at most
# 18 (the ligature 'ﷺ'; 'ﬃ' gives 3).
_SMALL_TEXT = 2**31 // 32


class WordSpans:
    """Where each word of a text sits in the original (for highlighting), worked out once per text.

    Positions are mapped back lazily: a matched paper needs the spans of a few words, and
    mapping every word of every abstract through the folding costs more than matching. The word
    bounds are kept as a compact array: a digest run keeps one of these per abstract it explains
    (as a list of int objects, 2,500 abstracts took 80 MB).
    """

    __slots__ = ("_ascii", "_count", "_ends", "_f_starts", "_maps", "_o_starts", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._f_starts: list[int] = []  # where each ASCII / non-ASCII segment starts in the folded text
        self._o_starts: list[int] = []  # ... and in the original
        self._maps: list[list[int] | None] = []  # non-ASCII: original offset of each folded character
        if text.isascii():  # most abstracts: folded offsets are the original ones
            self._ascii = True
            split = _WORD_SPLIT.split(text.lower())
        else:
            split = self._fold(text)
        # Separators and words alternate; their running lengths are the word bounds (computed in C),
        # as 32-bit integers (half the memory) unless the folded text could outgrow them.
        typecode = "i" if len(text) < _SMALL_TEXT else "q"
        self._ends = array.array(typecode, itertools.accumulate(map(len, split)))
        self._count = len(split) // 2

    def _fold(self, text: str) -> list[str]:
        parts: list[str] = []
        f = o = 0
        for i, piece in enumerate(_NON_ASCII.split(text)):
            self._f_starts.append(f)
            self._o_starts.append(o)
            if i % 2 == 0:
                parts.append(piece.lower())
                self._maps.append(None)
                f += len(piece)
            else:
                chars = [_fold_char(c) for c in piece]
                local = [j for j, folded in enumerate(chars) for _ in folded]
                parts.append("".join(chars))
                self._maps.append(local)
                f += len(local)
            o += len(piece)
        self._ascii = len(self._maps) == 1  # one ASCII segment: folded offsets are the original ones
        return _WORD_SPLIT.split("".join(parts))

    def __len__(self) -> int:
        return self._count

    def span(self, k: int) -> tuple[int, int]:
        """(start, end) in the original text of word `k`, trailing accents included."""
        if self._ascii:
            return self._ends[2 * k], self._ends[2 * k + 1]
        start = self._original(self._ends[2 * k])
        end = self._original(self._ends[2 * k + 1] - 1) + 1
        text = self._text
        while end < len(text) and not text[end].isascii() and not _fold_char(text[end]):
            end += 1
        return start, end

    def _original(self, f: int) -> int:
        k = bisect.bisect_right(self._f_starts, f) - 1
        local = self._maps[k]
        return self._o_starts[k] + (f - self._f_starts[k] if local is None else local[f - self._f_starts[k]])


@functools.lru_cache(maxsize=65536)
def _fold_char(c: str) -> str:
    # Folding character by character (not whole runs) makes combining marks vanish instead of
    # splitting words, however the text was normalised: 'שׁ' and 'ש' + U+05C1 fold alike.
    return fold(c)


def stem(word_list: Iterable[str]) -> list[str]:
    """Stem each word to a Snowball fixpoint (so stemming twice changes nothing)."""
    if not isinstance(word_list, list):
        word_list = list(word_list)
    cache = _stem_cache
    try:
        return list(map(cache.__getitem__, word_list))  # usually every word was seen before
    except KeyError:
        pass
    missing = list(set(word_list).difference(cache))
    if missing:
        with _stem_lock:
            stems = _stemmer.stemWords(missing)
            for _ in range(_STEM_MAX_PASSES):
                again = _stemmer.stemWords(stems)
                if again == stems:
                    break
                stems = again
        if len(cache) > _STEM_CACHE_MAX:
            cache.clear()
        cache.update(zip(missing, stems, strict=True))
    # A rare cache clear between update and lookup must not lose a word.
    return [cache.get(w) or _fixpoint(w) for w in word_list]


def _fixpoint(word: str) -> str:
    with _stem_lock:
        for _ in range(_STEM_MAX_PASSES):
            nxt = str(_stemmer.stemWord(word))
            if nxt == word:
                break
            word = nxt
    return word


def tokens(text: str) -> list[str]:
    """Folded, stemmed words: 'Text-to-Video Retrieval' -> text, to, video, retriev."""
    return stem(words(text))


def is_unspecific(folded_words: Iterable[str]) -> bool:
    """True when every word is a common English word (a phrase like 'of the')."""
    return all(w in STOP_WORDS for w in folded_words)


def name_tokens(name: str) -> tuple[str, ...]:
    """An author name as folded words, never stemmed ('J. Müller' -> j, muller)."""
    return tuple(words(to_plain(name)))


# Authors recur from paper to paper and day to day: each name is folded once.
@functools.lru_cache(maxsize=1 << 16)
def name_variants(name: str) -> tuple[tuple[str, ...], ...]:
    """The folded forms an author name is found under: 'Müller' is also 'Mueller'."""
    plain = unicodedata.normalize("NFC", to_plain(name))
    primary = tuple(words(plain))
    german = plain.translate(_GERMAN)
    if german == plain:
        return (primary,)
    return (primary, tuple(words(german)))


def name_matches(query: tuple[str, ...], author: tuple[str, ...]) -> bool:
    """Whether a name query matches one author's folded words.

    The last query word must equal one of the author's words (the surname, or
    any name part); the words before it must appear in order before that one,
    where an initial matches any word starting with it ('j muller' matches
    'jane a muller', 'jane muller' matches 'j muller').
    """
    if not query:
        return False
    *given, last = query
    return any(word == last and _in_order(given, author[:k]) for k, word in enumerate(author))


def _in_order(given: list[str], names: tuple[str, ...]) -> bool:
    i = 0
    for g in given:
        while i < len(names) and not _same_name(g, names[i]):
            i += 1
        if i == len(names):
            return False
        i += 1
    return True


def _same_name(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) == 1:
        return b.startswith(a)
    return len(b) == 1 and a.startswith(b)
