"""Running paperbot as an operator does, for the platforms' end-to-end tests.

`paperbot` runs the real CLI in a subprocess; `write_config` writes the config.toml that points
it at the fake arXiv (and, through `platform_section`, at a fake Slack or Discord); the
environment carries only the secrets the test gives it, never the developer's own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Paper
from tests.fakes.arxiv_server import FakeArxiv


def off_topic(sample: Paper, n: int = 4) -> list[Paper]:
    """Papers of the same day that no 'video retrieval' query matches."""
    return [
        replace(
            sample,
            arxiv_id=f"2510.9{i:04d}",
            title=f"Semi-Supervised Graph Learning {i}",
            abstract="We study label propagation on graphs. It works well.",
        )
        for i in range(n)
    ]


def write_config(tmp_path: Path, arxiv: FakeArxiv, platform_section: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        "[bot]\n"
        f'database = "{tmp_path / "bot.db"}"\n'
        "[arxiv]\n"
        f'api_url = "{arxiv.api_url}"\n'
        f'feed_url = "{arxiv.feed_url}"\n'
        'categories = ["cs"]\n'
        "min_interval_s = 0.05\n"
        "timeout_s = 2\n"
        "max_retries = 1\n"
        "[huggingface]\n"
        'api_url = "http://127.0.0.1:9/api/daily_papers"\n' + platform_section,
        encoding="utf-8",
    )
    return config


def environment(config: Path, **secrets: str) -> dict[str, str]:
    """This process's environment without any platform or paperbot setting, plus `secrets`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "PAPERBOT_"))}
    return {**env, **secrets, "PAPERBOT_CONFIG": str(config)}


async def paperbot(*args: str, env: dict[str, str], typed: bool = False) -> asyncio.subprocess.Process:
    """`paperbot <args>` in a subprocess, its output piped (and its input, when `typed`)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if typed else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stopped(bot: asyncio.subprocess.Process) -> str:
    """Stop a running `paperbot run` as an operator does (SIGTERM); its stderr."""
    if bot.returncode is None:
        bot.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(bot.communicate(), 60)
    return stderr.decode()


def not_due_today() -> str:
    """A digest time twelve hours away: a restart in the test never finds the digest overdue."""
    return (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
