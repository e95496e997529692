"""A local fake of arXiv: the API (`/api/query`, Atom with opensearch/arxiv namespaces) and the
announcement feeds (`/atom/<cats>`, `/rss/<cats>`), on 127.0.0.1 port 0, in a thread.

It runs in its own threads (the arxiv library is synchronous and runs in a worker thread), records
every request (path, query, monotonic time, User-Agent) and plays scripted faults from a queue:
`server.script(Fault.status(503), Fault.ok(), ...)`; each request takes the next scripted
response whose `path_prefix` matches, and is served normally when there is none.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from datetime import time as dtime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from bot.models import Paper

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
    """One scripted response. kind: ok | status | delay | html | malformed | empty | close."""

    kind: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    path_prefix: str = "/"

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
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- the API's query language, as much as paperbot uses ------------------------------------------

_TOKEN = re.compile(
    r'\s*(\(|\)|ANDNOT\b|AND\b|OR\b|\w+:\[[^\]]*\]|\w+:"[^"]*"|\w+:[^\s()]+|"[^"]*"|[^\s()]+)'
)


def _tokens(query: str) -> list[str]:
    return [m.group(1) for m in _TOKEN.finditer(query)]


def _term_matches(term: str, p: Paper) -> bool:
    fld, _, value = term.partition(":") if ":" in term else ("all", "", term)
    value = value.strip('"').lower()
    if fld == "cat":
        if value.endswith(".*"):
            return any(c.lower().startswith(value[:-1]) for c in p.categories)
        return any(c.lower() == value for c in p.categories)
    if fld.lower() == "submitteddate":
        lo, _, hi = value.strip("[]").partition(" to ")
        stamp = (p.published or datetime.min.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y%m%d%H%M")
        return lo <= stamp <= hi
    if fld == "id":
        return p.arxiv_id == value
    texts = {
        "ti": p.title,
        "abs": p.abstract,
        "au": " ".join(p.authors),
        "all": f"{p.title} {p.abstract} {' '.join(p.authors)}",
    }.get(fld, "")
    # arXiv's search tokenises: punctuation and hyphens separate words, as spaces do.
    return _words(value) in _words(texts)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def _evaluate(tokens: list[str], p: Paper) -> bool:
    pos = 0

    def expr() -> bool:
        nonlocal pos
        value = atom()
        while pos < len(tokens) and tokens[pos] in ("AND", "OR", "ANDNOT"):
            op = tokens[pos]
            pos += 1
            right = atom()
            value = value and right if op == "AND" else value or right if op == "OR" else value and not right
        return value

    def atom() -> bool:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = expr()
            pos += 1  # ")"
            return value
        return _term_matches(tok, p)

    return expr() if tokens else False


# -- rendering -----------------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str:
    return (dt or datetime(2025, 1, 1, tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_entry(p: Paper) -> str:
    """One API `<entry>` as export.arxiv.org writes it."""
    vid = f"{p.arxiv_id}v{p.version}"
    parts = [
        "<entry>",
        f"<id>http://arxiv.org/abs/{vid}</id>",
        f"<updated>{_iso(p.updated)}</updated>",
        f"<published>{_iso(p.published)}</published>",
        f"<title>{escape(p.title)}</title>",
        f"<summary>  {escape(p.abstract)}\n</summary>",
        *(f"<author><name>{escape(a)}</name></author>" for a in p.authors),
    ]
    if p.doi:
        parts.append(f'<arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{escape(p.doi)}</arxiv:doi>')
        parts.append(f'<link title="doi" href="http://dx.doi.org/{escape(p.doi)}" rel="related"/>')
    if p.comment:
        parts.append(
            f'<arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">{escape(p.comment)}</arxiv:comment>'
        )
    if p.journal_ref:
        parts.append(
            '<arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"{escape(p.journal_ref)}</arxiv:journal_ref>"
        )
    parts += [
        f'<link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>',
        f'<link title="pdf" href="http://arxiv.org/pdf/{vid}" rel="related" type="application/pdf"/>',
        f'<arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{p.primary_category}"'
        ' scheme="http://arxiv.org/schemas/atom"/>',
        *(f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories),
        "</entry>",
    ]
    return "\n".join(parts)


def api_page(entries: Iterable[Paper], total: int, start: int, per_page: int, query: str) -> bytes:
    """An API response page with the opensearch header."""
    body = "\n".join(api_entry(p) for p in entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<link href={quoteattr('http://arxiv.org/api/query?' + query)}"
        ' rel="self" type="application/atom+xml"/>\n'
        f'<title type="html">ArXiv Query: {escape(query)}</title>\n'
        "<id>http://arxiv.org/api/fake</id>\n<updated>2025-10-15T00:00:00-04:00</updated>\n"
        '<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        f"{total}</opensearch:totalResults>\n"
        '<opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        f"{start}</opensearch:startIndex>\n"
        '<opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        f"{per_page}</opensearch:itemsPerPage>\n{body}\n</feed>\n"
    ).encode()


def _api_error(message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        '<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1'
        "</opensearch:totalResults>\n<entry><id>http://arxiv.org/api/errors#"
        f"{escape(message.replace(' ', '_'))}</id><title>Error</title><summary>{escape(message)}</summary>"
        "<updated>2025-10-15T00:00:00-04:00</updated></entry>\n</feed>\n"
    ).encode()


def _summary(p: Paper) -> str:
    return (
        f"arXiv:{p.arxiv_id}v{p.version} Announce Type: {p.announce_type or 'new'} \nAbstract: {p.abstract}"
    )


def atom_feed(cats: str, items: list[Paper], day: date | None) -> bytes:
    """An announcement feed as rss.arxiv.org/atom/<cats> writes it."""
    stamp = datetime.combine(day or date(2025, 10, 15), dtime(0, 30), ET)
    entries = []
    for p in items:
        published = datetime.combine(day or date(2025, 10, 15), dtime(0, 0), ET).isoformat()
        extra = ""
        if p.doi:
            extra += f"<arxiv:DOI>{escape(p.doi)}</arxiv:DOI>"
        if p.journal_ref:
            extra += f"<arxiv:journal_reference>{escape(p.journal_ref)}</arxiv:journal_reference>"
        entries.append(
            "<entry>"
            f"<id>oai:arXiv.org:{p.arxiv_id}v{p.version}</id>"
            f"<title>{escape(p.title)}</title><updated>{published}</updated>"
            f'<link href="https://arxiv.org/abs/{p.arxiv_id}" rel="alternate" type="text/html"/>'
            f"<summary>{escape(_summary(p))}</summary>"
            + "".join(f"<category term={quoteattr(c)}/>" for c in p.categories)
            + f"<published>{published}</published>"
            f"<arxiv:announce_type>{p.announce_type or 'new'}</arxiv:announce_type>"
            "<dc:rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</dc:rights>"
            f"<dc:creator>{escape(', '.join(p.authors))}</dc:creator>{extra}"
            "</entry>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="en-us">'
        f"<id>http://rss.arxiv.org/atom/{escape(cats)}</id>"
        f"<title>{escape(cats)} updates on arXiv.org</title>"
        f"<updated>{stamp.isoformat(timespec='microseconds')}</updated>"
        f'<link href="http://rss.arxiv.org/atom/{escape(cats)}" rel="self" type="application/atom+xml"/>'
        f"<subtitle>{escape(cats)} updates on the arXiv.org e-print archive.</subtitle>"
        + "".join(entries)
        + "</feed>\n"
    ).encode()


def rss_feed(cats: str, items: list[Paper], day: date | None) -> bytes:
    """An announcement feed as rss.arxiv.org/rss/<cats> writes it."""
    when = format_datetime(datetime.combine(day or date(2025, 10, 15), dtime(0, 0), ET))
    out = []
    for p in items:
        out.append(
            f"<item><title>{escape(p.title)}</title><link>https://arxiv.org/abs/{p.arxiv_id}</link>"
            f"<description>{escape(_summary(p))}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{p.arxiv_id}v{p.version}</guid>'
            + "".join(f"<category>{escape(c)}</category>" for c in p.categories)
            + f"<pubDate>{when}</pubDate>"
            f"<arxiv:announce_type>{p.announce_type or 'new'}</arxiv:announce_type>"
            "<dc:rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</dc:rights>"
            f"<dc:creator>{escape(', '.join(p.authors))}</dc:creator></item>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom" version="2.0"><channel>'
        f"<title>{escape(cats)} updates on arXiv.org</title><link>http://rss.arxiv.org/rss/{escape(cats)}</link>"
        f"<description>{escape(cats)} updates on the arXiv.org e-print archive.</description>"
        f"<language>en-us</language><lastBuildDate>{when}</lastBuildDate>"
        f"<managingEditor>rss-help@arxiv.org</managingEditor><pubDate>{when}</pubDate>"
        "<skipDays><day>Saturday</day><day>Sunday</day></skipDays>" + "".join(out) + "</channel></rss>\n"
    ).encode()


def _in_categories(p: Paper, cats: list[str]) -> bool:
    return any(c == want or c.split(".", 1)[0] == want for c in p.categories for want in cats)


# -- the server ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

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
            index = len(state.requests)
            state.requests.append(Recorded(url.path, query, arrived, self.headers.get("User-Agent", "")))
        status = self._serve(url.path, query, fault)
        with state.lock:
            state.requests[index] = replace(state.requests[index], status=status)

    def _send(self, status: int, body: bytes, ctype: str, headers: Iterable[tuple[str, str]] = ()) -> int:
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
        return status

    def _serve(self, path: str, query: dict[str, str], fault: Fault | None) -> int:
        kind = fault.kind if fault else "ok"
        if kind == "close":
            self.close_connection = True
            self.connection.close()
            return 0
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

    def _api(self, query: dict[str, str], *, empty: bool, malformed: bool) -> int:
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
                return self._send(
                    400, _api_error(f"incorrect id format for {bad[0]}"), "application/atom+xml"
                )
            by_id = {p.arxiv_id: p for p in papers}
            bases = [re.sub(r"v\d+$", "", i) for i in id_list]
            hits = [by_id[b] for b in bases if b in by_id]
        else:
            tokens = _tokens(query.get("search_query", ""))
            hits = [p for p in papers if _evaluate(tokens, p)]
            reverse = query.get("sortOrder", "descending") == "descending"
            if query.get("sortBy") in ("submittedDate", "lastUpdatedDate"):
                hits.sort(
                    key=lambda p: (p.published or datetime.min.replace(tzinfo=UTC), p.arxiv_id),
                    reverse=reverse,
                )
        page = [] if empty else hits[start : start + per_page]
        body = api_page(page, len(hits), start, per_page, "&".join(f"{k}={v}" for k, v in query.items()))
        if malformed:
            body = body[: len(body) // 2]
        return self._send(200, body, "application/atom+xml; charset=UTF-8")

    def _feed(self, fmt: str, cats: str, *, empty: bool, malformed: bool) -> int:
        state = self.server.state
        wanted = cats.split("+")
        with state.lock:
            items = [] if empty else [p for p in state.announcements if _in_categories(p, wanted)]
            day = state.feed_day
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

    def __init__(self, papers: Iterable[Paper] = ()) -> None:
        self.state = _State()
        self.add_papers(papers)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

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
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/query"

    @property
    def feed_url(self) -> str:
        return self.base_url

    def start(self) -> FakeArxiv:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self.state
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-arxiv", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
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
