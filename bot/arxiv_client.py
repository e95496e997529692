"""The one polite arXiv client: announcement feeds and the API (arxiv library) behind one limiter.

arXiv asks for at most one request every 3 seconds over one connection, across API, RSS and OAI
together. Every request paperbot sends to arXiv goes through one `PoliteSession` (a requests
session with a single pooled connection), whose `send` waits for the shared async `Throttle`
before the request leaves and stamps it when the response is in. The arxiv library gets the same
session, with its own delay and retries switched off, so there is exactly one limiter and one
retry policy (here): exponential backoff with jitter on 429/5xx, timeouts, connection errors,
malformed or HTML answers and unexpectedly empty pages, honouring Retry-After.

The arxiv library and requests are synchronous: every call runs in a worker thread
(`asyncio.to_thread`); the worker blocks on the throttle through the event loop, never the loop on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import random
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import arxiv
import requests
from requests.adapters import HTTPAdapter

from bot import __version__, metrics
from bot.arxiv_ids import parse_arxiv_id
from bot.config import ArxivConfig
from bot.errors import ArxivUnavailable
from bot.feeds import MalformedFeed, parse_feed
from bot.models import Paper

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 120.0
# A Retry-After longer than this is not waited out inside one call: the caller's schedule
# (re-polls, the next harvest) comes back later instead of holding a job for an hour.
MAX_RETRY_AFTER_S = 300.0
# Archives whose categories are `archive.SUBJECT` (cs.CV); the rest (hep-th, gr-qc, ...) are one category.
ARCHIVES_WITH_SUBJECTS = frozenset(
    {"astro-ph", "cond-mat", "cs", "econ", "eess", "math", "nlin", "physics", "q-bio", "q-fin", "stat"}
)
ID_BATCH = 100  # ids per id_list request, the API's page size for them
SEARCH_PAGE = 100
RECENT_PAGE = 1000  # the API allows up to 2000 a page; 1000 keeps each response a few MB


class RetryableResponse(Exception):
    """arXiv answered, but not usefully (429, 5xx, HTML, broken XML): worth asking again."""

    def __init__(self, reason: str, retry_after: float | None = None, *, code: str = "malformed") -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.code = code  # the failure's metrics label: http_<status>, html, malformed


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


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) as seconds from now; None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Throttle:
    """At most one request at a time, and `interval` seconds from the end of one to the start of the next."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._not_before = -math.inf

    async def acquire(self) -> None:
        """Wait for the connection and for the interval since the previous request to pass."""
        await self._lock.acquire()
        try:
            while (wait := self._not_before - self._clock()) > 0:
                await self._sleep(wait)
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        """The request is over: the next may start `interval` seconds from now."""
        self._not_before = max(self._not_before, self._clock() + self.interval)
        self._lock.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class PoliteSession(requests.Session):
    """A requests session that sends every request through a gate, with our User-Agent and a timeout.

    One pooled connection: arXiv asks for one connection at a time.
    """

    def __init__(self, user_agent: str, timeout: float, api_url: str = "") -> None:
        super().__init__()
        self.user_agent = user_agent
        self.timeout = timeout
        self.api_url = api_url  # requests under it are "api" in the metrics, the rest "feed"
        self.gate: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext
        self.requests_made = 0
        self._count_lock = threading.Lock()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0, pool_block=True)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = user_agent

    def send(self, request: Any, **kwargs: Any) -> Any:
        # The arxiv library sets its own user-agent on every request and never a timeout.
        request.headers["User-Agent"] = self.user_agent
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        endpoint = "api" if self.api_url and str(request.url).startswith(self.api_url) else "feed"
        with self.gate():
            with self._count_lock:
                self.requests_made += 1
            metrics.arxiv_request(endpoint)
            log.debug("GET %s", request.url)
            try:
                response = super().send(request, **kwargs)
                _ = response.content  # read the body while we hold the connection
            except requests.RequestException as err:
                metrics.arxiv_failed(
                    endpoint, "timeout" if isinstance(err, requests.Timeout) else "connection"
                )
                raise
        try:
            check_response(response)
        except RetryableResponse as err:
            metrics.arxiv_failed(endpoint, err.code)
            raise
        if int(response.status_code) >= 400:
            metrics.arxiv_failed(endpoint, f"http_{int(response.status_code)}")
        return response


