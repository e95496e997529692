"""Hugging Face's daily papers list: one GET per day's list, politely, with a deadline.

`GET <api_url>?date=YYYY-MM-DD&limit=100` answers a JSON list, one object per paper on that
day's list (https://huggingface.co/papers), the paper under `paper`: its arXiv `id`, `title`,
`summary`, `authors` (`name`, `hidden`), `publishedAt` and `upvotes`; `numComments` beside it.

huggingface_hub has this endpoint too (`HfApi.list_daily_papers`), but its HTTP client has no
timeout (a process-wide client factory is the only way to set one) and no retries for it, it is
synchronous, and it would bring ten packages (a native one among them) for one GET whose JSON is
read here in a few lines: aiohttp, already a dependency, does it with a deadline and backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import aiohttp

from bot import __version__
from bot.arxiv.http import retry_after_seconds
from bot.arxiv.ids import parse_arxiv_id
from bot.config import HuggingfaceConfig
from bot.errors import PaperbotError
from bot.models import TrendingPaper

log = logging.getLogger(__name__)

PAGE = 100  # papers asked for per day: a day's list is rarely over 50
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BASE_BACKOFF_S = 2.0
MAX_WAIT_S = 60.0  # a longer Retry-After is not waited out: the list is read another time
MAX_TITLE, MAX_SUMMARY, MAX_AUTHORS = 1_000, 10_000, 500
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


class HuggingFaceUnavailable(PaperbotError):
    """Hugging Face did not answer usefully (down, refusing, too slow, or not the expected JSON)."""


def _text(value: Any, limit: int) -> str:
    return " ".join(_CONTROL.sub(" ", value).split())[:limit] if isinstance(value, str) else ""


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parse_paper(item: Any) -> TrendingPaper | None:
    """One entry of the list, or None when it is not an arXiv paper with a title."""
    if not isinstance(item, dict):
        return None
    inner = item.get("paper")
    paper: dict[str, Any] = inner if isinstance(inner, dict) else {}
    parsed = parse_arxiv_id(str(paper.get("id") or item.get("id") or ""))
    title = _text(paper.get("title") or item.get("title"), MAX_TITLE)
    if parsed is None or not title:
        return None
    listed = paper.get("authors")
    authors: list[Any] = listed if isinstance(listed, list) else []
    names = [
        _text(a.get("name"), 200) for a in authors if isinstance(a, dict) and a.get("hidden") is not True
    ]
    return TrendingPaper(
        arxiv_id=parsed[0],
        title=title,
        summary=_text(paper.get("summary") or item.get("summary"), MAX_SUMMARY),
        authors=tuple(n for n in names if n)[:MAX_AUTHORS],
        upvotes=_count(paper.get("upvotes")),
        published=_when(paper.get("publishedAt")),
        comments=_count(item.get("numComments")),
    )


def ranked(items: Any) -> list[TrendingPaper]:
    """The list's arXiv papers, most upvoted first (ties by id), each once; anything else is left out."""
    if not isinstance(items, list):
        raise HuggingFaceUnavailable("Hugging Face answered something other than a list of papers")
    papers: dict[str, TrendingPaper] = {}
    for item in items:
        paper = parse_paper(item)
        if paper is not None and paper.arxiv_id not in papers:
            papers[paper.arxiv_id] = paper
    skipped = len(items) - len(papers)
    if skipped:
        log.info("Hugging Face's list: %d of %d entries are not arXiv papers, left out", skipped, len(items))
    return sorted(papers.values(), key=lambda p: (-p.upvotes, p.arxiv_id))


class HuggingFaceClient:
    """Reads a day's list; one request at a time, retried with backoff, never past its deadline."""

    def __init__(
        self,
        config: HuggingfaceConfig,
        *,
        contact: str = "",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.user_agent = f"paperbot/{__version__} (+{contact or 'https://github.com/paperbot'})"
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def daily(self, day: date) -> list[TrendingPaper]:
        """`day`'s papers, most upvoted first; HuggingFaceUnavailable when Hugging Face cannot say."""
        async with self._lock:  # politely: one request at a time
            return ranked(await self._get({"date": day.isoformat(), "limit": str(PAGE)}))

    async def _get(self, params: dict[str, str]) -> Any:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": self.user_agent})
        attempt = 0
        while True:
            wait: float | None
            try:
                async with self._session.get(self.config.api_url, params=params) as response:
                    body = await response.read()
                    if response.status == 200:
                        return _json(body)
                    reason = f"HTTP {response.status}"
                    if response.status not in RETRY_STATUSES:
                        raise HuggingFaceUnavailable(f"Hugging Face refused the request ({reason})")
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ClientError) as exc:
                reason, wait = _reason(exc, self.config.timeout_s), None
            attempt += 1
            if attempt > self.config.max_retries:
                raise HuggingFaceUnavailable(f"Hugging Face did not answer: {reason}")
            backoff = BASE_BACKOFF_S * 2 ** (attempt - 1) * (0.5 + self._rng.random())
            if wait is not None and wait > MAX_WAIT_S:
                raise HuggingFaceUnavailable(f"Hugging Face asked to wait {wait:.0f} s ({reason})")
            await self._sleep(max(wait or 0.0, backoff))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HuggingFaceUnavailable("Hugging Face answered something that is not JSON") from None


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(exc) or type(exc).__name__
