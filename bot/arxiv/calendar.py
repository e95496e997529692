"""arXiv's announcement schedule, in US Eastern time (https://info.arxiv.org/help/availability.html).

New submissions are announced Sunday to Thursday at 20:00 ET; there is no announcement on Friday or
Saturday evenings, nor on arXiv holidays. The announcement feeds are rebuilt shortly after midnight,
and an announcement is dated (in the feeds and on arXiv's listing pages) by the following day. This
module keys everything by that *announcement date*, always a Monday to Friday: the Sunday 20:00
announcement is Monday's, the Thursday 20:00 one is Friday's.

A day's announcement holds the new submissions received before the 14:00 ET deadline of the last
weekday before it, after the previous deadline: Monday's covers Thursday 14:00 to Friday 14:00,
Tuesday's Friday 14:00 to Monday 14:00, and so on.

arXiv lists its holidays by the evening whose announcement it skips ("Thu 27 November": nothing
goes out on Thanksgiving evening, so there is no announcement dated Friday 28 November). The
configuration and `ARXIV_HOLIDAYS` use arXiv's convention; `holiday_dates` turns them into the
announcement dates everything else here works with.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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

# Evenings without an announcement, as arXiv lists them (https://info.arxiv.org/help/availability.html).
# 2025 is arXiv's published list. For 2026 and 2027 these are the holidays arXiv has kept every year
# (New Year's Day, Martin Luther King Jr. Day, Juneteenth, Independence Day, Labor Day, Thanksgiving)
# where they fall on an announcement evening. Only days that are sure to be skipped are listed: a day
# wrongly taken for a holiday would never be read, while a real holiday missing here only costs a
# few requests. arXiv sets December's holidays late in the year: add them (and any ad hoc
# closure) with `arxiv.holidays`.
ARXIV_HOLIDAYS: tuple[date, ...] = (
    date(2025, 1, 1), date(2025, 1, 20), date(2025, 6, 19), date(2025, 7, 6), date(2025, 9, 1),
    date(2025, 11, 27),
    date(2026, 1, 1), date(2026, 1, 19), date(2026, 9, 7), date(2026, 11, 26),
    date(2027, 1, 18), date(2027, 7, 4), date(2027, 9, 6), date(2027, 11, 25),
)  # fmt: skip


def holiday_dates(evenings: Iterable[date] = ARXIV_HOLIDAYS) -> frozenset[date]:
    """The announcement dates that do not exist because arXiv skips these evenings' announcements."""
    return frozenset(d + timedelta(days=1) for d in evenings)


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


def recent_announcements(now: datetime, count: int, holidays: Collection[date] = ()) -> list[date]:
    """The latest `count` announcement dates at or before `now` (ET), oldest first."""
    days = [latest_announcement(now, holidays)]
    while len(days) < count:
        days.append(previous_announcement(days[-1], holidays))
    return days[::-1]


def catch_up_days(
    now: datetime, count: int, since: datetime | None, holidays: Collection[date] = ()
) -> list[date]:
    """The announcement days a harvest at `now` is responsible for, oldest first.

    The latest `count` days, but none announced before `since` (when the first subscription was
    made: paperbot owes nobody an earlier day, and does not backfill history). The latest day is
    always included: it is what a harvest is for.
    """
    days = recent_announcements(now, count, holidays)
    if since is None:
        return days[-1:]
    return [d for d in days[:-1] if announced_at(d) >= since] + days[-1:]


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


def next_digest(
    now: datetime,
    post_time: time | None,
    tz: tzinfo,
    harvest_time: time = DEFAULT_HARVEST_TIME,
    harvest_tz: tzinfo = ARXIV_TZ,
    holidays: Collection[date] = (),
) -> datetime:
    """When a channel posting at `post_time` in `tz` (None: right after each harvest) next gets papers.

    A digest goes out at the first post time after a harvest that read an announcement: papers
    harvested since the last post time wait for the next one; otherwise the next announcement's
    harvest comes first, and weekends and holidays have none.
    """
    if post_time is None:
        return next_harvest(now, harvest_time, harvest_tz, holidays)
    local = now.astimezone(tz)
    last_post = datetime.combine(local.date(), post_time, tz)
    if last_post > local:
        last_post = datetime.combine(local.date() - timedelta(days=1), post_time, tz)
    harvest = next_harvest(last_post, harvest_time, harvest_tz, holidays).astimezone(tz)
    post = datetime.combine(harvest.date(), post_time, tz)
    return post if post >= harvest else datetime.combine(harvest.date() + timedelta(days=1), post_time, tz)


def holidays_between(first: date, last: date, holidays: Collection[date]) -> list[date]:
    """The weekdays in [first, last] without an announcement because of a holiday."""
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day in holidays:
            days.append(day)
        day += timedelta(days=1)
    return days


def repoll_times(
    first: datetime, times: int = REPOLL_TIMES, every: timedelta = REPOLL_EVERY
) -> list[datetime]:
    """When to look again after `first` found the day's feed not there yet."""
    return [first + every * (i + 1) for i in range(times)]
