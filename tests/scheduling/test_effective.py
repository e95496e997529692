"""A channel's effective settings: its own where set, else the config's, typed, in one place."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.config import Config
from bot.models import ChannelSettings
from bot.scheduling.effective import effective
from tests.conftest import GENERAL, command
from tests.fakes.recording import RecordingAdapter


def test_nothing_set_means_the_configured_defaults(config: Config) -> None:
    cfg = replace(config, schedule=replace(config.schedule, timezone="Europe/Berlin", post_time="08:30"))
    eff = effective(ChannelSettings(), cfg)
    assert eff.timezone == ZoneInfo("Europe/Berlin")
    assert eff.post_time == time(8, 30)
    assert eff.max_papers == config.digest.max_papers
    assert eff.timing() == "at 08:30 Europe/Berlin"


def test_the_channels_own_settings_win(config: Config) -> None:
    eff = effective(ChannelSettings(timezone="Asia/Tokyo", post_time="07:05", max_papers=3), config)
    assert (eff.timezone, eff.post_time, eff.max_papers) == (ZoneInfo("Asia/Tokyo"), time(7, 5), 3)


def test_asap_is_no_time_of_day(config: Config) -> None:
    eff = effective(ChannelSettings(post_time="asap"), config)
    assert eff.post_time is None
    assert eff.timing() == "right after each arXiv harvest"
    cfg = replace(config, schedule=replace(config.schedule, post_time="asap"))
    assert effective(ChannelSettings(), cfg).post_time is None
    assert effective(ChannelSettings(post_time="10:00"), cfg).post_time == time(10, 0)


def test_a_stored_timezone_this_machine_does_not_know_falls_back_to_the_default(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        eff = effective(ChannelSettings(timezone="Mars/Olympus_Mons"), config)
    assert eff.timezone == ZoneInfo(config.schedule.timezone)
    assert "Mars/Olympus_Mons" in caplog.text


async def test_a_channel_with_an_unknown_stored_timezone_still_gets_its_digest_job(config: Config) -> None:
    clock = lambda: datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # noqa: E731
    async with App(config, [RecordingAdapter()], clock=clock) as app:
        assert (await app.command(command("/track video retrieval"))).text.startswith("Now tracking")
        # As if written by a machine with other timezone data: /settings would refuse it.
        await app.store.channels.update_settings(GENERAL, {"timezone": "Mars/Olympus_Mons"}, clock())
        await app.jobs.schedule_channel(GENERAL)
        job = await app.jobs.delivery_job(GENERAL)
        assert job is not None and job in app.scheduler.job_ids()
        assert "Next digest:" in (await app.command(command("/tracked"))).text
        assert app.reporter.count == 0
