"""Posting one planned digest exactly once: each message behind a write-ahead record in the ledger.

Message by message (the parent, each card, the footer): record the intent, send it with its
delivery key, record the platform's id. A message whose intent was recorded but not its id is
looked up on the platform (by its delivery key) before it is sent again, so a restart posts
nothing twice and skips nothing. A channel that cannot be posted to is marked unreachable, to be
retried with backoff. `bot.digest.delivery` decides what to plan and when; this module sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.digest import planning
from bot.digest.llm import Summarizer
from bot.errors import ChannelUnreachable
from bot.models import Card, ChannelRef, Platform, Post, ThreadItem
from bot.ops import metrics
from bot.ports import Adapter, CommandNaming, slash
from storage import Store
from storage.deliveries import DigestRecord, LedgerEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What delivering one channel did."""

    channel: ChannelRef
    status: str  # posted | nothing | paused | unreachable | waiting | failed
    posted: int = 0
    detail: str = ""

    def describe(self, name: CommandNaming = slash) -> str:
        """The outcome for whoever asked (/digest), in the platform's command names."""
        if self.status == "posted":
            return f"Posted a digest with {self.posted} {'paper' if self.posted == 1 else 'papers'}."
        if self.status == "nothing":
            return "Nothing new since the last digest."
        if self.status == "paused":
            return f"Digests are paused in this channel ({name('settings')} resume)."
        if self.status in ("unreachable", "waiting"):
            return f"I cannot post in this channel: {self.detail}"
        return "The digest could not be posted; it will be retried."


class DigestPoster:
    """Sends planned digests through their platform's adapter, recording each message in the ledger."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[Platform, Adapter],
        clock: Callable[[], datetime],
        summarizer: Summarizer | None = None,
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.summarizer = summarizer  # TL;DRs for cards made again from the ledger (after a restart)

    async def post(
        self, record: DigestRecord, run: planning.RunCache, cards: Sequence[Card] | None = None
    ) -> Outcome:
        """Post `record` (a digest planned in the ledger) to its channel, then mark it complete."""
        channel = record.channel
        adapter = self.adapters.get(channel.platform)
        if adapter is None:
            metrics.delivery_failed(channel.platform, "no_adapter")
            return Outcome(channel, "failed", detail=f"no {channel.platform} adapter is running")
        try:
            posted = await self._send(adapter, record, run, cards)
        except ChannelUnreachable as exc:
            metrics.delivery_failed(channel.platform, "unreachable")
            retry_at = await self.store.channels.mark_unreachable(channel, exc.reason, self.clock())
            log.warning(
                "cannot post to %s: %s. %s The digest is kept and retried after %s.",
                channel,
                exc.reason,
                exc.fix or "",
                f"{retry_at:%Y-%m-%d %H:%M} UTC",
            )
            return Outcome(channel, "unreachable", detail=f"{exc.reason}. {exc.fix}".strip())
        await self.store.deliveries.complete(record.id, self.clock())
        metrics.digest_posted(channel.platform)
        if await self.store.channels.retry_at(channel) is not None:
            await self.store.channels.clear_unreachable(channel)
            log.info("%s is reachable again", channel)
        return Outcome(channel, "posted", posted)

    async def _send(
        self, adapter: Adapter, record: DigestRecord, run: planning.RunCache, cards: Sequence[Card] | None
    ) -> int:
        """Every message of `record` the platform does not hold yet, in order; returns the papers.

        `cards` are the shown papers' cards by position, when the run made them; else they are
        made from the ledger's record (as after a restart: the same cards).
        """
        ledger, channel = self.store.deliveries, record.channel
        parent = record.parent_message_id
        if parent is None:
            post = Post(record.header, record.lines)
            if record.parent_sending_at is not None:  # a send began before a crash: did it land?
                landed = await adapter.find_posted(
                    channel, None, {record.parent_key: post}, record.parent_sending_at
                )
                parent = landed.get(record.parent_key)
            if parent is None:
                await ledger.intend_parent(record.id, self.clock())
                parent = await adapter.post_parent(channel, post, record.parent_key)
            await ledger.set_parent(record.id, parent)

        pending = record.pending
        thread: list[tuple[str, ThreadItem, LedgerEntry | None]]
        if cards is not None:
            thread = [(record.item_key(e), cards[e.position], e) for e in pending]
        else:
            papers = await self.store.papers.get_many([e.arxiv_id for e in pending])
            # Usually stored since the harvest; the rest are asked for now, within [llm] timeout_s.
            summaries = await self.summarizer.summaries(list(papers.values())) if self.summarizer else {}
            # A paper can only be missing if the database was edited by hand; skip rather than stall.
            thread = [
                (record.item_key(e), run.card(papers[e.arxiv_id], e.why, summaries.get(e.arxiv_id)), e)
                for e in pending
                if e.arxiv_id in papers
            ]
        if record.footer and record.footer_message_id is None:
            thread.append((record.footer_key, record.footer, None))
        began = [
            (key, item, when)
            for key, item, entry in thread
            if (when := entry.sending_at if entry else record.footer_sending_at) is not None
        ]
        found: dict[str, str] = {}
        if began:  # at most one per crash: messages go out one at a time
            wanted = {key: item for key, item, _ in began}
            found = await adapter.find_posted(channel, parent, wanted, min(w for _, _, w in began))

        for key, item, entry in thread:
            message_id = found.get(key)
            if message_id is None:
                if entry is None:
                    await ledger.intend_footer(record.id, self.clock())
                else:
                    await ledger.intend(record.id, entry.arxiv_id, self.clock())
                message_id = await adapter.post_reply(channel, parent, item, key)
            if entry is None:
                await ledger.set_footer(record.id, message_id)
            else:
                await ledger.mark_posted(record.id, entry.arxiv_id, message_id, self.clock())
                # Counted with its id recorded: a card found after a crash was not counted before it.
                metrics.card_posted(channel.platform)
        return sum(1 for _, _, entry in thread if entry is not None)
