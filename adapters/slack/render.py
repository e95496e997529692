"""Core replies, cards and digests as Slack messages: Block Kit with a plain-text fallback.

Limits (https://api.slack.com/reference/block-kit/blocks): 50 blocks a message, 3000
characters of section or context text, 150 of header text, 75 of button text. Every
message also carries `text`, which notifications, screen readers and old clients show.

Core text is plain. Slack's mrkdwn treats `&`, `<` and `>` as control characters (links,
@channel, user mentions), so they are escaped everywhere: a paper title or a query can never
ping a channel or smuggle in a link. Bold and italics markers in paper text are left alone;
mrkdwn only reads them at word boundaries and Slack has no way to escape them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.matching.highlight import marked
from bot.models import Card, Post, Reply
from bot.textcut import shorten, split_lines

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_FALLBACK = 3000  # of the 40,000 Slack accepts: the fallback is a notification, not the message
ABSTRACT_ACTION = "paperbot_abstract"  # the action_id of a card's "Abstract" button
MORE_LIKE_ACTION = "paperbot_more_like"  # ... and of its "More like this" button (/papers like:<id>)
BIBTEX_ACTION = "paperbot_bibtex"  # ... and of its "BibTeX" button (/bibtex <id>)
PAGE_ACTION = "paperbot_page"  # the action_id of the ‹ Previous / Next › buttons of a long list
# A long list (/papers 100) is shown a page at a time: 20 compact cards are 40 blocks, and the
# text, the position and the buttons fit beside them within a message's 50.
CARDS_PER_PAGE = 20

Block = dict[str, Any]


@dataclass
class Message:
    """One Slack message to send: its fallback text and blocks.

    Slack reads the fallback as mrkdwn too (notifications show it): the renderers escape it like
    the blocks.
    """

    text: str
    blocks: list[Block] = field(default_factory=list)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    # Inside <url|label>, '|' and '>' would end the label early.
    return f"<{url}|{escape(label).replace('|', '¦')}>"


def section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def sections(mrkdwn: str) -> list[Block]:
    """Long text as as many sections as needed, cut at line breaks where possible."""
    return [section(chunk) for chunk in split_lines(mrkdwn, MAX_SECTION, shorten_long=True) if chunk.strip()]


def code_blocks(code: str) -> list[Block]:
    """Text shown as is (a BibTeX entry) in code blocks of at most a section each, cut at line breaks."""
    fence = "```"
    chunks = sections(escape(code.replace(fence, "`\u200b``")))  # a fence inside would end the block
    limit = MAX_SECTION - 2 * len(fence)
    out: list[Block] = []
    for chunk in chunks:
        text = chunk["text"]["text"]
        out += [section(fence + text[i : i + limit] + fence) for i in range(0, len(text), limit)]
    return out


def _context(*parts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": shorten(p, MAX_SECTION)} for p in parts],
    }


def card_buttons(paper_id: str) -> Block:
    """A card's buttons: its abstract, more papers like it, its BibTeX (each answers only the clicker)."""
    value = paper_id[:2000]
    return {
        "type": "actions",
        "block_id": "paper",
        "elements": [
            {
                "type": "button",
                "action_id": ABSTRACT_ACTION,
                "text": {"type": "plain_text", "text": "Abstract"},
                "value": value,
            },
            {
                "type": "button",
                "action_id": MORE_LIKE_ACTION,
                "text": {"type": "plain_text", "text": "More like this"},
                "value": value,
            },
            {
                "type": "button",
                "action_id": BIBTEX_ACTION,
                "text": {"type": "plain_text", "text": "BibTeX"},
                "value": value,
            },
        ],
    }


def card_text(card: Card) -> str:
    """A card in plain words: the fallback text of its message."""
    return escape(shorten(f"{card.title} {card.url}".strip(), MAX_FALLBACK))


def card_blocks(card: Card, *, compact: bool = False) -> list[Block]:
    """One paper: linked title and authors; meta; TL;DR with the matched words in bold; links; why.

    `compact` (lists of papers in a reply) leaves out the TL;DR and the button.
    """
    title = f"*{_link(card.url, card.title)}*" if card.url else f"*{escape(card.title)}*"
    head = [title]
    if card.authors:
        head.append(f"_{escape(card.authors)}_")
    blocks = [section(shorten("\n".join(head), MAX_SECTION))]
    details = [escape(m) for m in card.meta if m]
    if card.body and not compact:
        body = marked(card.body, card.highlights, escape, lambda s: f"*{s}*")
        details.append(body if len(body) <= MAX_SECTION else escape(shorten(card.body, MAX_SECTION - 200)))
    if details and not compact:
        blocks.extend(sections("\n".join(details)))
    footer = []
    if compact and card.meta:
        footer.append(escape(" · ".join(m for m in card.meta if m)))
    if card.links:
        footer.append(" · ".join(_link(link.url, link.label) for link in card.links))
    if card.footer:
        footer.append(escape(card.footer))
    if footer:
        blocks.append(_context(*footer[:10]))
    if card.paper_id and not compact:
        blocks.append(card_buttons(card.paper_id))
    return blocks


