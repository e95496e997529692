"""The user's story on Discord, as an operator runs it: `paperbot run --adapter discord` in a process.

The fake Discord and the fake arXiv run in this test; paperbot runs as a user runs it, with the
token in the environment and a config.toml pointing it at both fakes. A reading group tracks a
topic, the bot is stopped and the day's announcements are harvested by `paperbot harvest` against
the same database (one paperbot process per database at a time), the bot starts again, `/digest`
posts one parent, one thread and one embed per matching paper, and a DM of an arXiv id gets the
abstract back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.discord.render import escape
from bot.textcut import shorten
from tests.fakes.arxiv_server import FakeArxiv, load_sample
from tests.fakes.discord_server import ALICE, PAPERS_ID, TOKEN, FakeDiscord, running
from tests.fakes.operator import environment, not_due_today, off_topic, paperbot, stopped, write_config

PAPERS = load_sample()
MATCHING = PAPERS[:8]  # video retrieval papers
OFF_TOPIC = off_topic(PAPERS[0])


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running() as server:
        yield server


def config_for(tmp_path: Path, fake: FakeDiscord, arxiv: FakeArxiv) -> Path:
    return write_config(
        tmp_path,
        arxiv,
        f'[discord]\napi_url = "{fake.api_url}"\ngateway_url = "{fake.gateway_url}"\n',
    )


def env_for(config: Path) -> dict[str, str]:
    return environment(config, DISCORD_TOKEN=TOKEN)


async def test_track_harvest_digest_and_a_dm_against_paperbot_run(
    tmp_path: Path, fake: FakeDiscord, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.publish_latest(OFF_TOPIC + MATCHING)  # whatever day of the week the test runs
    env = env_for(config_for(tmp_path, fake, arxiv_server))
    bot = await paperbot("run", "--adapter", "discord", env=env)

    def syncs() -> list[object]:
        return [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]

    try:
        # Importing discord.py and connecting takes a few seconds on a small machine.
        await fake.wait_until(lambda: fake.connected and len(syncs()) == 1, within=60)
        tracked = await fake.command("track", query="video retrieval")
        assert tracked.text.startswith('Now tracking "video retrieval"'), tracked.text
        timed = await fake.command("settings", args=f"time {not_due_today()}")
        assert timed.text.startswith("Settings saved."), timed.text
    finally:
        first_log = await stopped(bot)
    assert bot.returncode == 0, first_log

    harvest = await paperbot("harvest", env=env)
    out, err = await asyncio.wait_for(harvest.communicate(), 60)
    assert harvest.returncode == 0, err.decode()
    assert "GET" in out.decode()

    bot = await paperbot("run", "--adapter", "discord", env=env)
    try:
        # Ready again once it has synced its commands a second time.
        await fake.wait_until(lambda: fake.connected and len(syncs()) == 2, within=60)
        digest = await fake.command("digest")
        assert digest.text == "Posted a digest with 8 papers.", digest.text

        [parent] = fake.messages(PAPERS_ID)
        assert parent["content"].startswith("arXiv digest for")
        [thread] = fake.threads(PAPERS_ID)
        assert thread.id == int(parent["id"])
        embeds = [e for m in thread.messages for e in m["embeds"]]
        assert all(len(m["embeds"]) == 1 for m in thread.messages)
        assert sorted(e["url"] for e in embeds) == sorted(p.abs_url for p in MATCHING)

        paper = MATCHING[0]
        dm = await fake.dm(ALICE, f"https://arxiv.org/abs/{paper.arxiv_id}")
        await fake.wait_until(lambda: len(dm.messages) >= 2, within=30)
        [abstract] = dm.messages[1]["embeds"]
        assert abstract["title"] == shorten(escape(paper.title), 256)
        assert abstract["url"] == paper.abs_url
    finally:
        log = await stopped(bot)
    assert bot.returncode == 0, log
    assert "Traceback" not in log + first_log and TOKEN not in log + first_log
    assert "voice" not in (log + first_log).lower(), log  # discord.py's PyNaCl/davey warnings are silenced


async def test_paperbot_run_with_a_bad_token_exits_2_with_a_clear_message(
    tmp_path: Path, fake: FakeDiscord, arxiv_server: FakeArxiv
) -> None:
    env = {**env_for(config_for(tmp_path, fake, arxiv_server)), "DISCORD_TOKEN": "revoked-token"}
    bot = await paperbot("run", "--adapter", "discord", env=env)
    _, stderr = await asyncio.wait_for(bot.communicate(), 60)
    log = stderr.decode()
    assert bot.returncode == 2, log
    assert "Discord rejected DISCORD_TOKEN" in log and "Traceback" not in log and "revoked-token" not in log
