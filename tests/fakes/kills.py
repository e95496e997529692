"""Killing `paperbot run` with SIGKILL in the middle of delivering digests, and counting what users see.

A database is prepared with channels that each track one topic and have its papers waiting (some
capped, so their digest ends with a "+N more" footer). `paperbot run` starts against a fake Slack
or Discord, delivers in its start-up catch-up, and is killed at random points: as a message is
about to reach the platform, just after the platform stored it (before paperbot hears back), or
at a random moment between messages (a ledger write, a read-back). It restarts each time, until
every digest is complete; then each channel is checked for exactly one header, each card exactly
once, the footer where the digest was capped, and nothing missing.

Used by tests/test_kill.py (a handful of kills) and benchmarks/bench_faults.py (a hundred).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from bot.models import ChannelRef, Paper, Platform
from storage import Store
from tests.fakes import discord_server, slack_server
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.operator import environment, write_config

TOPICS = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
)  # fmt: skip


@dataclass(frozen=True)
class Expected:
    """What one channel's digest must hold once complete."""

    channel_id: str
    urls: frozenset[str]  # the cards shown (the top of the ranking, up to the cap)
    footer: str  # "+N more" start of the footer, or "" when nothing was capped


@dataclass
class Seen:
    """What one channel holds on the platform."""

    parents: int = 0
    cards: Counter[str] = field(default_factory=Counter)
    footers: int = 0


@dataclass
class Report:
    platform: str
    kills: int = 0
    channels: int = 0
    cards: int = 0
    lost: int = 0
    duplicated: int = 0
    extra_headers: int = 0
    missing_footers: int = 0
    extra_footers: int = 0
    unexpected: int = 0  # cards of papers the digest should not show (over its cap)
    runs: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        faults = (self.lost, self.duplicated, self.extra_headers, self.missing_footers, self.extra_footers)
        return not any(faults) and not self.unexpected

    def line(self) -> str:
        return (
            f"{self.platform:8} kills {self.kills:4}  channels {self.channels:3}  cards {self.cards:5}  "
            f"lost {self.lost}  duplicated {self.duplicated}  extra headers {self.extra_headers}  "
            f"missing footers {self.missing_footers}  extra footers {self.extra_footers}  "
            f"unexpected {self.unexpected}"
        )


