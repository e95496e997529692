"""Marking a card's matched words in its text, for renderers whose format has bold.

The matcher reports the words as the paper writes them ('Video Retrieval'); a renderer
escapes the card's text for its platform and wraps each occurrence in its own bold markup.
Escaping happens piece by piece around the marks, so paper text can never close a mark or
open one of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# Enough for any card (a few queries, a few surface forms each); a bound on the pattern size.
MAX_TERMS = 24
MAX_TERM_CHARS = 120


def marked(
    text: str,
    terms: Sequence[str],
    escape: Callable[[str], str],
    mark: Callable[[str], str],
) -> str:
    """`text` escaped with `escape`, each whole-word, case-insensitive occurrence of a term `mark`ed."""
    pattern = _pattern(terms)
    if pattern is None:
        return escape(text)
    out: list[str] = []
    at = 0
    for m in pattern.finditer(text):
        out.append(escape(text[at : m.start()]))
        out.append(mark(escape(m.group())))
        at = m.end()
    out.append(escape(text[at:]))
    return "".join(out)


def _pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    usable = sorted(
        {t.strip() for t in terms[:MAX_TERMS] if t.strip() and len(t) <= MAX_TERM_CHARS},
        key=len,
        reverse=True,  # longest first: 'video retrieval' wins over 'video'
    )
    if not usable:
        return None
    # Whitespace inside a term may be any run of whitespace in the text (titles wrap lines).
    alternatives = "|".join(r"\s+".join(map(re.escape, t.split())) for t in usable)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
