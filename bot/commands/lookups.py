"""Looking papers up: `/abstract`, `/bibtex`, `/papers`, `/trending`, and direct messages."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from bot.arxiv.ids import parse_arxiv_id
from bot.arxiv.lookups import ArxivService, abstract_reply
from bot.commands import relevance as relevance_commands
from bot.commands.context import Context, clean_text, need
from bot.digest import compose as digest
from bot.errors import ArxivUnavailable, UserError
from bot.export.bibtex import bibtex_reply
from bot.matching import search
from bot.matching.query import MAX_QUERY_CHARS, parse
from bot.models import Command, Paper, Reply
from bot.ports import CommandNaming, slash
from bot.relevance import similar
from bot.textcut import shorten
from bot.trending.daily import trending_reply

PAPERS_DEFAULT, PAPERS_MAX = 10, 100  # DailyArXiv keeps the latest 100 per topic
TRENDING_DEFAULT, TRENDING_MAX = 10, 50
MAX_DM_CHARS = 1000


def dm_help(name: CommandNaming = slash) -> str:
    """The answer to a DM that is no paper, in the platform's command names."""
    return (
        "Send me an arXiv id (2401.01234), an arXiv link, or a paper title and I'll answer with its "
        f"abstract. In a channel, {name('track')} <topic> follows a topic; {name('help')} lists the commands."
    )


DM_HELP = dm_help()


async def _paper(ctx: Context, cmd: Command) -> Paper:
    """The paper a command names by id or link (the store first, then arXiv)."""
    text = clean_text(cmd.args)
    if not text:
        name = ctx.name(cmd.name.casefold())
        raise UserError(f"Usage: {name} <arXiv id or link>, e.g. {name} 2401.01234")
    return await need(ctx.arxiv, "arXiv lookups").lookup_text(text)


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
    return await trending_reply(need(ctx.trending, "Trending papers from Hugging Face"), n)


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


async def answer_dm(arxiv: ArxivService | None, text: str, name: CommandNaming = slash) -> Reply:
    """A direct message: an arXiv id, link or title gets the abstract; anything else gets help."""
    text = clean_text(text[: MAX_DM_CHARS + 1])
    if not text or len(text) > MAX_DM_CHARS or arxiv is None:
        return Reply(dm_help(name))
    if parse_arxiv_id(text) is not None:
        return abstract_reply(await arxiv.lookup_text(text))
    paper = await arxiv.lookup_title(text)
    return abstract_reply(paper) if paper is not None else Reply(dm_help(name))
