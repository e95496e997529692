"""A local fake of arXiv: the API (`/api/query`, Atom with opensearch/arxiv namespaces) and the
announcement feeds (`/atom/<cats>`, `/rss/<cats>`), on 127.0.0.1 port 0, in a thread.

It runs in its own threads (the arxiv library is synchronous and runs in a worker thread), records
every request (path, query, monotonic time, User-Agent) and plays scripted faults from a queue:
`server.script(Fault.status(503), Fault.ok(), ...)`; each request takes the next scripted
response whose `path_prefix` matches, and is served normally when there is none.

Days pass under the test's control: `publish(day, papers)` makes papers that day's announcement
(the API then finds its new submissions by their submission window, as arXiv's does) and
`today(day)` makes the feeds show that day's. `stale(prefix, day)` keeps one feed group on an older
day; `down()`/`up()` refuse connections altogether; `Fault.trickle` answers a byte at a time.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from bot.arxiv.calendar import holiday_dates, latest_announcement, submission_window
from bot.models import Paper
from tests.fakes.arxiv_formats import (
    api_error,
    api_page,
    atom_feed,
    evaluate,
    in_categories,
    rss_feed,
    tokens,
)

ET = ZoneInfo("America/New_York")
FEED_LIMIT = 2000  # arXiv's feeds return at most this many items per request
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "arxiv_sample.jsonl"


def load_sample(path: Path = SAMPLE) -> list[Paper]:
    """The real records in tests/data/arxiv_sample.jsonl as papers."""
    papers = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        papers.append(
            Paper(
                arxiv_id=r["arxiv_id"],
                version=int(r["version"]),
                title=r["title"],
                abstract=r["abstract"],
                authors=tuple(r["authors"]),
                categories=tuple(r["categories"]),
                comment=r.get("comment"),
                journal_ref=r.get("journal_ref"),
                doi=r.get("doi"),
                published=datetime.fromisoformat(r["published"].replace("Z", "+00:00")),
                updated=datetime.fromisoformat(r["updated"].replace("Z", "+00:00")),
            )
        )
    return papers


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted response. kind: ok | status | delay | html | malformed | empty | close | trickle."""

    kind: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    path_prefix: str = "/"

    @staticmethod
    def trickle(bytes_per_s: float = 20.0, path_prefix: str = "/") -> Fault:
        """Answer normally, status line and headers included, but a byte at a time: no read ever
        waits long, so only a deadline on the whole request ends it."""
        return Fault("trickle", delay=1.0 / bytes_per_s, path_prefix=path_prefix)

    @staticmethod
    def ok(path_prefix: str = "/") -> Fault:
        return Fault("ok", path_prefix=path_prefix)

    @staticmethod
    def http(status: int, retry_after: str | None = None, path_prefix: str = "/") -> Fault:
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return Fault("status", status, headers, path_prefix=path_prefix)

    @staticmethod
    def slow(delay: float, path_prefix: str = "/") -> Fault:
        """Answer normally, but only after `delay` seconds (past the client's timeout)."""
        return Fault("delay", delay=delay, path_prefix=path_prefix)

    @staticmethod
    def html(path_prefix: str = "/") -> Fault:
        return Fault("html", path_prefix=path_prefix)

    @staticmethod
    def malformed(path_prefix: str = "/") -> Fault:
        return Fault("malformed", path_prefix=path_prefix)

    @staticmethod
    def empty(path_prefix: str = "/") -> Fault:
        """A well-formed answer with no entries (an API page, or a feed with no items)."""
        return Fault("empty", path_prefix=path_prefix)

    @staticmethod
    def close(path_prefix: str = "/") -> Fault:
        """Drop the connection without answering."""
        return Fault("close", path_prefix=path_prefix)


@dataclass(frozen=True, slots=True)
class Recorded:
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    user_agent: str
    status: int = 0


@dataclass
class _State:
    papers: dict[str, Paper] = field(default_factory=dict)
    announcements: list[Paper] = field(default_factory=list)
    feed_day: date | None = None
    archive: dict[date, list[Paper]] = field(default_factory=dict)  # each day's announcement
    stale: dict[str, date] = field(default_factory=dict)  # feed path prefix -> the day it still shows
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Trickle:
    """A response stream that writes one byte every `delay` seconds."""

    def __init__(self, out: BinaryIO, delay: float, stopping: threading.Event) -> None:
        self._out = out
        self._delay = delay
        self._stopping = stopping
        self.closed = False

    def write(self, data: bytes) -> int:
        for i in range(len(data)):
            if self._stopping.wait(self._delay):
                raise BrokenPipeError("server stopping")
            self._out.write(data[i : i + 1])
            self._out.flush()
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self.closed = True
        self._out.close()


