"""arXiv's announcement schedule, driven by explicit 'now's (never by sleeping)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.arxiv_calendar import (
    ARXIV_TZ,
    announced_at,
    announcement_date,
    is_announcement_day,
    latest_announcement,
    missed_announcements,
    next_harvest,
    repoll_times,
    submission_window,
)

MON, TUE, WED, THU, FRI, SAT, SUN = (date(2025, 10, d) for d in range(13, 20))


def et(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), ARXIV_TZ)


def test_announcement_days_are_monday_to_friday() -> None:
    assert [is_announcement_day(d) for d in (MON, TUE, WED, THU, FRI, SAT, SUN)] == [True] * 5 + [False] * 2
    assert not is_announcement_day(WED, holidays={WED})


def test_announced_the_evening_before() -> None:
    assert announced_at(MON) == et(MON - timedelta(days=1), 20)  # Sunday 20:00 ET is Monday's announcement
    assert announced_at(FRI) == et(THU, 20)


def test_announcement_date_seen_by_a_harvest() -> None:
    assert announcement_date(et(MON, 0, 30)) == MON
    assert announcement_date(et(FRI, 19)) == FRI
    assert announcement_date(et(SAT, 0, 30)) is None  # no announcement Friday evening
    assert announcement_date(et(SUN, 21)) is None  # announced, but the feed is rebuilt after midnight
    assert announcement_date(et(TUE, 1), holidays={TUE}) is None
    # The caller's timezone does not matter: 04:30 UTC on Monday is 00:30 ET (EDT).
    assert announcement_date(datetime(2025, 10, 13, 4, 30, tzinfo=UTC)) == MON
    assert announcement_date(datetime(2025, 10, 13, 3, 30, tzinfo=UTC)) is None  # still Sunday in New York


def test_latest_announcement() -> None:
    assert latest_announcement(et(SUN, 10)) == FRI
    assert latest_announcement(et(WED, 10)) == WED
    assert latest_announcement(et(MON, 10), holidays={MON}) == date(2025, 10, 10)


def test_next_harvest_skips_the_weekend_and_handles_dst() -> None:
    assert next_harvest(et(THU, 1)) == et(FRI, 0, 30)
    assert next_harvest(et(FRI, 1)) == et(MON + timedelta(days=7), 0, 30)
    # US DST ends on 2 Nov 2025: 00:30 ET is 04:30 UTC before, 05:30 UTC after.
    after = next_harvest(datetime(2025, 10, 31, 12, tzinfo=UTC))
    assert after == et(date(2025, 11, 3), 0, 30)
    assert after.astimezone(UTC).hour == 5
    assert next_harvest(et(MON, 0, 0), time(0, 30)) == et(MON, 0, 30)
    assert next_harvest(et(MON, 1), holidays={TUE}) == et(WED, 0, 30)


def test_missed_announcements_for_catch_up() -> None:
    assert missed_announcements(None, et(WED, 9)) == [WED]
    assert missed_announcements(MON, et(THU, 9)) == [TUE, WED, THU]
    assert missed_announcements(THU, et(SUN, 9)) == [FRI]
    assert missed_announcements(FRI, et(SUN, 9)) == []
    long_ago = MON - timedelta(days=60)
    assert len(missed_announcements(long_ago, et(FRI, 9))) == 5


def test_submission_windows() -> None:
    # Monday's announcement: Thursday 14:00 to Friday 14:00; Tuesday's: Friday 14:00 to Monday 14:00.
    assert submission_window(MON + timedelta(days=7)) == (et(THU, 14), et(FRI, 14))
    assert submission_window(TUE) == (et(date(2025, 10, 10), 14), et(MON, 14))
    assert submission_window(WED) == (et(MON, 14), et(TUE, 14))


def test_repolls() -> None:
    first = et(MON, 0, 30)
    assert repoll_times(first) == [et(MON, 1), et(MON, 1, 30), et(MON, 2)]