class Side(Protocol):
    """A fake chat platform as the harness drives it."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def add_channel(self, index: int) -> ChannelRef: ...

    def config_section(self) -> str: ...

    def secrets(self) -> dict[str, str]: ...

    def on_message(self, hook: Callable[[int], bool] | None) -> None:
        """Call `hook(n)` as the n-th message is about to be stored; True drops it."""

    def messages_so_far(self) -> int: ...

    def seen(self, channel_id: str) -> Seen: ...


class SlackSide:
    name = "slack"

    def __init__(self) -> None:
        self.fake = slack_server.FakeSlack()

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def add_channel(self, index: int) -> ChannelRef:
        channel_id = f"C0KILL{index:03d}"
        self.fake.channels[channel_id] = slack_server.Channel(channel_id, f"topic-{index}")
        return ChannelRef(Platform.SLACK, slack_server.TEAM_ID, channel_id, f"topic-{index}")

    def config_section(self) -> str:
        return f'[slack]\napi_url = "{self.fake.api_url}"\n'

    def secrets(self) -> dict[str, str]:
        return {"SLACK_BOT_TOKEN": slack_server.BOT_TOKEN, "SLACK_APP_TOKEN": slack_server.APP_TOKEN}

    def on_message(self, hook: Callable[[int], bool] | None) -> None:
        self.fake.on_post = hook

    def messages_so_far(self) -> int:
        return self.fake.posted

    def seen(self, channel_id: str) -> Seen:
        seen = Seen()
        for m in self.fake.messages:
            if m.channel != channel_id:
                continue
            if m.thread_ts is None:
                seen.parents += 1
                continue
            arxiv_id = ((m.metadata or {}).get("event_payload") or {}).get("arxiv_id")
            if arxiv_id:
                seen.cards[f"https://arxiv.org/abs/{arxiv_id}"] += 1
            elif m.text.startswith("+"):
                seen.footers += 1
        return seen


class DiscordSide:
    name = "discord"

    def __init__(self) -> None:
        self.fake = discord_server.FakeDiscord()

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def add_channel(self, index: int) -> ChannelRef:
        channel_id = 1_330_000_000_000_100_000 + index
        self.fake.add_channel(discord_server.Channel(channel_id, discord_server.TEXT, f"topic-{index}"))
        return ChannelRef(Platform.DISCORD, str(discord_server.GUILD_ID), str(channel_id), f"topic-{index}")

    def config_section(self) -> str:
        return f'[discord]\napi_url = "{self.fake.api_url}"\ngateway_url = "{self.fake.gateway_url}"\n'

    def secrets(self) -> dict[str, str]:
        return {"DISCORD_TOKEN": discord_server.TOKEN}

    def on_message(self, hook: Callable[[int], bool] | None) -> None:
        self.fake.on_send = hook

    def messages_so_far(self) -> int:
        return self.fake.sent

    def seen(self, channel_id: str) -> Seen:
        seen = Seen()
        cid = int(channel_id)
        seen.parents = sum(1 for m in self.fake.messages(cid) if not m.get("message_reference"))
        places = [*self.fake.threads(cid), self.fake.channels[cid]]
        for place in places:
            for m in place.messages:
                if place.id == cid and not m.get("message_reference"):
                    continue  # a parent, counted above
                if m["embeds"]:
                    seen.cards[m["embeds"][0]["url"]] += 1
                elif m["content"].startswith("+"):
                    seen.footers += 1
        return seen


SIDES: dict[str, Callable[[], Side]] = {"slack": SlackSide, "discord": DiscordSide}


async def prepare(
    database: Path, side: Side, *, channels: int, papers: int, cap: int, now: datetime
) -> list[Expected]:
    """Channels tracking one topic each, their papers harvested and waiting; odd ones capped."""
    expected = []
    async with await Store.open(database) as store:
        for i in range(channels):
            channel = side.add_channel(i)
            topic = TOPICS[i % len(TOPICS)] + (f" {TOPICS[i // len(TOPICS)]}" if i >= len(TOPICS) else "")
            query = f"{topic} retrieval"
            await store.subscriptions.add(channel, query, query, "harness", now - timedelta(hours=2))
            capped = i % 2 == 1
            await store.channels.update_settings(
                channel, {"post_time": "asap", "max_papers": cap if capped else 50}, now
            )
            batch = [
                Paper(
                    arxiv_id=f"2611.{i:03d}{j:02d}",
                    version=1,
                    title=f"{topic.title()} retrieval study number {j}",
                    abstract="We study retrieval. It works.",
                    authors=("A. Author",),
                    categories=("cs.IR",),
                    announced=now.date(),
                    announce_type="new",
                )
                for j in range(papers)
            ]
            await store.papers.upsert_many(batch, now - timedelta(hours=1))
            # The ranking puts same-day papers newest id first; the cap keeps the top.
            ranked = sorted((p.abs_url for p in batch), reverse=True)
            shown = ranked[:cap] if capped else ranked
            footer = f"+{papers - cap} more" if capped and papers > cap else ""
            expected.append(Expected(channel.channel_id, frozenset(shown), footer))
    return expected


def tally(side: Side, expected: list[Expected], report: Report) -> None:
    report.channels += len(expected)
    for want in expected:
        seen = side.seen(want.channel_id)
        report.cards += len(want.urls)
        report.extra_headers += max(0, seen.parents - 1)
        report.lost += sum(1 for url in want.urls if seen.cards[url] == 0)
        report.duplicated += sum(n - 1 for n in seen.cards.values() if n > 1)
        report.unexpected += sum(1 for url in seen.cards if url not in want.urls)
        if want.footer:
            report.missing_footers += seen.footers == 0
            report.extra_footers += max(0, seen.footers - 1)
        else:
            report.extra_footers += seen.footers


def complete(side: Side, expected: list[Expected]) -> bool:
    for want in expected:
        seen = side.seen(want.channel_id)
        if not seen.parents or any(seen.cards[url] == 0 for url in want.urls):
            return False
        if want.footer and not seen.footers:
            return False
    return True


async def run_with_kills(
    workdir: Path,
    platform: str,
    *,
    kills: int,
    channels: int = 6,
    papers: int = 5,
    cap: int = 3,
    seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> Report:
    """Deliver digests through `paperbot run`, killing it `kills` times; what users saw.

    Rounds of `channels` channels (a fresh database and platform each) follow one another until
    the kills are spent: a round ends when its digests are complete.
    """
    rng = random.Random(seed)
    report = Report(platform)
    began = time.monotonic()
    while report.kills < kills or not report.runs:
        folder = workdir / f"round-{report.runs}"
        folder.mkdir(parents=True)
        await _round(folder, platform, report, rng, kills, channels=channels, papers=papers, cap=cap, log=log)
    report.seconds = time.monotonic() - began
    return report


async def _round(
    workdir: Path,
    platform: str,
    report: Report,
    rng: random.Random,
    kills: int,
    *,
    channels: int,
    papers: int,
    cap: int,
    log: Callable[[str], None],
) -> None:
    side = SIDES[platform]()
    arxiv = FakeArxiv().start()
    await side.start()
    try:
        config = write_config(workdir, arxiv, side.config_section())
        env = environment(config, **side.secrets())
        expected = await prepare(
            workdir / "bot.db", side, channels=channels, papers=papers, cap=cap, now=datetime.now(UTC)
        )
        while not complete(side, expected):
            want_kill = report.kills < kills
            bot = await _spawn(env, workdir / f"run-{report.runs}.log")
            report.runs += 1
            if await _run_once(bot, side, expected, rng if want_kill else None):
                report.kills += 1
                log(f"{platform}: kill {report.kills} after {side.messages_so_far()} messages")
            elif not complete(side, expected):
                raise AssertionError(
                    f"paperbot exited (code {bot.returncode}) before finishing; see {workdir}"
                )
        await asyncio.sleep(1.0)  # a stray duplicate would have arrived by now
        tally(side, expected, report)
    finally:
        side.on_message(None)
        await side.stop()
        arxiv.stop()


async def _spawn(env: dict[str, str], log_file: Path) -> asyncio.subprocess.Process:
    with log_file.open("wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )


async def _run_once(
    bot: asyncio.subprocess.Process, side: Side, expected: list[Expected], rng: random.Random | None
) -> bool:
    """One life of the bot: until it is killed, or (without `rng`) until every digest is complete."""

    def kill() -> None:
        if bot.returncode is None:
            os.kill(bot.pid, signal.SIGKILL)

    timer: asyncio.TimerHandle | None = None
    if rng is not None:
        start = side.messages_so_far()
        at = start + rng.randint(1, 6)
        how = rng.choice(("before", "after", "between"))

        def hook(n: int) -> bool:
            nonlocal timer
            if n != at:
                return False
            if how == "between":  # some moment after this message: a ledger write, the next send...
                timer = asyncio.get_running_loop().call_later(rng.uniform(0.0, 0.15), kill)
                return False
            kill()
            return how == "before"  # killed before the platform stored it: it never arrived

        side.on_message(hook)
    try:
        while bot.returncode is None:
            if complete(side, expected):  # nothing left to kill it in the middle of
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.wait(), 0.1)
    finally:
        side.on_message(None)
        if timer is not None:
            timer.cancel()
    if bot.returncode is None:  # finished: stop it as an operator would
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 60)
        return False
    return bot.returncode == -signal.SIGKILL