def check_response(response: Any) -> None:
    """Raise RetryableResponse for answers worth retrying: 429/5xx, and 200s that are not XML feeds."""
    status = int(response.status_code)
    if status in RETRY_STATUSES:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise RetryableResponse(f"HTTP {status}", retry_after, code=f"http_{status}")
    if status != 200:
        return  # other client errors are not retried; the caller reports them
    body: bytes = response.content
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        head = body[:200].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise RetryableResponse("an HTML page instead of a feed", code="html") from None
        raise RetryableResponse(f"malformed XML ({err})") from None
    if root.tag.rsplit("}", 1)[-1] not in ("feed", "rss", "RDF"):
        raise RetryableResponse(f"not a feed (<{root.tag}>)")


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
        self._clients: dict[int, arxiv.Client] = {}

    @property
    def requests_made(self) -> int:
        """HTTP requests sent to arXiv so far, retries included."""
        return int(self.session.requests_made)

    def close(self) -> None:
        """Close the connection."""
        self.session.close()

    # -- the limiter, entered from worker threads -------------------------------------------------

    @contextlib.contextmanager
    def _gate(self) -> Iterator[None]:
        loop = self._loop
        if loop is None:
            raise RuntimeError("ArxivClient requests must be made through its async methods")
        asyncio.run_coroutine_threadsafe(self.throttle.acquire(), loop).result()
        try:
            yield
        finally:
            loop.call_soon_threadsafe(self.throttle.release)

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

    # -- retries -----------------------------------------------------------------------------------

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1`: exponential, jittered, at least Retry-After."""
        base = max(self.config.min_interval_s, 0.001) * 2.0**attempt
        delay = min(MAX_BACKOFF_S, base)
        jittered = delay / 2 + self._rng.uniform(0, delay / 2)
        return max(jittered, retry_after or 0.0)

    async def _with_retries(
        self, what: str, attempt_fn: Callable[[], Awaitable[T]], retries: int | None = None
    ) -> T:
        tries = (self.config.max_retries if retries is None else min(retries, self.config.max_retries)) + 1
        for attempt in range(tries):
            try:
                return await attempt_fn()
            except arxiv.HTTPError as err:
                if err.status in RETRY_STATUSES:  # the session raises first; kept for safety
                    reason, retry_after = f"HTTP {err.status}", None
                else:
                    raise ArxivUnavailable(f"arXiv refused {what}: HTTP {err.status}") from err
            except RetryableResponse as err:
                reason, retry_after = str(err), err.retry_after
            except MalformedFeed as err:
                reason, retry_after = str(err), None
            except (arxiv.UnexpectedEmptyPageError, _EmptyPage):
                reason, retry_after = "an unexpectedly empty page", None
            except requests.Timeout:
                reason, retry_after = f"no answer within {self.config.timeout_s:g} s", None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
                reason, retry_after = f"connection failed ({type(err).__name__})", None
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                raise ArxivUnavailable(
                    f"arXiv is unavailable for {what}: asked to retry after {retry_after:.0f} s"
                )
            if attempt == tries - 1:
                break
            delay = self.backoff(attempt, retry_after)
            log.warning("arXiv %s: %s; retry %d/%d in %.1f s", what, reason, attempt + 1, tries - 1, delay)
            await self._backoff_sleep(delay)
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

        return await self._with_retries(f"GET {url}", attempt)

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

        await self._with_retries(what, attempt, retries)
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

    async def search(self, search_query: str, max_results: int, retries: int | None = None) -> list[Paper]:
        """The newest `max_results` papers matching an API query such as `ti:"video retrieval"`."""
        search = arxiv.Search(
            query=search_query,
            max_results=max_results,
            sort_by=arxiv.SortCriterion.SubmittedDate,
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
