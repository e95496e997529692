"""The one polite arXiv client: announcement feeds and the API (arxiv library) behind one limiter.

arXiv asks for at most one request every 3 seconds over one connection, across API, RSS and OAI
together. Every request paperbot sends to arXiv goes through one `PoliteSession` (bot.arxiv.http:
a requests session with a single kept connection and a total deadline per request), whose `send`
waits for the shared async `Throttle` before the request leaves and stamps it when the response is
in. The arxiv library gets the same session, with its own delay and retries switched off, so there
is exactly one limiter and one retry policy (here): exponential backoff with jitter on 429/5xx,
timeouts, dropped connections, malformed or HTML answers and unexpectedly empty pages; Retry-After
holds every request back until the time arXiv asked for. What retrying cannot fix (no name
resolution, a refused connection, a failed TLS handshake) is tried twice, then reported.

The arxiv library and requests are synchronous: every call runs in a worker thread
(`asyncio.to_thread`); the worker blocks on the throttle through the event loop, never the loop on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import arxiv
import requests

from bot import __version__
from bot.arxiv.categories import ARCHIVES_WITH_SUBJECTS
from bot.arxiv.feeds import MalformedFeed, parse_feed
from bot.arxiv.http import (
    RETRY_STATUSES,
    PoliteSession,
    RetryableResponse,
    Throttle,
    check_response,
    retry_after_seconds,
)
from bot.arxiv.ids import parse_arxiv_id
from bot.config import ArxivConfig
from bot.errors import ArxivDeferred, ArxivUnavailable, ArxivUnreachable, unreachable_reason
from bot.models import Paper

log = logging.getLogger(__name__)

__all__ = [
    "ArxivClient",
    "FeedResult",
    "RetryableResponse",
    "Throttle",
    "check_response",
    "retry_after_seconds",
]

T = TypeVar("T")

MAX_BACKOFF_S = 120.0
# Outside a harvest (a lookup someone waits for), a Retry-After longer than this is not waited out:
# the call fails at once. A harvest sets its own window (`ArxivClient.window`).
MAX_RETRY_AFTER_S = 300.0
# What retrying cannot fix is tried this often, then reported; the host is then left alone for a
# while, so a harvest of several days fails in seconds instead of minutes.
UNFIXABLE_TRIES = 2
UNREACHABLE_FOR_S = 300.0
ID_BATCH = 100  # ids per id_list request, the API's page size for them
SEARCH_PAGE = 100
RECENT_PAGE = 1000  # the API allows up to 2000 a page; 1000 keeps each response a few MB

# When the current task must stop waiting for arXiv's Retry-After (throttle clock); None: no window.
_GIVE_UP_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar("arxiv_give_up_at", default=None)


class _EmptyPage(Exception):
    """A page that should have held results came back empty."""


@dataclass(frozen=True, slots=True)
class FeedResult:
    """One announcement feed request: the URL asked, its papers and the date it announces."""

    url: str
    papers: tuple[Paper, ...]
    announced: date | None
    items: int
    skipped: int = 0


def _result_to_paper(result: Any) -> Paper | None:
    parsed = parse_arxiv_id(str(result.entry_id))
    if parsed is None:
        # The API reports some errors as entries (id http://arxiv.org/api/errors#...).
        log.warning("skipping API entry without an arXiv id: %s", result.entry_id)
        return None
    arxiv_id, version = parsed
    categories = tuple(dict.fromkeys([c for c in [result.primary_category, *result.categories] if c]))
    return Paper(
        arxiv_id=arxiv_id,
        version=version or 1,
        title=" ".join(str(result.title).split()),
        abstract=" ".join(str(result.summary).split()),
        authors=tuple(str(a.name) for a in result.authors),
        categories=categories,
        comment=" ".join(result.comment.split()) if result.comment else None,
        journal_ref=" ".join(result.journal_ref.split()) if result.journal_ref else None,
        doi=result.doi or None,
        published=result.published,
        updated=result.updated,
    )


def category_clause(category: str) -> str:
    """`cs` -> `cat:cs.*`; `cs.CV` or `hep-th` -> `cat:cs.CV` / `cat:hep-th` (API query syntax)."""
    if "." not in category and category in ARCHIVES_WITH_SUBJECTS:
        return f"cat:{category}.*"
    return f"cat:{category}"


class ArxivClient:
    """Feeds and API through one throttle, one session and one retry policy."""

    def __init__(
        self,
        config: ArxivConfig,
        *,
        throttle: Throttle | None = None,
        backoff_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        page_size: int | None = None,
    ) -> None:
        self.config = config
        self._page_size = page_size  # None: SEARCH_PAGE / RECENT_PAGE; tests use small pages
        self.throttle = throttle or Throttle(config.min_interval_s)
        self._backoff_sleep = backoff_sleep
        self._rng = rng or random.Random()
        contact = config.contact or "https://github.com/paperbot"
        self.user_agent = f"paperbot/{__version__} (+{contact})"
        self.session = PoliteSession(self.user_agent, config.timeout_s, config.api_url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.session.gate = self._gate
        self.session.on_retry_after = self._on_retry_after
        self._clients: dict[int, arxiv.Client] = {}
        self._unreachable: dict[str, tuple[float, ArxivUnreachable]] = {}
        self.api_host = urlsplit(config.api_url).hostname or config.api_url
        self.feed_host = urlsplit(config.feed_url).hostname or config.feed_url

    @property
    def requests_made(self) -> int:
        """HTTP requests sent to arXiv so far, retries included."""
        return int(self.session.requests_made)

    def close(self) -> None:
        """Close the connection."""
        self.session.close()

    # -- the limiter, entered from worker threads -------------------------------------------------

    @contextlib.contextmanager
    def _gate(self) -> Iterator[Callable[[], None]]:
        loop = self._loop
        if loop is None:
            raise RuntimeError("ArxivClient requests must be made through its async methods")
        give_up_at = _GIVE_UP_AT.get()  # the worker thread runs in a copy of the caller's context
        asyncio.run_coroutine_threadsafe(self.throttle.acquire(give_up_at), loop).result()
        lock, released = threading.Lock(), False

        def release() -> None:
            # Called when the request ends, or earlier by its Deadline: whichever comes first.
            nonlocal released
            with lock:
                if released:
                    return
                released = True
            loop.call_soon_threadsafe(self.throttle.release)

        try:
            yield release
        finally:
            release()

    def _on_retry_after(self, seconds: float) -> None:
        loop = self._loop
        if loop is not None:  # queued before the gate's release: no request slips in between
            loop.call_soon_threadsafe(self.throttle.defer, seconds)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        self._loop = asyncio.get_running_loop()
        return await asyncio.to_thread(fn, *args)

    def _arxiv_client(self, page_size: int) -> arxiv.Client:
        page_size = self._page_size or page_size
        client = self._clients.get(page_size)
        if client is None:
            # Throttling and retries are ours (one limiter across feeds and API): the library's off.
            client = arxiv.Client(page_size=page_size, delay_seconds=0, num_retries=0)
            client.query_url_format = self.config.api_url + "?{}"
            client._session = self.session
            self._clients[page_size] = client
        return client

    # -- Retry-After and the caller's window -------------------------------------------------------

    @contextlib.contextmanager
    def window(self, seconds: float) -> Iterator[None]:
        """Within this block, a Retry-After reaching more than `seconds` from now fails at once."""
        token = _GIVE_UP_AT.set(self.throttle.clock() + seconds)
        try:
            yield
        finally:
            _GIVE_UP_AT.reset(token)

    def defer(self, seconds: float) -> None:
        """Send nothing to arXiv for `seconds` (a Retry-After remembered from an earlier run)."""
        self.throttle.defer(seconds)

    def _give_up_at(self) -> float:
        window = _GIVE_UP_AT.get()
        return window if window is not None else self.throttle.clock() + MAX_RETRY_AFTER_S

    # -- retries -----------------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt + 1`: exponential, with jitter."""
        base = max(self.config.min_interval_s, 0.001) * 2.0**attempt
        delay = min(MAX_BACKOFF_S, base)
        return delay / 2 + self._rng.uniform(0, delay / 2)

    def unreachable(self, host: str) -> ArxivUnreachable | None:
        """Why `host` could not be reached a moment ago (requests to it fail at once for a while)."""
        marked = self._unreachable.get(host)
        if marked is not None and time.monotonic() - marked[0] < UNREACHABLE_FOR_S:
            return marked[1]
        return None

    def forget_unreachable(self) -> None:
        """Give every host a new chance (a new harvest run)."""
        self._unreachable.clear()

    def _check_reachable(self, host: str) -> None:
        down = self.unreachable(host)
        if down is not None:
            raise down

    async def _with_retries(
        self, what: str, host: str, attempt_fn: Callable[[], Awaitable[T]], retries: int | None = None
    ) -> T:
        self._check_reachable(host)
        tries = (self.config.max_retries if retries is None else min(retries, self.config.max_retries)) + 1
        unfixable = 0
        give_up_at = self._give_up_at()
        token = _GIVE_UP_AT.set(give_up_at)
        try:
            for attempt in range(tries):
                unfixed = None
                try:
                    return await attempt_fn()
                except ArxivDeferred:
                    raise  # nothing was sent; the caller's window is too short for arXiv's wait
                except arxiv.HTTPError as err:
                    if err.status not in RETRY_STATUSES:  # the session raises those first
                        raise ArxivUnavailable(f"arXiv refused {what}: HTTP {err.status}") from err
                    reason = f"HTTP {err.status}"
                except RetryableResponse as err:
                    reason = str(err)
                    if err.retry_after and self.throttle.clock() + err.retry_after > give_up_at:
                        raise ArxivDeferred(
                            f"arXiv asked paperbot to wait {err.retry_after:.0f} s before {what}"
                            " (Retry-After); that is past this run's window",
                            err.retry_after,
                        ) from None
                except MalformedFeed as err:
                    reason = str(err)
                except (arxiv.UnexpectedEmptyPageError, _EmptyPage):
                    reason = "an unexpectedly empty page"
                except requests.Timeout:
                    reason = f"no complete answer within {self.config.timeout_s:g} s"
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
                    unfixed = unreachable_reason(err)
                    reason = unfixed or f"connection failed ({type(err).__name__})"
                if unfixed is not None:
                    unfixable += 1
                    if unfixable >= UNFIXABLE_TRIES or attempt == tries - 1:
                        down = ArxivUnreachable(host, unfixed)
                        self._unreachable[host] = (time.monotonic(), down)
                        raise down
                if attempt == tries - 1:
                    break
                delay = self.backoff(attempt)
                if unfixed is not None:
                    log.warning("arXiv %s: %s; one more try in %.1f s", what, reason, delay)
                else:
                    log.warning(
                        "arXiv %s: %s; retry %d/%d in %.1f s", what, reason, attempt + 1, tries - 1, delay
                    )
                await self._backoff_sleep(delay)  # and the throttle holds off for any Retry-After
        finally:
            _GIVE_UP_AT.reset(token)
        raise ArxivUnavailable(f"arXiv is unavailable: {what} failed {tries} times, last with {reason}")

    # -- announcement feeds ------------------------------------------------------------------------

    def feed_url(self, categories: Sequence[str], fmt: str = "atom") -> str:
        """`https://rss.arxiv.org/atom/cs.CV+cs.LG`."""
        return f"{self.config.feed_url.rstrip('/')}/{fmt}/{'+'.join(categories)}"

    async def fetch_feed(self, categories: Sequence[str], fmt: str = "atom") -> FeedResult:
        """Today's announcements for `categories` (one request, retried as needed)."""
        if not categories:
            raise ValueError("no categories")
        url = self.feed_url(categories, fmt)

        def get() -> FeedResult:
            response = self.session.get(url)
            if response.status_code != 200:
                raise arxiv.HTTPError(url, 0, response.status_code)
            parsed = parse_feed(response.content)
            return FeedResult(url, parsed.papers, parsed.announced, parsed.items, parsed.skipped)

        async def attempt() -> FeedResult:
            return await self._in_thread(get)

        return await self._with_retries(f"GET {url}", self.feed_host, attempt)

    # -- the API -----------------------------------------------------------------------------------

    async def _search(
        self, search: arxiv.Search, page_size: int, what: str, retries: int | None = None
    ) -> list[Paper]:
        client = self._arxiv_client(page_size)
        got: list[Any] = []

        def run(offset: int) -> None:
            # Results land in `got` as they come, so a retry resumes after the last good page.
            for result in client.results(search, offset=offset):
                got.append(result)

        async def attempt() -> None:
            before = len(got)
            if search.max_results is not None and before >= search.max_results:
                return
            await self._in_thread(run, before)
            if before and len(got) == before:
                # We only resume after a failure mid-way, so more results exist than we have.
                raise _EmptyPage

        await self._with_retries(what, self.api_host, attempt, retries)
        papers: dict[str, Paper] = {}
        for result in got:
            paper = _result_to_paper(result)
            if paper is not None:
                papers.setdefault(paper.arxiv_id, paper)
        return list(papers.values())

    async def fetch_by_ids(self, ids: Sequence[str], retries: int | None = None) -> list[Paper]:
        """Full records (comment, journal ref, DOI) of `ids`, in batches of 100; unknown ids are absent.

        `retries` (at most the configured number) shortens the wait when someone is waiting.
        """
        unique = list(dict.fromkeys(ids))
        found: list[Paper] = []
        for start in range(0, len(unique), ID_BATCH):
            batch = unique[start : start + ID_BATCH]
            search = arxiv.Search(id_list=batch, max_results=len(batch))
            found.extend(await self._search(search, ID_BATCH, f"id_list of {len(batch)} ids", retries))
        return found

    async def search(
        self, search_query: str, max_results: int, retries: int | None = None, *, by_update: bool = False
    ) -> list[Paper]:
        """The newest `max_results` papers matching an API query such as `ti:"video retrieval"`.

        Newest by submission, or with `by_update` by their last version (as DailyArXiv lists them).
        """
        search = arxiv.Search(
            query=search_query,
            max_results=max_results,
            sort_by=arxiv.SortCriterion.LastUpdatedDate if by_update else arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Descending,
        )
        page = min(max(max_results, 1), SEARCH_PAGE)
        return await self._search(search, page, f"search {search_query!r}", retries)

    async def fetch_recent(self, categories: Sequence[str], start: datetime, end: datetime) -> list[Paper]:
        """Papers in `categories` submitted in [start, end): the fallback when a feed is unavailable."""
        fmt = "%Y%m%d%H%M"
        window = f"submittedDate:[{start.astimezone(UTC):{fmt}} TO {end.astimezone(UTC):{fmt}}]"
        cats = " OR ".join(category_clause(c) for c in categories)
        query = f"({cats}) AND {window}"
        search = arxiv.Search(
            query=query,
            max_results=None,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Ascending,
        )
        return await self._search(search, RECENT_PAGE, f"recent papers in {len(categories)} categories")
