"""Digests on Slack: a parent message, then each paper as a reply in its thread, paced per channel.

A reply's `thread_ts` is the parent's `ts`, so the parent's id (its ts) is all a resumed
delivery needs to continue in the same thread. Every digest message carries its delivery key
in Slack's message `metadata`, which `conversations.history` and `conversations.replies` give
back: after a crash, a message that went out but whose ts was never recorded is found there
instead of being posted again. Slack allows about one message per second per channel with
short bursts; the pacer keeps each channel to that on its own, so one busy channel never holds
up another. 429s that still happen are retried by slack-sdk's rate-limit handler, which
honours Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import Message, footer_message, item_message, parent_message
from bot.errors import ChannelUnreachable, PlatformAuthError
from bot.models import Card, ChannelRef, Post, ThreadItem

log = logging.getLogger(__name__)

# The metadata event type of digest messages; its payload holds the delivery key.
DELIVERY_EVENT = "paperbot_delivery"
# Slack's clock and ours may differ: read the channel back from a little before the intent.
CLOCK_SLACK = timedelta(minutes=10)
MAX_PAGES = 20  # of 200 messages: a digest's thread or a channel's last hours fit in far fewer

INVITE_FIX = "Invite paperbot to {where} (type `/invite @paperbot` there), or /untrack its queries."

# Slack's errors for a channel paperbot may not post in, and what an operator can do.
UNREACHABLE = {
    "channel_not_found": "{where} does not exist or is private without paperbot in it",
    "not_in_channel": "paperbot is not a member of {where}",
    "is_archived": "{where} is archived",
    "channel_is_archived": "{where} is archived",
    "restricted_action": "the workspace does not let paperbot post in {where}",
    "restricted_action_read_only_channel": "{where} is read-only",
    "restricted_action_thread_only_channel": "{where} only allows replies in threads",
    "team_access_not_granted": "paperbot is not granted access to the workspace of {where}",
    "user_not_found": "the person paperbot was to message no longer exists",
    "cannot_dm_bot": "the person paperbot was to message is a bot",
}
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


def slack_error(exc: SlackApiError) -> str:
    data: Any = exc.response.data if exc.response is not None else {}
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def unreachable(exc: SlackApiError, where: str) -> ChannelUnreachable | PlatformAuthError | None:
    """Slack's refusal as the core's error, or None when it is not about the channel or the token."""
    error = slack_error(exc)
    if error in AUTH_ERRORS:
        return PlatformAuthError(f"Slack rejected SLACK_BOT_TOKEN ({error}): reinstall the app and update it")
    reason = UNREACHABLE.get(error)
    if reason is None:
        return None
    fix = (
        INVITE_FIX.format(where=where)
        if error in ("not_in_channel", "channel_not_found")
        else "Unarchive it, or /untrack its queries."
        if "archived" in error
        else ""
    )
    return ChannelUnreachable(f"{reason.format(where=where)} (Slack: {error})", fix)


class Pacer:
    """At most `rate` messages a second per channel, after a burst of `burst` (a token bucket)."""

    def __init__(self, rate: float, burst: int = 3, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel_id: str) -> None:
        if self.rate <= 0:
            return
        async with self._locks.setdefault(channel_id, asyncio.Lock()):
            now = self._clock()
            tokens, at = self._buckets.get(channel_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1:
                await asyncio.sleep((1 - tokens) / self.rate)
                now = self._clock()
                tokens = 1.0
            self._buckets[channel_id] = (tokens - 1, now)


class Poster:
    """Posts digest messages (and replies) through the bot's Web API client."""

    def __init__(self, client: AsyncWebClient, pacer: Pacer) -> None:
        self.client = client
        self.pacer = pacer
        self._unreadable: set[str] = set()  # channels we could not read back (told once)

    async def send(
        self,
        channel_id: str,
        message: Message,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """One message; returns its ts."""
        await self.pacer.wait(channel_id)
        response = await self.client.chat_postMessage(
            channel=channel_id,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            unfurl_links=False,  # the card already shows the paper; a preview per link is noise
            unfurl_media=False,
            metadata=metadata,
        )
        return str(response["ts"])

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        async with _mapped_errors(channel):
            return await self.send(channel.channel_id, parent_message(post), metadata=_metadata(key))

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        if isinstance(item, Card):
            message, metadata = item_message(item), _metadata(key, arxiv_id=item.paper_id)
        else:
            message, metadata = footer_message(item), _metadata(key)
        async with _mapped_errors(channel):
            return await self.send(channel.channel_id, message, thread_ts=parent, metadata=metadata)

    async def find_posted(
        self, channel: ChannelRef, parent: str | None, wanted: Mapping[str, object], since: datetime
    ) -> dict[str, str]:
        """The messages of `wanted` already in the channel (parent None) or the thread, by metadata."""
        found: dict[str, str] = {}
        async with _mapped_errors(channel):
            try:
                async for message in self._read(channel.channel_id, parent, since):
                    metadata = message.get("metadata") or {}
                    key = (metadata.get("event_payload") or {}).get("key")
                    if metadata.get("event_type") == DELIVERY_EVENT and key in wanted:
                        found[str(key)] = str(message["ts"])
            except SlackApiError as exc:
                if slack_error(exc) not in ("missing_scope", "not_allowed_token_type"):
                    raise
                self._tell_unreadable(channel, exc)
        return found

    async def _read(
        self, channel_id: str, parent: str | None, since: datetime
    ) -> AsyncIterator[dict[str, Any]]:
        """The thread's messages (parent given), or the channel's since `since`, page by page."""
        oldest = f"{(since - CLOCK_SLACK).timestamp():.6f}"
        cursor = None
        for _ in range(MAX_PAGES):
            if parent is None:
                page = await self.client.conversations_history(
                    channel=channel_id, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor
                )
            else:
                page = await self.client.conversations_replies(
                    channel=channel_id, ts=parent, include_all_metadata=True, limit=200, cursor=cursor
                )
            for message in page.get("messages") or []:
                yield message
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def _tell_unreadable(self, channel: ChannelRef, exc: SlackApiError) -> None:
        if channel.channel_id in self._unreadable:
            return
        self._unreadable.add(channel.channel_id)
        needed = (exc.response.data or {}).get("needed", "channels:history, groups:history")
        log.warning(
            "cannot read %s back to resume a digest after a crash (Slack: %s, needs %s): a message in "
            "flight at the crash may be posted twice. Add the scope in the app settings and reinstall.",
            _where(channel),
            slack_error(exc),
            needed,
        )


def _metadata(key: str, **payload: str) -> dict[str, Any]:
    return {
        "event_type": DELIVERY_EVENT,
        "event_payload": {"key": key, "digest": key.split(".")[0], **payload},
    }


def _where(channel: ChannelRef) -> str:
    return f"#{channel.name}" if channel.name else f"channel {channel.channel_id}"


@asynccontextmanager
async def _mapped_errors(channel: ChannelRef) -> AsyncIterator[None]:
    """Slack's refusals about the channel or the token as the core's errors; others unchanged."""
    try:
        yield
    except SlackApiError as exc:
        mapped = unreachable(exc, _where(channel))
        if mapped is None:
            raise
        raise mapped from None
