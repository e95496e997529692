"""Plain-text (and Markdown) rendering of replies, cards and digests.

The console prints this; Slack and Discord use it as the notification/fallback
text beside their rich formats, and Discord attaches the Markdown of a list too
long for one message. Pure functions, no platform markup.
"""

from __future__ import annotations

import re

from bot.models import Card, Reply

# What Markdown (CommonMark, GitHub, Discord) could read as markup inside a line of paper text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def card_lines(card: Card) -> list[str]:
    """A paper card as lines of text: title, authors, meta, body, links, footer."""
    lines = [f"{card.title} <{card.url}>" if card.url else card.title]
    if card.authors:
        lines.append(card.authors)
    lines.extend(m for m in card.meta if m)
    if card.body:
        lines.append(card.body)
    if card.links:
        lines.append(" · ".join(f"{link.label}: {link.url}" for link in card.links))
    if card.footer:
        lines.append(card.footer)
    return lines


def reply_text(reply: Reply) -> str:
    """The reply's text followed by its cards, blank-line separated."""
    parts = [reply.text] if reply.text else []
    parts.extend("\n".join(card_lines(c)) for c in reply.cards)
    if reply.code:
        parts.append(reply.code)
    return "\n\n".join(parts)


def markdown_escape(text: str) -> str:
    """`text` on one line, with every character Markdown could read as markup escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def reply_markdown(reply: Reply) -> str:
    """A reply as a Markdown document: its text as the heading, then one numbered entry per card."""
    lines = [f"# {markdown_escape(reply.text)}" if reply.text else "# Papers", ""]
    for i, card in enumerate(reply.cards, start=1):
        title = markdown_escape(card.title)
        lines.append(f"{i}. **[{title}](<{card.url}>)**" if card.url else f"{i}. **{title}**")
        details = [card.authors, *card.meta, card.body, card.footer]
        lines += [f"   {markdown_escape(d)}  " for d in details if d]
        if card.links:
            lines.append("   " + " · ".join(f"[{markdown_escape(k.label)}](<{k.url}>)" for k in card.links))
        lines.append("")
    return "\n".join(lines)
