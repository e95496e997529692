"""Command handlers: plain async functions, a request in and a reply out.

Adapters turn `/track video retrieval` (Slack, Discord or the console) into a
`Command` and hand it to `dispatch`; nothing here knows which platform asked.
A refused command raises `UserError` before it writes anything, so the
database is unchanged by bad input.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, TypeVar

from bot import digest, relevance_commands, search, similar
from bot.arxiv_calendar import ARXIV_TZ, holidays_between, next_digest
from bot.bibtex import bibtex_reply
from bot.config import Config
from bot.errors import ArxivUnavailable, UserError
from bot.ingest import abstract_reply
from bot.models import ChannelSettings, Command, Paper, Reply, Visibility
from bot.ports import CommandNaming, slash
from bot.query import MAX_QUERY_CHARS, Query, parse
from bot.settings import parse_max_papers, parse_post_time, parse_switch, parse_timezone, parse_trending
from bot.text import has_lone_surrogate, visible
from bot.textcut import shorten
from bot.trending import trending_reply
from storage import Store
from storage.subscriptions import ChannelFull

if TYPE_CHECKING:  # the services are built by the App; handlers only call them
    from bot.delivery import Deliverer
    from bot.ingest import ArxivService
    from bot.relevance import Relevance
    from bot.trending import Trending

S = TypeVar("S")

PREVIEW_DAYS = 7
PREVIEW_TITLES = 3
PAPERS_DEFAULT, PAPERS_MAX = 10, 100  # DailyArXiv keeps the latest 100 per topic
TRENDING_DEFAULT, TRENDING_MAX = 10, 50


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A query as the bot understood it: canonical text (the identity) and a human reading."""

    canonical: str
    reading: str
    query: Query | None = None  # the parsed query, when the reader has one (for previews)


QueryReader = Callable[[str], ReadQuery]


@dataclass(frozen=True, slots=True)
class Context:
    """What handlers may use. Built once by the App; tests build their own."""

    config: Config
    store: Store
    clock: Callable[[], datetime]
    read_query: QueryReader
    arxiv: ArxivService | None = None
    deliverer: Deliverer | None = None
    relevance: Relevance | None = None
    trending: Trending | None = None
    # How users type a command on the platform the command came from (App sets it per command).
    name: CommandNaming = slash


Handler = Callable[[Context, Command], Awaitable[Reply]]


def clean_text(text: str) -> str:
    """Visible text (NFKC, no format characters), whitespace collapsed; refuses control characters."""
    if has_lone_surrogate(text):
        raise UserError(
            "That text contains a broken character (half of a UTF-16 pair); please type it again."
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise UserError("That text contains control characters; please type plain text.")
    return " ".join(visible(text).split())


def read_plain_query(text: str) -> ReadQuery:
    """The simplest reading of a query: case and whitespace folded, the words as one phrase."""
    canonical = " ".join(text.casefold().split())
    return ReadQuery(canonical, f'title or abstract contains "{canonical}"')


def read_tracking_query(text: str) -> ReadQuery:
    """The query language of bot.query: canonical form, a plain-words reading; QueryError if invalid."""
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
        query = ctx.read_query(text)
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
            similar.parse_like(text).canonical if similar.is_like(text) else ctx.read_query(text).canonical
        )
    except UserError:
        # A query stored before the query language changed may no longer parse;
        # it must still be removable by its stored text.
        canonical = read_plain_query(text).canonical
    if not await ctx.store.subscriptions.remove(cmd.channel, canonical):
        raise UserError(f'This channel does not track "{canonical}". {n("tracked")} lists what it does.')
    return Reply(f'Stopped tracking "{canonical}" in this channel.', Visibility.CHANNEL)


def describe_schedule(ctx: Context, settings: ChannelSettings) -> str:
    """One line: when and how big this channel's digest is."""
    cfg = ctx.config
    tz = settings.timezone or cfg.schedule.timezone
    when = settings.post_time or cfg.schedule.post_time
    size = settings.max_papers or cfg.digest.max_papers
    timing = "right after each arXiv harvest" if when == "asap" else f"at {when} {tz}"
    line = f"Digest {timing} after each arXiv announcement day, up to {size} papers."
    if settings.trending:
        line += f" Plus up to {settings.trending} trending on Hugging Face."
    return "Digests are paused. " + line if settings.paused else line


def next_digest_line(ctx: Context, settings: ChannelSettings) -> str:
    """`Next digest: Mon 30 Nov at 09:00 UTC (no arXiv announcement on Fri 27 Nov: holiday).`"""
    sched = ctx.config.schedule
    tz = zoneinfo.ZoneInfo(settings.timezone or sched.timezone)
    when = settings.post_time or sched.post_time
    holidays = ctx.config.arxiv.no_announcement_dates()
    now = ctx.clock()
    upcoming = next_digest(
        now,
        None if when == "asap" else time.fromisoformat(when),
        tz,
        time.fromisoformat(sched.harvest_time),
        zoneinfo.ZoneInfo(sched.harvest_timezone),
        holidays,
    ).astimezone(tz)
    line = f"Next digest: {upcoming:%a %d %b} at {upcoming:%H:%M} {tz.key}"
    skipped = holidays_between(
        now.astimezone(ARXIV_TZ).date(), upcoming.astimezone(ARXIV_TZ).date(), holidays
    )
    if skipped:
        days = ", ".join(d.strftime("%a %d %b") for d in skipped)
        line += f" (no arXiv announcement on {days}: holiday)"
    return line + "."


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


