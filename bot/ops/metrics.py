"""The Prometheus metrics paperbot exports on `/metrics`, and one-line helpers to record them.

Metrics are per process, as Prometheus expects, so they live in one registry of this module
(not prometheus-client's global default registry, which other libraries may also fill).
Counters only ever grow: a dashboard shows rates and increases, e.g. papers stored per day
is `increase(paperbot_papers_stored_total[1d])`, and the latest announcement day's count is
`paperbot_harvest_papers`. Label values come from small fixed sets (platforms, command names,
reasons), never from user input, so the number of series stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from datetime import time as daytime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from bot import __version__

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

BUILD_INFO = Gauge(
    "paperbot_build_info", "The running paperbot's version (always 1)", ["version"], registry=REGISTRY
)
BUILD_INFO.labels(__version__).set(1)

ARXIV_REQUESTS = Counter(
    "paperbot_arxiv_requests",
    "HTTP requests sent to arXiv, retries included",
    ["endpoint"],  # feed | api
    registry=REGISTRY,
)
ARXIV_FAILURES = Counter(
    "paperbot_arxiv_request_failures",
    "arXiv requests that failed: timeout, connection, http_<status>, html or malformed answers",
    ["endpoint", "reason"],
    registry=REGISTRY,
)
PAPERS_STORED = Counter(
    "paperbot_papers_stored",
    "Papers stored by harvests, by announcement type (new, cross, replace)",
    ["announce_type"],
    registry=REGISTRY,
)
HARVEST_PAPERS = Gauge(
    "paperbot_harvest_papers",
    "Papers of the latest harvested announcement day, by announcement type",
    ["announce_type"],
    registry=REGISTRY,
)
HARVEST_ANNOUNCED = Gauge(
    "paperbot_harvest_announced_timestamp_seconds",
    "The latest announcement day harvested successfully (midnight UTC of that day)",
    registry=REGISTRY,
)
HARVEST_SECONDS = Histogram(
    "paperbot_harvest_duration_seconds",
    "How long a harvest took, by outcome (ok, waiting, failed, nothing)",
    ["status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
DIGESTS_POSTED = Counter(
    "paperbot_digests_posted",
    "Digests posted in full (parent, cards, footer)",
    ["platform"],
    registry=REGISTRY,
)
CARDS_POSTED = Counter(
    "paperbot_cards_posted", "Paper cards posted in digest threads", ["platform"], registry=REGISTRY
)
DELIVERY_FAILURES = Counter(
    "paperbot_delivery_failures",
    "Digest deliveries that failed: unreachable (channel gone, bot removed, no permission), "
    "no_adapter, error",
    ["platform", "reason"],
    registry=REGISTRY,
)
COMMAND_SECONDS = Histogram(
    "paperbot_command_duration_seconds",
    "Time from a command (or DM) reaching the core to its reply",
    ["command", "platform"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

_COMMANDS = frozenset(
    {"track", "untrack", "tracked", "settings", "papers", "abstract", "digest", "help", "dm"}
)


def arxiv_request(endpoint: str) -> None:
    ARXIV_REQUESTS.labels(endpoint).inc()


def arxiv_failed(endpoint: str, reason: str) -> None:
    ARXIV_FAILURES.labels(endpoint, reason).inc()


def harvested(status: str, seconds: float, days: Sequence[tuple[date, dict[str, int]]] = ()) -> None:
    """A harvest ended (`status` as its report says); `days`: each day it stored, announce type -> papers."""
    HARVEST_SECONDS.labels(status).observe(seconds)
    for _, counts in days:
        for announce_type, n in counts.items():
            PAPERS_STORED.labels(announce_type).inc(n)
    if not days:
        return
    # A catch-up reads older days too: the gauges show the newest day this harvest stored.
    announced, counts = max(days, key=lambda d: d[0])
    for announce_type, n in counts.items():
        HARVEST_PAPERS.labels(announce_type).set(n)
    HARVEST_ANNOUNCED.set(datetime.combine(announced, daytime(), UTC).timestamp())


def digest_posted(platform: str) -> None:
    """A digest is complete: its parent, every card and its footer are on the platform."""
    DIGESTS_POSTED.labels(platform).inc()


def card_posted(platform: str) -> None:
    CARDS_POSTED.labels(platform).inc()


def delivery_failed(platform: str, reason: str) -> None:
    DELIVERY_FAILURES.labels(platform, reason).inc()


@contextmanager
def command_timer(command: str, platform: str) -> Iterator[None]:
    """Time a command; unknown names are one label (`other`) so typos cannot grow the series."""
    name = command.casefold()
    started = time.perf_counter()
    try:
        yield
    finally:
        label = name if name in _COMMANDS else "other"
        COMMAND_SECONDS.labels(label, platform).observe(time.perf_counter() - started)
