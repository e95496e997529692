"""BibTeX entries as arXiv's own "Export BibTeX Citation" writes them.

arXiv's entry is `@misc` with the title and authors as arXiv holds them (TeX kept), the year of
the latest version, `eprint`, `archivePrefix={arXiv}`, `primaryClass`, the DOI when known and the
abstract page's URL, indented by six spaces; its key is the first author's surname, the year and
the first four title words that are not stop words (`vaswani2023attentionneed`). Two departures,
both for a bibliography that works: the DOI is the bare DOI (arXiv writes a doi.org URL into the
`doi` field, which biblatex then links as https://doi.org/https://doi.org/...), and the journal
reference, when arXiv has one, is added as `journal`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from bot.matching.search import last_update
from bot.models import Paper, Reply

# arXiv's stop words are the classic Glasgow list scikit-learn ships, less three of its words
# (arXiv's copy has "fify" and "thickv" where it has "fifty" and "thick", and no "i").
STOP_WORDS = ENGLISH_STOP_WORDS - {"fifty", "thick", "i"}
KEY_TITLE_WORDS = 4
INDENT = " " * 6
# Name particles that belong to a surname ("van Gogh" sorts and cites under "van Gogh").
_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "le", "la", "dos"}
)
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})


def surname(author: str) -> str:
    """The family name of `"Ludwig van Beethoven Jr."` as a key starts with it: `van Beethoven`."""
    words = author.replace(",", " ").split()
    while len(words) > 1 and words[-1].casefold() in _SUFFIXES:
        words.pop()
    if not words:
        return ""
    start = len(words) - 1
    while start > 1 and words[start - 1].casefold() in _PARTICLES:
        start -= 1
    return " ".join(words[start:])


def year(paper: Paper) -> str:
    """The year of the paper's latest version, as arXiv dates its entry."""
    when = last_update(paper)
    return str(when.year) if when.year > 1 else "unknown"


def key(paper: Paper) -> str:
    """`chen2025duallearningdynamicknowledge`: surname, year, four title words, letters and digits only."""
    first = surname(paper.authors[0]) if paper.authors else "unknown"
    words = [w for w in paper.title.split() if w.lower() not in STOP_WORDS][:KEY_TITLE_WORDS]
    text = f"{first}{year(paper)}{''.join(words) or 'unknown'}"
    return "".join(ch for ch in text if ch.isalnum()).lower()


def _braced(text: str) -> str:
    """`text` inside `{...}`: kept as is (TeX and all) unless its braces would end the field early."""
    depth = 0
    for ch in text:
        depth += 1 if ch == "{" else -1 if ch == "}" else 0
        if depth < 0:
            break
    if depth == 0:
        return text
    return re.sub(r"(?<!\\)([{}])", r"\\\1", text)


def entry(paper: Paper, *, cite_key: str | None = None, max_authors: int | None = None) -> str:
    """The paper's BibTeX entry; `max_authors` ends a longer list with `and others` (BibTeX's et al.)."""
    authors = list(paper.authors)
    if max_authors is not None and len(authors) > max_authors:
        authors = [*authors[:max_authors], "others"]
    fields = [
        ("title", " ".join(paper.title.split()), " "),  # arXiv leaves a space after the title's comma
        ("author", " and ".join(" ".join(a.split()) for a in authors), ""),
        ("year", year(paper), ""),
        ("eprint", paper.arxiv_id, ""),
        ("archivePrefix", "arXiv", ""),
        ("primaryClass", paper.primary_category or "unknown", ""),
    ]
    if paper.doi:
        fields.append(("doi", paper.doi.strip(), ""))
    if paper.journal_ref:
        fields.append(("journal", " ".join(paper.journal_ref.split()), ""))
    fields.append(("url", paper.abs_url, " "))
    lines = [f"@misc{{{cite_key or key(paper)},"]
    lines += [f"{INDENT}{name}={{{_braced(value)}}},{trail}" for name, value, trail in fields]
    return "\n".join([*lines, "}"])


def bibliography(papers: Iterable[Paper]) -> str:
    """Entries for `papers` (each once), keys made unique by a letter as BibTeX needs: `chen2025videob`."""
    seen: dict[str, int] = {}
    entries = []
    done: set[str] = set()
    for paper in papers:
        if paper.arxiv_id in done:
            continue
        done.add(paper.arxiv_id)
        base = key(paper)
        n = seen.get(base, 0)
        seen[base] = n + 1
        suffix = "" if n == 0 else _letters(n)
        entries.append(entry(paper, cite_key=base + suffix))
    return "\n\n".join(entries) + ("\n" if entries else "")


def _letters(n: int) -> str:
    """1 -> 'b', 2 -> 'c', ... 25 -> 'z', then numbers: the second, third... paper with one key."""
    return chr(ord("a") + n) if n < 26 else str(n + 1)


# A /bibtex answer fits one chat message (Discord's 2000 characters, with the text before it); a
# longer author list (a collaboration's hundreds) ends in `and others`.
REPLY_CHARS = 1700
REPLY_AUTHORS = 10


def bibtex_reply(paper: Paper) -> Reply:
    """The answer to `/bibtex <id>` (and a card's BibTeX button): the entry, to copy as is."""
    text = entry(paper)
    if len(text) > REPLY_CHARS:
        text = entry(paper, max_authors=REPLY_AUTHORS)
    title = " ".join(paper.title.split())
    return Reply(f"BibTeX for {title} ({paper.arxiv_id}):", code=text)
