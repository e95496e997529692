"""Slack as the core knows it: its section, secrets, `paperbot slack` tools and loggers.

Listed in adapters/registry.py. Cheap to import: slack-bolt is imported only when the adapter
is built or a tool runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from adapters.slack.config import SECRETS, SlackConfig, missing, wanted
from bot.platforms import PlatformSpec, add_tool

if TYPE_CHECKING:
    from bot.config import Config
    from bot.platforms import SubParsers
    from bot.ports import Adapter


def _create(config: Config) -> Adapter:
    from adapters.slack.adapter import SlackAdapter

    return SlackAdapter.from_config(config)


def _add_tools(sub: SubParsers, late_config: argparse.ArgumentParser) -> None:
    manifest = add_tool(
        sub,
        late_config,
        "slack",
        "manifest",
        _manifest,
        help="print the Slack app manifest for the configured command names, scopes and mode",
    )
    manifest.add_argument(
        "--request-url",
        metavar="URL",
        help="HTTP mode: the public https URL Slack sends requests to (e.g. https://host/slack/events)",
    )


def _manifest(config: Config, args: argparse.Namespace) -> int:
    from adapters.slack.manifest import cli_manifest

    return cli_manifest(config, args.request_url)


PLATFORM = PlatformSpec(
    name="slack",
    title="Slack",
    create=_create,
    section=SlackConfig,
    secrets=SECRETS,
    missing=missing,
    wanted=wanted,
    add_tools=_add_tools,
    loggers=("slack_sdk", "slack_bolt"),
)
