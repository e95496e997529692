"""A stored query the grammar no longer accepts: shown as stored, removable, skipped with a warning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.arxiv.feed_plan import subscription_categories
from bot.commands.dispatch import Context, dispatch
from bot.digest.matches import SubscriptionIndex
from bot.matching.query import parse_stored
from tests.conftest import GENERAL, command

OLD = "xx:video retrieval"  # as if stored before the grammar refused the field


def test_parse_stored_warns_once_per_call_and_returns_none(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.matching.query"):
        assert parse_stored(OLD) is None
    assert len(caplog.records) == 1 and OLD in caplog.text
    assert parse_stored("video retrieval") is not None


async def test_it_is_listed_skipped_by_matching_and_planning_and_untracked(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    await ctx.store.subscriptions.add(GENERAL, OLD, OLD, "alice", datetime(2026, 11, 1, tzinfo=UTC))
    assert OLD in (await dispatch(ctx, command("/tracked"))).text
    subs = await ctx.store.subscriptions.all()
    with caplog.at_level(logging.WARNING, logger="bot.matching.query"):
        assert len(SubscriptionIndex().sync(subs)) == 0
        assert subscription_categories(OLD) is None  # any feed may hold what it meant
    assert caplog.text.count(OLD) == 2
    reply = await dispatch(ctx, command("/untrack " + OLD))
    assert reply.text == f'Stopped tracking "{OLD}" in this channel.'
