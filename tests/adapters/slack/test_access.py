"""Who may change a channel on Slack (`[slack] managers`), through the real slack-bolt and the fake Slack.

Everyone may by default; "admins" asks Slack's users.info; ids and user groups
(usergroups.users.list) name people. A refused change says who may; a lookup Slack does not
answer refuses and says so, and the database is unchanged either way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from adapters.slack.config import SlackConfig
from bot.app import App
from bot.config import Config, Secret
from bot.models import ChannelRef, Platform
from tests.fakes.slack_server import (
    ADA,
    ALICE,
    APP_TOKEN,
    BOB,
    BOT_TOKEN,
    EDITORS,
    OWEN,
    PAPERS,
    TEAM_ID,
    FakeSlack,
    running,
)

CHANNEL = ChannelRef(Platform.SLACK, TEAM_ID, PAPERS)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


def started(config: Config, fake: FakeSlack, managers: Any, prefix: str = "") -> App:
    settings = SlackConfig(api_url=fake.api_url, managers=managers, command_prefix=prefix)
    adapter = SlackAdapter(Secret(BOT_TOKEN), Secret(APP_TOKEN), None, settings, posts_per_second=0)
    return App(config.with_section("slack", settings), [adapter])


async def run(fake: FakeSlack, command: str, text: str, user: dict[str, str]) -> dict[str, Any]:
    _, rid = await fake.slash(command, text, user=user)
    return await fake.answer(rid)


async def tracked(app: App) -> list[str]:
    return [s.query for s in await app.store.subscriptions.for_channel(CHANNEL)]


async def test_by_default_everyone_may_change_a_channel(config: Config, fake: FakeSlack) -> None:
    async with started(config, fake, "everyone") as app:
        answer = await run(fake, "/track", "video retrieval", BOB)
        assert answer["text"].startswith("Now tracking")
        assert await tracked(app) == ["video retrieval"]
    assert not fake.calls_of("users.info")  # nothing to look up


async def test_admins_only_asks_slack_and_refuses_others_saying_who_may(
    config: Config, fake: FakeSlack
) -> None:
    async with started(config, fake, "admins") as app:
        refused = await run(fake, "/track", "video retrieval", ALICE)
        assert refused["response_type"] == "ephemeral"
        assert refused["text"] == "Only workspace admins and owners can use /track here. Ask one of them."
        assert await tracked(app) == []
        for person in (ADA, OWEN):
            answer = await run(fake, "/track", f"topic of {person['name']}", person)
            assert answer["text"].startswith("Now tracking"), person
        assert await tracked(app) == ["topic of ada", "topic of owen"]
        # Reading is for everyone, and so is showing the settings; changing them is not.
        assert "tracks 2 queries" in (await run(fake, "/tracked", "", ALICE))["text"]
        assert "Digest at" in (await run(fake, "/paperbot", "settings", ALICE))["text"]
        refused = await run(fake, "/paperbot", "settings pause", ALICE)
        assert refused["text"].startswith("Only workspace admins and owners can use /paperbot settings")
        assert "Only workspace admins" in (await run(fake, "/digest", "", ALICE))["text"]
        assert (
            "Only workspace admins" in (await run(fake, "/paperbot", "untrack topic of ada", ALICE))["text"]
        )
        assert await tracked(app) == ["topic of ada", "topic of owen"]
        assert not (await app.store.channels.settings(CHANNEL)).paused
    looked_up = [c.params["user"] for c in fake.calls_of("users.info")]
    assert sorted(set(looked_up)) == [ADA["id"], ALICE["id"], OWEN["id"]]
    assert looked_up.count(ALICE["id"]) == 1  # cached for a few minutes, not asked per command


async def test_named_people_and_user_groups_may_change(config: Config, fake: FakeSlack) -> None:
    async with started(config, fake, (ALICE["id"], EDITORS), prefix="pb-") as app:
        assert (await run(fake, "/pb-track", "video retrieval", ALICE))["text"].startswith("Now tracking")
        assert (await run(fake, "/pb-track", "graph learning", BOB))["text"].startswith("Now tracking")
        refused = await run(fake, "/pb-untrack", "video retrieval", ADA)  # an admin, but not named
        assert refused["text"] == (
            f"Only <@{ALICE['id']}> and members of <!subteam^{EDITORS}> can use /pb-untrack here. "
            "Ask one of them."
        )
        assert sorted(await tracked(app)) == ["graph learning", "video retrieval"]
    assert not fake.calls_of("users.info")
    assert [c.params["usergroup"] for c in fake.calls_of("usergroups.users.list")] == [EDITORS]  # cached


@pytest.mark.parametrize(
    ("method", "error", "fix"),
    [
        ("users.info", "missing_scope", "lacks the users:read scope"),
        ("users.info", "ratelimited", ""),
        ("usergroups.users.list", "no_such_subteam", "does not exist"),
        ("usergroups.users.list", "missing_scope", "lacks the usergroups:read scope"),
    ],
)
async def test_a_failing_lookup_refuses_says_why_and_logs_the_fix(
    config: Config, fake: FakeSlack, caplog: pytest.LogCaptureFixture, method: str, error: str, fix: str
) -> None:
    managers = "admins" if method == "users.info" else (EDITORS,)
    if error == "missing_scope":
        fake.scopes.clear()
    else:
        fake.fail(method, error)
    async with started(config, fake, managers) as app:
        with caplog.at_level(logging.WARNING, logger="adapters.slack.access"):
            answer = await run(fake, "/track", "video retrieval", ADA if managers == "admins" else BOB)
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith("I could not check whether you may use /track here")
        assert error in answer["text"]
        assert await tracked(app) == []
        # Slack answers again: the next try works (a failure is not cached).
        fake.scopes.update({"users:read", "usergroups:read"})
        fake.fail(method, None)
        if error == "no_such_subteam":
            return
        answer = await run(fake, "/track", "video retrieval", ADA if managers == "admins" else BOB)
        assert answer["text"].startswith("Now tracking")
    assert f"({method}: {error})" in caplog.text and fix in caplog.text


async def test_a_deleted_admin_is_not_an_admin(config: Config, fake: FakeSlack) -> None:
    fake.users[ADA["id"]]["deleted"] = True
    async with started(config, fake, "admins") as app:
        assert "Only workspace admins" in (await run(fake, "/track", "video retrieval", ADA))["text"]
        assert await tracked(app) == []
