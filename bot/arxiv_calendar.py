"""arXiv's announcement schedule, in US Eastern time (https://info.arxiv.org/help/availability.html).

New submissions are announced Sunday to Thursday at 20:00 ET; there is no announcement on Friday or
Saturday evenings, nor on arXiv holidays. The announcement feeds are rebuilt shortly after midnight,
and an announcement is dated (in the feeds and on arXiv's listing pages) by the following day. This
module keys everything by that *announcement date*, always a Monday to Friday: the Sunday 20:00
announcement is Monday's, the Thursday 20:00 one is Friday's.

A day's announcement holds the new submissions received before the 14:00 ET deadline of the last
weekday before it, after the previous deadline: Monday's covers Thursday 14:00 to Friday 14:00,
Tuesday's Friday 14:00 to Monday 14:00, and so on.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

ARXIV_TZ = ZoneInfo("America/New_York")
ANNOUNCE_TIME = time(20, 0)
SUBMISSION_DEADLINE = time(14, 0)
DEFAULT_HARVEST_TIME = time(0, 30)
# How long a missing feed is waited for: re-polls every 30 minutes, 3 times, then the day is left to
# the next run (or catch-up).
REPOLL_EVERY = timedelta(minutes=30)
REPOLL_TIMES = 3


def _et(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ARXIV_TZ)


def is_announcement_day(day: date, holidays: Collection[date] = ()) -> bool:
    """True if arXiv publishes an announcement dated `day` (Monday to Friday, not a holiday)."""
    return day.weekday() < 5 and day not in holidays


def announced_at(day: date) -> datetime:
    """When the announcement dated `day` went out: 20:00 ET the evening before."""
    return datetime.combine(day - timedelta(days=1), ANNOUNCE_TIME, ARXIV_TZ)


def announcement_date(now: datetime, holidays: Collection[date] = ()) -> date | None:
    """The announcement a feed read at `now` shows: today's (ET) date on announcement days, else None.

    On a day without an announcement (weekend, holiday) the feeds are empty: nothing new to read.
    """
    today = _et(now).date()
    return today if is_announcement_day(today, holidays) else None


def latest_announcement(now: datetime, holidays: Collection[date] = ()) -> date:
    """The most recent announcement date at or before `now` (ET), e.g. Friday's on a Sunday morning."""
    day = _et(now).date()
    while not is_announcement_day(day, holidays):
        day -= timedelta(days=1)
    return day


def previous_announcement(day: date, holidays: Collection[date] = ()) -> date:
    """The announcement date before `day`."""
    day -= timedelta(days=1)
    while not is_announcement_day(day, holidays):
        day -= timedelta(days=1)
    return day


def announcement_days(after: date, until: date, holidays: Collection[date] = ()) -> list[date]:
    """Announcement dates d with after < d <= until, oldest first."""
    days = []
    day = after + timedelta(days=1)
    while day <= until:
        if is_announcement_day(day, holidays):
            days.append(day)
        day += timedelta(days=1)
    return days


def missed_announcements(
    last_ok: date | None, now: datetime, holidays: Collection[date] = (), *, max_days: int = 5
) -> list[date]:
    """Announcement dates since the last successful harvest up to the latest at `now`, oldest first.

    With no harvest ever, only the latest day counts: paperbot does not backfill history. At most
    `max_days` days are returned (the newest), so a bot that was down for a month does not flood
    channels or arXiv.
    """
    latest = latest_announcement(now, holidays)
    if last_ok is None:
        return [latest]
    return announcement_days(last_ok, latest, holidays)[-max_days:]


def submission_window(day: date, holidays: Collection[date] = ()) -> tuple[datetime, datetime]:
    """The submission times (ET) whose new papers are announced on `day`: (previous deadline, deadline).

    Used when the feed for `day` is unavailable (too old, or failing): the API can be asked for papers
    by submission date. Approximate around holidays, which shift deadlines.
    """

    def deadline_before(d: date) -> datetime:
        d -= timedelta(days=1)
        while d.weekday() >= 5:
            d -= timedelta(days=1)
        return datetime.combine(d, SUBMISSION_DEADLINE, ARXIV_TZ)

    end = deadline_before(day)
    start = deadline_before(previous_announcement(day, holidays))
    return start, end


def next_harvest(
    now: datetime,
    harvest_time: time = DEFAULT_HARVEST_TIME,
    tz: tzinfo = ARXIV_TZ,
    holidays: Collection[date] = (),
) -> datetime:
    """The first harvest time strictly after `now`: `harvest_time` in `tz` on an announcement day."""
    local = now.astimezone(tz)
    day = local.date()
    for _ in range(30):
        candidate = datetime.combine(day, harvest_time, tz)
        if candidate > local and is_announcement_day(candidate.astimezone(ARXIV_TZ).date(), holidays):
            return candidate
        day += timedelta(days=1)
    raise ValueError("no announcement day in the next 30 days (holiday list too long?)")


def repoll_times(
    first: datetime, times: int = REPOLL_TIMES, every: timedelta = REPOLL_EVERY
) -> list[datetime]:
    """When to look again after `first` found the day's feed not there yet."""
    return [first + every * (i + 1) for i in range(times)]
