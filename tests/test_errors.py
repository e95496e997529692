"""The one error path: what commands, direct messages and jobs say and log when something fails."""

from __future__ import annotations

import logging
from datetime import UTC

import pytest

from bot.errors import ARXIV_DOWN_REPLY, INTERNAL_ERROR_REPLY, ArxivUnavailable, ErrorReporter, UserError
from bot.scheduling.scheduler import Scheduler


def test_a_users_mistake_is_their_answer_and_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    reporter = ErrorReporter()
    with caplog.at_level(logging.DEBUG, logger="bot.errors"):
        assert (
            reporter.failed(UserError("Usage: /track <query>"), "command /track") == "Usage: /track <query>"
        )
    assert reporter.count == 0 and caplog.records == []


def test_arxiv_down_is_one_warning_not_a_report(caplog: pytest.LogCaptureFixture) -> None:
    reporter = ErrorReporter()
    with caplog.at_level(logging.DEBUG, logger="bot.errors"):
        assert reporter.failed(ArxivUnavailable("timed out"), "direct message") == ARXIV_DOWN_REPLY
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.getMessage() == "direct message: timed out"
    assert reporter.count == 0


def test_anything_else_is_reported_once_with_its_traceback_and_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = ErrorReporter()
    try:
        raise KeyError("boom")
    except KeyError as exc:
        with caplog.at_level(logging.DEBUG, logger="bot.errors"):
            reply = reporter.failed(exc, "job harvest", {"channel": "console:local:general"})
    assert reply == INTERNAL_ERROR_REPLY
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage().startswith("job harvest failed: 'boom'")
    assert "channel='console:local:general'" in record.getMessage()
    assert reporter.count == 1


async def test_a_failing_job_takes_the_same_path_and_the_scheduler_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = ErrorReporter()
    scheduler = Scheduler(UTC, reporter)

    async def broken() -> None:
        raise RuntimeError("disk full")

    scheduler.start()
    try:
        scheduler.cron("harvest", broken, timezone=UTC, hour=1)
        with caplog.at_level(logging.ERROR, logger="bot.errors"):
            await scheduler.run_now("harvest")
        assert "harvest" in scheduler.job_ids()
    finally:
        scheduler.shutdown()
    assert reporter.count == 1 and "job harvest failed: disk full" in caplog.text
