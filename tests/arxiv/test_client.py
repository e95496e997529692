"""The polite client: the real arxiv library and feedparser against the local fake arXiv."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.arxiv.client import ArxivClient, Throttle, retry_after_seconds
from bot.config import ArxivConfig
from bot.errors import ArxivDeferred, ArxivUnavailable, ArxivUnreachable
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_sample
from tests.fakes.clock import FakeTime

DAY = date(2025, 10, 15)
PAPERS = load_sample()
INTERVAL = 0.05


class Sleeps:
    """A backoff sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(arxiv_config: ArxivConfig, sleeps: Sleeps) -> AsyncIterator[ArxivClient]:
    c = ArxivClient(arxiv_config, backoff_sleep=sleeps, rng=random.Random(1), page_size=10)
    try:
        yield c
    finally:
        c.close()


def assert_polite(server: FakeArxiv) -> None:
    gaps = server.gaps()
    assert all(g >= INTERVAL for g in gaps), gaps


async def test_feed_request_parses_and_identifies_itself(
    client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(PAPERS[:12], DAY)
    result = await client.fetch_feed(["cs.CV", "cs.IR"])
    assert result.url == f"{arxiv_server.feed_url}/atom/cs.CV+cs.IR"
    assert result.announced == DAY and result.items == 12 and len(result.papers) == 12
    (req,) = arxiv_server.requests
    assert req.path == "/atom/cs.CV+cs.IR"
    assert req.user_agent == "paperbot/0.1.0 (+tests@example.org)"
    rss = await client.fetch_feed(["cs"], fmt="rss")
    assert rss.items == 12 and rss.announced == DAY


async def test_api_requests_send_our_user_agent_not_the_librarys(
    client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    await client.fetch_by_ids([PAPERS[0].arxiv_id])
    assert arxiv_server.requests[0].path == "/api/query"
    assert arxiv_server.requests[0].user_agent.startswith("paperbot/")
    assert "arxiv.py" not in arxiv_server.requests[0].user_agent


async def test_spacing_across_feeds_and_api_even_when_concurrent(
    client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.announce(PAPERS[:5], DAY)
    await asyncio.gather(
        client.fetch_feed(["cs.CV"]),
        client.fetch_by_ids([p.arxiv_id for p in PAPERS[:3]]),
        client.search('abs:"video retrieval"', 25),  # 3 pages of 10
        client.fetch_feed(["cs.IR"]),
    )
    assert len(arxiv_server.requests) == 6 == client.requests_made
    assert_polite(arxiv_server)


async def test_search_paginates_sorted_by_submission(client: ArxivClient, arxiv_server: FakeArxiv) -> None:
    found = await client.search('(ti:"video retrieval" OR abs:"video retrieval")', 25)
    assert len(found) == 25
    dates = [p.published for p in found if p.published]
    assert len(dates) == 25 and dates == sorted(dates, reverse=True)
    queries = [r.query for r in arxiv_server.requests]
    assert [q["start"] for q in queries] == ["0", "10", "20"]
    assert queries[0]["sortBy"] == "submittedDate" and queries[0]["sortOrder"] == "descending"
    assert_polite(arxiv_server)


async def test_fetch_by_ids_batches_of_100_and_skips_unknown(
    arxiv_config: ArxivConfig, arxiv_server: FakeArxiv
) -> None:
    client = ArxivClient(arxiv_config)  # default page size: 100 ids a request
    try:
        unknown = [f"2401.{n:05d}" for n in range(120)]
        found = await client.fetch_by_ids([p.arxiv_id for p in PAPERS] + unknown)
    finally:
        client.close()
    assert sorted(p.arxiv_id for p in found) == sorted(p.arxiv_id for p in PAPERS)
    assert [len(r.query["id_list"].split(",")) for r in arxiv_server.requests] == [100, 50]
    with_doi = next(p for p in found if p.doi)
    assert with_doi.journal_ref and with_doi.categories[0] in ("cs.CV", "cs.IR", "cs.CL", "cs.MM")


async def test_unknown_id_is_absent(client: ArxivClient) -> None:
    assert await client.fetch_by_ids(["2401.99999"]) == []


async def test_malformed_id_is_refused_without_retries(client: ArxivClient, arxiv_server: FakeArxiv) -> None:
    with pytest.raises(ArxivUnavailable, match="HTTP 400"):
        await client.fetch_by_ids(["not-an-id"])
    assert len(arxiv_server.requests) == 1


async def test_503_then_success(client: ArxivClient, arxiv_server: FakeArxiv, sleeps: Sleeps) -> None:
    arxiv_server.announce(PAPERS[:3], DAY)
    arxiv_server.script(Fault.http(503))
    result = await client.fetch_feed(["cs"])
    assert result.items == 3
    assert [r.status for r in arxiv_server.requests] == [503, 200]
    assert len(sleeps.calls) == 1 and 0 < sleeps.calls[0] <= INTERVAL
    assert_polite(arxiv_server)


@pytest.mark.parametrize("header", ["7", "http-date"])
async def test_429_holds_every_request_back_for_retry_after(
    arxiv_config: ArxivConfig, arxiv_server: FakeArxiv, header: str
) -> None:
    if header == "http-date":
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=8), usegmt=True)
    clock = FakeTime(datetime(2025, 10, 15, tzinfo=UTC))
    throttle = Throttle(INTERVAL, clock=clock.monotonic, sleep=clock.sleep)
    client = ArxivClient(arxiv_config, throttle=throttle, backoff_sleep=no_sleep, rng=random.Random(1))
    arxiv_server.script(Fault.http(429, header, path_prefix="/api"))
    try:
        found = await client.fetch_by_ids([PAPERS[0].arxiv_id])
    finally:
        client.close()
    assert [p.arxiv_id for p in found] == [PAPERS[0].arxiv_id]
    assert [r.status for r in arxiv_server.requests] == [429, 200]
    # The throttle waited out the Retry-After before the retry (an HTTP date counts from the wall
    # clock, whole seconds: a loaded machine may take a few of them before the header is read).
    assert 4 <= sum(clock.sleeps) <= 8.5


async def test_a_retry_after_past_the_window_fails_at_once_and_holds_back_others(
    client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.script(Fault.http(503, "3600"))
    with pytest.raises(ArxivDeferred, match=r"wait 3600 s .*past this run's window"):
        await client.fetch_feed(["cs"])
    # Nothing else goes to arXiv before the hour is up, not even a lookup: it fails at once.
    with pytest.raises(ArxivDeferred, match="Retry-After"):
        await client.fetch_by_ids([PAPERS[0].arxiv_id])
    with client.window(7200), pytest.raises(ArxivDeferred):  # a long window would wait: not here
        client.throttle.defer(9000)
        await client.fetch_feed(["cs"])
    assert len(arxiv_server.requests) == 1


async def test_backoff_grows_exponentially_with_jitter(
    client: ArxivClient, arxiv_server: FakeArxiv, sleeps: Sleeps
) -> None:
    arxiv_server.script(*[Fault.http(502)] * 4)
    with pytest.raises(ArxivUnavailable, match=r"failed 4 times, last with HTTP 502"):
        await client.fetch_feed(["cs"])
    assert len(arxiv_server.requests) == 4  # max_retries=3
    assert len(sleeps.calls) == 3
    for attempt, delay in enumerate(sleeps.calls):
        full = INTERVAL * 2**attempt
        assert full / 2 <= delay <= full


async def test_timeout_then_success(
    arxiv_config: ArxivConfig, arxiv_server: FakeArxiv, sleeps: Sleeps
) -> None:
    client = ArxivClient(replace(arxiv_config, timeout_s=0.2), backoff_sleep=sleeps)
    arxiv_server.announce(PAPERS[:2], DAY)
    arxiv_server.script(Fault.slow(0.6))
    try:
        result = await client.fetch_feed(["cs"])
    finally:
        client.close()
    assert result.items == 2
    assert len(arxiv_server.requests) == 2 and len(sleeps.calls) == 1


async def test_connection_refused_is_tried_twice_then_reported(
    arxiv_config: ArxivConfig, sleeps: Sleeps
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = replace(
        arxiv_config, api_url=f"http://127.0.0.1:{port}/api/query", feed_url=f"http://127.0.0.1:{port}"
    )
    client = ArxivClient(dead, backoff_sleep=sleeps)
    try:
        with pytest.raises(ArxivUnreachable, match=r"cannot reach 127\.0\.0\.1: connection refused"):
            await client.fetch_feed(["cs"])
        # The host stays marked for a while: the next call fails without a request.
        with pytest.raises(ArxivUnreachable, match="connection refused"):
            await client.fetch_by_ids([PAPERS[0].arxiv_id])
    finally:
        client.close()
    assert client.requests_made == 2 and len(sleeps.calls) == 1


async def test_a_host_that_does_not_resolve_is_tried_twice_then_reported(
    arxiv_config: ArxivConfig, sleeps: Sleeps
) -> None:
    nowhere = replace(
        arxiv_config, feed_url="https://rss.arxiv.invalid", api_url="https://export.arxiv.invalid/api"
    )
    client = ArxivClient(nowhere, backoff_sleep=sleeps)
    try:
        with pytest.raises(
            ArxivUnreachable,
            match=r"^cannot reach rss\.arxiv\.invalid: name resolution failed; is this machine online\?$",
        ):
            await client.fetch_feed(["cs"])
    finally:
        client.close()
    assert client.requests_made == 2


async def test_a_trickling_server_cannot_stretch_a_request_past_its_deadline(
    arxiv_config: ArxivConfig, arxiv_server: FakeArxiv, sleeps: Sleeps
) -> None:
    arxiv_server.announce(PAPERS[:3], DAY)
    client = ArxivClient(replace(arxiv_config, timeout_s=0.3, max_retries=1), backoff_sleep=sleeps)
    arxiv_server.script(Fault.trickle(50, "/atom"), Fault.trickle(50, "/atom"))
    started = time.monotonic()
    try:
        # The lookup waits for the throttle behind the trickling feed, but only until its deadline.
        feed, lookup = await asyncio.gather(
            client.fetch_feed(["cs"]), client.fetch_by_ids([PAPERS[0].arxiv_id]), return_exceptions=True
        )
        lookup_done = time.monotonic() - started
    finally:
        client.close()
    assert isinstance(feed, ArxivUnavailable) and "no complete answer within 0.3 s" in str(feed)
    assert isinstance(lookup, list) and len(lookup) == 1
    assert time.monotonic() - started < 1.5  # two tries of 0.3 s, not the minutes the trickle would take
    assert lookup_done < 1.5
    assert [r.path for r in arxiv_server.requests].count("/atom/cs") == 2


async def test_a_request_stuck_where_no_socket_can_be_cut_still_frees_the_limiter_at_its_deadline(
    arxiv_config: ArxivConfig, arxiv_server: FakeArxiv, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = socket.getaddrinfo

    def slow_lookup(host: object, *args: object, **kwargs: object) -> object:
        if host == "slow.invalid":  # a resolver that hangs: no socket exists yet to shut down
            time.sleep(0.8)
        return resolve(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    stuck = replace(arxiv_config, feed_url="http://slow.invalid", timeout_s=0.2, max_retries=0)
    client = ArxivClient(stuck, backoff_sleep=no_sleep)
    started = time.monotonic()
    finished: dict[str, float] = {}

    async def timed(name: str, call: Awaitable[object]) -> object:
        try:
            return await call
        finally:
            finished[name] = time.monotonic() - started

    try:
        feed, lookup = await asyncio.gather(
            timed("feed", client.fetch_feed(["cs"])),
            timed("lookup", client.fetch_by_ids([PAPERS[0].arxiv_id])),
            return_exceptions=True,
        )
    finally:
        client.close()
    assert isinstance(feed, ArxivUnavailable) and isinstance(lookup, list) and len(lookup) == 1
    assert finished["lookup"] < 0.7 < finished["feed"]  # the lookup did not wait for the stuck thread


async def test_dropped_connection_then_success(client: ArxivClient, arxiv_server: FakeArxiv) -> None:
    arxiv_server.script(Fault.close(path_prefix="/api"))
    assert len(await client.fetch_by_ids([PAPERS[0].arxiv_id])) == 1
    assert len(arxiv_server.requests) == 2


async def test_empty_page_mid_pagination_is_retried_and_resumed(
    client: ArxivClient, arxiv_server: FakeArxiv, sleeps: Sleeps
) -> None:
    arxiv_server.script(Fault.ok("/api"), Fault.empty("/api"), Fault.empty("/api"))
    found = await client.search('abs:"video"', 25)
    assert len(found) == 25 and len({p.arxiv_id for p in found}) == 25
    starts = [r.query["start"] for r in arxiv_server.requests]
    assert starts == ["0", "10", "10", "10", "20"]  # the library notices, we resume at 10
    assert len(sleeps.calls) == 2
    assert_polite(arxiv_server)


@pytest.mark.parametrize("fault", [Fault.malformed, Fault.html])
async def test_malformed_or_html_200_is_retried(
    client: ArxivClient, arxiv_server: FakeArxiv, fault: Callable[[str], Fault]
) -> None:
    arxiv_server.announce(PAPERS[:4], DAY)
    arxiv_server.script(fault("/atom"), fault("/api"))
    assert (await client.fetch_feed(["cs"])).items == 4
    assert [p.arxiv_id for p in await client.fetch_by_ids([PAPERS[1].arxiv_id])] == [PAPERS[1].arxiv_id]
    assert len(arxiv_server.requests) == 4


async def test_fetch_recent_asks_by_category_and_submission_window(
    client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    start = datetime(2025, 10, 9, 0, 0, tzinfo=UTC)
    end = datetime(2025, 10, 12, 0, 0, tzinfo=UTC)
    found = await client.fetch_recent(["cs", "stat.ML"], start, end)
    expected = {p.arxiv_id for p in PAPERS if p.published and start <= p.published < end}
    assert expected and {p.arxiv_id for p in found} == expected
    query = arxiv_server.requests[0].query["search_query"]
    assert query == "(cat:cs.* OR cat:stat.ML) AND submittedDate:[202510090000 TO 202510120000]"


async def test_event_loop_is_not_blocked(arxiv_config: ArxivConfig, arxiv_server: FakeArxiv) -> None:
    client = ArxivClient(arxiv_config)
    arxiv_server.script(Fault.slow(0.3))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        await client.fetch_feed(["cs"])
    finally:
        task.cancel()
        client.close()
    assert ticks >= 10


async def test_throttle_spaces_and_serialises_with_a_fake_clock() -> None:
    now = 100.0
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        nonlocal now
        waits.append(seconds)
        now += seconds

    throttle = Throttle(3.0, clock=lambda: now, sleep=fake_sleep)
    async with throttle:
        now += 1.0  # the request takes a second
    async with throttle:
        pass
    assert waits == [3.0]  # 3 s from the end of the first request
    now += 10
    async with throttle:
        pass
    assert waits == [3.0]


def test_retry_after_parsing() -> None:
    now = datetime(2025, 10, 15, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
