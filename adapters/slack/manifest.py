"""The Slack app manifest for the configured command names, scopes and mode.

`paperbot slack manifest` prints it; adapters/slack/manifest.yaml is its output for the default
configuration (a test keeps the two equal). The scopes follow the config: looking up admins
needs `users:read`, user groups `usergroups:read`. In HTTP mode Slack needs a request URL for
the commands, interactivity and events: `--request-url https://your-host/slack/events`.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

from adapters.slack.config import slack_config
from adapters.slack.names import CommandNames
from bot.config import Config

# Core command -> (description, usage hint) as Slack shows them in its command menu.
DESCRIPTIONS = {
    "track": ("Follow an arXiv topic in this channel", "video retrieval"),
    "untrack": ("Stop following a topic", "video retrieval"),
    "tracked": ("What this channel follows, and when its digest comes", ""),
    "papers": ("The latest papers matching a query", "video retrieval 10"),
    "abstract": ("A paper's abstract, by arXiv id or link", "2401.01234"),
    "bibtex": ("A paper's BibTeX entry, as arXiv gives it", "2401.01234"),
    "trending": ("Today's most upvoted papers on Hugging Face", "10"),
    "digest": ("Post what is pending for this channel now", ""),
    "paperbot": ("Help, and this channel's digest settings", "settings time 08:30 tz Europe/Berlin max 15"),
}
BASE_SCOPES = (
    "commands",
    "chat:write",
    "channels:read",
    "groups:read",
    # Reading a digest's thread back (message metadata) after a crash, so nothing is posted twice.
    "channels:history",
    "groups:history",
    "im:history",
    "im:read",
    "im:write",
    # 👍 / 👎 on digest cards teach the channel's digest (reaction_added / reaction_removed).
    "reactions:read",
)

HEADER = """\
# paperbot's Slack app manifest, as `paperbot slack manifest` prints it for a configuration
# (command prefix, who may change a channel, Socket Mode or HTTP mode). The copy in
# adapters/slack/manifest.yaml is for the default configuration. Create the app from it at
# https://api.slack.com/apps ("Create New App" -> "From an app manifest"), then install it.
"""

# Plain (unquoted) YAML scalars: no leading digit (numbers), no `: ` or ` #` (keys, comments).
_PLAIN = re.compile(r"^[A-Za-z/][A-Za-z0-9 /.,:'()_+-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"})


def scopes(config: Config) -> list[str]:
    """The bot scopes paperbot needs with this config."""
    managers = slack_config(config).managers
    extra = []
    if managers == "admins" or (isinstance(managers, tuple) and "admins" in managers):
        extra.append("users:read")
    if isinstance(managers, tuple) and any(m.startswith("S") for m in managers):
        extra.append("usergroups:read")
    return [*BASE_SCOPES, *extra]


def build(config: Config, request_url: str | None = None) -> dict[str, Any]:
    """The manifest as data; with `request_url`, for HTTP mode (Socket Mode off)."""
    names = CommandNames(slack_config(config).command_prefix)
    commands = []
    for slash in names.all:
        core = names.own.get(slash, "paperbot")
        description, hint = DESCRIPTIONS[core]
        command: dict[str, Any] = {"command": slash}
        if request_url:
            command["url"] = request_url
        command["description"] = description
        if hint:
            command["usage_hint"] = hint
        command["should_escape"] = False
        commands.append(command)
    events: dict[str, Any] = {"bot_events": ["message.im", "reaction_added", "reaction_removed"]}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if request_url:
        events = {"request_url": request_url, **events}
        interactivity["request_url"] = request_url
    return {
        "display_information": {
            "name": "paperbot",
            "description": "arXiv paper alerts for your channels",
            "background_color": "#b31b1b",
        },
        "features": {
            "bot_user": {"display_name": "paperbot", "always_online": True},
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": scopes(config)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": not request_url,
            "token_rotation_enabled": False,
        },
    }


def to_yaml(data: dict[str, Any], indent: int = 0) -> str:
    """The small YAML subset a manifest needs: mappings, lists, strings and booleans."""
    pad = " " * indent
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:\n{to_yaml(value, indent + 2)}")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, dict):
                    first, *rest = to_yaml(item, indent + 4).splitlines()
                    lines.append(f"{pad}  - {first.strip()}")
                    lines.extend(rest)
                else:
                    lines.append(f"{pad}  - {_scalar(item)}")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "\n".join(lines)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _PLAIN.match(text) and ": " not in text and not text.endswith(":") and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def render(config: Config, request_url: str | None = None) -> str:
    """The manifest file's text."""
    return HEADER + to_yaml(build(config, request_url)) + "\n"


def cli_manifest(
    config: Config, request_url: str | None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`paperbot slack manifest`: print the manifest; 2 when HTTP mode lacks its request URL."""
    out, err = out or sys.stdout, err or sys.stderr
    if slack_config(config).mode == "http" and not request_url:
        print(
            "paperbot: slack.mode is http: pass --request-url https://your-host"
            f"{slack_config(config).http_path} (where Slack reaches paperbot)",
            file=err,
        )
        return 2
    if request_url is not None and not re.match(r"^https://[^\s/]+", request_url):
        print(
            f"paperbot: --request-url: {request_url!r} is not an https:// URL (Slack requires https)",
            file=err,
        )
        return 2
    out.write(render(config, request_url))
    return 0
