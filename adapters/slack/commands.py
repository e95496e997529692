"""Slash commands, the card buttons, reactions and DMs: Slack's payloads to core commands and back.

Slack drops a command that is not acknowledged within 3 seconds, so every listener acks
first and only then asks the core, which may search arXiv. The answer follows through the
command's response URL (`respond()`): ephemeral unless the core says the whole channel
should see it (a change to what the channel tracks). Commands that change a channel are
first checked against `[slack] managers` (adapters/slack/access.py). Command names carry the
configured prefix (adapters/slack/names.py), in what the bot listens to and in its replies.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.access import Managers, changes_channel
from adapters.slack.names import DEFAULT_NAMES, UMBRELLA_COMMANDS, CommandNames
from adapters.slack.posting import slack_error
from adapters.slack.render import (
    ABSTRACT_ACTION,
    BIBTEX_ACTION,
    MORE_LIKE_ACTION,
    PAGE_ACTION,
    Message,
    page_count,
    page_message,
    reply_messages,
)
from bot.models import ChannelRef, Command, DirectMessage, Platform, Reaction, Reply, UserRef, Visibility
from bot.ports import Inbox

log = logging.getLogger(__name__)

# The default names (no prefix): each slash command mapped to the core command it runs, and
# `/paperbot`, which holds the rest (`/paperbot settings time 08:30`, `/paperbot help`).
SLASH_COMMANDS = DEFAULT_NAMES.own
UMBRELLA = DEFAULT_NAMES.umbrella
MAX_ARGS = 4000  # Slack caps a command's text; a bound on what reaches the core either way
MAX_LISTS, LIST_TTL = 500, 6 * 3600.0  # long lists kept for paging: how many, how long (s)
EXPIRED_LIST = "That list is no longer available: run the command again."

NOT_A_MEMBER = (
    "\nI'm not in this channel yet, so I cannot post the digest here: type `/invite @paperbot` in it."
)


def to_command(payload: dict[str, Any], names: CommandNames = DEFAULT_NAMES) -> Command:
    """A slash command's payload as the core's Command."""
    name = names.own.get(str(payload.get("command", "")), "help")
    args = str(payload.get("text") or "")[:MAX_ARGS]
    if payload.get("command") == names.umbrella:
        first, _, rest = args.strip().partition(" ")
        name = first.casefold() if first.casefold() in UMBRELLA_COMMANDS else "help"
        args = rest.strip() if name != "help" or first.casefold() == "help" else ""
    channel = ChannelRef(
        Platform.SLACK,
        str(payload.get("team_id", "")),
        str(payload.get("channel_id", "")),
        str(payload.get("channel_name", "")),
    )
    user = UserRef(Platform.SLACK, str(payload.get("user_id", "")), str(payload.get("user_name", "")))
    return Command(name, args, channel, user)


# Slack's names for 👍 and 👎, skin tones aside ("+1::skin-tone-3").
LIKES = frozenset({"+1", "thumbsup"})
DISLIKES = frozenset({"-1", "thumbsdown"})


def reaction_value(name: str) -> int | None:
    """1 for a 👍, -1 for a 👎, None for any other reaction."""
    base = name.split("::", 1)[0]
    return 1 if base in LIKES else -1 if base in DISLIKES else None


async def respond_with(respond: AsyncRespond, reply: Reply) -> None:
    """The core's reply through a response URL (Slack accepts five posts to one URL)."""
    response_type = "in_channel" if reply.visibility is Visibility.CHANNEL else "ephemeral"
    for message in reply_messages(reply)[:5]:
        await _send(respond, message, response_type=response_type)


async def _send(respond: AsyncRespond, message: Message, **options: Any) -> None:
    result = await respond(text=message.text, blocks=message.blocks, **options)
    if result.status_code != 200:
        log.warning("Slack refused a command reply (%s): %s", result.status_code, result.body)


class LongLists:
    """Replies too long for one message, kept for their ‹ Previous / Next › buttons.

    Paging re-renders the kept reply instead of asking the core again: the pages stay the same
    list, and a list that needed arXiv does not ask it again. Bounded in number and age; after a
    restart the buttons of an old list say to run the command again.
    """

    def __init__(self, size: int = MAX_LISTS, ttl: float = LIST_TTL) -> None:
        self._kept: OrderedDict[str, tuple[float, Reply]] = OrderedDict()
        self._size = size
        self._ttl = ttl

    def keep(self, reply: Reply) -> str:
        now = time.monotonic()
        while self._kept and (
            len(self._kept) >= self._size or next(iter(self._kept.values()))[0] < now - self._ttl
        ):
            self._kept.popitem(last=False)
        token = secrets.token_urlsafe(12)
        self._kept[token] = (now, reply)
        return token

    def get(self, token: str) -> Reply | None:
        found = self._kept.get(token)
        if found is None or found[0] < time.monotonic() - self._ttl:
            return None
        return found[1]


def page_value(token: str, page: int) -> str:
    return json.dumps({"list": token, "page": page})


