"""A local fake of an OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp).

The real `openai` package talks to it over HTTP on 127.0.0.1: `base_url` is `fake.base_url`.
It records every request, counts how many were in flight at once, and scripts what the
endpoint does: answer (by default a sentence naming the paper's title), fail with an HTTP
status and OpenAI's error JSON, answer with a body that is not JSON, or take its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.serving import serve


def title_of(body: dict[str, Any]) -> str:
    """The paper's title in a request (the user message starts with 'Title: ...')."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return str(user).split("\n", 1)[0].removeprefix("Title: ")


def default_answer(body: dict[str, Any]) -> str:
    return f"This paper ({title_of(body)[:40]}) does one thing well."


@dataclass
class Request:
    authorization: str
    body: dict[str, Any]


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answer: Callable[[dict[str, Any]], str] = default_answer
        self.status = 200  # anything else: OpenAI's error JSON with this status
        self.malformed = False  # a 200 whose body is not JSON
        self.delay = 0.0  # seconds before answering
        self.in_flight = 0
        self.max_in_flight = 0
        self._released = asyncio.Event()  # stop() lets slow handlers go at once
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(Request(request.headers.get("Authorization", ""), body))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), self.delay)
            if self.status != 200:
                error = {"message": "The server had an error", "type": "server_error", "code": None}
                return web.json_response({"error": error}, status=self.status)
            if self.malformed:
                return web.Response(text="<html>502 Bad Gateway</html>", content_type="application/json")
            return web.json_response(
                {
                    "id": f"chatcmpl-{next(self._ids)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": self.answer(body)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                }
            )
        finally:
            self.in_flight -= 1


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[FakeOpenAI]:
    fake = await FakeOpenAI().start()
    try:
        yield fake
    finally:
        await fake.stop()
