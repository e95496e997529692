"""The user's story on Slack, as an operator runs it: `paperbot run --adapter slack` in a process.

The fake Slack and the fake arXiv run in this test; paperbot runs as a user runs it, with the two
tokens in the environment and a config.toml pointing it at both fakes. A reading group tracks a
topic over Socket Mode, the bot is stopped and the day's announcements are harvested by `paperbot
harvest` against the same database (one paperbot process per database at a time), the bot starts
again, `/digest` posts one parent and one threaded reply per matching paper, and a DM of an arXiv
id gets the abstract back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.arxiv_server import FakeArxiv, load_sample
from tests.fakes.operator import environment, not_due_today, off_topic, paperbot, stopped, write_config
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, PAPERS, FakeSlack, running

PAPERS_SAMPLE = load_sample()
MATCHING = PAPERS_SAMPLE[:3]  # video retrieval papers (few: Slack paces a channel to ~1 message/s)
OFF_TOPIC = off_topic(PAPERS_SAMPLE[0])


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


def config_for(tmp_path: Path, fake: FakeSlack, arxiv: FakeArxiv) -> Path:
    return write_config(
        tmp_path,
        arxiv,
        f'[slack]\napi_url = "{fake.api_url}"\n',
    )


def env_for(config: Path) -> dict[str, str]:
    return environment(config, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)


async def test_track_harvest_digest_and_a_dm_against_paperbot_run(
    tmp_path: Path, fake: FakeSlack, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.publish_latest(OFF_TOPIC + MATCHING)  # whatever day of the week the test runs
    env = env_for(config_for(tmp_path, fake, arxiv_server))
    bot = await paperbot("run", "--adapter", "slack", env=env)
    try:
        await fake.wait_connected(within=60)  # importing slack-bolt and connecting takes a moment

        ack, rid = await fake.slash("/track", "video retrieval")
        assert ack.seconds < 3
        tracked = await fake.answer(rid, within=30)
        assert tracked["text"].startswith('Now tracking "video retrieval"'), tracked
        assert tracked["response_type"] == "in_channel"
        _, rid = await fake.slash("/paperbot", f"settings time {not_due_today()}")
        assert (await fake.answer(rid, within=30))["text"].startswith("Settings saved."), fake.responses[rid]
    finally:
        first_log = await stopped(bot)
    assert bot.returncode == 0, first_log

    # One paperbot process per database: the harvest runs while the bot is stopped.
    harvest = await paperbot("harvest", env=env)
    out, err = await asyncio.wait_for(harvest.communicate(), 60)
    assert harvest.returncode == 0, err.decode()
    assert "GET" in out.decode()

    bot = await paperbot("run", "--adapter", "slack", env=env)
    try:
        await fake.wait_connected(within=60)
        _, rid = await fake.slash("/digest")
        answer = await fake.answer(rid, within=60)
        assert answer["text"] == "Posted a digest with 3 papers.", answer

        [parent] = fake.top_level(PAPERS)
        assert parent.text.startswith("arXiv digest for")
        replies = fake.thread(PAPERS, parent.ts)
        assert sorted(r.text.rsplit(" ", 1)[1] for r in replies) == sorted(p.abs_url for p in MATCHING)

        paper = MATCHING[0]
        await fake.dm(f"https://arxiv.org/abs/{paper.arxiv_id}")
        await fake.wait_for(lambda: any(m.channel.startswith("D") for m in fake.messages), within=30)
        [abstract] = [m for m in fake.messages if m.channel.startswith("D")]
        assert abstract.text == f"{paper.title} ({paper.arxiv_id})"
    finally:
        log = await stopped(bot)
    assert bot.returncode == 0, log
    for text in (first_log, log):
        assert "Traceback" not in text and BOT_TOKEN not in text and APP_TOKEN not in text
        assert "WARNING" not in text and "ERROR" not in text, text


async def test_paperbot_run_with_a_revoked_token_exits_2_with_a_clear_message(
    tmp_path: Path, fake: FakeSlack, arxiv_server: FakeArxiv
) -> None:
    env = {**env_for(config_for(tmp_path, fake, arxiv_server)), "SLACK_BOT_TOKEN": "xoxb-revoked"}
    bot = await paperbot("run", "--adapter", "slack", env=env)
    _, stderr = await asyncio.wait_for(bot.communicate(), 60)
    log = stderr.decode()
    assert bot.returncode == 2, log
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in log
    assert "Traceback" not in log and "xoxb-revoked" not in log
