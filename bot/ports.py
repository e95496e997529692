"""The adapter port: what the core needs from a chat platform, and what it offers back.

Kept to a handful of members (start, stop, post, send_dm, limits) so a new
platform is one small module. The core calls adapters only through this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.models import ChannelRef, Command, DirectMessage, PlatformLimits, Post, PostRef, Reply, UserRef

# Called with (index into post.items, platform message id) as each thread item
# lands, and with index -1 for the parent, so the delivery ledger can record
# progress message by message and a crash resumes where it stopped.
OnPosted = Callable[[int, str], Awaitable[None]]


class Inbox(Protocol):
    """The core's entry points, handed to an adapter at start."""

    async def command(self, cmd: Command) -> Reply: ...

    async def direct_message(self, dm: DirectMessage) -> Reply: ...

    async def tracked_queries(self, channel: ChannelRef) -> list[str]:
        """The canonical queries `channel` tracks (for autocomplete)."""
        ...

    def request_stop(self) -> None:
        """The adapter's input ended (console EOF) or it cannot go on: shut the bot down."""


class Adapter(Protocol):
    """One chat platform."""

    name: str
    limits: PlatformLimits

    async def start(self, inbox: Inbox) -> None:
        """Connect and begin delivering events to `inbox`; return once connected."""

    async def stop(self) -> None:
        """Disconnect; safe to call when start failed half-way."""

    async def post(
        self,
        channel: ChannelRef,
        post: Post,
        *,
        resume: PostRef | None = None,
        on_posted: OnPosted | None = None,
    ) -> PostRef:
        """Post a digest: the parent, then each item in its thread.

        With `resume`, the parent already exists (resume.parent_id) and only
        `post.items` are appended to its thread. Raises
        `bot.errors.ChannelUnreachable` when the channel cannot be posted to.
        """
        ...

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        """Send a private message."""
