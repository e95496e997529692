"""What a harvest did, day by day, and the rules for what a day still needs.

Pure: the Harvester (bot.arxiv.harvest) fills these in; `paperbot harvest`, the logs and the App read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from bot.models import AnnouncementDay, DayState, Paper, Source


def day_label(d: date) -> str:
    return d.strftime("%a %d %b %Y")


@dataclass(frozen=True, slots=True)
class DayReport:
    """What one harvest did for one announcement day."""

    day: date
    state: DayState  # after this run
    read: tuple[Source, ...] = ()  # how papers were read in this run: feed, api
    new: int = 0
    cross: int = 0
    replaced: int = 0
    stored_new: int = 0  # papers the store had never seen
    requests: int = 0
    waiting: tuple[str, ...] = ()  # categories whose feed does not show the day yet
    caught_up: bool = False  # read after its own announcement day
    error: str | None = None  # why the day is not complete
    failed: bool = False  # arXiv gave nothing for it in this run
    retry: bool = False  # worth looking again today: its feed may still give what is missing

    def line(self) -> str:
        """`Tue 24 Nov 2026 (caught up): 82 new, 0 cross-lists, 0 replaced from the API; partial`."""
        head = day_label(self.day) + (" (caught up)" if self.caught_up else "")
        via = " and ".join({Source.FEED: "the feeds", Source.API: "the API"}[s] for s in self.read if s)
        parts = (
            [f"{self.new} new, {self.cross} cross-lists, {self.replaced} replaced from {via}"] if via else []
        )
        if self.error:
            parts.append(self.error)
        return f"{head}: {'; '.join(parts) or 'nothing read'}; {self.state}"


@dataclass(frozen=True, slots=True)
class HarvestReport:
    """What one harvest did: the days it worked on and what is still outstanding."""

    started: datetime
    days: tuple[DayReport, ...] = ()
    outstanding: tuple[AnnouncementDay, ...] = ()  # days of the window still partial or missing
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None  # what stopped the run early (arXiv unreachable, a Retry-After)
    deferred: bool = False  # arXiv asked to be left alone past this run's window
    dry_run: bool = False

    @property
    def stored_new(self) -> int:
        return sum(d.stored_new for d in self.days)

    @property
    def waiting(self) -> bool:
        """Some feed did not show the day yet."""
        return any(d.waiting for d in self.days)

    @property
    def failed(self) -> bool:
        """arXiv could not be read: a day this run tried got nothing, or the run stopped early."""
        return self.error is not None or any(d.failed for d in self.days)

    @property
    def retry_soon(self) -> bool:
        """Worth looking again within the harvest's window (a re-poll)."""
        return any(d.retry for d in self.days) and not self.deferred

    @property
    def status(self) -> str:
        """ok | waiting | failed | nothing (every day of the window was already read)."""
        if self.failed:
            return "failed"
        if self.waiting:
            return "waiting"
        return "ok" if self.days else "nothing"

    def lines(self) -> list[str]:
        """For people: a line per day read, the days still outstanding, and a summary."""
        # The error that stopped the run is said once, at the end, not on every day it stopped.
        out = [(replace(d, error=None) if d.error == self.error else d).line() for d in self.days]
        worked_on = {d.day for d in self.days}
        for rec in self.outstanding:
            if rec.day not in worked_on:
                out.append(f"{day_label(rec.day)}: {rec.state}" + (f" ({rec.error})" if rec.error else ""))
        tail = f"harvest: {self.requests} requests, {self.seconds:.1f} s"
        if not self.days:
            tail += "; nothing to read, every announcement day of the window is read"
        if self.error:
            tail += f"; {self.error}"
        return [*out, tail + (" (dry run: nothing stored)" if self.dry_run else "")]

    def summary(self) -> str:
        return "; ".join(self.lines())


def combined(runs: Sequence[HarvestReport]) -> HarvestReport:
    """Several looks of one scheduled harvest (its re-polls) as one report: each day as it ended,
    with what every look read added up."""
    per_day: dict[date, DayReport] = {}
    for d in (d for r in runs for d in r.days):
        seen = per_day.get(d.day)
        if seen is not None:
            d = replace(
                d,
                read=tuple(dict.fromkeys(seen.read + d.read)),
                new=seen.new + d.new,
                cross=seen.cross + d.cross,
                replaced=seen.replaced + d.replaced,
                stored_new=seen.stored_new + d.stored_new,
                requests=seen.requests + d.requests,
            )
        per_day[d.day] = d
    last = runs[-1]
    return replace(
        last,
        started=runs[0].started,
        days=tuple(per_day.values()),
        requests=sum(r.requests for r in runs),
        seconds=round(sum(r.seconds for r in runs), 3),
    )


def counts(papers: Iterable[Paper]) -> tuple[int, int, int]:
    """New papers, cross-lists and replacements among `papers`."""
    new = cross = replaced = 0
    for p in papers:
        if p.announce_type == "cross":
            cross += 1
        elif p.announce_type and p.announce_type.startswith("replace"):
            replaced += 1
        else:
            new += 1
    return new, cross, replaced


def day_state(sources: dict[str, Source], units: Sequence[str]) -> DayState:
    """complete if every unit came from its feed, missing if none was read at all, else partial."""
    got = [sources.get(u) or sources.get(u.split(".", 1)[0]) for u in units]
    if got and all(s is Source.FEED for s in got):
        return DayState.COMPLETE
    if any(s in (Source.FEED, Source.API) for s in got):
        return DayState.PARTIAL
    return DayState.MISSING


def to_read(record: AnnouncementDay | None, units: Sequence[str], from_feed: bool) -> list[str]:
    """The units of a day still worth reading: everything not from a feed while the feed shows the
    day; afterwards only what was never read (the API would give the same answer again)."""
    if record is None:
        return list(units)
    if record.state is DayState.COMPLETE:
        return []
    wanted = []
    for unit in units:
        how = record.source(unit)
        if how is Source.FEED or (how is Source.API and not from_feed):
            continue
        wanted.append(unit)
    return wanted