def reply_messages(reply: Reply) -> list[Message]:
    """A reply as messages of at most 50 blocks: its text, then its cards.

    A reply about one paper (an abstract) is that paper's card, with the reply's text as the
    fallback; a list of papers is the text followed by compact cards.
    """
    text = reply.text
    if reply.code:
        blocks = [*(sections(escape(text)) if text else []), *code_blocks(reply.code)]
        fallback = escape(shorten(text or reply.code, MAX_FALLBACK))
        return [Message(fallback, blocks[i : i + MAX_BLOCKS]) for i in range(0, len(blocks), MAX_BLOCKS)]
    if len(reply.cards) == 1:
        card = reply.cards[0]
        return [
            Message(escape(shorten(text, MAX_FALLBACK)) or card_text(card), card_blocks(card)[:MAX_BLOCKS])
        ]
    blocks = sections(escape(text)) if text else []
    for card in reply.cards:
        blocks.extend(card_blocks(card, compact=True))
    if not blocks:
        return [Message("Done.")]
    fallback = escape(shorten(text, MAX_FALLBACK)) if text else "\n".join(card_text(c) for c in reply.cards)
    return [Message(fallback, blocks[i : i + MAX_BLOCKS]) for i in range(0, len(blocks), MAX_BLOCKS)]


def page_count(reply: Reply) -> int:
    """How many pages the reply's cards take (1 for a short list)."""
    return max(1, -(-len(reply.cards) // CARDS_PER_PAGE))


def page_message(reply: Reply, page: int, value: Callable[[int], str]) -> Message:
    """Page `page` (from 0) of a long list: its text, its cards, where it is, and ‹ Previous / Next ›.

    `value(p)` is the value of the button that shows page p (the listener finds the list by it).
    """
    pages = page_count(reply)
    page = min(max(page, 0), pages - 1)
    first = page * CARDS_PER_PAGE
    cards = reply.cards[first : first + CARDS_PER_PAGE]
    text = reply.text
    blocks = sections(escape(text))[:2] if text else []
    for card in cards:
        blocks.extend(card_blocks(card, compact=True))
    where = f"{first + 1}–{first + len(cards)} of {len(reply.cards)}"
    blocks.append(_context(f"Papers {where}"))
    buttons = []
    if page > 0:
        buttons.append(_page_button("‹ Previous", "previous", value(page - 1)))
    if page < pages - 1:
        buttons.append(_page_button("Next ›", "next", value(page + 1)))
    if buttons:
        blocks.append({"type": "actions", "block_id": "pages", "elements": buttons})
    fallback = escape(shorten(f"{text} ({where})" if text else where, MAX_FALLBACK))
    return Message(fallback, blocks[:MAX_BLOCKS])


def _page_button(label: str, name: str, value: str) -> Block:
    return {
        "type": "button",
        "action_id": f"{PAGE_ACTION}_{name}",  # action ids must differ within a block
        "text": {"type": "plain_text", "text": label},
        "value": value[:2000],
    }


def parent_message(post: Post) -> Message:
    """The digest's parent: a header and the per-query counts."""
    header = {"type": "header", "text": {"type": "plain_text", "text": shorten(post.header, MAX_HEADER)}}
    blocks: list[Block] = [header]
    if post.lines:
        blocks.extend(sections(escape("\n".join(post.lines)))[: MAX_BLOCKS - 1])
    fallback = escape(shorten("\n".join([post.header, *post.lines]), MAX_FALLBACK))
    return Message(fallback or "arXiv digest", blocks)


def item_message(card: Card) -> Message:
    return Message(card_text(card), card_blocks(card)[:MAX_BLOCKS])


def footer_message(footer: str) -> Message:
    """A line of text in a digest's thread (the "+12 more" footer)."""
    return Message(escape(shorten(footer, MAX_FALLBACK)), sections(escape(footer))[:MAX_BLOCKS])
