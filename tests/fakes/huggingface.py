"""A local fake of Hugging Face's daily papers endpoint, `GET /api/daily_papers?date=YYYY-MM-DD`.

It answers each day's list from tests/data/hf_daily_papers.json, in the API's own shape (a JSON
list; each paper under `paper` with `id`, `authors`, `publishedAt`, `title`, `summary`,
`upvotes`, and `numComments`, `thumbnail`, `submittedBy` beside it), in the order Hugging Face
lists them (not by upvotes), and an empty list for any other day. The titles and summaries are
real (the shared Hugging Face records, and four arXiv papers of tests/data/arxiv_sample.jsonl
under their real ids); the shared records carry no ids, authors or upvotes, so those are made up.

It records each request (query and User-Agent) and plays scripted faults, one per request:
an HTTP status (with a Retry-After), a delay, a body that is not JSON, JSON that is not a list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.serving import serve

DATA = Path(__file__).resolve().parent.parent / "data" / "hf_daily_papers.json"


def daily_lists() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True, slots=True)
class Fault:
    """What one request gets instead of the list."""

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    body: str | None = None  # answered as is, with status 200 unless `status` says otherwise


@dataclass
class FakeHuggingFace:
    days: dict[str, list[dict[str, Any]]] = field(default_factory=daily_lists)
    requests: list[dict[str, str]] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    port: int = 0
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/daily_papers"

    def script(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    async def start(self) -> FakeHuggingFace:
        app = web.Application()
        app.router.add_get("/api/daily_papers", self._daily)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _daily(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({**request.query, "user-agent": request.headers.get("User-Agent", "")})
        fault = self.faults.popleft() if self.faults else Fault()
        if fault.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), fault.delay)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        if fault.body is not None or fault.status != 200:
            body = fault.body if fault.body is not None else json.dumps({"error": "Service Unavailable"})
            return web.Response(
                status=fault.status, text=body, content_type="application/json", headers=headers
            )
        papers = self.days.get(request.query.get("date", ""), [])
        return web.json_response(papers[: int(request.query.get("limit", "50"))])


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[FakeHuggingFace]:
    fake = await FakeHuggingFace().start()
    try:
        yield fake
    finally:
        await fake.stop()
