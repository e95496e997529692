"""Digests on Discord: a parent message, a thread created from it, one embed message per paper.

A thread created from a message has the message's id, so `PostRef.parent_id`
(the parent message id) is also the thread id a resumed delivery appends to. A
forum channel gets a forum post per digest (its thread id is its starter
message id too). Where a thread cannot be made (no Create Public Threads
permission, a channel type without threads), papers are posted as replies to
the parent instead, and the log says so once per channel.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

import discord

from adapters.discord.render import card_embed, footer_text, parent_text, thread_name
from bot.errors import ChannelUnreachable
from bot.models import ChannelRef, Post, PostRef
from bot.ports import OnPosted

log = logging.getLogger(__name__)

ARCHIVE_AFTER_MINUTES: Final = 1440  # a day: the thread stays open while people read the digest
PERMISSIONS_FIX = (
    "Give paperbot's role View Channel, Send Messages, Send Messages in Threads, Create Public Threads, "
    "Embed Links and Read Message History in {where} (or re-invite it: `paperbot discord invite-url`)."
)


class _Place(Protocol):
    """Where a digest's papers go: its thread, or replies to its parent."""

    async def send(
        self, content: str | None = None, *, embed: discord.Embed | None = None
    ) -> discord.Message: ...


class _InThread:
    def __init__(self, thread: discord.Thread) -> None:
        self.thread = thread

    async def send(
        self, content: str | None = None, *, embed: discord.Embed | None = None
    ) -> discord.Message:
        return await self.thread.send(content, embed=embed or discord.utils.MISSING)


class _AsReplies:
    def __init__(self, channel: discord.abc.Messageable, parent: discord.Message | discord.PartialMessage):
        self.channel = channel
        # The parent may be deleted while papers are still going out: post them anyway.
        self.reference = parent.to_reference(fail_if_not_exists=False)

    async def send(
        self, content: str | None = None, *, embed: discord.Embed | None = None
    ) -> discord.Message:
        return await self.channel.send(
            content, embed=embed or discord.utils.MISSING, reference=self.reference, mention_author=False
        )


