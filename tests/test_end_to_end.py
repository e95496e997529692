"""The user's story through the console: track, harvest a day from the fake arXiv, read the digest.

Plus `paperbot harvest` as a user runs it, against the same fake.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.app import App
from bot.arxiv.calendar import ARXIV_TZ
from bot.config import ArxivConfig, Config
from bot.models import Paper
from tests.fakes.arxiv_server import FakeArxiv, load_sample

PAPERS = load_sample()
DAY = date(2025, 10, 15)  # a Wednesday
HARVEST_AT = datetime.combine(DAY, time(0, 30), ARXIV_TZ)
BERLIN_NINE = datetime(2025, 10, 15, 7, 0, tzinfo=UTC)  # 09:00 in Berlin (summer time)


def off_topic(n: int) -> Paper:
    return replace(
        PAPERS[0],
        arxiv_id=f"2510.9{n:04d}",
        title=f"Semi-Supervised Graph Learning {n}",
        abstract="We study label propagation on graphs. It works well.",
    )


class Pipe:
    """A console input the test types into line by line, and an output it can wait on."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "r", encoding="utf-8")
        self.writer = os.fdopen(write_fd, "w", encoding="utf-8")
        self.out = io.StringIO()
        self._lock = threading.Lock()

    def type(self, line: str) -> None:
        self.writer.write(line + "\n")
        self.writer.flush()

    async def wait_for(self, text: str) -> str:
        async with asyncio.timeout(10):
            # The console writes to a plain text stream: there is no event to wait on, so poll.
            while text not in self.out.getvalue():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return self.out.getvalue()


async def test_track_harvest_and_the_digest_at_nine_in_the_channel_timezone(
    config: Config, arxiv_config: ArxivConfig, arxiv_server: FakeArxiv
) -> None:
    todays = PAPERS[:8] + [off_topic(i) for i in range(4)]
    arxiv_server.announce(todays, DAY)
    clock = [datetime(2025, 10, 14, 12, 0, tzinfo=UTC)]  # Tuesday: the user tracks a topic
    pipe = Pipe()
    console = ConsoleAdapter(pipe.reader, pipe.out, interactive=False, user="alice")
    cfg = replace(config, arxiv=replace(arxiv_config, categories=("cs",)))
    async with App(cfg, [console], clock=lambda: clock[0]) as app:
        pipe.type("/track video retrieval")
        pipe.type("/settings time 09:00 tz Europe/Berlin")
        await pipe.wait_for("Settings saved.")

        clock[0] = HARVEST_AT
        report = await app.jobs.harvest_job()
        assert report.status == "ok" and [(d.day, d.state) for d in report.days] == [(DAY, "complete")]
        # The day's matches get their comments and journal refs in one id_list request.
        [enrich] = [r for r in arxiv_server.requests if "id_list" in r.query]
        assert len(enrich.query["id_list"].split(",")) == 8

        clock[0] = BERLIN_NINE
        job = await app.jobs.delivery_job(console.channel)
        assert job is not None
        fire = app.scheduler.next_fire(job, datetime(2025, 10, 14, 12, tzinfo=UTC))
        assert fire == BERLIN_NINE
        await app.scheduler.run_now(job)
        out = await pipe.wait_for("arXiv digest for Wed 15 Oct 2025")

        # A second harvest of the same day finds nothing new to post.
        before = out.count("└")
        await app.harvester.harvest(HARVEST_AT, needed=[None], force=True)
        await app.scheduler.run_now(job)
        pipe.writer.close()
        await app.wait_until_stopped()
    pipe.reader.close()
    out = pipe.out.getvalue()
    digest = out[out.index("paperbot: arXiv digest") :]
    lines = digest.splitlines()
    assert lines[0].endswith("arXiv digest for Wed 15 Oct 2025: 8 new papers")
    thread = [line.split("└ ", 1)[1] for line in lines if "└ " in line]
    expected = {p.title for p in PAPERS[:8]}
    assert {t.rsplit(" <", 1)[0] for t in thread} == expected  # exactly the day's matching papers
    assert len(thread) == 8  # each once, all in the one thread
    assert out.count("└") == before == 8
    assert out.count("arXiv digest for") == 1


def test_paperbot_harvest_prints_a_line_per_request_and_a_summary(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    day = arxiv_server.publish_latest(PAPERS[:5])
    config = tmp_path / "config.toml"
    config.write_text(
        "[bot]\n"
        f'database = "{tmp_path / "bot.db"}"\n'
        "[arxiv]\n"
        f'api_url = "{arxiv_server.api_url}"\n'
        f'feed_url = "{arxiv_server.feed_url}"\n'
        'categories = ["cs.CV"]\n'
        "min_interval_s = 0.05\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "PAPERBOT_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "harvest", "--dry-run", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The feed on an announcement day; the API (by submission window) on a weekend or holiday.
    assert lines[0].startswith((f"GET {arxiv_server.feed_url}/atom/cs.CV ... 5 items", "GET "))
    assert any(line.startswith(f"{day:%a %d %b %Y}") and "5 new" in line for line in lines), lines
    assert lines[-1].startswith("harvest: 1 requests") and lines[-1].endswith("(dry run: nothing stored)")