# -- the server ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    _index: int = 0  # this request's place in `state.requests`

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        arrived = time.monotonic()
        fault = None
        with state.lock:
            for f in state.faults:
                if url.path.startswith(f.path_prefix):
                    fault = f
                    state.faults.remove(f)
                    break
            # Recorded on arrival: a client that timed out must see its request counted.
            self._index = len(state.requests)
            state.requests.append(Recorded(url.path, query, arrived, self.headers.get("User-Agent", "")))
        self._serve(url.path, query, fault)

    def _send(self, status: int, body: bytes, ctype: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        # The status is recorded before the answer goes out: a client that has read it may be
        # asserting on it while this thread is still here.
        state = self.server.state
        with state.lock:
            state.requests[self._index] = replace(state.requests[self._index], status=status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _serve(self, path: str, query: dict[str, str], fault: Fault | None) -> None:
        kind = fault.kind if fault else "ok"
        if kind == "trickle":
            assert fault is not None
            self.wfile = _Trickle(self.wfile, fault.delay, self.server.state.stopping)  # type: ignore[assignment]
        if kind == "close":
            self.close_connection = True
            self.connection.close()
            return  # recorded with no status: nothing was answered
        if kind == "status":
            assert fault is not None
            return self._send(
                fault.status, b"<html><body>Service Unavailable</body></html>", "text/html", fault.headers
            )
        if kind == "html":
            page = b"<!DOCTYPE html><html><head><title>arXiv</title></head><body>We are down</body></html>"
            return self._send(200, page, "text/html; charset=utf-8")
        if kind == "delay":
            assert fault is not None
            time.sleep(fault.delay)
        if path.startswith("/api/query"):
            return self._api(query, empty=kind == "empty", malformed=kind == "malformed")
        m = re.fullmatch(r"/(atom|rss)/(.+)", path)
        if m:
            return self._feed(
                m.group(1), unquote(m.group(2)), empty=kind == "empty", malformed=kind == "malformed"
            )
        return self._send(404, b"not found", "text/plain")

    def _api(self, query: dict[str, str], *, empty: bool, malformed: bool) -> None:
        state = self.server.state
        start = int(query.get("start", "0") or 0)
        per_page = int(query.get("max_results", "10") or 10)
        with state.lock:
            papers = list(state.papers.values())
        id_list = [i for i in query.get("id_list", "").split(",") if i]
        if id_list:
            bad = [
                i
                for i in id_list
                if not re.fullmatch(r"(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})(v\d+)?", i)
            ]
            if bad:
                return self._send(400, api_error(f"incorrect id format for {bad[0]}"), "application/atom+xml")
            by_id = {p.arxiv_id: p for p in papers}
            bases = [re.sub(r"v\d+$", "", i) for i in id_list]
            hits = [by_id[b] for b in bases if b in by_id]
        else:
            terms = tokens(query.get("search_query", ""))
            hits = [p for p in papers if evaluate(terms, p)]
            reverse = query.get("sortOrder", "descending") == "descending"
            by = query.get("sortBy")
            if by in ("submittedDate", "lastUpdatedDate"):
                hits.sort(
                    key=lambda p: (
                        (p.updated if by == "lastUpdatedDate" else None)
                        or p.published
                        or datetime.min.replace(tzinfo=UTC),
                        p.arxiv_id,
                    ),
                    reverse=reverse,
                )
        page = [] if empty else hits[start : start + per_page]
        body = api_page(page, len(hits), start, per_page, "&".join(f"{k}={v}" for k, v in query.items()))
        if malformed:
            body = body[: len(body) // 2]
        return self._send(200, body, "application/atom+xml; charset=UTF-8")

    def _feed(self, fmt: str, cats: str, *, empty: bool, malformed: bool) -> None:
        state = self.server.state
        wanted = cats.split("+")
        with state.lock:
            stale = next(
                (d for prefix, d in state.stale.items() if f"/{fmt}/{cats}".startswith(prefix)), None
            )
            shown = state.announcements if stale is None else state.archive.get(stale, [])
            items = [] if empty else [p for p in shown if in_categories(p, wanted)]
            day = state.feed_day if stale is None else stale
        items = items[:FEED_LIMIT]
        body = (atom_feed if fmt == "atom" else rss_feed)(cats, items, day)
        if malformed:
            body = body[: len(body) * 2 // 3]
        ctype = "application/atom+xml" if fmt == "atom" else "application/rss+xml"
        return self._send(200, body, ctype + "; charset=utf-8")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class FakeArxiv:
    """The fake server. Use as a context manager or call start()/stop()."""

    def __init__(self, papers: Iterable[Paper] = (), *, holidays: Collection[date] | None = None) -> None:
        self.state = _State()
        self.add_papers(papers)
        self.holidays = holiday_dates() if holidays is None else holidays
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- content --
    def add_papers(self, papers: Iterable[Paper]) -> None:
        """Papers the API knows (by id, newest version wins)."""
        with self.state.lock:
            for p in papers:
                self.state.papers[p.arxiv_id] = p

    def announce(
        self, papers: Iterable[Paper], day: date | None, *, announce_type: str | None = None
    ) -> None:
        """Set the feeds' content: today's announcements (announce_type from each paper unless given)."""
        items = [replace(p, announce_type=announce_type or p.announce_type or "new") for p in papers]
        with self.state.lock:
            self.state.announcements = items
            self.state.feed_day = day

    def publish(self, day: date, papers: Iterable[Paper]) -> list[Paper]:
        """`papers` are arXiv's announcement of `day`: the feeds show them while `today(day)`, and the
        API knows them all. New submissions were made in the day's window (the API finds them by
        submittedDate); cross-lists and replacements keep their own, older dates, as a paper
        cross-listed or revised later does. Returns them."""
        papers = list(papers)
        start, end = submission_window(day, self.holidays)
        step = (end - start) / (len(papers) + 1)
        items = []
        for i, p in enumerate(papers):
            kind = p.announce_type or "new"
            if kind == "new":
                p = replace(p, published=(start + step * (i + 1)).astimezone(UTC))
            items.append(replace(p, announce_type=kind))
        with self.state.lock:
            self.state.archive[day] = items
            for p in items:
                self.state.papers[p.arxiv_id] = replace(p, announce_type=None)
            if self.state.feed_day == day:
                self.state.announcements = items
        return items

    def publish_latest(self, papers: Iterable[Paper]) -> date:
        """`papers` are arXiv's latest announcement as of the real clock, as `paperbot harvest` run now
        sees it: in the feeds on an announcement day, through the API on a weekend or holiday."""
        now = datetime.now(ET)
        day = latest_announcement(now, self.holidays)
        self.publish(day, papers)
        self.today(now.date())
        return day

    def today(self, day: date) -> None:
        """The feeds show `day`'s announcement (empty if nothing was published for it)."""
        with self.state.lock:
            self.state.announcements = list(self.state.archive.get(day, []))
            self.state.feed_day = day

    def stale(self, path_prefix: str, day: date | None) -> None:
        """Feeds under `path_prefix` (`/atom/math`) still show `day`'s announcement (None: no longer)."""
        with self.state.lock:
            if day is None:
                self.state.stale.pop(path_prefix, None)
            else:
                self.state.stale[path_prefix] = day

    def script(self, *faults: Fault) -> None:
        """Queue scripted responses for the next matching requests."""
        with self.state.lock:
            self.state.faults.extend(faults)

    # -- observation --
    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.requests)

    def gaps(self) -> list[float]:
        """Seconds between the arrivals of consecutive requests."""
        times = [r.at for r in self.requests]
        return [b - a for a, b in itertools.pairwise(times)]

    def reset_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    # -- lifecycle --
    @property
    def base_url(self) -> str:
        assert self._port, "server not started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/query"

    @property
    def feed_url(self) -> str:
        return self.base_url

    def start(self) -> FakeArxiv:
        self.state.stopping.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.state = self.state
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-arxiv", daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening: connections are refused until `up()` (same port)."""
        self.stop()

    def up(self) -> None:
        self.start()

    def stop(self) -> None:
        self.state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeArxiv:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running(papers: Iterable[Paper] = ()) -> Iterator[FakeArxiv]:
    """A generator for pytest fixtures: a started server, stopped afterwards."""
    server = FakeArxiv(papers).start()
    try:
        yield server
    finally:
        server.stop()
