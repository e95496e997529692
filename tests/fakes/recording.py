"""A recording adapter: what the bot posts is a list you assert on (errbot's test backend)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.errors import ChannelUnreachable
from bot.models import Card, ChannelRef, Platform, Post, ThreadItem
from bot.ports import Inbox, slash


class Crash(Exception):
    """A simulated crash in the middle of a delivery."""


@dataclass
class PostedMessage:
    channel: ChannelRef
    message_id: str
    parent_id: str | None  # None for a thread parent
    text: str
    key: str = ""  # the delivery key it was sent with


@dataclass
class RecordingAdapter:
    name: str = "recording"
    messages: list[PostedMessage] = field(default_factory=list)
    unreachable: set[ChannelRef] = field(default_factory=set)
    # Simulated crashes: after `fail_after` messages the next send fails before it reaches the
    # platform; message number `lose_id_of` (from 1) lands, and fails before its id returns.
    fail_after: int | None = None
    lose_id_of: int | None = None
    inbox: Inbox | None = None
    started: bool = False
    stopped: bool = False
    lookups: list[tuple[ChannelRef, str | None, tuple[str, ...]]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    platform: Platform = Platform.CONSOLE

    async def start(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.started = True

    def command_name(self, command: str) -> str:
        return slash(command)

    async def stop(self) -> None:
        self.stopped = True

    def _message(self, channel: ChannelRef, parent: str | None, text: str, key: str) -> str:
        if channel in self.unreachable:
            raise ChannelUnreachable("channel_not_found", "invite the bot again")
        if self.fail_after is not None and len(self.messages) >= self.fail_after:
            raise Crash("simulated crash before the send")
        message_id = f"m{next(self._ids)}"
        self.messages.append(PostedMessage(channel, message_id, parent, text, key))
        if self.lose_id_of is not None and len(self.messages) == self.lose_id_of:
            raise Crash("simulated crash after the send")
        return message_id

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        return self._message(channel, None, post.header, key)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        return self._message(channel, parent, item.title if isinstance(item, Card) else item, key)

    async def find_posted(
        self,
        channel: ChannelRef,
        parent: str | None,
        wanted: Mapping[str, Post | ThreadItem],
        since: datetime,
    ) -> dict[str, str]:
        self.lookups.append((channel, parent, tuple(wanted)))
        return {
            m.key: m.message_id
            for m in self.messages
            if m.channel == channel and m.parent_id == parent and m.key in wanted
        }

    def thread(self, parent_id: str) -> list[str]:
        return [m.text for m in self.messages if m.parent_id == parent_id]
