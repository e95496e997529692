"""Relevance in commands: `like:` in /track, /papers and /tracked; /like and /dislike; reactions.

bot.commands.dispatch calls these where a `like:` query or a reaction needs more than the query
language: example papers looked up (on arXiv if need be), similarity against the store.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.arxiv.ids import parse_arxiv_id
from bot.digest import compose as digest
from bot.digest import why
from bot.errors import UserError
from bot.models import ChannelRef, ChannelSettings, Paper, Reaction, Reply, Subscription
from bot.ports import CommandNaming, slash
from bot.relevance import feedback, similar
from bot.relevance.ranking import Relevance
from storage import Store

if TYPE_CHECKING:
    from bot.commands.context import Context

log = logging.getLogger(__name__)

PREVIEW_DAYS = 7  # as bot.commands.tracking' preview of keyword queries
LIKE_SIGN = {1: "👍", -1: "👎"}


def _relevance(ctx: Context) -> Relevance:
    if ctx.relevance is None:
        raise UserError("like: topics are not available in this mode.")
    return ctx.relevance


async def examples(ctx: Context, query: similar.LikeQuery) -> list[Paper]:
    """The example papers of a `like:` query, from the store or else arXiv; UserError for an unknown id."""
    found = await ctx.store.papers.get_many(list(query.ids))
    for arxiv_id in query.ids:
        if arxiv_id in found:
            continue
        paper = await ctx.arxiv.lookup(arxiv_id) if ctx.arxiv is not None else None
        if paper is None:
            raise UserError(f"arXiv has no paper {arxiv_id}: like: needs ids of existing papers.")
        found[arxiv_id] = paper
    return [found[i] for i in query.ids]


def reading(papers: list[Paper]) -> str:
    """'papers similar to "Dual Learning …" (2510.12283)': how a `like:` topic reads."""
    named = [f'"{similar.example_title(p)}" ({p.arxiv_id})' for p in papers]
    return "papers similar to " + (
        named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    )


async def read_like(ctx: Context, text: str) -> tuple[str, str]:
    """A `like:` query as /track stores it: (canonical text, how it reads)."""
    query = similar.parse_like(text)
    return query.canonical, reading(await examples(ctx, query))


async def preview(ctx: Context, canonical: str) -> str:
    """What the topic would have brought over the last week, as /track shows for keyword queries."""
    model, topics = await _relevance(ctx).topics([canonical])
    topic = topics.get(canonical)
    since = (ctx.clock() - timedelta(days=PREVIEW_DAYS)).date()
    recent = await ctx.store.papers.announced_since(since)
    if topic is None or not recent:
        return ""
    from bot.commands.tracking import preview_text  # which imports this module

    hits = similar.ranked(topic, model, recent, at_least=topic.threshold)
    return preview_text([h.paper for h in hits], len(hits), len(recent))


async def papers_like(ctx: Context, text: str, n: int) -> Reply:
    """`/papers like:<ids> [n]`: the n stored papers most similar to the examples."""
    query = similar.parse_like(text)
    await examples(ctx, query)  # unknown ids are looked up (and stored) first
    model, topics = await _relevance(ctx).topics([query.canonical])
    topic = topics.get(query.canonical)
    hits = similar.ranked(topic, model, model.papers, at_least=similar.FLOOR, limit=n) if topic else []
    if not hits:
        return Reply(f"No stored paper reads like {query.canonical} yet.")
    cards = tuple(
        digest.card(
            h.paper,
            why.similar(query.canonical, similar.example_title(h.example)),
        )
        for h in hits
    )
    noun = "paper" if len(hits) == 1 else "papers"
    return Reply(f"The {len(hits)} stored {noun} most similar to {query.canonical}:", cards=cards)


async def tracked_lines(store: Store, subs: list[Subscription]) -> list[str]:
    """A line per tracked query; a `like:` topic names its examples."""
    ids = sorted({i for s in subs for i in similar.example_ids(s.query)})
    papers = await store.papers.get_many(ids) if ids else {}
    lines = []
    for s in subs:
        shown = [papers[i] for i in similar.example_ids(s.query) if i in papers]
        lines.append(f"• {s.query} — {reading(shown)}" if shown else f"• {s.query}")
    return lines


async def learning_line(
    store: Store, channel: ChannelRef, settings: ChannelSettings, name: CommandNaming = slash
) -> str:
    """How the channel's reactions shape its digest (for /tracked)."""
    if not settings.learn:
        return f"Learning from reactions is off ({name('settings')} learn on)."
    opinions = await store.reactions.opinions(channel)
    liked = sum(1 for o in opinions if o.net > 0)
    likes, dislikes = await store.reactions.counts(channel)
    if liked < feedback.MIN_LIKES:
        return (
            f"Learning from reactions: {liked} of the {feedback.MIN_LIKES} liked papers it needs"
            " (react 👍 or 👎 to a card)."
        )
    return (
        f"The digest is ranked by a model learned from {likes + dislikes} reactions"
        f" ({likes} 👍, {dislikes} 👎 on {len(opinions)} papers)."
    )


async def react(ctx: Context, channel: ChannelRef, user_id: str, text: str, value: int) -> Reply:
    """`/like <id>` or `/dislike <id>`: the channel's opinion of a paper, as a 👍 or 👎 on its card would."""
    name = ctx.name("like" if value > 0 else "dislike")
    parsed = parse_arxiv_id(text)
    if parsed is None:
        raise UserError(f"Usage: {name} <arXiv id>, e.g. {name} 2401.01234")
    arxiv_id = parsed[0]
    paper = await (ctx.arxiv.lookup(arxiv_id) if ctx.arxiv is not None else ctx.store.papers.get(arxiv_id))
    if paper is None:
        raise UserError(f"arXiv has no paper {arxiv_id}.")
    await ctx.store.reactions.add(
        channel, paper.arxiv_id, user_id, value, ctx.clock(), source="command", exclusive=True
    )
    settings = await ctx.store.channels.settings(channel)
    return Reply(
        f'Noted: {LIKE_SIGN[value]} "{similar.example_title(paper)}" ({paper.arxiv_id}). '
        + await learning_line(ctx.store, channel, settings)
    )


async def record_reaction(store: Store, reaction: Reaction, now: datetime) -> bool:
    """A 👍 or 👎 put on (or taken off) a message: recorded if the message is one of our cards."""
    card = await store.reactions.card_of(reaction.channel, reaction.message_id)
    if card is None:
        return False
    channel, arxiv_id = card
    if reaction.added:
        await store.reactions.add(channel, arxiv_id, reaction.user.user_id, reaction.value, now)
    else:
        await store.reactions.remove(channel, arxiv_id, reaction.user.user_id, reaction.value)
    log.debug(
        "%s %s %s on %s in %s",
        reaction.user.user_id,
        "added" if reaction.added else "removed",
        reaction.value,
        arxiv_id,
        channel,
    )
    return True
