"""A local fake of Discord: the REST routes paperbot uses and a gateway WebSocket, on 127.0.0.1 port 0.

It runs in the test's event loop (discord.py is async too) and speaks Discord's
wire format closely enough for the real discord.py: JSON with a Content-Type of
exactly `application/json`; HELLO → IDENTIFY → READY + GUILD_CREATE →
HEARTBEAT_ACK on the gateway, frames sent as text; interaction callbacks answered
in the `with_response` shape; 429s with a JSON `retry_after` and a `Via` header.
It knows one server ("Reading Group") with a text channel, a forum and a text
channel where @everyone may not create threads, computes the bot's permissions
from role bitfields and channel overwrites as Discord does, enforces Discord's
message limits with Discord's error JSON, and records every request.

Tests drive it: `await fake.command("track", query="video retrieval")` pushes an
INTERACTION_CREATE and waits for the answer; `await fake.dm(user, "2401.01234")`
pushes a DM; `fake.fail_next(...)` / `fake.rate_limit_next(...)` script faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

# Permission bits, from https://discord.com/developers/docs/topics/permissions
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

# What a new server's @everyone role may do, and what the invite URL grants the bot's role.
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE | ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES
    | READ_MESSAGE_HISTORY | USE_EXTERNAL_EMOJIS | CONNECT | SPEAK | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS | CREATE_PUBLIC_THREADS | CREATE_PRIVATE_THREADS | SEND_MESSAGES_IN_THREADS
)  # fmt: skip
BOT_ROLE_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS | CREATE_PUBLIC_THREADS | EMBED_LINKS
    | READ_MESSAGE_HISTORY
)  # fmt: skip
MEMBER = EVERYONE_PERMISSIONS
MODERATOR = EVERYONE_PERMISSIONS | MANAGE_CHANNELS

TOKEN = "fake-bot-token.for-tests"
APP_ID = 1310000000000000001
BOT_ID = APP_ID  # a bot user's id is its application's id
GUILD_ID = 1320000000000000001
BOT_ROLE_ID = 1320000000000000002
PAPERS_ID = 1330000000000000001  # #papers: a text channel
FORUM_ID = 1330000000000000002  # #paper-forum: a forum
NO_THREADS_ID = 1330000000000000003  # #no-threads: @everyone may not create threads here
VOICE_ID = 1330000000000000004  # 🔊 lounge: a voice channel, whose text chat cannot have threads
TAGGED_FORUM_ID = 1330000000000000005  # #reading-forum: a forum whose posts must carry a tag
REQUIRE_TAG = 1 << 4  # channel flag

TEXT, DM, VOICE, PUBLIC_THREAD, FORUM = 0, 1, 2, 11, 15
NONCE_WINDOW_S = 120  # Discord: "within the past few minutes"
STRING, INTEGER = 3, 4  # application command option types
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE = 2, 3, 4  # interaction types
EPHEMERAL = 1 << 6  # message flag


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": None if bot else name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


BOT_USER = user(BOT_ID, "paperbot", bot=True)
ALICE = user(1340000000000000001, "alice")
BOB = user(1340000000000000002, "bob")
OTHER_BOT = user(1340000000000000003, "otherbot", bot=True)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def member(of: dict[str, Any]) -> dict[str, Any]:
    """A guild member payload for the user `of`."""
    return {
        "user": of,
        "roles": [],
        "joined_at": _now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
        "avatar": None,
        "premium_since": None,
        "pending": False,
    }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float


@dataclass
class Fault:
    method: str
    path: str  # a prefix of the request path below /api/v10
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Channel:
    id: int
    type: int
    name: str
    guild_id: int | None = GUILD_ID
    parent_id: int | None = None
    overwrites: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    recipient: dict[str, Any] | None = None  # DMs
    flags: int = 0
    tags: list[dict[str, Any]] = field(default_factory=list)  # forums: available_tags
    applied_tags: list[str] = field(default_factory=list)  # forum posts: the tags they carry


@dataclass
class Answer:
    """One thing the bot did about an interaction: its callback, a follow-up, or deleting the original."""

    kind: str  # callback | followup | delete
    type: int | None = None  # callback type: 4 message, 5 deferred, 8 autocomplete choices
    data: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.data.get("embeds") or [])

    @property
    def files(self) -> dict[str, bytes]:
        """Files attached to it: name -> content."""
        return {f["filename"]: f["content"] for f in self.data.get("files") or []}

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)


@dataclass
class Interaction:
    id: int
    token: str
    name: str
    answers: list[Answer] = field(default_factory=list)

    @property
    def messages(self) -> list[Answer]:
        """What the user ends up seeing: replies and follow-ups (a deleted placeholder is gone)."""
        shown = [a for a in self.answers if (a.kind == "callback" and a.type == 4) or a.kind == "followup"]
        return [a for a in shown if not a.deleted]

    @property
    def text(self) -> str:
        return "\n".join(m.content for m in self.messages)

    @property
    def choices(self) -> list[dict[str, Any]]:
        return [c for a in self.answers if a.type == 8 for c in a.data.get("choices", [])]

    @property
    def deferred(self) -> bool:
        return any(a.type == 5 for a in self.answers)

    @property
    def answered(self) -> bool:
        if any(a.type in (4, 8) for a in self.answers):
            return True
        return self.deferred and any(a.kind == "followup" for a in self.answers)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only if Content-Type is exactly this (no charset).
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return _json(body, status)


def _too_long(where: str, limit: int) -> web.Response:
    return _error(
        400,
        50035,
        "Invalid Form Body",
        {
            where: {
                "_errors": [
                    {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
                ]
            }
        },
    )


MAX_ATTACHMENT = 10 * 1024 * 1024  # a bot's upload limit in a server without boosts


async def request_body(request: web.Request) -> Any:
    """A request's JSON, also when discord.py sends files: multipart with `payload_json` and `files[n]`.

    The uploaded files are kept in the body as `files`: [{"filename", "content"}], for asserts.
    """
    if not request.content_type.startswith("multipart/"):
        return await request.json()
    form = await request.post()
    body = json.loads(str(form["payload_json"]))
    body["files"] = []
    for name, part in form.items():
        if name.startswith("files[") and isinstance(part, web.FileField):
            part.file.seek(0)  # the form is parsed once per request and read by each caller
            body["files"].append({"filename": part.filename, "content": part.file.read()})
    return body


def message_error(body: dict[str, Any]) -> web.Response | None:
    """Discord's 400 for a message over its limits, or None when the message is fine."""
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if len(content) > 2000:
        return _too_long("content", 2000)
    if len(embeds) > 10:
        return _too_long("embeds", 10)
    total = 0
    for i, embed in enumerate(embeds):
        title, description = embed.get("title") or "", embed.get("description") or ""
        if len(title) > 256:
            return _too_long(f"embeds.{i}.title", 256)
        if len(description) > 4096:
            return _too_long(f"embeds.{i}.description", 4096)
        footer = (embed.get("footer") or {}).get("text") or ""
        author = (embed.get("author") or {}).get("name") or ""
        fields = sum(len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields") or [])
        total += len(title) + len(description) + len(footer) + len(author) + fields
    if total > 6000:
        return _error(
            400,
            50035,
            "Invalid Form Body",
            {
                "embeds": {
                    "_errors": [
                        {
                            "code": "MAX_EMBED_SIZE_EXCEEDED",
                            "message": "Embed size exceeds maximum size of 6000",
                        }
                    ]
                }
            },
        )
    if any(len(f["content"]) > MAX_ATTACHMENT for f in body.get("files") or []):
        return _error(413, 40005, "Request entity too large")
    if not content and not embeds and not body.get("files"):
        return _error(400, 50006, "Cannot send an empty message")
    return None


def _tag(tag_id: int, name: str, *, moderated: bool = False) -> dict[str, Any]:
    return {"id": str(tag_id), "name": name, "moderated": moderated, "emoji_id": None, "emoji_name": None}


class FakeDiscord:
    """Discord's REST API and gateway, as far as paperbot uses them."""

    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.token_for_gateway: str | None = None  # set to make the gateway reject what REST accepts
        self.requests: list[Recorded] = []
        self.synced: dict[str, list[dict[str, Any]]] = {}  # PUT path -> the commands sent
        self.identify: dict[str, Any] | None = None
        self.interactions: dict[int, Interaction] = {}
        self._faults: list[Fault] = []
        # Messages sent with `enforce_nonce`: (channel id, author id, nonce) -> (message, when sent).
        self._nonces: dict[tuple[int, str, str], tuple[dict[str, Any], float]] = {}
        # Called with the number of the bot message about to be created (channel messages, threads'
        # starters and forum posts); True drops it. Fault tests kill paperbot from here.
        self.on_send: Callable[[int], bool] | None = None
        self.sent = 0
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._responses = Channel(0, TEXT, "(interaction responses)")
        self.port = 0
        everyone_deny_threads = {
            "id": str(GUILD_ID),
            "type": 0,
            "allow": "0",
            "deny": str(CREATE_PUBLIC_THREADS),
        }
        self.channels: dict[int, Channel] = {
            PAPERS_ID: Channel(PAPERS_ID, TEXT, "papers"),
            FORUM_ID: Channel(FORUM_ID, FORUM, "paper-forum"),
            NO_THREADS_ID: Channel(NO_THREADS_ID, TEXT, "no-threads", overwrites=[everyone_deny_threads]),
            VOICE_ID: Channel(VOICE_ID, VOICE, "lounge"),
            TAGGED_FORUM_ID: Channel(
                TAGGED_FORUM_ID,
                FORUM,
                "reading-forum",
                flags=REQUIRE_TAG,
                tags=[
                    _tag(1340000000000000001, "Announcements", moderated=True),
                    _tag(1340000000000000002, "Q&A"),
                    _tag(1340000000000000003, "arXiv"),
                ],
            ),
        }
        self.roles: dict[int, dict[str, Any]] = {
            GUILD_ID: self._role(GUILD_ID, "@everyone", EVERYONE_PERMISSIONS, 0, managed=False),
            BOT_ROLE_ID: self._role(BOT_ROLE_ID, "paperbot", BOT_ROLE_PERMISSIONS, 1, managed=True),
        }

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._middleware])
        api = "/api/v10"
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_get(f"{api}/gateway", self._gateway_url)
        app.router.add_get(f"{api}/gateway/bot", self._gateway_url)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        app.router.add_post(f"{api}/interactions/{{iid}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_delete(f"{api}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._delete_original)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_get(f"{api}/channels/{{cid}}", self._get_channel)
        app.router.add_post(f"{api}/channels/{{cid}}/messages", self._post_message)
        app.router.add_get(f"{api}/channels/{{cid}}/messages", self._get_messages)
        app.router.add_get(f"{api}/channels/{{cid}}/messages/{{mid}}", self._get_message)
        app.router.add_get(f"{api}/guilds/{{gid}}/threads/active", self._active_threads)
        app.router.add_post(f"{api}/channels/{{cid}}/typing", self._typing)
        app.router.add_post(f"{api}/channels/{{cid}}/messages/{{mid}}/threads", self._thread_from_message)
        app.router.add_post(f"{api}/channels/{{cid}}/threads", self._forum_post)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def connected(self) -> bool:
        """Whether a client holds the gateway open."""
        return bool(self._sockets)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- test controls -----------------------------------------------------

    def fail_next(self, method: str, path: str, status: int, code: int, message: str) -> None:
        """The next `method` request whose path starts with `path` gets Discord's error JSON."""
        self._faults.append(Fault(method, path, status, {"message": message, "code": code}))

    def rate_limit_next(self, method: str, path: str, retry_after: float = 0.05) -> None:
        """The next matching request gets a 429 as Discord sends it (through Cloudflare: `Via`)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": "user",
        }
        self._faults.append(Fault(method, path, 429, body, headers))

    def revoke(self, channel_id: int) -> None:
        """Deny the bot's role View Channel there, as a moderator removing its access would."""
        self.channels[channel_id].overwrites.append(
            {"id": str(BOT_ROLE_ID), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}
        )

    async def close_gateway(self, code: int) -> None:
        """Close every gateway connection with `code` (4004: the token was revoked)."""
        for ws in list(self._sockets):
            await ws.close(code=code)

    def delete_channel(self, channel_id: int) -> None:
        del self.channels[channel_id]

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate` holds (checked after every request), `within` seconds at most."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Push a gateway dispatch to every connected client."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"op": 0, "s": next(self._seq), "t": event, "d": data}))

    async def command(
        self,
        name: str,
        *,
        channel_id: int = PAPERS_ID,
        by: dict[str, Any] = ALICE,
        permissions: int = MODERATOR,
        wait: bool = True,
        **options: str | int,
    ) -> Interaction:
        """A member runs `/name option=value ...`; returns once the bot has answered."""
        opts = [
            {"name": k, "type": INTEGER if isinstance(v, int) else STRING, "value": v}
            for k, v in options.items()
        ]
        interaction = await self._interact(APPLICATION_COMMAND, name, opts, channel_id, by, permissions)
        if wait:
            await self.wait_until(lambda: interaction.answered)
        return interaction

    async def autocomplete(
        self, name: str, option: str, typed: str, *, channel_id: int = PAPERS_ID, by: dict[str, Any] = ALICE
    ) -> list[str]:
        """A member types `typed` into `/name option:`; returns the choices the bot offers."""
        opts = [{"name": option, "type": STRING, "value": typed, "focused": True}]
        interaction = await self._interact(AUTOCOMPLETE, name, opts, channel_id, by, MODERATOR)
        await self.wait_until(lambda: interaction.answered)
        return [c["value"] for c in interaction.choices]

    async def react(
        self, message: dict[str, Any], emoji: str = "👍", *, by: dict[str, Any] = ALICE, removed: bool = False
    ) -> None:
        """`by` reacts to `message` (or takes the reaction off), as the gateway tells the bot."""
        data: dict[str, Any] = {
            "user_id": by["id"],
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "guild_id": str(GUILD_ID),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if not removed:
            data["member"] = member(by)
            data["message_author_id"] = message["author"]["id"]
        await self.dispatch("MESSAGE_REACTION_REMOVE" if removed else "MESSAGE_REACTION_ADD", data)

    async def click(
        self, message: dict[str, Any], custom_id: str, *, by: dict[str, Any] = ALICE
    ) -> Interaction:
        """`by` clicks the button `custom_id` of `message`; returns once the bot has answered."""
        interaction = await self._interact(
            MESSAGE_COMPONENT,
            custom_id,
            [],
            int(message["channel_id"]),
            by,
            MEMBER,
            data={"custom_id": custom_id, "component_type": 2},
            message=message,
        )
        await self.wait_until(lambda: interaction.answered)
        return interaction

    async def dm(self, author: dict[str, Any], content: str) -> Channel:
        """`author` sends the bot a direct message; returns the DM channel (its replies land there)."""
        channel = self._dm_channel(author)
        message = self._message(channel, {"content": content}, author=author)
        await self.dispatch("MESSAGE_CREATE", message)
        return channel

    # -- queries -----------------------------------------------------------

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        return self.channels[channel_id].messages

    def threads(self, parent_id: int) -> list[Channel]:
        return [c for c in self.channels.values() if c.type == PUBLIC_THREAD and c.parent_id == parent_id]

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        """The recorded `method` requests to `path` (below /api/v10)."""
        return [r for r in self.requests if r.method == method and r.path == path]

    def bot_permissions(self, channel_id: int) -> int:
        """The bot's permissions in a channel: roles, then @everyone, role and member overwrites."""
        channel = self.channels[channel_id]
        if channel.parent_id is not None:  # a thread has its parent's permissions
            channel = self.channels[channel.parent_id]
        perms = int(self.roles[GUILD_ID]["permissions_int"]) | int(self.roles[BOT_ROLE_ID]["permissions_int"])
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        for kind in ("everyone", "role", "member"):
            deny = allow = 0
            for ow in channel.overwrites:
                target = int(ow["id"])
                if (
                    (kind == "everyone" and target == GUILD_ID)
                    or (kind == "role" and ow["type"] == 0 and target == BOT_ROLE_ID)
                    or (kind == "member" and ow["type"] == 1 and target == BOT_ID)
                ):
                    deny |= int(ow["deny"])
                    allow |= int(ow["allow"])
            perms = (perms & ~deny) | allow
        return perms

    # -- payloads ----------------------------------------------------------

    def next_id(self) -> int:
        # Snowflakes: milliseconds since Discord's epoch (2015) in the high bits, a counter below.
        return ((int(time.time() * 1000) - 1420070400000) << 22) + next(self._ids)

    @staticmethod
    def _role(role_id: int, name: str, permissions: int, position: int, *, managed: bool) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if managed:
            role["tags"] = {"bot_id": str(BOT_ID)}
        role["permissions_int"] = permissions
        return role

    def channel_payload(self, channel: Channel) -> dict[str, Any]:
        if channel.type == DM:
            return {
                "id": str(channel.id),
                "type": DM,
                "last_message_id": None,
                "recipients": [channel.recipient],
            }
        data: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": 0,
            "permission_overwrites": channel.overwrites,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": channel.flags,
        }
        if channel.type == VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        if channel.type == FORUM:
            data.update(
                available_tags=channel.tags,
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
                default_auto_archive_duration=1440,
            )
        if channel.type == PUBLIC_THREAD:
            data.update(
                owner_id=str(BOT_ID),
                message_count=len(channel.messages),
                member_count=1,
                total_message_sent=len(channel.messages),
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _now(),
                    "locked": False,
                    "create_timestamp": _now(),
                },
            )
        return data

    def guild_payload(self) -> dict[str, Any]:
        roles = [{k: v for k, v in r.items() if k != "permissions_int"} for r in self.roles.values()]
        return {
            "id": str(GUILD_ID),
            "name": "Reading Group",
            "icon": None,
            "owner_id": ALICE["id"],
            "roles": roles,
            "channels": [
                self.channel_payload(c) for c in self.channels.values() if c.type in (TEXT, VOICE, FORUM)
            ],
            "threads": [],
            "members": [{**member(BOT_USER), "roles": [str(BOT_ROLE_ID)]}],
            "member_count": 3,
            "large": False,
            "unavailable": False,
            "joined_at": _now(),
            "features": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
            "system_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "afk_timeout": 300,
        }

    def _message(
        self,
        channel: Channel,
        body: dict[str, Any],
        *,
        author: dict[str, Any] = BOT_USER,
        message_id: int | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        reference = body.get("message_reference")
        message: dict[str, Any] = {
            "id": str(message_id or self.next_id()),
            "channel_id": str(channel.id),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(self.next_id()),
                    "filename": f["filename"],
                    "size": len(f["content"]),
                    "url": f"https://cdn.discordapp.com/attachments/{channel.id}/{f['filename']}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel.id}/{f['filename']}",
                }
                for f in body.get("files") or []
            ],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 19 if reference else 0,
            "flags": flags,
            "allowed_mentions": body.get("allowed_mentions"),  # what the bot asked for, kept for asserts
        }
        if channel.guild_id is not None:
            message["guild_id"] = str(channel.guild_id)
        if reference:
            message["message_reference"] = reference
        channel.messages.append(message)
        return message

    def _dm_channel(self, recipient: dict[str, Any]) -> Channel:
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient and channel.recipient["id"] == recipient["id"]:
                return channel
        channel = Channel(self.next_id(), DM, "", guild_id=None, recipient=recipient)
        self.channels[channel.id] = channel
        return channel

    async def _interact(
        self,
        kind: int,
        name: str,
        options: list[dict[str, Any]],
        channel_id: int,
        by: dict[str, Any],
        permissions: int,
        *,
        data: dict[str, Any] | None = None,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        interaction = Interaction(self.next_id(), f"interaction-token-{next(self._ids)}", name)
        self.interactions[interaction.id] = interaction
        channel = self.channels[channel_id]
        guild_command = any(
            name == c["name"] for path, cmds in self.synced.items() if "/guilds/" in path for c in cmds
        )
        if data is None:  # a slash command (or its autocomplete); else a component's own data
            data = {"id": str(self.next_id()), "name": name, "type": 1, "options": options}
            if guild_command:
                data["guild_id"] = str(GUILD_ID)
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(APP_ID),
            "type": kind,
            "token": interaction.token,
            "version": 1,
            "data": data,
            "channel_id": str(channel_id),
            "channel": self.channel_payload(channel),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        if channel.type == DM:
            payload.update(user=by, context=1, authorizing_integration_owners={"0": str(GUILD_ID)})
        else:
            payload.update(
                guild_id=str(GUILD_ID),
                guild={"id": str(GUILD_ID), "locale": "en-US", "features": []},
                guild_locale="en-US",
                app_permissions=str(self.bot_permissions(channel_id)),
                context=0,
                authorizing_integration_owners={"0": str(GUILD_ID)},
                member={**member(by), "permissions": str(permissions)},
            )
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # -- REST --------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            response: web.StreamResponse = await handler(request)
            return response
        body = await request_body(request) if request.can_read_body else None
        path = request.path.removeprefix("/api/v10")
        self.requests.append(Recorded(request.method, path, dict(request.query), body, time.monotonic()))
        try:
            for fault in self._faults:
                if fault.method == request.method and path.startswith(fault.path):
                    self._faults.remove(fault)
                    return _json(fault.body, fault.status, fault.headers)
            # Interaction callbacks and follow-ups are authorised by their token in the URL.
            authorised = request.headers.get("Authorization") == f"Bot {self.token}"
            if not authorised and not path.startswith(("/interactions/", "/webhooks/")):
                return _error(401, 0, "401: Unauthorized")
            response = await handler(request)
            return response
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**BOT_USER, "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"})

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "paperbot",
                "icon": None,
                "description": "arXiv paper alerts",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": ALICE,
                "flags": 0,
                "bot": BOT_USER,
            }
        )

    async def _gateway_url(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        self.synced[request.path.removeprefix("/api/v10")] = commands
        guild = request.match_info.get("guild")
        return _json(
            [
                {
                    **c,
                    "id": str(self.next_id()),
                    "application_id": str(APP_ID),
                    "version": str(self.next_id()),
                    **({"guild_id": guild} if guild else {}),
                }
                for c in commands
            ]
        )

    def _interaction_by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["iid"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return _error(404, 10062, "Unknown interaction")
        if any(a.kind == "callback" for a in interaction.answers):
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = await request_body(request)
        kind, data = body["type"], body.get("data") or {}
        if body.get("files"):  # uploaded beside the callback's JSON: they belong to its message
            data = {**data, "files": body["files"]}
        if kind == 4 and (error := message_error(data)) is not None:
            return error
        interaction.answers.append(Answer("callback", kind, data))
        result: dict[str, Any] = {"interaction": {"id": str(interaction.id), "type": APPLICATION_COMMAND}}
        if kind in (4, 5):
            flags = int(data.get("flags") or 0)
            message = self._message(self._interaction_channel(), data, flags=flags)
            result["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            result["resource"] = {"type": kind, "message": message}
        return _json(result)

    def _interaction_channel(self) -> Channel:
        # Interaction responses are kept apart from the channels' own messages.
        return self._responses

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request.match_info["token"])
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        body = await request_body(request)
        if (error := message_error(body)) is not None:
            return error
        interaction.answers.append(Answer("followup", None, body))
        return _json(self._message(self._interaction_channel(), body, flags=int(body.get("flags") or 0)))

    async def _delete_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request.match_info["token"])
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        for answer in interaction.answers:
            answer.deleted = answer.deleted or answer.kind == "callback"
        interaction.answers.append(Answer("delete"))
        return web.Response(status=204)

    async def _open_dm(self, request: web.Request) -> web.Response:
        body = await request_body(request)
        recipient = next((u for u in (ALICE, BOB) if u["id"] == str(body["recipient_id"])), None)
        if recipient is None:
            return _error(400, 50033, "Invalid Recipient(s)")
        return _json(self.channel_payload(self._dm_channel(recipient)))

    def _access(self, cid: str, need: int) -> tuple[Channel | None, web.Response | None]:
        channel = self.channels.get(int(cid))
        if channel is None:
            return None, _error(404, 10003, "Unknown Channel")
        if channel.type == DM:
            return channel, None
        perms = self.bot_permissions(channel.id)
        if not perms & VIEW_CHANNEL:
            return None, _error(403, 50001, "Missing Access")
        if perms & need != need:
            return None, _error(403, 50013, "Missing Permissions")
        return channel, None

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel, error = self._access(request.match_info["cid"], 0)
        return error or _json(self.channel_payload(channel))  # type: ignore[arg-type]

    async def _typing(self, request: web.Request) -> web.Response:
        _, error = self._access(request.match_info["cid"], 0)
        return error or web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        body = await request_body(request)
        channel = self.channels.get(int(cid))
        need = SEND_MESSAGES_IN_THREADS if channel and channel.type == PUBLIC_THREAD else SEND_MESSAGES
        if body.get("message_reference"):
            need |= READ_MESSAGE_HISTORY
        channel, error = self._access(cid, need)
        if error is not None:
            return error
        assert channel is not None
        if channel.type == FORUM:
            return _error(400, 50008, "Cannot send messages in a non-text channel")
        if (error := message_error(body)) is not None:
            return error
        nonce = str(body["nonce"]) if body.get("nonce") is not None else None
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same nonce from the same user within a few minutes returns that message.
            earlier = self._nonces.get((channel.id, BOT_USER["id"], nonce))
            if earlier is not None and time.monotonic() - earlier[1] < NONCE_WINDOW_S:
                return _json({**earlier[0], "nonce": nonce})
        if self._dropped():
            return _error(500, 0, "500: Internal Server Error")
        message = self._message(channel, body)
        if nonce is not None:
            self._nonces[(channel.id, BOT_USER["id"], nonce)] = (message, time.monotonic())
        return _json({**message, **({"nonce": nonce} if nonce is not None else {})})

    def _dropped(self) -> bool:
        self.sent += 1
        return self.on_send is not None and self.on_send(self.sent)

    async def _get_messages(self, request: web.Request) -> web.Response:
        """A channel's messages, newest first, as Discord pages them (before / after / limit)."""
        channel, error = self._access(request.match_info["cid"], READ_MESSAGE_HISTORY)
        if error is not None:
            return error
        assert channel is not None
        query = request.query
        limit = max(1, min(100, int(query.get("limit", 50))))
        ordered = sorted(channel.messages, key=lambda m: int(m["id"]))
        if "after" in query:
            ordered = [m for m in ordered if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                ordered = [m for m in ordered if int(m["id"]) < int(query["before"])]
            ordered = ordered[-limit:]
        return _json(list(reversed(ordered)))

    async def _get_message(self, request: web.Request) -> web.Response:
        channel, error = self._access(request.match_info["cid"], READ_MESSAGE_HISTORY)
        if error is not None:
            return error
        assert channel is not None
        mid = request.match_info["mid"]
        message = next((m for m in channel.messages if m["id"] == mid), None)
        return _json(message) if message is not None else _error(404, 10008, "Unknown Message")

    async def _active_threads(self, request: web.Request) -> web.Response:
        threads = [
            self.channel_payload(c)
            for c in self.channels.values()
            if c.type == PUBLIC_THREAD and str(c.guild_id) == request.match_info["gid"]
        ]
        return _json({"threads": threads, "members": []})

    async def _thread_from_message(self, request: web.Request) -> web.Response:
        channel, error = self._access(request.match_info["cid"], CREATE_PUBLIC_THREADS)
        if error is not None:
            return error
        assert channel is not None
        if channel.type != TEXT:
            return _error(400, 50024, "Cannot execute action on this channel type")
        mid = int(request.match_info["mid"])
        if not any(int(m["id"]) == mid for m in channel.messages):
            return _error(404, 10008, "Unknown Message")
        if self._dropped():
            return _error(500, 0, "500: Internal Server Error")
        if mid in self.channels:
            return _error(400, 160004, "A thread has already been created for this message")
        body = await request_body(request)
        if len(body.get("name", "")) > 100:
            return _too_long("name", 100)
        thread = Channel(mid, PUBLIC_THREAD, body["name"], parent_id=channel.id)
        self.channels[mid] = thread
        return _json(self.channel_payload(thread))

    async def _forum_post(self, request: web.Request) -> web.Response:
        channel, error = self._access(request.match_info["cid"], SEND_MESSAGES)
        if error is not None:
            return error
        assert channel is not None
        if channel.type != FORUM:
            return _error(400, 50024, "Cannot execute action on this channel type")
        body = await request_body(request)
        if len(body.get("name", "")) > 100:
            return _too_long("name", 100)
        if (error := message_error(body.get("message") or {})) is not None:
            return error
        applied = [str(t) for t in body.get("applied_tags") or []]
        if channel.flags & REQUIRE_TAG and not applied:
            return _error(400, 40067, "A tag is required to create a forum post in this channel")
        if not set(applied) <= {t["id"] for t in channel.tags}:
            return _error(
                400, 50035, "Invalid Form Body", {"applied_tags": {"_errors": [{"code": "UNKNOWN_TAG"}]}}
            )
        if self._dropped():
            return _error(500, 0, "500: Internal Server Error")
        thread = Channel(
            self.next_id(), PUBLIC_THREAD, body["name"], parent_id=channel.id, applied_tags=applied
        )
        self.channels[thread.id] = thread
        # A forum post's starter message has the thread's id.
        starter = self._message(thread, body.get("message") or {}, message_id=thread.id)
        return _json({**self.channel_payload(thread), "message": starter})

    # -- gateway -----------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_str(
                json.dumps({"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": 41250}})
            )
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message["op"] == 1:  # heartbeat
                    await ws.send_str(json.dumps({"op": 11, "s": None, "t": None, "d": None}))
                elif message["op"] == 2:  # identify
                    await self._identified(ws, message["d"])
        finally:
            self._sockets.discard(ws)
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def _identified(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        self.identify = identify
        if identify.get("token") != (self.token_for_gateway or self.token):
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        ready = {
            "v": 10,
            "user": {**BOT_USER, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        for event, data in (("READY", ready), ("GUILD_CREATE", self.guild_payload())):
            await ws.send_str(json.dumps({"op": 0, "s": next(self._seq), "t": event, "d": data}))


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[FakeDiscord]:
    """A started fake Discord, stopped afterwards."""
    server = await FakeDiscord(**options).start()
    try:
        yield server
    finally:
        await server.stop()
