"""The story of a channel's commands: track, list, change settings, and every refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.commands.dispatch import Context, dispatch
from bot.errors import UserError
from bot.models import ChannelRef, Platform, Visibility
from storage import Store
from tests.conftest import GENERAL, command


async def run(ctx: Context, text: str) -> str:
    """Run a command as a user would, returning the one line they read."""
    try:
        return (await dispatch(ctx, command(text))).text
    except UserError as exc:
        return str(exc)


async def snapshot(store: Store) -> list[tuple[object, ...]]:
    rows = []
    for table in ("channels", "subscriptions"):
        async with store.db.conn.execute(f"SELECT * FROM {table} ORDER BY id") as cur:  # noqa: S608
            rows += [tuple(r) for r in await cur.fetchall()]
    return rows


async def test_track_then_list_then_untrack(ctx: Context) -> None:
    reply = await dispatch(ctx, command("/track video retrieval"))
    assert reply.visibility is Visibility.CHANNEL
    assert '"video retrieval"' in reply.text

    listing = await run(ctx, "/tracked")
    assert "• video retrieval" in listing
    assert "09:00 UTC" in listing

    assert "Stopped tracking" in await run(ctx, "/untrack Video Retrieval")
    assert "tracks nothing yet" in await run(ctx, "/tracked")


async def test_tracked_says_when_the_next_digest_comes_around_weekends_and_holidays(ctx: Context) -> None:
    await run(ctx, "/track video retrieval")

    def at(day: int, hour: int) -> Context:  # in November 2026
        return replace(ctx, clock=lambda: datetime(2026, 11, day, hour, tzinfo=UTC))

    # Thanksgiving (Thu 26 Nov 2026): arXiv announces nothing that evening, so Friday has no digest.
    thanksgiving = await run(at(26, 15), "/tracked")
    assert (
        "Next digest: Mon 30 Nov at 09:00 UTC (no arXiv announcement on Fri 27 Nov: holiday)." in thanksgiving
    )
    assert "Next digest: Mon 23 Nov at 09:00 UTC." in await run(at(20, 10), "/tracked")  # a Friday
    assert "Next digest: Tue 24 Nov at 09:00 UTC." in await run(at(24, 8), "/tracked")
    await run(ctx, "/settings time 08:30 tz Asia/Tokyo")
    # Tuesday's harvest (00:30 in New York) is 14:30 in Tokyo: its digest comes Wednesday morning there.
    assert "Next digest: Wed 25 Nov at 08:30 Asia/Tokyo." in await run(at(24, 8), "/tracked")
    await run(ctx, "/settings pause")
    assert "Next digest" not in await run(ctx, "/tracked")


async def test_duplicate_after_normalisation_is_refused_politely(ctx: Context) -> None:
    await run(ctx, "/track video retrieval")
    assert await run(ctx, "/track Video   RETRIEVAL") == 'This channel already tracks "video retrieval".'
    assert len(await ctx.store.subscriptions.for_channel(GENERAL)) == 1


async def test_same_query_in_two_channels_and_platforms_is_two_subscriptions(ctx: Context) -> None:
    slack_general = ChannelRef(Platform.SLACK, "T1", "general")
    await run(ctx, "/track video retrieval")
    await dispatch(ctx, command("/track video retrieval", channel=slack_general))
    assert len(await ctx.store.subscriptions.all()) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/track", "Usage: /track <query>"),
        ("/track    \t ", "Usage: /track <query>"),
        ("/track " + "x" * 10_000, "10,000 characters long; the limit is 500"),
        ("/track video\x00retrieval", "control characters"),
        ("/track bell\x07", "control characters"),
        ("/untrack never tracked", 'does not track "never tracked"'),
        ("/untrack", "Usage: /untrack <query>"),
        ("/frobnicate now", 'Unknown command "/frobnicate"'),
        ("/settings time 25:00", '"25:00" is not a time'),
        ("/settings tz Mars/Olympus", '"Mars/Olympus" is not a timezone'),
        ("/settings tz ../../etc/passwd", "is not a timezone"),
        ("/settings max -1", "out of range (use 1-50)"),
        ("/settings max 1000000000", "out of range (use 1-50)"),
        ("/settings max lots", '"lots" is not a number'),
        ("/settings time", '"time" needs a value'),
        ("/settings colour blue", 'Unknown setting "colour"'),
        ("/settings time 08:30 tz Mars/Olympus", "is not a timezone"),
    ],
)
async def test_bad_input_gets_one_clear_line_and_changes_nothing(
    ctx: Context, text: str, expected: str
) -> None:
    await run(ctx, "/track video retrieval")
    before = await snapshot(ctx.store)
    answer = await run(ctx, text)
    assert expected in answer
    assert "\n" not in answer
    assert await snapshot(ctx.store) == before


@pytest.mark.parametrize("query", ["视频检索 🎥", "%_\\ LIKE wildcards", "Robert's (DELETE FROM channels)"])
async def test_unusual_text_is_stored_as_text(ctx: Context, query: str) -> None:
    await run(ctx, "/track " + query)
    subs = await ctx.store.subscriptions.for_channel(GENERAL)
    assert [s.raw_query for s in subs] == [query]
    assert "tracks 1 query" in await run(ctx, "/tracked")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("'); DROP TABLE subscriptions;--", "column 1 has no letters or digits"),
        ("Robert'); DELETE FROM channels; --", "lone - at column 34"),
    ],
)
async def test_sql_shaped_queries_are_refused_by_the_grammar_and_touch_nothing(
    ctx: Context, query: str, expected: str
) -> None:
    await run(ctx, "/track video retrieval")
    before = await snapshot(ctx.store)
    assert expected in await run(ctx, "/track " + query)
    assert await snapshot(ctx.store) == before


async def test_more_than_the_limit_of_queries_is_refused_with_the_limit_named(ctx: Context) -> None:
    ctx = replace(
        ctx, config=replace(ctx.config, bot=replace(ctx.config.bot, max_subscriptions_per_channel=50))
    )
    for i in range(50):
        await run(ctx, f"/track topic {i}")
    before = await snapshot(ctx.store)
    answer = await run(ctx, "/track one too many")
    assert "tracks 50 queries, the limit is 50" in answer
    assert await snapshot(ctx.store) == before


async def test_settings_are_shown_set_all_at_once_and_listed(ctx: Context) -> None:
    assert "Usage: /settings" in await run(ctx, "/settings")
    answer = await run(ctx, "/settings time 8:30 tz Europe/Berlin max 15")
    assert "08:30 Europe/Berlin" in answer and "up to 15 papers" in answer
    assert "Digests are paused" in await run(ctx, "/settings pause")
    assert "Digests are paused" not in await run(ctx, "/settings resume")
    assert "right after each arXiv harvest" in await run(ctx, "/settings time asap")
    settings = await ctx.store.channels.settings(GENERAL)
    assert (settings.post_time, settings.timezone, settings.max_papers) == ("asap", "Europe/Berlin", 15)


async def test_help_lists_every_command(ctx: Context) -> None:
    text = await run(ctx, "/help")
    for name in ("/track", "/untrack", "/tracked", "/settings", "/help"):
        assert name in text
