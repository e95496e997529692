"""arXiv's announcement schedule, driven by explicit 'now's (never by sleeping)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.arxiv.calendar import (
    ARXIV_HOLIDAYS,
    ARXIV_TZ,
    announced_at,
    announcement_date,
    catch_up_days,
    holiday_dates,
    holidays_between,
    is_announcement_day,
    latest_announcement,
    next_digest,
    next_harvest,
    recent_announcements,
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


def test_the_days_a_harvest_answers_for() -> None:
    assert recent_announcements(et(WED, 9), 3) == [MON, TUE, WED]
    assert recent_announcements(et(SUN, 9), 2) == [THU, FRI]  # weekends are not days
    # Seven announcement days back, but none announced before the first subscription was made.
    long_ago = et(MON - timedelta(days=60), 9)
    assert (
        catch_up_days(et(FRI, 9), 7, long_ago)
        == [date(2025, 10, 8), date(2025, 10, 9), date(2025, 10, 10), MON, TUE, WED, THU, FRI][-7:]
    )
    # Tracked on Monday morning: Monday's announcement (Sunday 20:00) was before, Tuesday's after.
    assert catch_up_days(et(THU, 9), 7, et(MON, 10)) == [TUE, WED, THU]
    assert catch_up_days(et(THU, 9), 7, None) == [THU]  # nothing tracked: only the latest day
    assert catch_up_days(et(THU, 9), 7, et(THU, 8)) == [THU]  # the latest day is always read


# Thanksgiving 2026 is Thursday 26 November: arXiv skips that evening's announcement.
THANKSGIVING = date(2026, 11, 26)
NO_FRIDAY = date(2026, 11, 27)


def test_arxiv_holidays_are_evenings_without_an_announcement() -> None:
    assert THANKSGIVING in ARXIV_HOLIDAYS
    holidays = holiday_dates()
    assert NO_FRIDAY in holidays and THANKSGIVING not in holidays
    assert date(2025, 7, 7) in holidays  # arXiv's 2025 list: Sunday 6 July, so no Monday announcement
    assert all(d.year in (2025, 2026, 2027) for d in ARXIV_HOLIDAYS)
    assert not is_announcement_day(NO_FRIDAY, holidays)
    assert announcement_date(et(NO_FRIDAY, 0, 30), holidays) is None
    assert latest_announcement(et(date(2026, 11, 29), 12), holidays) == THANKSGIVING
    # Monday's announcement after Thanksgiving holds Wednesday 14:00 to Friday 14:00.
    assert submission_window(date(2026, 11, 30), holidays) == (
        et(date(2026, 11, 25), 14),
        et(NO_FRIDAY, 14),
    )
    assert holidays_between(date(2026, 11, 23), date(2026, 11, 30), holidays) == [NO_FRIDAY]


def test_next_digest_around_weekends_and_holidays() -> None:
    utc, nine = ZoneInfo("UTC"), time(9, 0)
    holidays = holiday_dates()
    # Tuesday 10:00 UTC: today's papers went out at 09:00, Wednesday's come Wednesday at 09:00.
    assert next_digest(datetime(2025, 10, 14, 10, tzinfo=UTC), nine, utc) == datetime(
        2025, 10, 15, 9, tzinfo=UTC
    )
    # Before 09:00 the day's harvest (04:30 UTC) is waiting for today's post.
    assert next_digest(datetime(2025, 10, 14, 8, tzinfo=UTC), nine, utc) == datetime(
        2025, 10, 14, 9, tzinfo=UTC
    )
    # Friday afternoon: nothing on Saturday or Sunday, Monday's announcement.
    assert next_digest(et(FRI, 15), nine, utc) == datetime(2025, 10, 20, 9, tzinfo=UTC)
    # Thanksgiving: no Friday announcement, the next digest is Monday's.
    assert next_digest(et(THANKSGIVING, 12), nine, utc, holidays=holidays) == datetime(
        2026, 11, 30, 9, tzinfo=UTC
    )
    # Tokyo at 09:00 is before the 00:30 ET harvest: Wednesday's papers arrive Thursday morning there.
    tokyo = ZoneInfo("Asia/Tokyo")
    assert next_digest(et(WED, 1), nine, tokyo) == datetime(2025, 10, 16, 9, tzinfo=tokyo)
    # asap: right after the next harvest.
    assert next_digest(et(FRI, 15), None, utc) == et(date(2025, 10, 20), 0, 30)


def test_submission_windows() -> None:
    # Monday's announcement: Thursday 14:00 to Friday 14:00; Tuesday's: Friday 14:00 to Monday 14:00.
    assert submission_window(MON + timedelta(days=7)) == (et(THU, 14), et(FRI, 14))
    assert submission_window(TUE) == (et(date(2025, 10, 10), 14), et(MON, 14))
    assert submission_window(WED) == (et(MON, 14), et(TUE, 14))


def test_repolls() -> None:
    first = et(MON, 0, 30)
    assert repoll_times(first) == [et(MON, 1), et(MON, 1, 30), et(MON, 2)]
