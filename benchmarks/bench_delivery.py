"""Delivering 1,000 channels x 10 papers through a rate-limited adapter.

The adapter allows 1 post/s per channel and 50 posts/s overall (Slack's and
Discord's orders of magnitude), so there is a floor no bot can beat: the
messages divided by the overall rate, or one channel's messages at its own
rate, whichever is longer. The figure that matters is how close the real
delivery (ledger writes, matching, concurrency) gets to that floor; the
target is within 1.2x. The sequential way (one channel after another) is
given for comparison, computed from the same limits.

Real time would be 220 s, so the limits are sped up by --speed (default 5:
5 posts/s per channel, 250/s overall, a 44 s floor); the ratios are unchanged
as long as paperbot's own per-message cost stays small against the pace (at
--speed 20, 1,000 posts/s, it starts to show).

    python benchmarks/bench_delivery.py [--channels 1000] [--papers 10] [--speed 5]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_config
from bot.digest.delivery import Deliverer
from bot.errors import ErrorReporter
from bot.models import ChannelRef, Paper, Platform, Post, ThreadItem
from bot.ports import slash
from storage import Store

TOPICS = ("video retrieval", "graph neural", "diffusion model", "speech recognition", "protein folding")


@dataclass
class RateLimitedAdapter:
    """Records posts, and makes each wait for its channel's and the platform's next free slot."""

    per_channel: float
    overall: float
    name: str = "console"
    posts: int = 0
    _next_global: float = 0.0
    _next_channel: dict[ChannelRef, float] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def _send(self, channel: ChannelRef) -> str:
        loop = asyncio.get_running_loop()
        # The channel's own pace first, then the next free slot platform-wide. Slots are
        # reserved on a schedule (not "now + interval" after waking), so timer lateness
        # does not pile up into a slower platform than the one simulated.
        await asyncio.sleep(max(0.0, self._next_channel.get(channel, 0.0) - loop.time()))
        now = loop.time()
        slot = max(now, self._next_global)
        self._next_global = slot + 1 / self.overall
        await asyncio.sleep(slot - now)
        self._next_channel[channel] = slot + 1 / self.per_channel
        self.posts += 1
        return f"m{next(self._ids)}"

    async def start(self, inbox: object) -> None:
        return None

    def command_name(self, command: str) -> str:
        return slash(command)

    async def stop(self) -> None:
        return None

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        return await self._send(channel)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        return await self._send(channel)

    async def find_posted(
        self, channel: ChannelRef, parent: str | None, wanted: Mapping[str, object], since: datetime
    ) -> dict[str, str]:
        return {}


async def run(channels: int, papers: int, speed: float) -> None:
    per_channel, overall = 1.0 * speed, 50.0 * speed
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        start = datetime(2026, 11, 19, 12, tzinfo=UTC)
        refs = [ChannelRef(Platform.CONSOLE, "bench", f"c{i}", f"c{i}") for i in range(channels)]
        for i, ref in enumerate(refs):
            await store.subscriptions.add(ref, f'"{TOPICS[i % len(TOPICS)]} {i}"', "q", "bench", start)
        day = [
            Paper(
                arxiv_id=f"2611.{n:05d}",
                version=1,
                title=f"A study of {TOPICS[(n // papers) % len(TOPICS)]} {n // papers}",
                abstract="We propose a method. It improves results by 3%.",
                authors=("A. Author",),
                categories=("cs.CV",),
                announced=date(2026, 11, 20),
                announce_type="new",
            )
            for n in range(channels * papers)
        ]
        await store.papers.upsert_many(day, start + timedelta(hours=17))
        adapter = RateLimitedAdapter(per_channel, overall)
        config = load_config(None, environ={})
        deliverer = Deliverer(
            store, {Platform.CONSOLE: adapter}, config, lambda: datetime.now(UTC), ErrorReporter()
        )

        # Peak memory from the OS, not tracemalloc: tracing every allocation would slow the run
        # it measures by 2-3x.
        began = time.perf_counter()
        outcomes = await deliverer.deliver_many(refs)
        wall = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        await store.close()

    posted = sum(o.posted for o in outcomes)
    messages = adapter.posts
    per_channel_msgs = messages / channels
    floor = max(messages / overall, per_channel_msgs / per_channel)
    sequential = channels * per_channel_msgs / per_channel
    assert posted == channels * papers, f"posted {posted} papers, expected {channels * papers}"
    print(f"channels x papers        {channels:,} x {papers} ({messages:,} messages incl. parents)")
    print(f"limits (x{speed:g} speed)     {per_channel:g}/s per channel, {overall:g}/s overall")
    print(f"rate-limit floor         {floor:8.2f} s   ({floor * speed:,.0f} s at real limits)")
    print(f"paperbot wall time       {wall:8.2f} s   ratio to floor {wall / floor:.2f}x (target <= 1.2x)")
    print(f"sequential (computed)    {sequential:8.2f} s   ratio to floor {sequential / floor:.1f}x")
    print(f"peak memory (max RSS)    {peak / 1e6:8.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--papers", type=int, default=10)
    parser.add_argument("--speed", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(run(args.channels, args.papers, args.speed))


if __name__ == "__main__":
    main()
