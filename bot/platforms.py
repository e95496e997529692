"""What the core knows of a chat platform: the descriptor each adapter package declares.

The core names no platform. `adapters/registry.py` lists one `PlatformSpec` per adapter package;
from it the configuration loads the platform's `[section]` and secrets, `paperbot config check`
says what is missing, the CLI adds the platform's tools and quiets its libraries' loggers, and
the app builds the adapters. A descriptor is cheap to import: `create` and the CLI tools import
the platform's library only when called.
"""

from __future__ import annotations

import argparse
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Config, Secrets
    from bot.ports import Adapter

    # What a platform's `add_tools` adds its `paperbot <platform> ACTION` subcommands to.
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _nothing_missing(section: Any, secrets: Secrets) -> list[str]:
    return []


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """A chat platform as its adapter package declares it."""

    name: str  # `bot.adapter = "<name>"`, `run --adapter <name>`, its `[<name>]` section
    title: str  # in messages: "Slack tokens are set but not ..."
    create: Callable[[Config], Adapter]  # builds the adapter; imports the platform's library
    section: type | None = None  # its `[name]` settings, a frozen dataclass declared with `setting()`
    secrets: tuple[str, ...] = ()  # the environment variables its tokens come from
    # The secrets missing to start, given its section and the secrets set.
    missing: Callable[[Any, Secrets], list[str]] = _nothing_missing
    # With `bot.adapter = "auto"`: whether the secrets set ask for this platform (default: none missing).
    wanted: Callable[[Any, Secrets], bool] | None = None
    default: bool = False  # started when no platform is wanted (the console)
    # Adds `paperbot <name> ...` subcommands: (the CLI's subparsers, the parent parser of `--config`).
    add_tools: Callable[[SubParsers, argparse.ArgumentParser], None] | None = None
    loggers: tuple[str, ...] = ()  # its libraries' loggers, chatty at INFO: shown from WARNING


# Each platform's `paperbot <platform>` parser and its subcommands, as `add_tool` made them.
_ACTIONS: weakref.WeakKeyDictionary[argparse.ArgumentParser, Any] = weakref.WeakKeyDictionary()


def add_tool(
    sub: SubParsers,
    late_config: argparse.ArgumentParser,
    platform: str,
    action: str,
    run: Callable[[Config, argparse.Namespace], int],
    help: str,  # argparse's own word
) -> argparse.ArgumentParser:
    """`paperbot <platform> <action>`, running `run(config, args)`; returns its parser for its options."""
    group = sub.choices.get(platform)
    if group is None:
        group = sub.add_parser(platform, help=f"{platform.capitalize()} tools")
        _ACTIONS[group] = group.add_subparsers(dest=f"{platform}_command", metavar="ACTION", required=True)
    tool: argparse.ArgumentParser = _ACTIONS[group].add_parser(action, parents=[late_config], help=help)
    tool.set_defaults(tool=run)
    return tool


def missing_secrets(cfg: Config, name: str) -> list[str]:
    """The environment variables the platform `name` needs that are not set."""
    spec = cfg.platform_spec(name)
    return spec.missing(cfg.platform_section(name), cfg.secrets)


def wanted(cfg: Config, spec: PlatformSpec) -> bool:
    """Whether, in auto mode, the secrets set ask for `spec`'s platform."""
    section = cfg.platform_section(spec.name)
    if spec.wanted is not None:
        return spec.wanted(section, cfg.secrets)
    return bool(spec.secrets) and not spec.missing(section, cfg.secrets)


def create_adapters(config: Config, only: str | None = None) -> list[Adapter]:
    """The adapters to run: `only` if given, else what the config selects."""
    names = (only,) if only else config.adapters()
    known = [spec.name for spec in config.platforms]
    adapters: list[Adapter] = []
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown adapter {name!r} (use {', '.join(known)})")
        missing = missing_secrets(config, name)
        if missing:
            raise ConfigError(
                f"the {name} adapter needs the environment variable(s) {', '.join(missing)}; "
                "see the README's setup section"
            )
        adapters.append(config.platform_spec(name).create(config))
    return adapters
