"""Commands on the user's path, and how long Slack waits for an ack meanwhile.

Run from the repository root: `python benchmarks/bench_commands.py [--quick]` (`--quick`: 100,000
stored papers only). The first run builds the stores (a synthetic year: 2,500 papers a weekday, a
tenth of them new versions of earlier papers) and keeps them in a temp dir; about a minute and a
half for 600,000 papers, then seconds.

Per size (100,000 and 600,000 stored papers), through the real command handlers and store:
- `/papers <query> 50` for queries that hit (real title phrases, words, OR, NOT, fields) and for
  queries that hit nothing, p50 and p99; the local store only (no arXiv);
- the `/track` preview (a week of papers: 12,500) and `/tracked`, p50 and p99;
against the naive way the bot had before: a scan of the latest papers with the matcher (newest
first, at most 30,000, stopping at n) and a scan of the week's papers. Every /papers answer is
checked against a full scan by last update.

At 100,000 papers, with the Slack adapter against the fake Slack (in a process of its own, which
times the acks as Slack does: see `slack_peer`): the acks of `/tracked` sent every 20 ms by other
people while `/papers ... 50` commands and a digest run (10,000 subscriptions: the
deliverer's whole preparation, ledger written) go, p50/p99/max, against the same with the naive
/papers on the event loop.

And startup at 100,000 subscriptions over 10,000 channels (40 distinct digest times): entering the
App, against one scheduler job per channel.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_digest  # noqa: E402
import bench_matching  # noqa: E402
from slack_peer import SlackPeer  # noqa: E402
from stores import build_once  # noqa: E402

from adapters.slack import SlackAdapter  # noqa: E402
from adapters.slack.config import SlackConfig  # noqa: E402
from bot.app import App  # noqa: E402
from bot.commands import dispatch as commands  # noqa: E402
from bot.commands.dispatch import Context  # noqa: E402
from bot.config import ArxivConfig, Config, Secret, load_config  # noqa: E402
from bot.digest import compose as digest  # noqa: E402
from bot.errors import ErrorReporter  # noqa: E402
from bot.matching.paper import prepare  # noqa: E402
from bot.matching.query import QueryError, parse  # noqa: E402
from bot.models import ChannelRef, Command, Paper, Platform, Reply, UserRef  # noqa: E402
from bot.scheduling.scheduler import Scheduler  # noqa: E402
from storage import Store  # noqa: E402
from storage.migrations import LATEST_VERSION  # noqa: E402
from storage.papers import _row_to_paper, search_key_floor  # noqa: E402
from tests.fakes.recording import RecordingAdapter  # noqa: E402
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN  # noqa: E402

SEED = 20261201
PER_DAY = 2_500
REPLACED = 0.1  # new versions of earlier papers announced a day, as a share of the new ones
SIZES = (100_000, 600_000)
TODAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
N = 50
RUNS = 60
NAIVE_RUNS = 10  # the naive way takes seconds a command: fewer samples (its p99 is their max)
OLD_LOCAL_SEARCH = 30_000  # how far back the old /papers scanned
CACHE = Path(tempfile.gettempdir()) / "paperbot-bench-commands"
NO_ARXIV = ArxivConfig(api_url="http://127.0.0.1:9/api/query", feed_url="http://127.0.0.1:9", max_retries=0)
BENCH = ChannelRef(Platform.SLACK, "T0BENCH", "CBENCH", "bench")


def store_path(n_papers: int) -> Path:
    return CACHE / f"commands-{n_papers}-{SEED}-v{LATEST_VERSION}.db"  # rebuilt when the schema changes


def weekdays_back(n: int) -> list[date]:
    days: list[date] = []
    day = TODAY
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


async def build(n_papers: int) -> None:
    """A year of harvested days, new versions among them, and 10,000 subscriptions."""
    rng = random.Random(SEED)
    records = bench_matching.load_records()
    surnames = bench_matching.make_surnames(rng)

    async def fill(store: Store) -> None:
        days = weekdays_back(n_papers // PER_DAY)
        stored: list[Paper] = []
        per_month: dict[str, int] = {}
        t0 = time.perf_counter()
        for k, day in enumerate(days):
            papers = bench_matching.make_papers(records, PER_DAY, rng, surnames, topical=0.1)
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=4)
            month = f"{day:%y%m}"
            first = per_month.get(month, 0)
            per_month[month] = first + len(papers)
            batch = [
                replace(
                    p, arxiv_id=f"{month}.{first + i:05d}", announced=day, announce_type="new", published=at
                )
                for i, p in enumerate(papers)
            ]
            for old in rng.sample(stored, min(int(PER_DAY * REPLACED), len(stored))):
                batch.append(
                    replace(old, version=old.version + 1, updated=at, announced=None, announce_type="replace")
                )
            await store.papers.upsert_many(batch, at + timedelta(minutes=30))
            stored += batch[:PER_DAY]
            if k % 40 == 0:
                print(f"  building: day {k + 1} of {len(days)}, {time.perf_counter() - t0:.0f} s", flush=True)
        texts = bench_matching.make_queries(records, 10_000, random.Random(SEED), surnames)
        channels = [ChannelRef(Platform.SLACK, "T0BENCH", f"C{c:05d}", f"c{c}") for c in range(1_000)]
        created = NOW - timedelta(days=30)
        for i, text in enumerate(texts):
            try:
                canonical = parse(text).canonical
            except QueryError:
                continue
            await store.subscriptions.add(channels[i % len(channels)], canonical, text, "bench", created)
        for text in ("video retrieval", "graph neural networks", "au:muller", "cat:cs.CV diffusion"):
            await store.subscriptions.add(BENCH, parse(text).canonical, text, "bench", created)

    await build_once(store_path(n_papers), fill)


def config_for(db: Path) -> Config:
    cfg = load_config(None, environ={})
    return replace(cfg, bot=replace(cfg.bot, database=str(db)), arxiv=NO_ARXIV)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def queries(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    records = bench_matching.load_records()
    out = []
    for text in bench_matching.make_queries(records, n * 3, rng, bench_matching.make_surnames(rng)):
        try:
            parse(text)
        except QueryError:
            continue
        out.append(text)
    return out[:n]


MISSES = [f"zq{i}x frobnicated quasiparticle {i}" for i in range(RUNS)]


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


# --- the naive way (what the bot did before the index) ---------------------------------------


async def naive_papers(store: Store, text: str, n: int) -> list[str]:
    """The old /papers: the latest 30,000 announced papers, newest first, through the matcher."""
    query = parse(text)
    found = []
    async with store.db.conn.execute(
        "SELECT arxiv_id, version, title, abstract, authors, categories, comment, journal_ref, doi,"
        " published, updated, announced, announce_type FROM papers WHERE announced IS NOT NULL"
        " ORDER BY announced DESC, arxiv_id DESC LIMIT ?",
        (OLD_LOCAL_SEARCH,),
    ) as cur:
        rows = await cur.fetchall()
    for row in rows:
        paper = _row_to_paper(row)
        if query.matches(prepare(paper)):
            found.append(paper.arxiv_id)
            if len(found) >= n:
                break
    return found


async def search_keys(store: Store, ids: list[str]) -> dict[str, int]:
    marks = ",".join("?" * len(ids))
    async with store.db.conn.execute(
        f"SELECT arxiv_id, search_key FROM papers WHERE arxiv_id IN ({marks})",  # noqa: S608 - "?" only
        ids,
    ) as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def naive_preview(store: Store, text: str) -> int:
    """The old /track preview: every paper of the last 7 days through the matcher."""
    query = parse(text)
    recent = await store.papers.announced_since((NOW - timedelta(days=7)).date())
    return sum(query.matches(prepare(p)) for p in recent)


async def full_scan(store: Store, texts: list[str], n: int, window: int) -> tuple[dict[str, list[str]], int]:
    """The reference answers: the newest `window` papers by last update, each once through the
    matcher for every query; and the search key the window starts at."""
    parsed = {text: parse(text) for text in texts}
    found: dict[str, list[str]] = {text: [] for text in texts}
    below, seen = 1 << 62, 0
    while seen < window and any(len(f) < n for f in found.values()):
        async with store.db.conn.execute(
            "SELECT search_key FROM papers WHERE search_key < ? ORDER BY search_key DESC LIMIT 2000", (below,)
        ) as cur:
            keys = [r[0] for r in await cur.fetchall()]
        if not keys:
            break
        for paper in await store.papers.by_search_keys(keys):
            prepared = prepare(paper)
            for text, query in parsed.items():
                if len(found[text]) < n and query.matches(prepared):
                    found[text].append(paper.arxiv_id)
        below, seen = keys[-1], seen + len(keys)
    return found, below


# --- per size --------------------------------------------------------------------------------


async def run_size(n_papers: int) -> None:
    async with await Store.open(store_path(n_papers)) as store:
        stored = await store.papers.count()
        ctx = Context(config_for(store_path(n_papers)), store, lambda: NOW)
        user = UserRef(Platform.SLACK, "U0BENCH", "bench")
        hits = queries(RUNS, SEED)

        async def cmd(name: str, args: str, channel: ChannelRef = BENCH) -> Reply:
            return await commands.dispatch(ctx, Command(name, args, channel, user))

        rows: list[tuple[str, list[float], list[float]]] = []
        same = True

        async def papers_both(texts: list[str]) -> tuple[list[float], list[float]]:
            ours, naive = [], []
            for k, text in enumerate(texts):
                ours.append(await timed(lambda text=text: cmd("papers", f"{text} {N}")))
                if k < NAIVE_RUNS:
                    naive.append(await timed(lambda text=text: naive_papers(store, text, N)))
            return ours, naive

        rows.append((f"/papers <hit> {N}", *await papers_both(hits)))
        # Checked against the matcher over the newest 100,000 papers (all of them at 100,000): within
        # that window the answers must be the same papers in the same order.
        checked = hits[:15] + MISSES[:2]
        reference, start = await full_scan(store, checked, N, 100_000)
        for text in checked:
            got = [c.paper_id for c in (await cmd("papers", f"{text} {N}")).cards]
            keys = await search_keys(store, got) if got else {}
            same = same and [g for g in got if keys[g] >= start] == reference[text]
        rows.append((f"/papers <miss> {N}", *await papers_both(MISSES)))
        ours, naive = [], []
        for i, text in enumerate(hits):
            channel = replace(BENCH, channel_id=f"CP{i}")
            ours.append(await timed(lambda text=text, channel=channel: cmd("track", text, channel)))
            if i < NAIVE_RUNS:
                naive.append(await timed(lambda text=text: naive_preview(store, text)))
            await cmd("untrack", text, channel)
        rows.append(("/track <query> (preview of a week)", ours, naive))
        ours = [await timed(lambda: cmd("tracked", "")) for _ in range(RUNS)]
        rows.append(("/tracked", ours, []))
        week = await store.papers.count_since_key(search_key_floor(NOW - timedelta(days=7)))

    print(
        f"--- {stored:,} papers stored ({week:,} in the last week), {RUNS} commands each"
        f" ({NAIVE_RUNS} for the naive way), ms"
    )
    print(f"  {'command':<36} {'p50':>7} {'p99':>7}   {'naive p50':>9} {'p99':>7}   {'p99 ratio':>9}")
    for name, ours, naive in rows:
        line = f"  {name:<36} {pct(ours, 0.5) * 1e3:7.1f} {pct(ours, 0.99) * 1e3:7.1f}"
        if naive:
            ratio = pct(naive, 0.99) / pct(ours, 0.99)
            line += f"   {pct(naive, 0.5) * 1e3:9.1f} {pct(naive, 0.99) * 1e3:7.1f}   {ratio:8.0f}x"
        print(line)
    print(f"  /papers answers equal a scan of the newest 100,000 papers by last update (17 queries): {same}")
    sys.stdout.flush()
    if not same:
        sys.exit("/papers differs from the full scan")


# --- Slack acks while /papers and a digest run --------------------------------------------------


async def naive_papers_command(ctx: Context, cmd: Command) -> Reply:
    """The old handler, on the event loop: the naive scan, then cards."""
    words = cmd.args.split()
    n = int(words.pop()) if words[-1].isdigit() else 10
    found = await naive_papers(ctx.store, " ".join(words), n)
    papers = await ctx.store.papers.get_many(found)
    return Reply("papers", cards=tuple(digest.card(papers[i]) for i in found))


async def acks(db: Path, *, naive: bool, warm: bool = True) -> list[float]:
    """Ack times of /tracked every 20 ms while twenty `/papers ... 50` and a digest run go.

    The fake Slack runs in a process of its own (`slack_peer`), which sends the commands and times
    the acks, as Slack does on its servers: on the bot's event loop, its own push and its reading
    of the ack would wait behind the bot's work, and count against the bot.
    `warm`: the day's run, the match index built by an earlier one; otherwise the first run after a
    start, which builds it.
    """
    peer = await SlackPeer.start()
    handler = commands.COMMANDS["papers"]
    if naive:
        commands.COMMANDS["papers"] = naive_papers_command
    try:
        adapter = SlackAdapter(
            Secret(BOT_TOKEN), Secret(APP_TOKEN), None, SlackConfig(api_url=peer.api_url), posts_per_second=0
        )
        async with App(config_for(db), [adapter], clock=lambda: NOW) as app:
            await peer.ask({"op": "connected"})
            # The bot keeps its match index from run to run: the day's run finds it built (the
            # first run after a start builds it, in a worker thread, once).
            if warm:
                await app.deliverer.new_matches()

            async def digest_run() -> None:  # the daily run up to its first message (bench_digest)
                channels = [c for c, _ in await app.store.channels.with_subscriptions()]
                await app.deliverer.prepare(channels)

            # Someone types /tracked every 20 ms (open loop: whether or not the last was acked)
            # while the twenty /papers go, one after the other, and the digest run.
            papers = [f"{text} {N}" for text in queries(20, SEED + 1)]
            await asyncio.gather(peer.ask({"op": "go", "papers": papers, "other": "/tracked"}), digest_run())
            seconds: list[float] = (await peer.ask({"op": "stop"}))["seconds"]  # every command answered
    finally:
        commands.COMMANDS["papers"] = handler
        await peer.close()
    return seconds


async def run_acks() -> None:
    await build(SIZES[0])
    with tempfile.TemporaryDirectory() as tmp:
        # A copy each: a digest run writes its ledger, and the second would find it done.
        ours_db, naive_db = Path(tmp) / "ours.db", Path(tmp) / "naive.db"
        shutil.copy(store_path(SIZES[0]), ours_db)
        shutil.copy(store_path(SIZES[0]), naive_db)
        ours = await acks(ours_db, naive=False)
        naive = await acks(naive_db, naive=True)
    print(
        f"--- Slack acks of /tracked every 20 ms while /papers ... {N} x20 and a digest run (10,000 subs) go"
    )
    for name, s in (("paperbot", ours), ("naive /papers on the event loop", naive)):
        late = sum(x > 3 for x in s)
        print(
            f"  {name:<32} p50 {pct(s, 0.5) * 1e3:6.1f} ms   p99 {pct(s, 0.99) * 1e3:7.1f} ms"
            f"   max {max(s) * 1e3:7.1f} ms   ({len(s)} acks, {late} over Slack's 3 s)"
        )
    print(f"  p99 ratio {pct(naive, 0.99) / pct(ours, 0.99):.0f}x   <- target p99 < 100 ms")
    sys.stdout.flush()


async def run_acks_at_scale() -> None:
    """Acks while bench_digest's run at 100,000 subscriptions goes: the day's, and the first after a start."""
    size = bench_digest.SIZES[-1]
    await bench_digest.build(size)
    found = []
    for warm in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "run.db"
            shutil.copy(bench_digest.store_path(size), db)
            found.append((warm, await acks(db, naive=False, warm=warm)))
    print(
        f"--- the same while a digest run at {size:,} subscriptions over {size // 10:,} channels goes"
        f" (bench_digest's store: {bench_digest.N_PAPERS:,} papers)"
    )
    for warm, s in found:
        name = "the day's run (index kept)" if warm else "the first after a start"
        late = sum(x > 3 for x in s)
        print(
            f"  {name:<32} p50 {pct(s, 0.5) * 1e3:6.1f} ms   p99 {pct(s, 0.99) * 1e3:7.1f} ms"
            f"   max {max(s) * 1e3:7.1f} ms   ({len(s)} acks, {late} over Slack's 3 s)"
        )
    print("  <- target p99 < 100 ms")
    sys.stdout.flush()


# --- startup ---------------------------------------------------------------------------------


async def run_startup() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "startup.db"
        rng = random.Random(SEED)
        zones = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata")
        slots = [(f"{h:02d}:{m:02d}", tz) for h in (7, 8, 9, 10) for m in (0, 30) for tz in zones]
        async with await Store.open(db) as store:
            created = NOW.isoformat()
            chans = []
            for c in range(10_000):
                when, tz = rng.choice(slots) if rng.random() < 0.5 else (None, None)
                chans.append((c + 1, f"C{c:05d}", f"c{c}", when, tz, created))
            await store.db.conn.executemany(
                "INSERT INTO channels (id, platform, workspace, channel_id, name, post_time, timezone,"
                " created_at) VALUES (?, 'slack', 'T0BENCH', ?, ?, ?, ?, ?)",
                chans,
            )
            await store.db.conn.executemany(
                "INSERT INTO subscriptions (channel, query, raw_query, created_by, created_at)"
                " VALUES (?, ?, ?, 'bench', ?)",
                [(i % 10_000 + 1, f"topic {i}", f"topic {i}", created) for i in range(100_000)],
            )
        t0 = time.perf_counter()
        async with App(config_for(db), [RecordingAdapter()], clock=lambda: NOW) as app:
            ours = time.perf_counter() - t0
            jobs = len(app.scheduler.job_ids())
        # The old way: one cron job per channel that tracks something, at its own time and zone.
        async with await Store.open(db) as store:
            t0 = time.perf_counter()
            scheduler = Scheduler(zoneinfo.ZoneInfo("UTC"), ErrorReporter())
            scheduler.start()
            for channel, settings in await store.channels.with_subscriptions():
                hour, minute = map(int, (settings.post_time or "09:00").split(":"))
                zone = zoneinfo.ZoneInfo(settings.timezone or "UTC")

                async def job(channel: ChannelRef = channel) -> None:
                    return None

                scheduler.cron(f"deliver:{channel.channel_id}", job, timezone=zone, hour=hour, minute=minute)
            naive = time.perf_counter() - t0
            scheduler.shutdown()
    print("--- startup with 100,000 subscriptions over 10,000 channels (40 digest times)")
    print(f"  paperbot: entering the App {ours:.3f} s ({jobs} scheduler jobs)   <- target 0.5 s")
    print(f"  naive: one job per channel {naive:.3f} s (scheduling alone, 10,000 jobs)   {naive / ours:.1f}x")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 stored papers only")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=("acks", "acks-at-scale", "startup"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "acks":
        asyncio.run(run_acks())
        return
    if args.part == "acks-at-scale":
        asyncio.run(run_acks_at_scale())
        return
    if args.part == "startup":
        asyncio.run(run_startup())
        return
    if args.size:
        asyncio.run(build(args.size) if args.build else run_size(args.size))
        return
    print(f"(stores are built once and kept in {CACHE})")
    sys.stdout.flush()
    sizes = SIZES[:1] if args.quick else SIZES
    for size in sizes:
        subprocess.run([sys.executable, __file__, "--size", str(size), "--build"], check=True)
        subprocess.run([sys.executable, __file__, "--size", str(size)], check=True)
    subprocess.run([sys.executable, __file__, "--part", "acks"], check=True)
    subprocess.run([sys.executable, __file__, "--part", "acks-at-scale"], check=True)
    subprocess.run([sys.executable, __file__, "--part", "startup"], check=True)


if __name__ == "__main__":
    main()
