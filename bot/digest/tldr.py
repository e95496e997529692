"""TL;DR of an abstract: the one or two sentences that carry the contribution and the result.

Extractive and deterministic: sentences are scored by the cues abstracts use to
state what they did ("we propose", "we introduce") and what came of it
("outperforms", "achieves", numbers), and the best one or two are kept in
their original order. An LLM summariser can later sit behind `tldr()` with
the same signature.
"""

from __future__ import annotations

import re

from bot.matching.normalize import to_plain
from bot.textcut import shorten

MAX_CHARS = 300

# Cues, in lower case: `_score` lowercases the sentence.
_CONTRIBUTION = re.compile(
    r"\b(we (propose|present|introduce|develop|design|describe|show|demonstrate|release|study|investigate|"
    r"find|prove|derive|report|construct|provide)|this (paper|work|article|letter)|in this (paper|work)|"
    r"our (method|approach|model|framework|results?|analysis)|here,? we)\b"
)
_RESULT = re.compile(
    r"\b(outperform\w*|achiev\w*|improv\w*|state[- ]of[- ]the[- ]art|surpass\w*|reduc\w*|"
    r"results? (show|demonstrate|indicate)|experiments? (show|demonstrate)|significantly|"
    r"sota|speed-?up|accuracy|better than)\b|\d+(\.\d+)?\s*(%|x\b|×)"
)
_BACKGROUND = re.compile(
    r"^(recent(ly)?|however|despite|although|while|existing|traditional|previous|current|"
    r"in recent years|over the (past|last))\b"
)
# A sentence ends at . ! ? followed by space and a capital/digit/quote, but not after common
# abbreviations ("e.g.", "et al.", "Fig.") where a period does not end anything.
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "fig.", "eq.", "cf.", "approx.", "resp.")
# Connectives that only make sense after the sentence a TL;DR leaves out.
_LEAD_IN = re.compile(
    r"^(therefore|thus|hence|consequently|to this end|to address (this|these) \w+),\s+", re.IGNORECASE
)
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def sentences(text: str) -> list[str]:
    """Split plain text into sentences, keeping abbreviations inside theirs."""
    parts = _BOUNDARY.split(" ".join(text.split()))
    merged: list[str] = []
    for part in parts:
        if merged and merged[-1].lower().endswith(_ABBREVIATIONS):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return [s for s in merged if s]


def _score(sentence: str, index: int) -> float:
    # The cues are matched against the lowercased sentence with case-sensitive patterns: the same
    # matches as IGNORECASE, at about half the cost (a digest run scores some 7,000 sentences).
    sentence = sentence.lower()
    score = 0.0
    if _CONTRIBUTION.search(sentence):
        score += 3.0
    if _RESULT.search(sentence):
        score += 2.0
    if _BACKGROUND.search(sentence):
        score -= 2.0
    if index == 0:
        score -= 0.5  # abstracts usually open with background
    return score


def tldr(abstract: str, limit: int = MAX_CHARS) -> str:
    """The contribution-and-result sentences of `abstract`, LaTeX as text, at most `limit` chars."""
    plain = to_plain(abstract)
    found = sentences(plain)
    if not found:
        return ""
    scores = [_score(s, i) for i, s in enumerate(found)]
    ranked = sorted(range(len(found)), key=lambda i: (-scores[i], i))
    best = ranked[0]
    chosen = [best]
    for other in ranked[1:]:
        together = sorted([best, other])
        if len(" ".join(found[i] for i in together)) <= limit and scores[other] > 0:
            chosen = together
            break
    text = " ".join(found[i] for i in sorted(chosen))
    stripped = _LEAD_IN.sub("", text)
    if stripped != text:
        text = stripped[:1].upper() + stripped[1:]
    return shorten(text, limit)
