"""Command dispatch: `/track video retrieval` from any platform, to its handler, to a reply.

Adapters turn a slash command (Slack, Discord or the console) into a `Command` and hand it to
`dispatch`; nothing here knows which platform asked. The handlers are plain async functions, a
request in and a reply out, grouped by concern: `bot.commands.tracking` (what a channel
follows), `bot.commands.settings`, `bot.commands.lookups` (papers) and `bot.commands.relevance`.
"""

from __future__ import annotations

from bot.commands import relevance as relevance_commands
from bot.commands.context import Context, Handler, clean_text, need
from bot.commands.lookups import abstract, bibtex, papers, trending
from bot.commands.settings import settings
from bot.commands.tracking import track, tracked, untrack
from bot.errors import UserError
from bot.models import Command, Reply
from bot.ports import CommandNaming, slash

__all__ = ["COMMANDS", "HELP_TEXT", "Context", "dispatch", "help_text"]


async def digest_now(ctx: Context, cmd: Command) -> Reply:
    """`/digest`: post what is pending for this channel now."""
    deliverer = need(ctx.deliverer, "digests")
    outcome = await deliverer.deliver(cmd.channel, on_request=True)
    return Reply(outcome.describe(ctx.name))


async def like(ctx: Context, cmd: Command) -> Reply:
    """`/like <id>`: the channel likes a paper (as a 👍 on its card); its digest learns from 5 on."""
    return await relevance_commands.react(ctx, cmd.channel, cmd.user.user_id, clean_text(cmd.args), 1)


async def dislike(ctx: Context, cmd: Command) -> Reply:
    """`/dislike <id>`: the channel dislikes a paper (as a 👎 on its card)."""
    return await relevance_commands.react(ctx, cmd.channel, cmd.user.user_id, clean_text(cmd.args), -1)


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
