"""Slack or Discord out of reach at start: one clear line, exit code 2, no traceback.

`paperbot run` as an operator runs it, in a process, pointed at an address where nothing listens
(a machine without network gets "name resolution failed; is this machine online?" instead).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bot.errors import PlatformUnreachable
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.operator import environment, paperbot, write_config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("adapter", "section", "secrets"),
    [
        ("discord", '[discord]\napi_url = "{url}/api/v10"\n', {"DISCORD_TOKEN": "MTIz.fake.token"}),
        (
            "slack",
            '[slack]\napi_url = "{url}/api/"\n',
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"},
        ),
    ],
)
async def test_a_platform_out_of_reach_at_start_is_one_line_and_exit_2(
    tmp_path: Path, arxiv_server: FakeArxiv, adapter: str, section: str, secrets: dict[str, str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, arxiv_server, section.format(url=url))
    bot = await paperbot("run", "--adapter", adapter, env=environment(config, **secrets))
    _, stderr = await asyncio.wait_for(bot.communicate(), 60)
    log = stderr.decode()
    assert bot.returncode == 2, log
    assert "Traceback" not in log
    [line] = [line for line in log.splitlines() if "cannot reach" in line]
    name = adapter.capitalize()
    assert (
        line
        == f"paperbot: cannot reach {name} at {url}/api{'/v10' if adapter == 'discord' else '/'}: "
        + ("connection refused; is the address right, and the service up?")
    )
    assert not any(secret in log for secret in secrets.values())
    assert arxiv_server.requests == []  # nothing was started, so nothing asked arXiv


def test_no_network_reads_as_such() -> None:
    err = PlatformUnreachable.because("Discord", "https://discord.com/api/v10", OSError("x"))
    assert str(err) == "cannot reach Discord at https://discord.com/api/v10: x"
    try:
        socket.getaddrinfo("discord.com", 443)
    except OSError as exc:
        err = PlatformUnreachable.because("Discord", "https://discord.com/api/v10", exc)
    assert str(err).endswith("name resolution failed; is this machine online?")
