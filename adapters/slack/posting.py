"""Digests on Slack: a parent message, then each paper as a reply in its thread, paced per channel.

A reply's `thread_ts` is the parent's `ts`, so `PostRef.parent_id` (the parent ts) is all a
resumed delivery needs to continue in the same thread. Slack allows about one message per
second per channel with short bursts; the pacer keeps each channel to that on its own, so
one busy channel never holds up another. 429s that still happen are retried by slack-sdk's
rate-limit handler, which honours Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import Message, footer_message, item_message, parent_message
from bot.errors import ChannelUnreachable, PlatformAuthError
from bot.models import ChannelRef, Post, PostRef
from bot.ports import OnPosted

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
    """Posts digests and messages through the bot's Web API client."""

    def __init__(self, client: AsyncWebClient, pacer: Pacer) -> None:
        self.client = client
        self.pacer = pacer

    async def send(self, channel_id: str, message: Message, thread_ts: str | None = None) -> str:
        """One message; returns its ts."""
        await self.pacer.wait(channel_id)
        response = await self.client.chat_postMessage(
            channel=channel_id,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            unfurl_links=False,  # the card already shows the paper; a preview per link is noise
            unfurl_media=False,
        )
        return str(response["ts"])

    async def post(
        self, channel: ChannelRef, post: Post, *, resume: PostRef | None, on_posted: OnPosted | None
    ) -> PostRef:
        where = f"#{channel.name}" if channel.name else f"channel {channel.channel_id}"
        target = channel.channel_id
        try:
            if resume is None:
                parent = await self.send(target, parent_message(post))
                if on_posted is not None:
                    await on_posted(-1, parent)
            else:
                parent = resume.parent_id
            ids = list(resume.item_ids) if resume else []
            for index, card in enumerate(post.items):
                ts = await self.send(target, item_message(card), thread_ts=parent)
                ids.append(ts)
                if on_posted is not None:
                    await on_posted(index, ts)
            if post.footer:
                await self.send(target, footer_message(post), thread_ts=parent)
        except SlackApiError as exc:
            mapped = unreachable(exc, where)
            if mapped is None:
                raise
            raise mapped from None
        return PostRef(parent, tuple(ids))
