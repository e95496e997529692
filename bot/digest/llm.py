"""Optional one-sentence TL;DRs from an LLM, through the `openai` package and any compatible endpoint.

OpenAI, Ollama, vLLM and llama.cpp's server all speak the chat-completions API; `[llm]` names
the endpoint and model, PAPERBOT_LLM_API_KEY the key. A paper is summarised once: the text is
kept in the database and every channel's card uses it.

What is asked for is batched: a digest run (or the harvest, for the day's matches, hours
before the digests) hands over all its papers at once; the ones not summarised yet are sent
`concurrency` at a time, and whatever is not back within `timeout_s` (all requests together)
is left for later. Any failure, a timeout, or the day's budget (`max_papers_per_day` requests,
failed ones included) spent: the card gets the extractive TL;DR (bot.digest.tldr) instead, and the
digest goes out on time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import LlmConfig, Secret
from bot.digest.compose import Entry
from bot.digest.tldr import sentences
from bot.matching.normalize import has_lone_surrogate, to_plain, visible
from bot.models import ChannelRef, Paper
from bot.textcut import shorten
from bot.validate import MAX_PAPERS_LIMIT
from storage import Store

if TYPE_CHECKING:
    from openai import AsyncOpenAI

log = logging.getLogger(__name__)

MAX_CHARS = 300
ABSTRACT_CHARS = 4_000  # what is sent of an abstract: arXiv caps them near 1,920; a bound all the same
SYSTEM = (
    "You write the TL;DR line of a paper alert. Answer with exactly one plain sentence of at most "
    "30 words saying what the paper does and what it finds. No preamble, no markdown, no quotes."
)
_PREAMBLE = re.compile(r"^\s*(tl;?\s*dr|summary|one[- ]sentence summary)\s*[:\-–]\s*", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#]+")


def clean(text: str) -> str:
    """The model's answer as one plain sentence ('' when nothing usable is left)."""
    if has_lone_surrogate(text):
        return ""
    plain = " ".join(_MARKUP.sub("", visible(text)).split())
    quotes = "\"'“”"
    plain = _PREAMBLE.sub("", plain.strip(quotes)).strip().strip(quotes).strip()
    if any(ord(c) < 32 for c in plain):
        return ""
    first = sentences(plain)
    return shorten(first[0], MAX_CHARS) if first else ""


class Summarizer:
    """TL;DRs of papers: the stored ones, and new ones asked of the LLM within budget and time."""

    def __init__(
        self,
        config: LlmConfig,
        api_key: Secret | None,
        store: Store,
        clock: Callable[[], datetime],
        *,
        client: AsyncOpenAI | None = None,
    ) -> None:
        from openai import AsyncOpenAI  # only when [llm] is on: the console never pays for it

        self.config = config
        self.store = store
        self.clock = clock
        # No retries of the library's own: the deadline below is what bounds the wait.
        self._client = client or AsyncOpenAI(
            base_url=config.base_url,
            api_key=api_key.reveal() if api_key else "unused",  # Ollama and vLLM take any key
            timeout=config.timeout_s,
            max_retries=0,
        )
        self._batch = asyncio.Lock()  # one batch at a time: a paper is never asked for twice
        self._warned = False

    async def close(self) -> None:
        await self._client.close()

    async def summaries(self, papers: Sequence[Paper], *, wait: float | None = None) -> dict[str, str]:
        """arxiv id -> TL;DR for the papers that have one, asking for the missing within `wait` seconds."""
        wait = self.config.timeout_s if wait is None else wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        ids = list(dict.fromkeys(p.arxiv_id for p in papers))
        try:
            async with asyncio.timeout(wait):
                await self._batch.acquire()
        except TimeoutError:  # another batch is still running: take what is stored
            return await self.store.summaries.get_many(ids)
        try:
            found = await self.store.summaries.get_many(ids)
            missing = list(
                {p.arxiv_id: p for p in papers if p.arxiv_id not in found and p.abstract.strip()}.values()
            )
            budget = self.config.max_papers_per_day - await self.store.summaries.spent(self.clock().date())
            if missing and budget <= 0:
                self._warn("the day's budget of %d LLM TL;DRs is spent", self.config.max_papers_per_day)
            if missing and budget > 0:
                found.update(await self._generate(missing[:budget], deadline - loop.time()))
            return found
        finally:
            self._batch.release()

    async def _generate(self, papers: Sequence[Paper], wait: float) -> dict[str, str]:
        slots = asyncio.Semaphore(self.config.concurrency)
        written: dict[str, str] = {}
        counts = {"requests": 0, "failures": 0}

        async def one(paper: Paper) -> None:
            async with slots:
                counts["requests"] += 1
                try:
                    text = clean(await self._ask(paper))
                except asyncio.CancelledError:
                    counts["failures"] += 1
                    raise
                except Exception as exc:  # any error of any endpoint: the extractive TL;DR stands in
                    counts["failures"] += 1
                    self._warn("LLM TL;DR of %s failed: %s", paper.arxiv_id, _reason(exc))
                    return
                if not text:
                    counts["failures"] += 1
                    self._warn("LLM TL;DR of %s: the answer was empty or unusable", paper.arxiv_id)
                    return
                written[paper.arxiv_id] = text

        tasks = [asyncio.create_task(one(p)) for p in papers]
        _, late = await asyncio.wait(tasks, timeout=max(wait, 0))
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if late:
            self._warn("%d LLM TL;DRs were not back within %g s", len(late), self.config.timeout_s)
        now = self.clock()
        for paper in papers:
            if paper.arxiv_id in written:
                await self.store.summaries.put(
                    paper.arxiv_id, paper.version, self.config.model, written[paper.arxiv_id], now
                )
        if counts["requests"]:
            await self.store.summaries.spend(now.date(), counts["requests"], counts["failures"])
        return written

    async def _ask(self, paper: Paper) -> str:
        title = " ".join(to_plain(paper.title).split())
        abstract = " ".join(to_plain(paper.abstract).split())[:ABSTRACT_CHARS]
        response = await self._client.chat.completions.create(
            model=self.config.model,
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Title: {title}\n\nAbstract: {abstract}"},
            ],
            temperature=0.2,
        )
        if not response.choices:
            return ""
        return response.choices[0].message.content or ""

    def _warn(self, message: str, *args: object) -> None:
        """Once per process at WARNING (the operator should know), DEBUG after that (no log flood)."""
        log.log(logging.DEBUG if self._warned else logging.WARNING, message, *args)
        self._warned = True


def to_be_shown(found: Mapping[ChannelRef, Sequence[Entry]], caps: Mapping[ChannelRef, int]) -> list[Paper]:
    """The papers the next digests will show: each channel's ranked matches, up to its cap."""
    shown: dict[str, Paper] = {}
    for channel, entries in found.items():
        for entry in entries[: caps.get(channel, MAX_PAPERS_LIMIT)]:
            shown.setdefault(entry.paper.arxiv_id, entry.paper)
    return list(shown.values())


def _reason(exc: Exception) -> str:
    """A short reason: the exception's class and first line, never a request's headers (the key)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
