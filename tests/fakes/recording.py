"""A recording adapter: what the bot posts and sends is a list you assert on (errbot's test backend)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.errors import ChannelUnreachable
from bot.models import ChannelRef, Platform, PlatformLimits, Post, PostRef, Reply, UserRef
from bot.ports import Inbox, OnPosted


@dataclass
class PostedMessage:
    channel: ChannelRef
    message_id: str
    parent_id: str | None  # None for a thread parent
    text: str


@dataclass
class RecordingAdapter:
    name: str = "recording"
    limits: PlatformLimits = field(default_factory=lambda: PlatformLimits(max_message_chars=4000))
    messages: list[PostedMessage] = field(default_factory=list)
    dms: list[tuple[UserRef, Reply]] = field(default_factory=list)
    unreachable: set[ChannelRef] = field(default_factory=set)
    fail_after: int | None = None  # raise after this many messages, to simulate a crash
    inbox: Inbox | None = None
    started: bool = False
    stopped: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    platform: Platform = Platform.CONSOLE

    async def start(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def _message(self, channel: ChannelRef, parent: str | None, text: str) -> str:
        if self.fail_after is not None and len(self.messages) >= self.fail_after:
            raise RuntimeError("simulated crash")
        message_id = f"m{next(self._ids)}"
        self.messages.append(PostedMessage(channel, message_id, parent, text))
        return message_id

    async def post(
        self,
        channel: ChannelRef,
        post: Post,
        *,
        resume: PostRef | None = None,
        on_posted: OnPosted | None = None,
    ) -> PostRef:
        if channel in self.unreachable:
            raise ChannelUnreachable("channel_not_found", "invite the bot again")
        if resume is None:
            parent = self._message(channel, None, post.header)
            if on_posted:
                await on_posted(-1, parent)
        else:
            parent = resume.parent_id
        ids = list(resume.item_ids) if resume else []
        for i, card in enumerate(post.items):
            mid = self._message(channel, parent, card.title)
            ids.append(mid)
            if on_posted:
                await on_posted(i, mid)
        if post.footer:
            self._message(channel, parent, post.footer)
        return PostRef(parent, tuple(ids))

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        self.dms.append((user, reply))

    def thread(self, parent_id: str) -> list[str]:
        return [m.text for m in self.messages if m.parent_id == parent_id]
