"""Exactly once under kill -9, and what the write-ahead ledger costs.

1. `paperbot run` (a real process) delivers digests to the fake Slack and the fake Discord and is
   killed with SIGKILL at random points (as a message is about to reach the platform, just after
   the platform stored it, or a moment later) and restarted, a hundred times per platform
   (tests/fakes/kills.py). Then per channel: lost cards, duplicated cards, extra headers and
   missing footers, all of which must be 0.
2. The cost: the same digests delivered in-process through the real Slack adapter against the
   fake Slack (pacing off), with the write-ahead ledger (an intent written before each message
   and its id after) and without it (the id only, as before), in the same run.

    python benchmarks/bench_faults.py [--kills 100] [--channels 24] [--platform slack|discord|both]

About ten minutes at the defaults on a 2-core machine (each restart is a new process).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.slack import SlackAdapter
from adapters.slack.config import SlackConfig
from bot.config import Secret, load_config
from bot.digest.delivery import Deliverer
from bot.errors import ErrorReporter
from bot.models import ChannelRef, Paper, Platform
from storage import Store
from tests.fakes import slack_server
from tests.fakes.kills import run_with_kills


class _Inbox:
    async def command(self, cmd: object) -> object:
        raise NotImplementedError

    async def direct_message(self, dm: object) -> object:
        raise NotImplementedError

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        return []

    def request_stop(self) -> None:
        pass


async def _noop(*args: object) -> None:
    return None


async def delivery_seconds(channels: int, papers: int, *, write_ahead: bool) -> tuple[float, int]:
    """Deliver `channels` digests of `papers` cards through the Slack adapter; (seconds, messages)."""
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        async with slack_server.running() as fake, await Store.open(Path(tmp) / "bench.db") as store:
            refs = []
            for i in range(channels):
                cid = f"C0BENCH{i:04d}"
                fake.channels[cid] = slack_server.Channel(cid, f"bench-{i}")
                ref = ChannelRef(Platform.SLACK, slack_server.TEAM_ID, cid, f"bench-{i}")
                refs.append(ref)
                await store.subscriptions.add(ref, f"bench topic {i}", "q", "bench", now - timedelta(hours=2))
            batch = [
                Paper(f"2611.{i:04d}{j}", 1, f"Bench topic {i} paper {j}", "We test.", ("A. Author",),
                      ("cs.IR",), announced=now.date(), announce_type="new")
                for i in range(channels) for j in range(papers)
            ]  # fmt: skip
            await store.papers.upsert_many(batch, now - timedelta(hours=1))
            if not write_ahead:  # the ledger as it was: the message id after each send, no intent before
                store.deliveries.intend = store.deliveries.intend_parent = _noop  # type: ignore[method-assign]
                store.deliveries.intend_footer = _noop  # type: ignore[method-assign]
            adapter = SlackAdapter(
                Secret(slack_server.BOT_TOKEN), Secret(slack_server.APP_TOKEN), None,
                SlackConfig(api_url=fake.api_url), posts_per_second=0,
            )  # fmt: skip
            await adapter.start(_Inbox())  # type: ignore[arg-type]
            try:
                config = load_config(None, environ={})
                deliverer = Deliverer(
                    store, {Platform.SLACK: adapter}, config, lambda: datetime.now(UTC), ErrorReporter()
                )
                began = time.perf_counter()
                outcomes = await deliverer.deliver_many(refs)
                seconds = time.perf_counter() - began
            finally:
                await adapter.stop()
            assert all(o.status == "posted" for o in outcomes), outcomes
            return seconds, len(fake.messages)


async def main(kills: int, channels: int, platforms: list[str]) -> None:
    print(f"kill -9 at random points of delivery, restarted until done ({kills} kills per platform):")
    reports = []
    for platform in platforms:
        with tempfile.TemporaryDirectory() as tmp:
            report = await run_with_kills(
                Path(tmp), platform, kills=kills, channels=channels, papers=6, cap=4, seed=2026,
                log=lambda line: print("  " + line, file=sys.stderr),
            )  # fmt: skip
        reports.append(report)
        print(f"  {report.line()}")
        print(f"  {'':8} {report.runs} runs of paperbot, {report.seconds:.0f} s")
    print("  (all four must be 0: " + ("OK" if all(r.clean for r in reports) else "FAILED") + ")")

    print("\nthe cost of the write-ahead ledger (200 channels x 10 cards, Slack adapter, fake Slack,")
    print("no pacing):")
    runs: dict[bool, list[float]] = {True: [], False: []}
    messages = 0
    for _ in range(3):  # alternate, best of three each: the machine is shared
        for write_ahead in (False, True):
            seconds, messages = await delivery_seconds(200, 10, write_ahead=write_ahead)
            runs[write_ahead].append(seconds)
    without, with_ = min(runs[False]), min(runs[True])
    print(f"  without (id after each send)   {without:6.2f} s  {messages / without:6.0f} messages/s")
    print(f"  with (intent before, id after) {with_:6.2f} s  {messages / with_:6.0f} messages/s")
    print(f"  cost {with_ / without:.2f}x, {(with_ - without) / messages * 1000:.2f} ms per message "
          f"({messages:,} messages)")  # fmt: skip
    print("  (Slack's own pace is about 1 message per second per channel: the cost is noise beside it)")


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--channels", type=int, default=24)
    parser.add_argument("--platform", choices=("slack", "discord", "both"), default="both")
    args = parser.parse_args(argv)
    platforms = ["slack", "discord"] if args.platform == "both" else [args.platform]
    asyncio.run(main(args.kills, args.channels, platforms))


if __name__ == "__main__":
    run()
