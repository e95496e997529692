"""`paperbot export`: a channel's topics, or given queries, as DailyArXiv writes them (and as a feed).

It reads the bot's database read-only (`storage.readonly`): it runs beside a running bot, takes
no lock and writes nothing there. Each query's section holds its latest papers by last update,
new versions included, found as `/papers` finds them. With `--fetch`, arXiv's API fills in what
the store lacks (one search per query, DailyArXiv's own cost), so a job with no database at all,
such as a GitHub Action, can write the same file; nothing fetched is stored.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from bot.arxiv.client import ArxivClient
from bot.config import Config
from bot.errors import ArxivUnavailable, PaperbotError, StorageError, UserError
from bot.export import formats as export_formats
from bot.export.formats import EXPORT_MAX, Export, Section
from bot.matching import search
from bot.matching.query import MAX_QUERY_CHARS, parse
from bot.models import ChannelRef, Paper
from bot.relevance import similar
from bot.relevance.ranking import Relevance
from storage import Store
from storage.readonly import open_readonly

DEFAULT_TITLE = "Daily Papers"


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What the command line asked for."""

    channels: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()
    fmt: str = "markdown"
    limit: int = EXPORT_MAX
    day: date | None = None  # the "Last update" line; None: the newest paper's day
    title: str | None = None
    fetch: bool = False


def find_channel(text: str, known: Sequence[ChannelRef]) -> ChannelRef:
    """The channel an operator names, as paperbot's logs write it or shorter.

    `slack:T024BE7LD/C024BE91L`, `slack:T024BE7LD/#ml-papers`, `discord:81384788765712384/#papers`,
    or only the channel's id or name (`C024BE91L`, `#ml-papers`) when that names one channel.
    """
    wanted = " ".join(text.split())
    platform = workspace = None
    rest = wanted
    head, colon, tail = wanted.partition(":")
    if colon and "/" in tail:
        platform, (workspace, _, rest) = head.casefold(), tail.partition("/")
    name = rest.removeprefix("#")
    found = [
        c
        for c in known
        if (platform is None or c.platform.value == platform)
        and (workspace is None or c.workspace == workspace)
        and (c.channel_id == name or (c.name and c.name.casefold() == name.casefold()))
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f"{text!r} names {len(found)} channels: " + ", ".join(_full(c) for c in found))
    listed = ", ".join(_full(c) for c in known[:10]) + (", ..." if len(known) > 10 else "")
    raise UserError(
        f"no channel {text!r} tracks anything in this database"
        + (f" (channels that do: {listed})" if known else " (no channel tracks anything yet)")
    )


def _full(channel: ChannelRef) -> str:
    label = f"/#{channel.name}" if channel.name else ""
    return f"{channel.platform.value}:{channel.workspace}/{channel.channel_id}{label}"


def _newest(papers: Sequence[Paper], limit: int) -> tuple[Paper, ...]:
    return tuple(sorted(papers, key=lambda p: (search.last_update(p), p.arxiv_id), reverse=True)[:limit])


class Collector:
    """Finds each section's papers: the store, then (with `--fetch`) arXiv; `like:` topics by similarity."""

    def __init__(self, store: Store, limit: int, arxiv: ArxivClient | None = None) -> None:
        self.store = store
        self.limit = limit
        self.arxiv = arxiv
        self._relevance: Relevance | None = None

    async def section(self, heading: str, text: str) -> Section:
        if similar.is_like(text):
            return Section(heading, await self._like(similar.parse_like(text).canonical))
        query = parse(text)
        found = {p.arxiv_id: p for p in (await search.newest(self.store, query, self.limit)).papers}
        if self.arxiv is not None and len(found) < self.limit:
            for paper in await self.arxiv.search(query.to_arxiv(), self.limit, by_update=True):
                stored = found.get(paper.arxiv_id)
                if stored is None or paper.version > stored.version:
                    found[paper.arxiv_id] = paper
        return Section(heading, _newest(list(found.values()), self.limit))

    async def _like(self, canonical: str) -> tuple[Paper, ...]:
        """The papers that read like the topic's examples (above its threshold), latest first."""
        self._relevance = self._relevance or Relevance(self.store)
        model, topics = await self._relevance.topics([canonical])
        topic = topics.get(canonical)
        if topic is None:  # its examples are not stored
            return ()
        hits = await asyncio.to_thread(similar.ranked, topic, model, model.papers, at_least=topic.threshold)
        return _newest([h.paper for h in hits], self.limit)