class Poster:
    """Posts digests through a logged-in discord.py client."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self._told: set[tuple[int, str]] = set()

    async def post(
        self, channel: ChannelRef, post: Post, *, resume: PostRef | None, on_posted: OnPosted | None
    ) -> PostRef:
        where = f"#{channel.name}" if channel.name else f"channel {channel.channel_id}"
        try:
            target = await self._channel(int(channel.channel_id))
            if resume is None:
                parent_id, place = await self._open(target, post, where)
                if on_posted is not None:
                    await on_posted(-1, str(parent_id))
            else:
                parent_id = int(resume.parent_id)
                place = await self._reopen(target, parent_id, where)
            ids = list(resume.item_ids) if resume else []
            for index, card in enumerate(post.items):
                message = await place.send(embed=card_embed(card))
                ids.append(str(message.id))
                if on_posted is not None:
                    await on_posted(index, str(message.id))
            if post.footer:
                await place.send(footer_text(post))
        except (discord.Forbidden, discord.NotFound) as exc:
            raise unreachable(exc, where) from None
        return PostRef(str(parent_id), tuple(ids))

    async def _channel(self, channel_id: int) -> object:
        return self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)

    async def _open(self, target: object, post: Post, where: str) -> tuple[int, _Place]:
        """Post the parent (a forum post in a forum); return its id and where the papers go."""
        if isinstance(target, discord.ForumChannel):
            created = await target.create_thread(
                name=thread_name(post), content=parent_text(post), applied_tags=forum_tags(target, where)
            )
            return created.thread.id, _InThread(created.thread)
        if not isinstance(target, discord.abc.Messageable):
            raise ChannelUnreachable(
                f"{where} is not a channel paperbot can post in ({type(target).__name__})",
                "Track topics in a text or forum channel instead.",
            )
        parent = await target.send(parent_text(post))
        thread = await self._thread_from(target, parent, post, where)
        return parent.id, _InThread(thread) if thread is not None else _AsReplies(target, parent)

    async def _thread_from(
        self, target: discord.abc.Messageable, parent: discord.Message, post: Post, where: str
    ) -> discord.Thread | None:
        if not isinstance(target, discord.TextChannel):  # voice/stage chat, or already a thread
            self._tell_once(target, "kind", f"{where} cannot have threads: digest papers go out as replies")
            return None
        me = target.guild.me
        if me is not None and not target.permissions_for(me).create_public_threads:
            self._tell_missing_threads(target, where)
            return None
        try:
            return await parent.create_thread(
                name=thread_name(post), auto_archive_duration=ARCHIVE_AFTER_MINUTES
            )
        except discord.Forbidden:
            self._tell_missing_threads(target, where)
        except discord.HTTPException as exc:
            if exc.status != 400:
                raise
            self._tell_once(
                target, "kind", f"Discord refused a thread in {where} ({exc.text}): using replies"
            )
        return None

    async def _reopen(self, target: object, parent_id: int, where: str) -> _Place:
        """The place an interrupted digest continues: its thread if there is one, else replies."""
        try:
            thread = await self._channel(parent_id)
        except discord.NotFound:
            thread = None
        if isinstance(thread, discord.Thread):
            return _InThread(thread)
        if isinstance(target, discord.abc.Messageable) and isinstance(target, discord.abc.GuildChannel):
            return _AsReplies(target, discord.PartialMessage(channel=target, id=parent_id))  # type: ignore[arg-type]
        raise ChannelUnreachable(f"the digest thread {parent_id} in {where} is gone", "")

    def _tell_missing_threads(self, target: discord.abc.Messageable, where: str) -> None:
        self._tell_once(
            target,
            "threads",
            f"paperbot lacks the Create Public Threads permission in {where}: digest papers go out as "
            f"replies instead of a thread. Fix: {PERMISSIONS_FIX.format(where=where)}",
        )

    def _tell_once(self, target: object, topic: str, text: str) -> None:
        key = (getattr(target, "id", 0), topic)
        if key not in self._told:
            self._told.add(key)
            log.warning("%s", text)


# A forum tag with one of these names marks digest posts; the first that exists is used.
TAG_NAMES: Final = ("arxiv", "papers", "paper", "digest", "paperbot")


def forum_tags(forum: discord.ForumChannel, where: str) -> list[discord.ForumTag]:
    """The tag for a digest post: one named for papers if the forum has it, else any if one is required.

    Moderated tags are left alone: applying them needs Manage Threads, which paperbot does not ask for.
    """
    usable = [t for t in forum.available_tags if not t.moderated]
    by_name = {t.name.strip().casefold(): t for t in usable}
    for name in TAG_NAMES:
        if name in by_name:
            return [by_name[name]]
    if not forum.flags.require_tag:
        return []
    if usable:
        return [usable[0]]
    raise ChannelUnreachable(
        f"{where} requires a tag on every post and has none paperbot may apply",
        f"Add a tag named 'arXiv' to {where} (not restricted to moderators).",
    )


def unreachable(exc: discord.HTTPException, where: str) -> ChannelUnreachable:
    """Discord's refusal as the core's ChannelUnreachable, with what an operator can do about it."""
    if isinstance(exc, discord.NotFound):
        return ChannelUnreachable(
            f"{where} was not found on Discord ({exc.text or 'Unknown Channel'}): deleted, or paperbot was "
            "removed from the server",
            "If paperbot was removed, invite it again (`paperbot discord invite-url`); "
            "otherwise /untrack the channel's queries.",
        )
    return ChannelUnreachable(
        f"Discord refused paperbot in {where} ({exc.text or 'Forbidden'}, code {exc.code})",
        PERMISSIONS_FIX.format(where=where),
    )
