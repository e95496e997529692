"""What a channel follows: `/track`, `/untrack` and `/tracked`.

A refused command raises `UserError` before it writes anything, so the database is unchanged
by bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.commands import relevance as relevance_commands
from bot.commands.context import Context, clean_text
from bot.commands.settings import describe_schedule, next_digest_line
from bot.errors import UserError
from bot.matching import search
from bot.matching.query import MAX_QUERY_CHARS, Query, parse
from bot.models import Command, Paper, Reply, Visibility
from bot.relevance import similar
from storage.subscriptions import ChannelFull

PREVIEW_DAYS = 7
PREVIEW_TITLES = 3


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A query as the bot understood it: canonical text (the identity) and a human reading."""

    canonical: str
    reading: str
    query: Query | None = None  # the parsed query, when the reader has one (for previews)


def read_plain_query(text: str) -> ReadQuery:
    """The simplest reading of a query: case and whitespace folded, the words as one phrase."""
    canonical = " ".join(text.casefold().split())
    return ReadQuery(canonical, f'title or abstract contains "{canonical}"')


def read_query(text: str) -> ReadQuery:
    """A query read as /track reads it: canonical form, a plain-words reading; QueryError if invalid."""
    query = parse(text)
    return ReadQuery(query.canonical, query.describe(), query)


def _query_arg(cmd: Command, usage: str) -> str:
    text = clean_text(cmd.args)
    if not text:
        raise UserError(f"Usage: {usage}")
    if len(text) > MAX_QUERY_CHARS:
        raise UserError(
            f"That query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS}. "
            "Track its key phrase instead."
        )
    return text


async def track(ctx: Context, cmd: Command) -> Reply:
    """`/track <query>`: the channel follows a topic from the next digest on."""
    n = ctx.name
    text = _query_arg(cmd, f"{n('track')} <query>, e.g. {n('track')} video retrieval")
    if similar.is_like(text):  # papers like examples: looked up (on arXiv if need be), not parsed
        query = ReadQuery(*await relevance_commands.read_like(ctx, text))
    else:
        query = read_query(text)
    limit = ctx.config.bot.max_subscriptions_per_channel
    try:
        added = await ctx.store.subscriptions.add(
            cmd.channel, query.canonical, text, cmd.user.user_id, ctx.clock(), limit=limit
        )
    except ChannelFull as full:
        raise UserError(
            f"This channel already tracks {full.count} queries, the limit is {limit}. "
            f"Use {ctx.name('untrack')} to drop one first."
        ) from None
    if added is None:
        raise UserError(f'This channel already tracks "{query.canonical}".')
    text = (
        f'Now tracking "{query.canonical}" in this channel: {query.reading}. '
        "Matching papers arrive in the next digest."
    )
    if query.query is not None:
        text += await _preview(ctx, query.query)
    elif similar.is_like(query.canonical):
        text += await relevance_commands.preview(ctx, query.canonical)
    return Reply(text, Visibility.CHANNEL)


async def _preview(ctx: Context, query: Query) -> str:
    """How the query would have done over the last week, so a bad query shows before the first digest.

    New versions count too: the preview is about the topic, the digest about what is new to the channel.
    """
    since = ctx.clock() - timedelta(days=PREVIEW_DAYS)
    found = await search.preview(ctx.store, query, since, PREVIEW_TITLES)
    if not found.total:
        return ""
    return preview_text(found.shown, found.matched, found.total, complete=found.complete)


def preview_text(shown: list[Paper], matched: int, total: int, *, complete: bool = True) -> str:
    """`In the last 7 days it would have matched 3 of 1,204 papers:` and the first titles."""
    if not matched:
        return f"\nIn the last {PREVIEW_DAYS} days it would have matched none of {total:,} papers."
    some = "" if complete else "at least "
    lines = [
        f"\nIn the last {PREVIEW_DAYS} days it would have matched {some}{matched:,} of {total:,} papers:"
    ]
    lines += [f"• {' '.join(p.title.split())} ({p.arxiv_id})" for p in shown[:PREVIEW_TITLES]]
    return "\n".join(lines)


async def untrack(ctx: Context, cmd: Command) -> Reply:
    """`/untrack <query>`: stop following a topic."""
    n = ctx.name
    text = _query_arg(cmd, f"{n('untrack')} <query> (see {n('tracked')} for this channel's queries)")
    try:
        canonical = (
            similar.parse_like(text).canonical if similar.is_like(text) else read_query(text).canonical
        )
    except UserError:
        # A query stored before the query language changed may no longer parse;
        # it must still be removable by its stored text.
        canonical = read_plain_query(text).canonical
    if not await ctx.store.subscriptions.remove(cmd.channel, canonical):
        raise UserError(f'This channel does not track "{canonical}". {n("tracked")} lists what it does.')
    return Reply(f'Stopped tracking "{canonical}" in this channel.', Visibility.CHANNEL)


async def tracked(ctx: Context, cmd: Command) -> Reply:
    """`/tracked`: what this channel follows, and when its digest comes."""
    subs = await ctx.store.subscriptions.for_channel(cmd.channel)
    settings = await ctx.store.channels.settings(cmd.channel)
    schedule = describe_schedule(ctx, settings)
    if not subs:
        lead = (
            "This channel tracks no query: its digest holds only the trending papers. "
            if settings.trending
            else "This channel tracks nothing yet. "
        )
        return Reply(f"{lead}Try {ctx.name('track')} video retrieval\n{schedule}")
    lines = [f"This channel tracks {len(subs)} {'query' if len(subs) == 1 else 'queries'}:"]
    lines += await relevance_commands.tracked_lines(ctx.store, subs)
    lines.append(schedule)
    if not settings.paused:
        lines.append(next_digest_line(ctx, settings))
    lines.append(await relevance_commands.learning_line(ctx.store, cmd.channel, settings, ctx.name))
    return Reply("\n".join(lines))