async def collect(store: Store, request: ExportRequest, arxiv: ArxivClient | None = None) -> Export:
    """The sections the request names, in its order: each channel's queries, then `--query`s."""
    wanted: list[tuple[str, str]] = []  # (heading, query text)
    sources: list[str] = []
    names: list[str] = []
    if request.channels:
        known = [c for c, _ in await store.channels.with_subscriptions()]
        for text in request.channels:
            channel = find_channel(text, known)
            sources.append(_full(channel))
            names.append(f"#{channel.name or channel.channel_id}")
            wanted += [(s.raw_query, s.query) for s in await store.subscriptions.for_channel(channel)]
    for text in request.queries:
        query = " ".join(text.split())
        if not query:
            raise UserError("--query needs a query, e.g. --query 'video retrieval'")
        if len(query) > MAX_QUERY_CHARS:
            raise UserError(f"a query is {len(query):,} characters long; the limit is {MAX_QUERY_CHARS}")
        canonical = similar.parse_like(query).canonical if similar.is_like(query) else parse(query).canonical
        wanted.append((query, canonical))
        sources.append(canonical)
    collector = Collector(store, request.limit, arxiv)
    sections: list[Section] = []
    seen: set[str] = set()
    for heading, text in wanted:
        if text not in seen:  # two channels tracking one query: one section
            seen.add(text)
            sections.append(await collector.section(heading, text))
    every = [p for s in sections for p in s.papers]
    day = request.day or export_formats.newest_date(every) or datetime.now(UTC).date()
    title = request.title or (f"{DEFAULT_TITLE}: {', '.join(names)}" if names else DEFAULT_TITLE)
    return Export(title, tuple(sections), day, " ".join(sources))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one step: a reader (or a crash) never sees half a file."""
    path = path.expanduser()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        # mkstemp's file is private (0600); the document keeps the mode it had, or gets the usual one.
        umask = os.umask(0)
        os.umask(umask)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


async def run_export(config: Config, request: ExportRequest, output: Path | None, out: TextIO) -> str:
    """Collect and render the export; write it to `output` (or `out`). Returns the text written."""
    if not request.channels and not request.queries:
        raise UserError("say what to export: --channel <channel> and/or --query <query> (repeatable)")
    path = config.database_path
    if request.fetch and not path.is_file():
        store = await Store.open(":memory:")  # nothing stored here: arXiv's answers only
    else:
        store = await open_readonly(path)
    client = ArxivClient(config.arxiv) if request.fetch else None
    try:
        export = await collect(store, request, client)
    finally:
        if client is not None:
            client.close()
        await store.close()
    text = export_formats.render(export, request.fmt, request.limit)
    if output is None:
        out.write(text)
    else:
        write_atomically(output, text)
    return text


def export_command(
    config: Config, request: ExportRequest, output: Path | None, out: TextIO, err: TextIO
) -> int:
    """`paperbot export`: 0 when written, 1 when arXiv did not answer (nothing written), 2 on bad input."""
    redact = config.redactor()
    try:
        asyncio.run(run_export(config, request, output, out))
    except ArxivUnavailable as exc:
        print(f"paperbot: arXiv did not answer, nothing written: {redact(str(exc))}", file=err)
        return 1
    except (UserError, StorageError) as exc:
        print(f"paperbot: {redact(str(exc))}", file=err)
        return 2
    except OSError as exc:
        print(f"paperbot: cannot write {output}: {exc.strerror or exc}", file=err)
        return 2
    except PaperbotError as exc:
        print(f"paperbot: {redact(str(exc))}", file=err)
        return 1
    return 0