class Listeners:
    """The Bolt listeners, bound to the core's inbox."""

    def __init__(
        self,
        inbox: Inbox,
        client: AsyncWebClient,
        names: CommandNames = DEFAULT_NAMES,
        managers: Managers | None = None,
    ) -> None:
        self.inbox = inbox
        self.client = client
        self.names = names
        self.managers = managers or Managers(client, "everyone", names)
        self.lists = LongLists()

    def register(self, app: AsyncApp) -> None:
        for name in self.names.all:
            app.command(name)(self.on_command)
        app.action(ABSTRACT_ACTION)(self.on_abstract_button)
        app.action(MORE_LIKE_ACTION)(self.on_more_like_button)
        app.action(BIBTEX_ACTION)(self.on_bibtex_button)
        app.action(re.compile(f"^{PAGE_ACTION}_"))(self.on_page_button)
        app.event("message")(self.on_message)
        app.event("reaction_added")(self.on_reaction)
        app.event("reaction_removed")(self.on_reaction)

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()  # within Slack's 3 s, before the core does anything slow
        cmd = to_command(body, self.names)
        if changes_channel(cmd):
            decision = await self.managers.may_change(cmd.user.user_id, cmd.name)
            if not decision.allowed:
                # Slack mrkdwn as is (not escaped like core text): the mentions show as names.
                await respond(text=decision.message, response_type="ephemeral")
                return
        reply = await self.inbox.command(cmd)
        if cmd.name == "track" and reply.visibility is Visibility.CHANNEL:
            reply = await self._invite_hint(cmd.channel, reply)
        if page_count(reply) > 1:
            # /papers 100: one message a page, with buttons, rather than five messages of cards.
            token = self.lists.keep(reply)
            response_type = "in_channel" if reply.visibility is Visibility.CHANNEL else "ephemeral"
            message = page_message(reply, 0, lambda p: page_value(token, p))
            await _send(respond, message, response_type=response_type)
            return
        await respond_with(respond, reply)

    async def on_page_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """‹ Previous / Next › of a long list: the same message shows another page."""
        await ack()
        try:
            value = json.loads(str((body.get("actions") or [{}])[0].get("value", "")))
            token, page = str(value["list"]), int(value["page"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a page button with an unreadable value")
            return
        reply = self.lists.get(token)
        if reply is None:
            await respond(text=EXPIRED_LIST, response_type="ephemeral", replace_original=False)
            return
        await _send(respond, page_message(reply, page, lambda p: page_value(token, p)), replace_original=True)

    async def _invite_hint(self, channel: ChannelRef, reply: Reply) -> Reply:
        """Slash commands work in any channel, posting only in those paperbot was invited to."""
        try:
            info = await self.client.conversations_info(channel=channel.channel_id)
            data: Any = info.data
            member = bool(data["channel"].get("is_member") or data["channel"].get("is_im"))
        except SlackApiError as exc:
            # A private channel paperbot is not in is "not found" to it.
            member = slack_error(exc) != "channel_not_found"
        return reply if member else dataclasses.replace(reply, text=reply.text + NOT_A_MEMBER)

    async def on_abstract_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, "abstract", "")

    async def on_more_like_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, "papers", "like:")

    async def on_bibtex_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, "bibtex", "")

    async def _button(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, name: str, prefix: str
    ) -> None:
        """A card's button runs `/name <prefix><paper id>` for the person who clicked."""
        await ack()
        action = (body.get("actions") or [{}])[0]
        channel = body.get("channel") or {}
        user = body.get("user") or {}
        cmd = Command(
            name,
            prefix + str(action.get("value", ""))[:100],
            ChannelRef(
                Platform.SLACK,
                str((body.get("team") or {}).get("id", "")),
                str(channel.get("id", "")),
                str(channel.get("name", "")),
            ),
            UserRef(Platform.SLACK, str(user.get("id", "")), str(user.get("username", ""))),
        )
        reply = await self.inbox.command(cmd)
        # Only the person who clicked sees it, without touching the digest card.
        ephemeral = dataclasses.replace(reply, visibility=Visibility.EPHEMERAL)
        await respond_with(respond, ephemeral)

    async def on_reaction(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """A 👍 or 👎 put on or taken off a message: the core keeps it if the message is a card."""
        value = reaction_value(str(event.get("reaction", "")))
        item = event.get("item") or {}
        if value is None or item.get("type") != "message" or not item.get("ts"):
            return
        channel = ChannelRef(Platform.SLACK, str(body.get("team_id", "")), str(item.get("channel", "")))
        user = UserRef(Platform.SLACK, str(event.get("user", "")))
        added = event.get("type") == "reaction_added"
        await self.inbox.reaction(Reaction(channel, str(item["ts"]), user, value, added))

    async def on_message(self, event: dict[str, Any]) -> None:
        """A DM from a person gets the abstract or help; everything else is ignored.

        Bolt already drops paperbot's own messages; other bots, edits, joins and channel
        messages (if the app is ever subscribed to them) are dropped here.
        """
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        user = UserRef(Platform.SLACK, str(event.get("user", "")))
        reply = await self.inbox.direct_message(DirectMessage(user, str(event.get("text") or "")))
        channel_id = str(event.get("channel", ""))
        try:
            for message in reply_messages(reply):
                await self.client.chat_postMessage(
                    channel=channel_id, text=message.text, blocks=message.blocks or None, unfurl_links=False
                )
        except SlackApiError as exc:
            log.warning("could not answer a DM from %s: %s", user.user_id, exc.response.data)
