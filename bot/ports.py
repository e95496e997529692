"""The adapter port: what the core needs from a chat platform, and what it offers back.

Message-level, as Hubot's adapter: start, stop, post one digest parent, post one
item in its thread, and find what a channel or thread already holds. The core's
deliverer owns the loop over a digest and the ledger; an adapter knows nothing
of digests beyond the message it is sending. Every message carries its delivery
key (Slack: message metadata; Discord: the nonce, and the content that can be
read back), so after a crash the deliverer can ask what already went out instead
of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from bot.models import ChannelRef, Command, DirectMessage, Post, Reaction, Reply, ThreadItem

# How users type a core command on a platform: `settings` -> `/settings`, or on Slack
# `/paperbot settings`. The core names commands in its text through the adapter's.
CommandNaming = Callable[[str], str]


def slash(command: str) -> str:
    """A core command as Discord and the console name it: `settings` -> `/settings`."""
    return f"/{command}"


class Inbox(Protocol):
    """The core's entry points, handed to an adapter at start."""

    async def command(self, cmd: Command) -> Reply: ...

    async def direct_message(self, dm: DirectMessage) -> Reply: ...

    async def reaction(self, reaction: Reaction) -> None:
        """A 👍 or 👎 put on or taken off a message (the core ignores messages that are not its cards)."""

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        """The canonical queries `channel` tracks (for autocomplete)."""
        ...

    def request_stop(self) -> None:
        """The adapter's input ended (console EOF) or it cannot go on: shut the bot down."""


class MessagePoster(Protocol):
    """The port's posting side: one digest parent, one item in its thread, and reading back.

    The posting methods raise `bot.errors.ChannelUnreachable` when the channel cannot be posted
    to (deleted, bot removed, no permission); anything else they raise is a failure to retry.
    """

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        """Post a digest's parent message, the start of its thread; return its platform id."""
        ...

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        """Post one item in the thread of the parent message `parent`; return its platform id."""
        ...

    async def find_posted(
        self,
        channel: ChannelRef,
        parent: str | None,
        wanted: Mapping[str, Post | ThreadItem],
        since: datetime,
    ) -> dict[str, str]:
        """Which of `wanted` (delivery key -> what was sent with it) the platform already holds.

        With `parent` None, look among the channel's messages since `since` for a digest parent;
        otherwise in that parent's thread. Returns delivery key -> platform message id for each
        one found. A platform that cannot be read back (the console) returns {}.
        """
        ...


class PostsThroughPoster:
    """An adapter whose posting methods are its `poster`'s, made when the adapter starts."""

    @property
    def poster(self) -> MessagePoster:
        raise NotImplementedError

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        return await self.poster.post_parent(channel, post, key)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        return await self.poster.post_reply(channel, parent, item, key)

    async def find_posted(
        self,
        channel: ChannelRef,
        parent: str | None,
        wanted: Mapping[str, Post | ThreadItem],
        since: datetime,
    ) -> dict[str, str]:
        return await self.poster.find_posted(channel, parent, wanted, since)


class Adapter(MessagePoster, Protocol):
    """One chat platform: started, stopped, naming commands, and posting (`MessagePoster`)."""

    name: str

    async def start(self, inbox: Inbox) -> None:
        """Connect and begin delivering events to `inbox`; return once connected."""

    async def stop(self) -> None:
        """Disconnect; safe to call when start failed half-way."""

    def command_name(self, command: str) -> str:
        """How users type the core `command` here (`/settings`; on Slack `/paperbot settings`)."""
        ...
