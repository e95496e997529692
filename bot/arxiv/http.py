"""The HTTP side of talking to arXiv: one limiter, one connection, a deadline on every request.

`Throttle` is the process-wide limiter (one request at a time, `interval` seconds between them,
and the quiet arXiv asks for with Retry-After). `PoliteSession` is the requests session every
arXiv request goes through, from worker threads: it passes the throttle's gate, sends our
User-Agent, and gives each request a total deadline. requests' own timeout is per socket read, so a
server that trickles a byte a second would never trip it; here a watchdog shuts the socket down
when the deadline passes and lets go of the gate at that moment, whatever the worker thread is
still doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from bot.errors import ArxivDeferred
from bot.ops import metrics

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Gate = Callable[[], contextlib.AbstractContextManager[Callable[[], None]]]


class RetryableResponse(Exception):
    """arXiv answered, but not usefully (429, 5xx, HTML, broken XML): worth asking again."""

    def __init__(self, reason: str, retry_after: float | None = None, *, code: str = "malformed") -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.code = code  # the failure's metrics label: http_<status>, html, malformed


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
    """At most one request at a time, `interval` seconds from the end of one to the start of the next,
    and nothing at all while arXiv has asked for quiet (Retry-After)."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._not_before = -math.inf
        self._quiet_until = -math.inf

    def defer(self, seconds: float) -> None:
        """arXiv asked for `seconds` of quiet: no request starts before then."""
        self._quiet_until = max(self._quiet_until, self.clock() + seconds)

    @property
    def quiet_for(self) -> float:
        """Seconds until arXiv's Retry-After has passed (0 when it has)."""
        return max(0.0, self._quiet_until - self.clock())

    def _check(self, give_up_at: float | None) -> None:
        if give_up_at is not None and self._quiet_until > give_up_at:
            wait = self.quiet_for
            raise ArxivDeferred(f"arXiv asked for no requests for another {wait:.0f} s (Retry-After)", wait)

    async def acquire(self, give_up_at: float | None = None) -> None:
        """Wait for the connection, arXiv's Retry-After and the interval since the previous request.

        Raises ArxivDeferred at once when the Retry-After reaches past `give_up_at` (throttle clock).
        """
        while True:
            self._check(give_up_at)
            if (quiet := self._quiet_until - self.clock()) > 0:
                # Waited out without the lock: a caller with a shorter window can still give up.
                await self._sleep(quiet)
                continue
            await self._lock.acquire()
            try:
                if self._quiet_until > self.clock():  # a Retry-After arrived while we queued
                    self._lock.release()
                    continue
                while (wait := self._not_before - self.clock()) > 0:
                    await self._sleep(wait)
            except BaseException:
                self._lock.release()
                raise
            return

    def release(self) -> None:
        """The request is over: the next may start `interval` seconds from now."""
        self._not_before = max(self._not_before, self.clock() + self.interval)
        self._lock.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


# -- a deadline on the whole request ---------------------------------------------------------------

_watched = threading.local()  # the Deadline of the request this worker thread is sending


class Deadline:
    """A request's total time limit: when it passes, the socket is shut down and `on_expire` runs."""

    def __init__(self, seconds: float, on_expire: Callable[[], None]) -> None:
        self.seconds = seconds
        self.expired = False
        self._on_expire = on_expire
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        _watched.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _watched.deadline = None

    def attach(self, sock: socket.socket | None) -> None:
        """The socket the request runs on (a new connection, or one reused from the pool)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            _shut(self._sock)
        self._on_expire()


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        # The plain socket's shutdown even for TLS: it wakes the thread blocked in recv at once,
        # without touching the TLS object that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _attach(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_watched, "deadline", None)
    if deadline is not None:
        deadline.attach(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection: connect() is not called again
            _attach(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _attach(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections report their socket to the running request's Deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools bring their own connection classes
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


class PoliteSession(requests.Session):
    """A requests session that sends every request through a gate, with our User-Agent and a deadline.

    One kept connection: arXiv asks for one connection at a time (the gate serialises requests).
    """

    def __init__(self, user_agent: str, timeout: float, api_url: str = "") -> None:
        super().__init__()
        self.user_agent = user_agent
        self.timeout = timeout
        self.api_url = api_url  # requests under it are "api" in the metrics, the rest "feed"
        self.gate: Gate = _no_gate
        self.on_retry_after: Callable[[float], None] = lambda seconds: None
        self.requests_made = 0
        self._count_lock = threading.Lock()
        # Not blocking on the pool: a request abandoned at its deadline may still hold the one
        # connection in its thread (stuck in a name lookup); the next must not queue behind it.
        adapter = _WatchedAdapter(pool_connections=1, pool_maxsize=1, max_retries=0, pool_block=False)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = user_agent

    def send(self, request: Any, **kwargs: Any) -> Any:
        # The arxiv library sets its own user-agent on every request and never a timeout. The socket
        # timeouts only bound each connect and read; the Deadline bounds the whole.
        request.headers["User-Agent"] = self.user_agent
        kwargs["timeout"] = (self.timeout, self.timeout)
        kwargs["allow_redirects"] = False  # a redirect would re-enter the gate; arXiv sends none
        endpoint = "api" if self.api_url and str(request.url).startswith(self.api_url) else "feed"
        with self.gate() as release:
            with self._count_lock:
                self.requests_made += 1
            metrics.arxiv_request(endpoint)
            log.debug("GET %s", request.url)
            with Deadline(self.timeout, release) as deadline:
                try:
                    response = super().send(request, **kwargs)
                    _ = response.content  # read the body while we hold the connection
                except (requests.RequestException, OSError) as err:
                    timed_out = deadline.expired or isinstance(err, requests.Timeout)
                    metrics.arxiv_failed(endpoint, "timeout" if timed_out else "connection")
                    if deadline.expired:
                        raise requests.Timeout(f"no complete answer within {self.timeout:g} s") from err
                    raise
            if deadline.expired:  # the cut may also look like a short answer that ended early
                metrics.arxiv_failed(endpoint, "timeout")
                raise requests.Timeout(f"no complete answer within {self.timeout:g} s")
            if int(response.status_code) in RETRY_STATUSES:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait:
                    self.on_retry_after(wait)  # before the gate opens for anyone else
        try:
            check_response(response)
        except RetryableResponse as err:
            metrics.arxiv_failed(endpoint, err.code)
            raise
        if int(response.status_code) >= 400:
            metrics.arxiv_failed(endpoint, f"http_{int(response.status_code)}")
        return response


@contextlib.contextmanager
def _no_gate() -> Iterator[Callable[[], None]]:
    yield lambda: None


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
