"""Plain-text rendering of replies, cards and digests.

The console prints this; Slack and Discord use it as the notification/fallback
text beside their rich formats. Pure functions, no platform markup.
"""

from __future__ import annotations

from bot.models import Card, Post, Reply


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
    return "\n\n".join(parts)


def post_parent_text(post: Post) -> str:
    return "\n".join([post.header, *post.lines])