_SETTING_KEYS = {
    "time": "post_time",
    "post_time": "post_time",
    "tz": "timezone",
    "timezone": "timezone",
    "max": "max_papers",
    "max_papers": "max_papers",
    "learn": "learn",
    "trending": "trending",
}


def settings_usage(name: CommandNaming = slash) -> str:
    """How to use /settings, in the platform's command names."""
    return (
        f"Usage: {name('settings')} [time HH:MM|asap] [tz Area/City] [max 1-50] [pause|resume] "
        f"[learn on|off] [trending 0-10], e.g. {name('settings')} time 08:30 tz Europe/Berlin max 15"
    )


async def settings(ctx: Context, cmd: Command) -> Reply:
    """`/settings`: show, or set post time, timezone, max papers, pause/resume."""
    words = clean_text(cmd.args).split()
    current = await ctx.store.channels.settings(cmd.channel)
    usage = settings_usage(ctx.name)
    if not words:
        return Reply(describe_schedule(ctx, current) + "\n" + usage)
    # Validate everything before writing anything: one bad value refuses the whole command.
    changes: dict[str, object] = {}
    i = 0
    while i < len(words):
        word = words[i].casefold()
        if word in ("pause", "resume"):
            changes["paused"] = word == "pause"
            i += 1
            continue
        field_name = _SETTING_KEYS.get(word)
        if field_name is None:
            raise UserError(f'Unknown setting "{words[i][:40]}". {usage}')
        if i + 1 >= len(words):
            raise UserError(f'"{words[i]}" needs a value. {usage}')
        value = words[i + 1]
        try:
            if field_name == "post_time":
                changes[field_name] = parse_post_time(value)
            elif field_name == "timezone":
                changes[field_name] = parse_timezone(value)
            elif field_name == "learn":
                changes[field_name] = parse_switch(value)
            elif field_name == "trending":
                changes[field_name] = parse_trending(value)
            else:
                changes[field_name] = parse_max_papers(value)
        except ValueError as exc:
            raise UserError(f"{word}: {exc}") from None
        i += 2
    new = await ctx.store.channels.update_settings(cmd.channel, changes, ctx.clock())
    learning = " Learning from reactions is on." if new.learn else " Learning from reactions is off."
    return Reply("Settings saved. " + describe_schedule(ctx, new) + learning, Visibility.CHANNEL)


async def _paper(ctx: Context, cmd: Command) -> Paper:
    """The paper a command names by id or link (the store first, then arXiv)."""
    text = clean_text(cmd.args)
    if not text:
        name = ctx.name(cmd.name.casefold())
        raise UserError(f"Usage: {name} <arXiv id or link>, e.g. {name} 2401.01234")
    return await _need(ctx.arxiv, "arXiv lookups").lookup_text(text)


async def abstract(ctx: Context, cmd: Command) -> Reply:
    """`/abstract <id|url>`: title, authors, abstract and links."""
    return abstract_reply(await _paper(ctx, cmd))


async def bibtex(ctx: Context, cmd: Command) -> Reply:
    """`/bibtex <id|url>`: the paper's BibTeX entry, as arXiv's own export gives it."""
    return bibtex_reply(await _paper(ctx, cmd))


async def trending(ctx: Context, cmd: Command) -> Reply:
    """`/trending [n]`: the day's most upvoted papers on Hugging Face (default 10, at most 50)."""
    text = clean_text(cmd.args)
    n = TRENDING_DEFAULT
    if text:
        if not _NUMBER.fullmatch(text) or len(text) > 6 or not 1 <= int(text) <= TRENDING_MAX:
            got = shorten(text, 12)
            raise UserError(f"Usage: {ctx.name('trending')} [n], n from 1 to {TRENDING_MAX} (got {got}).")
        n = int(text)
    return await trending_reply(_need(ctx.trending, "Trending papers from Hugging Face"), n)


