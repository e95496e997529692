"""Slack's `[slack]` section, its secrets and what it needs to start: declared here, loaded by the core.

Every key is declared once with `setting(default, parser)`, as the core's sections are; the
environment overrides it as `PAPERBOT_SLACK__<KEY>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import config_values as v
from bot.config_values import setting

if TYPE_CHECKING:
    from bot.config import Config, Secrets

BOT_TOKEN = "SLACK_BOT_TOKEN"
APP_TOKEN = "SLACK_APP_TOKEN"  # Socket Mode
SIGNING_SECRET = "SLACK_SIGNING_SECRET"  # HTTP mode
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)

# Slack ids: U/W users (W on Enterprise Grid), S user groups.
_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
# Slack command names are lowercase without spaces, at most 32 characters with the slash; the
# longest paperbot command (`paperbot`, `untrack`, `abstract`) leaves room for 20.
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,19}$")


def parse_managers(value: Any) -> str | tuple[str, ...]:
    """`"everyone"`, `"admins"`, or a list of Slack user and user-group ids (and `"admins"`)."""
    if value in ("everyone", "admins"):
        return str(value)
    if isinstance(value, str) and _SLACK_ID.match(value):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(
            f'{value!r} is not "everyone", "admins" or a list of Slack user or user-group ids '
            '(e.g. ["U0123ABCD", "S0456EFGH"])'
        )
    ids = []
    for item in value:
        if item == "admins" or (isinstance(item, str) and _SLACK_ID.match(item)):
            ids.append(str(item))
        else:
            raise ValueError(
                f"{item!r} is not a Slack user id (U..., W...) or user-group id (S...); "
                "a profile's ⋮ menu has Copy member ID"
            )
    return tuple(dict.fromkeys(ids))


def parse_command_prefix(value: Any) -> str:
    text = v.expect(str, "a command prefix")(value)
    if text and not _PREFIX.match(text):
        raise ValueError(
            f"{text!r} is not a command prefix: lowercase letters, digits, - and _, at most 20 "
            'characters, e.g. "pb-" for /pb-track'
        )
    return str(text)


@dataclass(frozen=True, slots=True)
class SlackConfig:
    mode: str = setting("socket", v.one_of("socket", "http"))
    api_url: str = setting("https://slack.com/api/", v.url())
    http_host: str = setting("0.0.0.0", v.expect(str, "a host name or address"))
    http_port: int = setting(3000, v.port)
    http_path: str = setting("/slack/events", v.expect(str, "a URL path"))
    # "pb-" names the commands /pb-track, /pb-papers, ... where other apps use the plain names.
    command_prefix: str = setting("", parse_command_prefix)
    # Who may change what a channel tracks and its settings: "everyone", "admins", or ids.
    managers: str | tuple[str, ...] = setting("everyone", parse_managers, v.env_word_or_list)


def slack_config(config: Config) -> SlackConfig:
    """The `[slack]` section of `config`."""
    return config.section("slack", SlackConfig)


def missing(section: SlackConfig, secrets: Secrets) -> list[str]:
    """The bot token, and Socket Mode's app token or HTTP mode's signing secret, that are not set."""
    need = [BOT_TOKEN, APP_TOKEN if section.mode == "socket" else SIGNING_SECRET]
    return [name for name in need if secrets.get(name) is None]


def wanted(section: SlackConfig, secrets: Secrets) -> bool:
    """Auto mode starts Slack with a bot token and Socket Mode's app token, or in HTTP mode.

    HTTP mode without its signing secret is wanted all the same: the start says what is missing.
    """
    return secrets.get(BOT_TOKEN) is not None and (
        secrets.get(APP_TOKEN) is not None or section.mode == "http"
    )
