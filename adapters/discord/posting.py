"""Digests on Discord: a parent message, a thread created from it, one embed message per paper.

A thread created from a message has the message's id, so the parent message id is also the
thread id a resumed delivery appends to. A forum channel gets a forum post per digest (its
thread id is its starter message id too). Where a thread cannot be made (no Create Public
Threads permission, a channel type without threads), papers are posted as replies to the
parent instead, and the log says so once per channel.

Every message is sent with its delivery key as the nonce, which discord.py sends with
`enforce_nonce`: a resend with the same key within a few minutes returns the message that
already went out instead of posting it again. Beyond that, after a crash the thread (or the
channel) is read back and a message is recognised by what it shows: a card by its paper's
link, the footer by its text, the parent by its text (or a forum post by its title).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Final, Protocol

import discord

from adapters.discord.buttons import card_view
from adapters.discord.render import card_embed, footer_text, parent_text, thread_name
from bot.errors import ChannelUnreachable
from bot.models import Card, ChannelRef, Post, ThreadItem

log = logging.getLogger(__name__)

ARCHIVE_AFTER_MINUTES: Final = 1440  # a day: the thread stays open while people read the digest
PERMISSIONS_FIX = (
    "Give paperbot's role View Channel, Send Messages, Send Messages in Threads, Create Public Threads, "
    "Embed Links and Read Message History in {where} (or re-invite it: `paperbot discord invite-url`)."
)


ARCHIVE_AFTER = timedelta(minutes=ARCHIVE_AFTER_MINUTES)
# Discord's clock and ours may differ: read back from a little before the intent.
CLOCK_SLACK = timedelta(minutes=10)
READ_BACK = 200  # messages: a digest thread holds at most 51 of ours
PLACES_KEPT = 256  # digests whose thread is remembered between their messages


class _Place(Protocol):
    """Where a digest's papers go: its thread, or replies to its parent."""

    async def send(
        self,
        content: str | None,
        *,
        embed: discord.Embed | None,
        nonce: str,
        view: discord.ui.View | None = None,
    ) -> discord.Message: ...

    def history(self, after: datetime) -> AsyncIterator[discord.Message]: ...

    def holds(self, message: discord.Message) -> bool: ...


