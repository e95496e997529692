"""The platform registry: a platform declared by its package is configured, checked and run by the core."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import config_values as v
from bot.cli import build_parser
from bot.config import (
    Config,
    Secrets,
    check_config,
    load_config,
    registered_platforms,
)
from bot.config_check import describe, secret_problems
from bot.config_values import setting
from bot.errors import ConfigError
from bot.platforms import PlatformSpec, create_adapters, missing_secrets
from tests.fakes.recording import RecordingAdapter

TOKEN = "ECHO_TOKEN"


@dataclass(frozen=True, slots=True)
class EchoConfig:
    room: str = setting("lobby", v.expect(str, "a room name"))
    port: int = setting(0, v.port)


def echo_missing(section: EchoConfig, secrets: Secrets) -> list[str]:
    return [] if secrets.get(TOKEN) else [TOKEN]


def echo_adapter(config: Config) -> Any:
    return RecordingAdapter(name=f"echo in {config.section('echo', EchoConfig).room}")


def echo_tools(sub: Any, late_config: Any) -> None:
    echo = sub.add_parser("echo", help="Echo tools")
    ping = echo.add_subparsers(dest="echo_command", required=True).add_parser("ping", parents=[late_config])
    ping.set_defaults(tool=lambda config, args: 0)


ECHO = PlatformSpec(
    name="echo",
    title="Echo",
    create=echo_adapter,
    section=EchoConfig,
    secrets=(TOKEN,),
    missing=echo_missing,
    add_tools=echo_tools,
    loggers=("echo_lib",),
)
PLATFORMS = (*registered_platforms(), ECHO)


def test_a_registered_platforms_section_comes_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[echo]\nroom = "papers"\n', encoding="utf-8")
    cfg = load_config(path, environ={"PAPERBOT_ECHO__PORT": "8080"}, platforms=PLATFORMS)
    assert cfg.section("echo", EchoConfig) == EchoConfig(room="papers", port=8080)
    shown = describe(cfg)
    assert '\n[echo]\nroom = "papers"\nport = 8080  # from PAPERBOT_ECHO__PORT\n' in shown
    assert "# ECHO_TOKEN: (not set)" in shown


def test_its_keys_are_validated_like_the_cores(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[echo]\nroom = 1\ncolour = 2\n", encoding="utf-8")
    _, errors = check_config(path, environ={"PAPERBOT_ECHO__PORT": "http"}, platforms=PLATFORMS)
    assert errors == [
        f"{path}: echo.room: 1 is not a room name",
        f"{path}: echo.colour: unknown key (known in [echo]: room, port)",
        'environment: PAPERBOT_ECHO__PORT: "http" is not a whole number',
    ]
    with pytest.raises(ConfigError, match=r"\[echo\]: unknown section"):
        load_config(path, environ={})  # a platform that is not registered has no section


def test_its_secrets_are_read_masked_and_start_it_in_auto_mode() -> None:
    env = {TOKEN: "echo-secret-value", "PAPERBOT_ECHO__ROOM": "papers"}
    cfg = load_config(None, environ=env, platforms=PLATFORMS)
    assert cfg.secrets.get(TOKEN) is not None and cfg.adapters() == ("echo",)
    shown = describe(cfg) + repr(cfg)
    assert "echo-secret-value" not in shown and "# ECHO_TOKEN: **********" in shown
    [adapter] = create_adapters(cfg)
    assert adapter.name == "echo in papers"
    _, errors = check_config(
        None, environ={**env, "PAPERBOT_ECHO__PORT": "echo-secret-value"}, platforms=PLATFORMS
    )
    assert errors == ['environment: PAPERBOT_ECHO__PORT: "**********" is not a whole number']


def test_what_it_misses_to_start_is_named() -> None:
    cfg = load_config(None, environ={"PAPERBOT_BOT__ADAPTER": "echo"}, platforms=PLATFORMS)
    assert missing_secrets(cfg, "echo") == [TOKEN]
    assert secret_problems(cfg)[0] == [
        "environment: PAPERBOT_BOT__ADAPTER: echo needs the environment variable(s) ECHO_TOKEN"
    ]
    with pytest.raises(ConfigError, match="the echo adapter needs the environment variable"):
        create_adapters(cfg)
    with pytest.raises(ConfigError, match="'irc' is not one of auto, console, slack, discord, echo"):
        load_config(None, environ={"PAPERBOT_BOT__ADAPTER": "irc"}, platforms=PLATFORMS)


def test_its_tools_join_the_command_line() -> None:
    args = build_parser(PLATFORMS).parse_args(["echo", "ping", "--config", "c.toml"])
    assert args.tool(Config(platforms=PLATFORMS), args) == 0
    assert "echo" in build_parser(PLATFORMS).parse_args(["run", "--adapter", "echo"]).adapter


def test_the_registry_and_the_command_line_import_no_platform_library() -> None:
    code = (
        "import sys, bot.cli, adapters.registry\n"
        "from bot.config import load_config\n"
        "load_config(None, environ={})\n"
        "bot.cli.build_parser(adapters.registry.PLATFORMS).format_help()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'slack_bolt', 'slack_sdk')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
