"""Starting and stopping the Discord adapter, bad tokens, the invite URL, and the endpoint canary."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.config import DiscordConfig
from adapters.discord.endpoints import DEFAULT_API_URL, DEFAULT_GATEWAY_URL, redirect
from adapters.discord.invite import cli_invite_url, invite_url
from bot.app import App
from bot.config import Config, Secret, Secrets
from bot.errors import ConfigError, PlatformAuthError
from bot.models import ChannelRef, Command, DirectMessage, Reply
from tests.fakes.discord_server import APP_ID, BOT_ROLE_PERMISSIONS, GUILD_ID, TOKEN, FakeDiscord, running


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running() as server:
        yield server


def adapter_for(fake: FakeDiscord, token: str = TOKEN) -> DiscordAdapter:
    settings = DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url)
    return DiscordAdapter(Secret(token), settings, guild_ready_timeout=0.05)


def test_discord_py_still_has_the_two_attributes_paperbot_redirects() -> None:
    """Canary: if discord.py moves these, the adapter silently talks to the real Discord in tests."""
    import discord.gateway  # after adapters.discord, which silences discord.py's audioop warning
    import discord.http

    assert discord.http.Route.BASE == DEFAULT_API_URL
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == DEFAULT_GATEWAY_URL
    assert discord.http.Route("GET", "/users/@me").url == DEFAULT_API_URL + "/users/@me"

    undo = redirect("http://127.0.0.1:1/api/v10/", "ws://127.0.0.1:1/gateway")
    try:
        assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:1/api/v10/users/@me"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gateway"
    finally:
        undo()
    assert discord.http.Route.BASE == DEFAULT_API_URL


async def test_an_invalid_token_stops_start_with_a_clear_message(config: Config, fake: FakeDiscord) -> None:
    adapter = adapter_for(fake, token="not-the-token")
    with pytest.raises(PlatformAuthError, match="DISCORD_TOKEN"):
        async with App(config, [adapter]):
            pass
    assert [r.path for r in fake.requests] == ["/users/@me"]  # nothing else was attempted
    await adapter.stop()  # safe again after a failed start


async def test_a_token_the_gateway_rejects_stops_start_too(fake: FakeDiscord) -> None:
    adapter = adapter_for(fake)
    fake.token_for_gateway = "another-token"  # REST accepts ours, the gateway closes with 4004
    with pytest.raises(PlatformAuthError, match="gateway rejected DISCORD_TOKEN"):
        await adapter.start(NoInbox())
    assert fake.identify is not None


async def test_start_and_stop_leave_nothing_behind(fake: FakeDiscord) -> None:
    adapter = adapter_for(fake)
    assert not adapter.connected
    await adapter.start(NoInbox())
    assert adapter.client.is_ready() and adapter.connected  # what /healthz reports
    import discord.http

    assert fake.api_url == discord.http.Route.BASE
    await adapter.stop()
    await adapter.stop()  # idempotent
    assert not adapter.connected
    assert discord.http.Route.BASE == DEFAULT_API_URL  # the redirect is undone
    await fake.wait_until(lambda: not fake.connected)


async def test_a_dev_guild_the_bot_cannot_register_commands_in_is_a_config_error(fake: FakeDiscord) -> None:
    settings = DiscordConfig(api_url=fake.api_url, gateway_url=fake.gateway_url, dev_guild_id=GUILD_ID)
    adapter = DiscordAdapter(Secret(TOKEN), settings, guild_ready_timeout=0.05)
    fake.fail_next("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands", 403, 50001, "Missing Access")
    with pytest.raises(ConfigError, match=r"discord.dev_guild_id: .*applications.commands"):
        await adapter.start(NoInbox())
    await fake.wait_until(lambda: not fake.connected)  # the failed start closed the gateway


async def test_a_token_revoked_while_running_shuts_the_bot_down(fake: FakeDiscord) -> None:
    adapter, inbox = adapter_for(fake), NoInbox()
    await adapter.start(inbox)
    try:
        await fake.close_gateway(4004)
        async with asyncio.timeout(5):
            await inbox.stop_requested.wait()
        assert not adapter.connected
    finally:
        await adapter.stop()


def test_from_config_needs_the_token_and_a_real_permission_name(config: Config) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        DiscordAdapter.from_config(config)
    with_token = replace(config, secrets=Secrets({"DISCORD_TOKEN": Secret("t")}))
    assert DiscordAdapter.from_config(with_token).settings == config.section("discord")
    with pytest.raises(ConfigError, match="manage_chanels"):
        DiscordAdapter.from_config(
            with_token.with_section("discord", DiscordConfig(manage_permission="manage_chanels"))
        )


def test_the_invite_url_asks_for_exactly_the_permissions_used() -> None:
    url = urlsplit(invite_url(APP_ID))
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    query = parse_qs(url.query)
    assert query["client_id"] == [str(APP_ID)]
    assert query["scope"] == ["bot applications.commands"]
    # View Channel, Send Messages, Send Messages in Threads, Create Public Threads, Embed Links,
    # Read Message History: bits 10, 11, 38, 35, 14, 16.
    expected = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 35) | (1 << 14) | (1 << 16)
    assert query["permissions"] == [str(expected)] == [str(BOT_ROLE_PERMISSIONS)]


async def test_paperbot_discord_invite_url(config: Config, fake: FakeDiscord) -> None:
    settings = DiscordConfig(api_url=fake.api_url)
    good = replace(
        config.with_section("discord", settings), secrets=Secrets({"DISCORD_TOKEN": Secret(TOKEN)})
    )
    bad = replace(good, secrets=Secrets({"DISCORD_TOKEN": Secret("wrong")}))
    missing = replace(good, secrets=Secrets())
    results = []
    for cfg in (good, bad, missing):
        out, err = io.StringIO(), io.StringIO()
        # The CLI runs its own event loop; the fake serves from this one meanwhile.
        code = await asyncio.to_thread(cli_invite_url, cfg, out, err)
        results.append((code, out.getvalue(), err.getvalue()))
    (ok, printed, _), (rejected, _, why), (absent, _, unset) = results
    assert ok == 0 and printed.strip() == invite_url(APP_ID)
    assert rejected == 2 and "rejected the bot token" in why and "DISCORD_TOKEN" in why
    assert absent == 2 and "--client-id" in unset and "DISCORD_TOKEN" in unset
    assert fake.requests_to("GET", "/oauth2/applications/@me")


class NoInbox:
    async def command(self, cmd: Command) -> Reply:
        raise AssertionError("no commands expected")

    async def direct_message(self, dm: DirectMessage) -> Reply:
        raise AssertionError("no DMs expected")

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return []

    def __init__(self) -> None:
        self.stop_requested = asyncio.Event()

    def request_stop(self) -> None:
        self.stop_requested.set()