async def papers(ctx: Context, cmd: Command) -> Reply:
    """`/papers <query> [n]`: the latest n matching papers by last update, from the store first, then arXiv.

    As DailyArXiv's tables: new versions count, and each card says which version and when.
    """
    words = clean_text(cmd.args).split()
    n = PAPERS_DEFAULT
    if len(words) > 1 and _NUMBER.fullmatch(words[-1]):
        digits = words.pop()
        # int() of thousands of digits is refused (and slow): anything that long is out of range.
        n = int(digits) if len(digits) <= 6 else PAPERS_MAX + 1
        if not 1 <= n <= PAPERS_MAX:
            raise UserError(f"n must be between 1 and {PAPERS_MAX} (got {shorten(digits, 12)}).")
    text = " ".join(words)
    if not text:
        n_ = ctx.name("papers")
        raise UserError(f"Usage: {n_} <query> [n], e.g. {n_} video retrieval 5 (n at most {PAPERS_MAX})")
    if len(text) > MAX_QUERY_CHARS:
        raise UserError(f"That query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS}.")
    if similar.is_like(text):  # the n stored papers most similar to the examples
        return await relevance_commands.papers_like(ctx, text, n)
    query = parse(text)
    local = await search.newest(ctx.store, query, n)
    found = {p.arxiv_id: p for p in local.papers}
    note = ""
    if len(found) < n and ctx.arxiv is not None:
        try:
            for paper in await ctx.arxiv.search(query.to_arxiv(), n, by_update=True):
                found.setdefault(paper.arxiv_id, paper)
        except ArxivUnavailable:
            note = " (arXiv did not answer, so these are only the papers I already had)"
    if not found:
        return Reply(f'No papers match "{query.canonical}".{note}')
    newest = sorted(found.values(), key=_newest_first, reverse=True)[:n]
    noun = "paper" if len(newest) == 1 else "papers"
    # A hundred TL;DRs are CPU work: off the event loop.
    cards = await asyncio.to_thread(lambda: tuple(digest.card(p, dated=True) for p in newest))
    return Reply(f'The latest {len(newest)} {noun} for "{query.canonical}"{note}:', cards=cards)


_NUMBER = re.compile(r"-?[0-9]+")


def _newest_first(paper: Paper) -> tuple[datetime, str]:
    return (search.last_update(paper), paper.arxiv_id)


async def digest_now(ctx: Context, cmd: Command) -> Reply:
    """`/digest`: post what is pending for this channel now."""
    deliverer = _need(ctx.deliverer, "digests")
    outcome = await deliverer.deliver(cmd.channel, on_request=True)
    return Reply(outcome.describe(ctx.name))


async def like(ctx: Context, cmd: Command) -> Reply:
    """`/like <id>`: the channel likes a paper (as a 👍 on its card); its digest learns from 5 on."""
    return await relevance_commands.react(ctx, cmd.channel, cmd.user.user_id, clean_text(cmd.args), 1)


async def dislike(ctx: Context, cmd: Command) -> Reply:
    """`/dislike <id>`: the channel dislikes a paper (as a 👎 on its card)."""
    return await relevance_commands.react(ctx, cmd.channel, cmd.user.user_id, clean_text(cmd.args), -1)


def _need(service: S | None, what: str) -> S:
    if service is None:
        raise UserError(f"{what.capitalize()} are not available in this mode.")
    return service


# The command reference; `{track}` is where the platform's name for /track goes.
_HELP = """\
paperbot follows arXiv for this channel and posts one digest per announcement day.
{track} <query>        follow a topic, e.g. {track} video retrieval
                      ("quoted phrases", OR, AND, -word, ti: abs: au: cat:cs.CV, parentheses)
                      or papers like examples: {track} like:2510.12283,2509.01234
{untrack} <query>      stop following it
{tracked}              what this channel follows, and when its digest comes
{papers} <query> [n]   the latest n papers matching a query (default 10, at most 100)
{abstract} <id|link>   a paper's title, authors, abstract and links
{bibtex} <id|link>     a paper's BibTeX entry, as arXiv gives it
{trending} [n]         the day's most upvoted papers on Hugging Face
{digest}               post what is pending for this channel now
{settings}             show or change the digest time, timezone, size, learning and trending papers
{like} <id>            teach this channel's digest (so does a 👍 on a card); {dislike} <id> (👎)
{help}                 this text
Send me an arXiv id, link or title in a direct message to get its abstract."""


def help_text(name: CommandNaming = slash) -> str:
    """The command reference, in the platform's command names."""
    return _HELP.format_map({command: name(command) for command in COMMANDS})


async def help_(ctx: Context, cmd: Command) -> Reply:
    """`/help`: the command reference."""
    return Reply(help_text(ctx.name))


COMMANDS: dict[str, Handler] = {
    "track": track,
    "untrack": untrack,
    "tracked": tracked,
    "settings": settings,
    "papers": papers,
    "abstract": abstract,
    "bibtex": bibtex,
    "trending": trending,
    "digest": digest_now,
    "like": like,
    "dislike": dislike,
    "help": help_,
}


async def dispatch(ctx: Context, cmd: Command) -> Reply:
    """Run the handler for `cmd`; unknown names get a pointer to /help."""
    handler = COMMANDS.get(cmd.name.casefold())
    if handler is None:
        shown = clean_text(cmd.name)[:40] or "(empty)"
        raise UserError(f'Unknown command "/{shown}". Type {ctx.name("help")} for the list.')
    return await handler(ctx, cmd)


HELP_TEXT = help_text()  # as Discord and the console show it
