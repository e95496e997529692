"""Cutting text to fit: one line shortened with an ellipsis, long text split into chunks at line breaks.

Every place that must fit a limit (a TL;DR, a card's title, a Slack section, a Discord message)
cuts through here, so "too long" reads the same on every platform.
"""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut.

    The cut is at a word boundary when one lies in the second half (dangling punctuation before
    it dropped), else exactly at the limit.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def split_lines(text: str, limit: int, *, shorten_long: bool = False) -> list[str]:
    """`text` in chunks of at most `limit` characters, cut at line breaks where possible.

    A single line longer than `limit` is cut into pieces (nothing lost), or with `shorten_long`
    shortened to one chunk with an ellipsis (for prose, where a hard cut lands mid-word). A blank
    chunk is left out, except as the only one (empty text gives one empty chunk).
    """
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current.strip():
                chunks.append(current)
            current = ""
            if shorten_long:
                chunks.append(shorten(line, limit))
                line = ""
            else:
                chunks.append(line[:limit])
                line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            if current.strip():
                chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip() or not chunks:
        chunks.append(current)
    return chunks
