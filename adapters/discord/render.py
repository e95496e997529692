"""Core replies, cards and digests as Discord messages and embeds, within Discord's limits.

Limits (https://discord.com/developers/docs/resources/message): 2000 characters of
content, 10 embeds a message, embed title 256 and description 4096, and 6000
characters over all embeds of one message. Core text is plain, so it is escaped
for Discord's markdown; links are the only markup added here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import discord

from bot.matching.highlight import marked
from bot.models import Card, Post, Reply
from bot.plaintext import reply_markdown
from bot.textcut import shorten, split_lines

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_EMBED_TOTAL = 6000
MAX_THREAD_NAME = 100
LIST_FILE = "papers.md"  # a list too long for one message comes whole in this attachment
EMBED_COLOUR = discord.Colour(0xB31B1B)  # arXiv's red


@dataclass
class Message:
    """One Discord message to send: content, embeds, and attached files (name, bytes)."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)


def escape(text: str) -> str:
    return discord.utils.escape_markdown(text)


def split_text(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """`text` in chunks of at most `limit` characters, cut at line breaks where possible."""
    return split_lines(text, limit)


def card_embed(card: Card) -> discord.Embed:
    """One paper as an embed: linked title; authors, meta, TL;DR, links and matched queries below."""
    parts = []
    if card.authors:
        parts.append(f"*{escape(card.authors)}*")
    parts.extend(escape(m) for m in card.meta if m)
    body = marked(card.body, card.highlights, escape, lambda s: f"**{s}**")  # the matched words in bold
    if body:
        parts.append(body)
    if card.links:
        parts.append(" · ".join(f"[{escape(link.label)}]({link.url})" for link in card.links))
    if card.footer:
        parts.append(escape(card.footer))
    description = "\n".join(parts)
    if len(description) > MAX_DESCRIPTION:
        # Keep the links and the matched queries: shorten the body, the longest part.
        excess = len(description) - MAX_DESCRIPTION
        description = description.replace(body, shorten(body, max(len(body) - excess, 1)), 1)
        description = shorten(description, MAX_DESCRIPTION)
    return discord.Embed(
        title=shorten(escape(card.title), MAX_TITLE),
        url=card.url or None,
        description=description or None,
        colour=EMBED_COLOUR,
    )


def reply_messages(reply: Reply) -> list[Message]:
    """A reply as messages: its text (split at 2000 characters), its cards as embeds in one message.

    A list longer than one message holds (10 embeds, 6000 characters) shows its first cards and
    comes whole as a Markdown file attached to that message: one answer, not ten.
    """
    if reply.code:
        lead = [Message(chunk) for chunk in split_text(escape(reply.text))] if reply.text else []
        return lead + code_messages(reply.code)
    embeds = [card_embed(card) for card in reply.cards]
    shown: list[discord.Embed] = []
    for embed in embeds:
        if len(shown) == MAX_EMBEDS or sum(len(e) for e in shown) + len(embed) > MAX_EMBED_TOTAL:
            break
        shown.append(embed)
    text = reply.text
    files: list[tuple[str, bytes]] = []
    if len(shown) < len(embeds):
        text += f"\nThe first {len(shown)} are below; all {len(embeds)} are in {LIST_FILE}."
        files.append((LIST_FILE, reply_markdown(reply).encode()))
    messages = [Message(chunk) for chunk in split_text(escape(text))] if text else []
    if shown or files:
        if not messages:
            messages.append(Message())
        messages[-1].embeds.extend(shown)
        messages[-1].files.extend(files)
    return messages or [Message("Done.")]


def code_messages(code: str) -> list[Message]:
    """Text shown as is (a BibTeX entry) in code blocks, as many messages as it takes."""
    fence = "```"
    code = code.replace(fence, "`\u200b``")  # a fence inside would end the block
    return [Message(f"{fence}\n{chunk}\n{fence}") for chunk in split_text(code, MAX_CONTENT - 8)]


def discord_files(message: Message) -> list[discord.File]:
    """The message's attachments as discord.py files (each can be sent once: make them per send)."""
    return [discord.File(io.BytesIO(data), filename=name) for name, data in message.files]


def parent_text(post: Post) -> str:
    """The digest's parent message: header and per-query lines, cut to fit one message."""
    lines = [escape(post.header)]
    for i, line in enumerate(post.lines):
        more = f"… and {len(post.lines) - i} more"
        tail = [more] if i < len(post.lines) - 1 else []
        if len("\n".join([*lines, escape(line), *tail])) > MAX_CONTENT:
            lines.append(more)
            break
        lines.append(escape(line))
    return shorten("\n".join(lines), MAX_CONTENT)


def thread_name(post: Post) -> str:
    return shorten(post.header, MAX_THREAD_NAME) or "arXiv digest"


def footer_text(footer: str) -> str:
    """A line of text in a digest's thread (the "+12 more" footer)."""
    return shorten(escape(footer), MAX_CONTENT)
