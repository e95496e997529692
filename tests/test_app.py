"""The one lifecycle and the one error path."""

from __future__ import annotations

import logging

import pytest

from bot.app import App
from bot.config import Config
from bot.errors import INTERNAL_ERROR_REPLY
from bot.models import DirectMessage
from bot.ports import Inbox
from tests.conftest import ALICE, command
from tests.fakes.recording import RecordingAdapter


class FailingAdapter(RecordingAdapter):
    async def start(self, inbox: Inbox) -> None:
        raise ConnectionError("platform down")


async def test_start_failing_half_way_tears_down_what_started(config: Config) -> None:
    first, broken = RecordingAdapter(name="first"), FailingAdapter(name="broken")
    app = App(config, [first, broken])
    with pytest.raises(ConnectionError):
        async with app:
            pass
    assert first.started and first.stopped
    assert not broken.stopped  # never started, so never stopped
    assert not app.scheduler._scheduler.running


async def test_adapters_stop_on_exit_and_see_the_inbox(config: Config) -> None:
    adapter = RecordingAdapter()
    async with App(config, [adapter]) as app:
        assert adapter.inbox is app
    assert adapter.stopped


async def test_an_unexpected_error_in_a_command_is_logged_once_and_answered_briefly(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        await app.store.close()  # the database vanishes under the bot
        with caplog.at_level(logging.ERROR):
            reply = await app.command(command("/track video retrieval"))
    assert reply.text == INTERNAL_ERROR_REPLY
    assert app.reporter.count == 1
    assert "command /track failed" in caplog.text


async def test_user_errors_are_answered_not_reported(config: Config) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        reply = await app.command(command("/track"))
        dm = await app.direct_message(DirectMessage(ALICE, "hello"))
    assert reply.text.startswith("Usage: /track")
    assert app.reporter.count == 0
    assert "arXiv id" in dm.text
