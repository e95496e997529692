"""The Slack app manifest and the command prefix: the manifest, the bot and its replies agree.

`paperbot slack manifest` prints the manifest for the configuration; the file in the repository
is its output for the defaults. With `command_prefix = "pb-"` the bot listens to exactly the
commands the manifest declares, and its answers name them.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack import SlackAdapter
from adapters.slack.config import SlackConfig
from adapters.slack.manifest import cli_manifest, render
from adapters.slack.names import OWN_COMMANDS, UMBRELLA_COMMANDS, CommandNames
from bot.app import App
from bot.commands.dispatch import COMMANDS
from bot.config import Config, Secret, load_config
from bot.digest import compose as digest
from bot.digest import matches as channel_matches
from bot.models import ChannelRef, Platform, Post, Subscription
from tests.fakes.arxiv_server import load_sample
from tests.fakes.operator import paperbot
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, PAPERS, TEAM_ID, FakeSlack, running

MANIFEST = Path(__file__).resolve().parents[3] / "adapters" / "slack" / "manifest.yaml"


def configured(**env: str) -> Config:
    return load_config(None, environ={f"PAPERBOT_SLACK__{k.upper()}": v for k, v in env.items()})


def parsed(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def commands_of(manifest: dict[str, Any]) -> list[str]:
    return [c["command"] for c in manifest["features"]["slash_commands"]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


def test_the_manifest_file_is_the_output_for_the_default_configuration() -> None:
    assert MANIFEST.read_text(encoding="utf-8") == render(load_config(None, environ={}))
    manifest = parsed(MANIFEST.read_text(encoding="utf-8"))
    assert commands_of(manifest) == [*CommandNames().all]
    for command in manifest["features"]["slash_commands"]:
        assert all(isinstance(v, str | bool) for v in command.values()), command  # 2401.01234 is no float
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "users:read" not in manifest["oauth_config"]["scopes"]["bot"]


def test_every_command_name_runs_a_core_handler() -> None:
    assert set(OWN_COMMANDS) <= set(COMMANDS)
    assert set(UMBRELLA_COMMANDS) <= set(COMMANDS)


@pytest.mark.parametrize(
    ("managers", "extra"),
    [
        ("everyone", []),
        ("admins", ["users:read"]),
        ("U0ALICE,S0EDITORS", ["usergroups:read"]),
        ("admins,S0EDITORS", ["users:read", "usergroups:read"]),
    ],
)
def test_scopes_follow_who_may_change_a_channel(managers: str, extra: list[str]) -> None:
    scopes = parsed(render(configured(managers=managers)))["oauth_config"]["scopes"]["bot"]
    base = parsed(render(load_config(None, environ={})))["oauth_config"]["scopes"]["bot"]
    assert scopes == base + extra


def test_http_mode_needs_and_gets_the_request_url() -> None:
    config = configured(mode="http", command_prefix="pb-")
    out, err = io.StringIO(), io.StringIO()
    assert cli_manifest(config, None, out, err) == 2
    assert "--request-url https://your-host/slack/events" in err.getvalue() and not out.getvalue()
    assert cli_manifest(config, "http://insecure.example/slack/events", out, err) == 2
    url = "https://bot.example.org/slack/events"
    assert cli_manifest(config, url, out, io.StringIO()) == 0
    manifest = parsed(out.getvalue())
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["interactivity"]["request_url"] == url
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert {c["url"] for c in manifest["features"]["slash_commands"]} == {url}
    assert commands_of(manifest)[0] == "/pb-track"


async def test_paperbot_slack_manifest_prints_the_configured_names(tmp_path: Path) -> None:
    env = {"PAPERBOT_SLACK__COMMAND_PREFIX": "pb-", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    process = await paperbot("slack", "manifest", env=env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert err.decode() == ""
    assert commands_of(parsed(out.decode())) == [
        "/pb-track",
        "/pb-untrack",
        "/pb-tracked",
        "/pb-papers",
        "/pb-abstract",
        "/pb-bibtex",
        "/pb-trending",
        "/pb-digest",
        "/pb-paperbot",
    ]


async def test_with_a_prefix_the_bot_answers_the_manifest_commands_and_names_them(
    config: Config, fake: FakeSlack
) -> None:
    settings = SlackConfig(api_url=fake.api_url, command_prefix="pb-")
    config = config.with_section("slack", settings)
    adapter = SlackAdapter(Secret(BOT_TOKEN), Secret(APP_TOKEN), None, settings, posts_per_second=0)
    async with App(config, [adapter]):
        for command in commands_of(parsed(render(config))):
            _, rid = await fake.slash(command, "")
            assert (await fake.answer(rid))["text"], command
        _, rid = await fake.slash("/pb-paperbot", "help")
        help_text = (await fake.answer(rid))["text"]
        assert "/pb-track &lt;query&gt;" in help_text and "/pb-paperbot settings" in help_text
        assert "/track" not in help_text.replace("/pb-track", "")
        _, rid = await fake.slash("/pb-untrack", "never tracked")
        assert "/pb-tracked lists what it does" in (await fake.answer(rid))["text"]
        await fake.dm("hello")
        await fake.wait_for(lambda: bool(fake.messages))
        assert (
            "/pb-track &lt;topic&gt;" in fake.messages[0].text
            and "/pb-paperbot help" in fake.messages[0].text
        )


async def test_a_digest_footer_names_the_prefixed_command(config: Config, fake: FakeSlack) -> None:
    settings = SlackConfig(api_url=fake.api_url, command_prefix="pb-")
    adapter = SlackAdapter(Secret(BOT_TOKEN), Secret(APP_TOKEN), None, settings, posts_per_second=0)
    channel = ChannelRef(Platform.SLACK, TEAM_ID, PAPERS, "papers")
    tracked = Subscription(1, channel, "video retrieval", "video retrieval", "U1", datetime.now(UTC))
    papers = [(p, datetime.now(UTC)) for p in load_sample() if "video retrieval" in p.title.casefold()]
    # The core names the command in the footer as the adapter does: a digest of 1 with 5 more.
    planned = digest.plan(
        channel_matches.matches([tracked], papers[:6], {})[channel], 1, adapter.command_name
    )
    async with App(config.with_section("slack", settings), [adapter]):
        post = Post("arXiv digest for Fri 20 Nov 2026: 20 new papers", ("video retrieval: 20",))
        parent = await adapter.post_parent(channel, post, "d1.p")
        await adapter.post_reply(channel, parent, planned.footer, "d1.f")
    [footer] = fake.thread(PAPERS, parent)
    assert footer.text == "+5 more — /pb-papers video retrieval"
