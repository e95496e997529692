"""The core names commands in its text as the adapter does: `/settings`, or `/paperbot settings`."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.console import ConsoleAdapter
from adapters.slack import SlackAdapter
from adapters.slack.config import SlackConfig
from bot.app import App
from bot.commands.dispatch import COMMANDS, HELP_TEXT, help_text
from bot.commands.lookups import dm_help
from bot.config import Config, Secret
from bot.models import ChannelRef, DirectMessage, Platform, UserRef
from bot.ports import slash
from tests.conftest import command
from tests.fakes.recording import RecordingAdapter


def slack(prefix: str = "") -> SlackAdapter:
    return SlackAdapter(Secret("xoxb-1"), Secret("xapp-1"), None, SlackConfig(command_prefix=prefix))


def test_each_adapter_names_the_core_commands() -> None:
    assert [slash("settings"), ConsoleAdapter.from_stdio().command_name("settings")] == ["/settings"] * 2
    assert slack().command_name("settings") == "/paperbot settings"
    assert slack().command_name("track") == "/track"
    assert slack("pb-").command_name("help") == "/pb-paperbot help"
    assert slack("pb-").command_name("papers") == "/pb-papers"


def test_the_help_text_names_every_command_through_the_naming_function() -> None:
    assert help_text() == HELP_TEXT and "/settings             show" in HELP_TEXT
    shouted = help_text(lambda name: f"!{name.upper()}")
    for name in COMMANDS:
        assert f"!{name.upper()}" in shouted and f"/{name}" not in shouted
    on_slack = help_text(slack("pb-").command_name)
    assert "/pb-track <query>" in on_slack and "/pb-paperbot settings             show" in on_slack


@dataclass
class Shouting(RecordingAdapter):
    """A platform whose commands are typed `!TRACK`."""

    name: str = Platform.CONSOLE

    def command_name(self, command: str) -> str:
        return f"!{command.upper()}"


async def test_replies_and_dms_use_the_naming_of_the_platform_they_came_from(config: Config) -> None:
    async with App(config, [Shouting()]) as app:
        helped = await app.command(command("/help"))
        assert helped.text == help_text(Shouting().command_name)
        unknown = await app.command(command("/nope"))
        assert unknown.text == 'Unknown command "/nope". Type !HELP for the list.'
        usage = await app.command(command("/track"))
        assert usage.text == "Usage: !TRACK <query>, e.g. !TRACK video retrieval"
        dm = await app.direct_message(DirectMessage(UserRef(Platform.CONSOLE, "alice"), ""))
        assert dm.text == dm_help(Shouting().command_name) and "!TRACK <topic>" in dm.text
        elsewhere = await app.command(command("/help", channel=ChannelRef(Platform.SLACK, "T1", "C1")))
        assert elsewhere.text == HELP_TEXT  # no Slack adapter running: the plain names