class _InThread:
    def __init__(self, thread: discord.Thread) -> None:
        self.thread = thread

    async def send(
        self,
        content: str | None,
        *,
        embed: discord.Embed | None,
        nonce: str,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        return await self.thread.send(
            content, embed=embed or discord.utils.MISSING, nonce=nonce, view=view or discord.utils.MISSING
        )

    def history(self, after: datetime) -> AsyncIterator[discord.Message]:
        return self.thread.history(after=after, limit=READ_BACK)

    def holds(self, message: discord.Message) -> bool:
        return True


class _AsReplies:
    def __init__(self, channel: discord.abc.Messageable, parent: discord.Message | discord.PartialMessage):
        self.channel = channel
        self.parent_id = parent.id
        # The parent may be deleted while papers are still going out: post them anyway.
        self.reference = parent.to_reference(fail_if_not_exists=False)

    async def send(
        self,
        content: str | None,
        *,
        embed: discord.Embed | None,
        nonce: str,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        return await self.channel.send(
            content,
            embed=embed or discord.utils.MISSING,
            reference=self.reference,
            mention_author=False,
            nonce=nonce,
            view=view or discord.utils.MISSING,
        )

    def history(self, after: datetime) -> AsyncIterator[discord.Message]:
        return self.channel.history(after=after, limit=READ_BACK)

    def holds(self, message: discord.Message) -> bool:
        return message.reference is not None and message.reference.message_id == self.parent_id


class Poster:
    """Posts digest messages through a logged-in discord.py client."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self._told: set[tuple[int, str]] = set()
        self._places: OrderedDict[int, _Place] = OrderedDict()  # parent id -> where its items go

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        where = _where(channel)
        try:
            target = await self._channel(int(channel.channel_id))
            parent_id, place = await self._open(target, post, where, key)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise unreachable(exc, where) from None
        self._remember(parent_id, place)
        return str(parent_id)

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        where = _where(channel)
        try:
            place = await self._place(channel, int(parent), where)
            if isinstance(item, Card):
                message = await place.send(
                    None, embed=card_embed(item), nonce=key, view=card_view(item.paper_id)
                )
            else:
                message = await place.send(footer_text(item), embed=None, nonce=key)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise unreachable(exc, where) from None
        return str(message.id)

    async def find_posted(
        self,
        channel: ChannelRef,
        parent: str | None,
        wanted: Mapping[str, Post | ThreadItem],
        since: datetime,
    ) -> dict[str, str]:
        """What of `wanted` paperbot already posted: recognised by content, not the nonce.

        Discord returns a message's nonce only to the request that created it, so reading back
        compares what each message shows: the parent's text, a card's link, the footer's text.
        """
        where = _where(channel)
        after = since - CLOCK_SLACK
        me = self.client.user
        try:
            if parent is None:
                [(key, post)] = wanted.items()
                assert isinstance(post, Post)
                found = await self._find_parent(await self._channel(int(channel.channel_id)), post, after)
                return {key: found} if found else {}
            place = await self._place(channel, int(parent), where)
            looks = {_looks(item): key for key, item in wanted.items() if not isinstance(item, Post)}
            found_items: dict[str, str] = {}
            async for message in place.history(after):
                if me is not None and message.author.id == me.id and place.holds(message):
                    seen = looks.get(_shows(message))
                    if seen is not None:
                        found_items[seen] = str(message.id)
            return found_items
        except (discord.Forbidden, discord.NotFound) as exc:
            raise unreachable(exc, where) from None

    async def _find_parent(self, target: object, post: Post, after: datetime) -> str | None:
        me = self.client.user
        if isinstance(target, discord.ForumChannel):
            name = thread_name(post)
            for thread in await target.guild.active_threads():
                created = thread.created_at or discord.utils.snowflake_time(thread.id)
                mine = me is not None and thread.owner_id == me.id
                if mine and thread.parent_id == target.id and thread.name == name and created >= after:
                    return str(thread.id)
            return None
        if not isinstance(target, discord.abc.Messageable):
            return None
        text = parent_text(post)
        async for message in target.history(after=after, limit=READ_BACK):
            if me is not None and message.author.id == me.id and message.content == text:
                return str(message.id)
        return None

    async def _place(self, channel: ChannelRef, parent_id: int, where: str) -> _Place:
        place = self._places.get(parent_id)
        if place is None:
            target = await self._channel(int(channel.channel_id))
            place = await self._reopen(target, parent_id, where)
            self._remember(parent_id, place)
        return place

    def _remember(self, parent_id: int, place: _Place) -> None:
        self._places[parent_id] = place
        self._places.move_to_end(parent_id)
        while len(self._places) > PLACES_KEPT:
            self._places.popitem(last=False)

    async def _channel(self, channel_id: int) -> object:
        return self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)

    async def _open(self, target: object, post: Post, where: str, key: str) -> tuple[int, _Place]:
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
        parent = await target.send(parent_text(post), nonce=key)
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
        """The place an interrupted digest continues: its thread if there is one, else replies.

        A crash between posting the parent and creating its thread leaves a parent without one:
        the thread is created now, as it would have been.
        """
        try:
            thread = await self._channel(parent_id)
        except discord.NotFound:
            thread = None
        if isinstance(thread, discord.Thread):
            return _InThread(thread)
        if isinstance(target, discord.TextChannel):
            try:
                parent = await target.fetch_message(parent_id)
            except discord.NotFound:  # the parent was deleted: carry on below where it was
                return _AsReplies(target, discord.PartialMessage(channel=target, id=parent_id))
            header = parent.content.split("\n", 1)[0]
            made = await self._thread_from(target, parent, Post(header), where)
            return _InThread(made) if made is not None else _AsReplies(target, parent)
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


def _where(channel: ChannelRef) -> str:
    return f"#{channel.name}" if channel.name else f"channel {channel.channel_id}"


def _looks(item: ThreadItem) -> str:
    """What identifies a thread item on sight: a card's link, the footer's text."""
    return f"embed:{item.url}" if isinstance(item, Card) else f"text:{footer_text(item)}"


def _shows(message: discord.Message) -> str:
    if message.embeds:
        return f"embed:{message.embeds[0].url}"
    return f"text:{message.content}"


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
