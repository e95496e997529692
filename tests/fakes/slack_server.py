"""A local fake Slack: the Web API methods paperbot calls, response URLs, and Socket Mode.

The real slack-bolt and slack-sdk talk to it over HTTP and a WebSocket on 127.0.0.1:
`AsyncWebClient(base_url=fake.api_url)` for the Web API (whose `apps.connections.open` hands
out this server's WebSocket URL), and the Socket Mode WebSocket over which tests push
`slash_commands`, `events_api` and `interactive` envelopes exactly as Slack sends them and
read back the acks with their timing. Every Web API call and every `respond()` is recorded.

Slack's rules that matter to paperbot are enforced rather than trusted: tokens, `text` or
`blocks` required, at most 50 blocks, 3000 characters of section text, 150 of header text,
replies only into threads that exist, and the errors of channels the bot may not post in
(`channel_not_found`, `not_in_channel`, `is_archived`). A 429 with Retry-After can be
injected once per method, any method can be made to fail with a given error, and the Socket
Mode connection can be dropped (with reconnects refused). Messages keep their `metadata`,
which `conversations.history` and `conversations.replies` give back page by page; `on_post`
lets a fault test act (or drop the message) as a `chat.postMessage` is stored. `users.info`
knows the workspace's people with their admin and owner flags, `usergroups.users.list` its user
groups; these and the history methods answer `missing_scope` when the app lacks the scope.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A0PAPERBOT-3333-fakeapptoken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM_ID = "T0READING"
APP_ID = "A0PAPERBOT"
BOT_USER_ID = "U0PAPERBOT"
BOT_ID = "B0PAPERBOT"
ALICE = {"id": "U0ALICE", "name": "alice"}
BOB = {"id": "U0BOB", "name": "bob"}
ADA = {"id": "U0ADA", "name": "ada"}  # a workspace admin
OWEN = {"id": "U0OWEN", "name": "owen"}  # the workspace's primary owner
EDITORS = "S0EDITORS"  # a user group holding bob

PAPERS = "C0PAPERS"  # #papers: paperbot is a member
OUTSIDE = "C0OUTSIDE"  # #random: paperbot was never invited (or was kicked)
ARCHIVED = "C0ARCHIVED"  # #old-papers: archived
PRIVATE = "G0PRIVATE"  # a private channel paperbot is not in: Slack says channel_not_found

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_TEXT = 40_000


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False
    is_private: bool = False
    is_im: bool = False
    user: str = ""  # DMs: the person on the other side


@dataclass
class Call:
    """One Web API call as the fake received it."""

    method: str
    params: dict[str, Any]
    token: str
    at: float
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    """A message paperbot posted (chat.postMessage) that Slack accepted."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    params: dict[str, Any]
    metadata: dict[str, Any] | None = None

    def payload(self, *, with_metadata: bool) -> dict[str, Any]:
        """The message as conversations.history / .replies return it."""
        data: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": self.text,
            "ts": self.ts,
        }
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            data["metadata"] = self.metadata
        return data


@dataclass
class Ack:
    """Paperbot's ack of one Socket Mode envelope, and how long after the push it came."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float


class FakeSlack:
    """Slack's Web API and Socket Mode, as far as paperbot uses them."""

    def __init__(self) -> None:
        self.bot_token = BOT_TOKEN
        self.app_token = APP_TOKEN
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url id -> what was posted
        self.channels: dict[str, Channel] = {
            c.id: c
            for c in (
                Channel(PAPERS, "papers"),
                Channel(OUTSIDE, "random", is_member=False),
                Channel(ARCHIVED, "old-papers", is_archived=True),
            )
        }
        # users.info: every person the workspace knows, with Slack's admin and owner flags.
        self.users: dict[str, dict[str, Any]] = {
            ALICE["id"]: {"id": ALICE["id"], "name": ALICE["name"]},
            BOB["id"]: {"id": BOB["id"], "name": BOB["name"]},
            ADA["id"]: {"id": ADA["id"], "name": ADA["name"], "is_admin": True},
            OWEN["id"]: {"id": OWEN["id"], "name": OWEN["name"], "is_owner": True, "is_primary_owner": True},
        }
        self.usergroups: dict[str, list[str]] = {EDITORS: [BOB["id"]]}
        # What the installed app was granted; drop one to see its calls fail with missing_scope.
        self.scopes = {"users:read", "usergroups:read", "channels:history", "groups:history"}
        self.socket_connections = 0
        self.accept_connections = True  # False: apps.connections.open fails (Slack is having an outage)
        self._failing: dict[str, str] = {}  # method -> the error every call of it gets
        # Called with the number of the chat.postMessage about to be stored; True drops it.
        # Fault tests kill paperbot from here, before or after the message lands.
        self.on_post: Callable[[int], bool] | None = None
        self.posted = 0
        self._rate_limited: dict[str, int] = {}  # method -> Retry-After for its next call
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._socket: web.WebSocketResponse | None = None
        self._acks: dict[str, asyncio.Future[Ack]] = {}
        self._pushed_at: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response_url)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # -- what tests set up and read ----------------------------------------

    def rate_limit_once(self, method: str, retry_after: int = 0) -> None:
        """The next call of `method` gets 429 with Retry-After (seconds)."""
        self._rate_limited[method] = retry_after

    def fail(self, method: str, error: str | None) -> None:
        """Every call of `method` answers ok=false with `error` (None: answer normally again)."""
        if error is None:
            self._failing.pop(method, None)
        else:
            self._failing[method] = error

    async def drop_socket(self) -> None:
        """Close the Socket Mode connection from Slack's side, as Slack does on a restart."""
        if self._socket is not None:
            await self._socket.close()

    def kick(self, channel_id: str) -> None:
        """Paperbot is removed from the channel."""
        self.channels[channel_id].is_member = False

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def top_level(self, channel_id: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel_id and m.thread_ts is None]

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel_id and m.thread_ts == ts]

    def response_id(self) -> str:
        return str(next(self._ids))

    def response_url(self, rid: str) -> str:
        return f"{self.base_url}/response/{rid}"

    async def wait_for(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Until `condition()` holds (checked whenever the fake records something)."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(condition)

    async def wait_connected(self, within: float = 10.0) -> None:
        await self.wait_for(lambda: self._socket is not None and not self._socket.closed, within)

    # -- Socket Mode: what Slack pushes ------------------------------------

    async def push(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False
    ) -> Ack:
        """Send one envelope over the Socket Mode connection; return paperbot's ack."""
        await self.wait_connected()
        assert self._socket is not None
        envelope_id = f"env-{next(self._ids)}"
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        self._pushed_at[envelope_id] = time.monotonic()
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        await self._socket.send_str(json.dumps(envelope))
        async with asyncio.timeout(10):
            return await future

    def slash_payload(
        self,
        command: str,
        text: str,
        channel_id: str = PAPERS,
        user: dict[str, str] = ALICE,
        rid: str | None = None,
    ) -> dict[str, Any]:
        """A slash command's payload as Slack sends it (the same fields over HTTP, form-encoded)."""
        channel = self.channels.get(channel_id)
        rid = rid or self.response_id()
        self.responses.setdefault(rid, [])
        return {
            "token": "verification-token-unused",
            "team_id": TEAM_ID,
            "team_domain": "reading-group",
            "channel_id": channel_id,
            "channel_name": channel.name if channel else "privategroup",
            "user_id": user["id"],
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.response_url(rid),
            "trigger_id": f"trigger.{rid}",
        }

    async def slash(
        self, command: str, text: str = "", channel_id: str = PAPERS, user: dict[str, str] = ALICE
    ) -> tuple[Ack, str]:
        """A person runs a slash command; returns the ack and the id of its response URL."""
        payload = self.slash_payload(command, text, channel_id, user)
        rid = payload["response_url"].rsplit("/", 1)[1]
        ack = await self.push("slash_commands", payload, accepts_response_payload=True)
        return ack, rid

    async def answer(self, rid: str, within: float = 10.0) -> dict[str, Any]:
        """The first thing paperbot posted to the response URL `rid`."""
        await self.wait_for(lambda: bool(self.responses.get(rid)), within)
        return self.responses[rid][0]

    def event_payload(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": "verification-token-unused",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids)}",
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-fake",
        }

    def dm_event(self, text: str, user: dict[str, str] = ALICE, **extra: Any) -> dict[str, Any]:
        """A `message.im` event: someone (or, with bot_id, a bot) wrote in their DM with paperbot."""
        channel = self._dm_channel(user["id"])
        return {
            "type": "message",
            "channel": channel.id,
            "user": user["id"],
            "text": text,
            "ts": self._next_ts(),
            "event_ts": self._next_ts(),
            "channel_type": "im",
            **extra,
        }

    async def dm(self, text: str, user: dict[str, str] = ALICE, **extra: Any) -> Ack:
        return await self.push("events_api", self.event_payload(self.dm_event(text, user, **extra)))

    async def click(
        self, message: Message, action_id: str, value: str, user: dict[str, str] = ALICE
    ) -> tuple[Ack, str]:
        """A person clicks a button of `message`; returns the ack and the response URL id."""
        rid = self.response_id()
        self.responses.setdefault(rid, [])
        channel = self.channels.get(message.channel)
        payload = {
            "type": "block_actions",
            "user": {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "verification-token-unused",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
                **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
            },
            "trigger_id": f"trigger.{rid}",
            "team": {"id": TEAM_ID, "domain": "reading-group"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": channel.name if channel else ""},
            "message": {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks,
                **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
            },
            "state": {"values": {}},
            "response_url": self.response_url(rid),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "abstract",
                    "text": {"type": "plain_text", "text": "Abstract", "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": self._next_ts(),
                }
            ],
        }
        ack = await self.push("interactive", payload)
        return ack, rid

    async def react(
        self, message: Message, reaction: str = "+1", user: dict[str, str] = ALICE, *, removed: bool = False
    ) -> Ack:
        """A person puts a reaction on `message` (or takes it off): `reaction_added` / `reaction_removed`."""
        event = {
            "type": "reaction_removed" if removed else "reaction_added",
            "user": user["id"],
            "reaction": reaction,
            "item_user": BOT_USER_ID,
            "item": {"type": "message", "channel": message.channel, "ts": message.ts},
            "event_ts": self._next_ts(),
        }
        return await self.push("events_api", self.event_payload(event))

    # -- HTTP mode: signing like Slack does ---------------------------------

    @staticmethod
    def signed_headers(
        body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}",
        }

    # -- the server --------------------------------------------------------

    def _next_ts(self) -> str:
        # Slack's ts: the server's time in microseconds, unique within a channel.
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _dm_channel(self, user_id: str) -> Channel:
        for c in self.channels.values():
            if c.is_im and c.user == user_id:
                return c
        channel = Channel(f"D0{user_id[2:]}", "", is_im=True, user=user_id)
        self.channels[channel.id] = channel
        return channel

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(await request.post())
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else str(params.pop("token", ""))
        call = Call(method, params, token, time.monotonic())
        self.calls.append(call)
        retry_after = self._rate_limited.pop(method, None)
        if retry_after is not None:
            call.response = {"ok": False, "error": "ratelimited"}
            await self._notify()
            return web.json_response(call.response, status=429, headers={"Retry-After": str(retry_after)})
        call.response = self._answer(method, params, token)
        await self._notify()
        return web.json_response(call.response)

    def _answer(self, method: str, params: dict[str, Any], token: str) -> dict[str, Any]:
        if method == "apps.connections.open":
            if token != self.app_token:
                return {"ok": False, "error": "invalid_auth"}
            if not self.accept_connections:
                return {"ok": False, "error": "internal_error"}
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link?ticket=fake"}
        if method in self._failing:
            return {"ok": False, "error": self._failing[method]}
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroup_users,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(params)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://reading-group.slack.com/",
            "team": "Reading Group",
            "user": "paperbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _missing_scope(self, scope: str) -> dict[str, Any] | None:
        if scope in self.scopes:
            return None
        return {"ok": False, "error": "missing_scope", "needed": scope, "provided": "commands,chat:write"}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        refused = self._missing_scope("users:read")
        if refused is not None:
            return refused
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        flags = {"is_admin": False, "is_owner": False, "is_primary_owner": False, "deleted": False}
        return {"ok": True, "user": {"team_id": TEAM_ID, **flags, **user}}

    def _usergroup_users(self, params: dict[str, Any]) -> dict[str, Any]:
        refused = self._missing_scope("usergroups:read")
        if refused is not None:
            return refused
        members = self.usergroups.get(str(params.get("usergroup", "")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if not users or "," in users:
            return {"ok": False, "error": "user_not_found" if not users else "not_allowed"}
        channel = self._dm_channel(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None or (channel.is_private and not channel.is_member):
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_im and not channel.is_private,
                "is_private": channel.is_private,
                "is_im": channel.is_im,
                "is_archived": channel.is_archived,
                "is_member": channel.is_member,
            },
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None or (channel.is_private and not channel.is_member):
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.is_member and not channel.is_im:
            return {"ok": False, "error": "not_in_channel"}
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        text = str(params.get("text") or "")
        error = blocks_error(blocks)
        if error is not None:
            return {"ok": False, "error": "invalid_blocks", "errors": [error]}
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None and not any(
            m.ts == thread_ts and m.channel == channel.id and m.thread_ts is None for m in self.messages
        ):
            return {"ok": False, "error": "thread_not_found"}
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not metadata.get("event_type")
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            return {"ok": False, "error": "invalid_metadata_format"}
        self.posted += 1
        if self.on_post is not None and self.on_post(self.posted):
            return {"ok": False, "error": "internal_error"}
        ts = self._next_ts()
        self.messages.append(Message(channel.id, ts, text, blocks, thread_ts, params, metadata))
        return {
            "ok": True,
            "channel": channel.id,
            "ts": ts,
            "message": {"type": "message", "text": text, "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts},
        }

    def _readable(self, params: dict[str, Any]) -> tuple[Channel | None, dict[str, Any] | None]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None or (channel.is_private and not channel.is_member):
            return None, {"ok": False, "error": "channel_not_found"}
        if not channel.is_member and not channel.is_im:
            return None, {"ok": False, "error": "not_in_channel"}
        return channel, self._missing_scope("groups:history" if channel.is_private else "channels:history")

    @staticmethod
    def _page(messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        """One page of `messages` (in the order given), with Slack's cursor."""
        limit = min(int(params.get("limit") or 100), 999)
        start = int(str(params.get("cursor") or "0").removeprefix("next:"))
        wanted = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        page = messages[start : start + limit]
        more = start + limit < len(messages)
        return {
            "ok": True,
            "messages": [m.payload(with_metadata=wanted) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": f"next:{start + limit}" if more else ""},
        }

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, error = self._readable(params)
        if error is not None:
            return error
        assert channel is not None
        oldest = float(params.get("oldest") or 0)
        top = [m for m in self.messages if m.channel == channel.id and m.thread_ts is None]
        newest_first = [m for m in reversed(top) if float(m.ts) > oldest]
        return self._page(newest_first, params)

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, error = self._readable(params)
        if error is not None:
            return error
        assert channel is not None
        ts = str(params.get("ts", ""))
        parent = [m for m in self.messages if m.channel == channel.id and m.ts == ts and m.thread_ts is None]
        if not parent:
            return {"ok": False, "error": "thread_not_found"}
        replies = [m for m in self.messages if m.channel == channel.id and m.thread_ts == ts]
        return self._page(parent + replies, params)

    async def _response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        if rid not in self.responses:
            return web.Response(status=404, text="invalid_response_url")
        body = await request.json()
        error = blocks_error(body.get("blocks") or [])
        if error is not None:
            return web.Response(status=400, text=f"invalid_blocks: {error}")
        if not body.get("text") and not body.get("blocks"):
            return web.Response(status=400, text="no_text")
        self.responses[rid].append(body)
        await self._notify()
        return web.Response(text="ok")

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._socket = ws
        self.socket_connections += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        await self._notify()
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                envelope_id = message.get("envelope_id")
                future = self._acks.pop(envelope_id, None)
                if future is not None and not future.done():
                    seconds = time.monotonic() - self._pushed_at.pop(envelope_id)
                    future.set_result(Ack(envelope_id, message.get("payload"), seconds))
        finally:
            if self._socket is ws:
                self._socket = None
            await self._notify()
        return ws


def blocks_error(blocks: list[dict[str, Any]]) -> str | None:
    """What Slack would refuse about these blocks, or None."""
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for i, block in enumerate(blocks):
        kind = block.get("type")
        text = block.get("text") or {}
        if kind == "section":
            if len(text.get("text", "")) > MAX_SECTION_TEXT:
                return f"must be at most {MAX_SECTION_TEXT} characters [json-pointer:/blocks/{i}/text/text]"
            if not text.get("text") and not block.get("fields"):
                return f"must provide text or fields [json-pointer:/blocks/{i}]"
        elif kind == "header":
            if text.get("type") != "plain_text" or not text.get("text"):
                return f"header needs plain_text [json-pointer:/blocks/{i}/text]"
            if len(text["text"]) > MAX_HEADER_TEXT:
                return (
                    f"must be less than {MAX_HEADER_TEXT + 1} characters [json-pointer:/blocks/{i}/text/text]"
                )
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                return f"context needs 1-10 elements [json-pointer:/blocks/{i}/elements]"
            if any(len(e.get("text", "")) > MAX_SECTION_TEXT for e in elements):
                return (
                    f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:/blocks/{i}/elements]"
                )
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > 25:
                return f"actions needs 1-25 elements [json-pointer:/blocks/{i}/elements]"
            for e in elements:
                if len(e.get("text", {}).get("text", "")) > 75 or len(e.get("value", "")) > 2000:
                    return f"button text or value too long [json-pointer:/blocks/{i}/elements]"
        elif kind != "divider":
            return f"unsupported block type {kind!r} [json-pointer:/blocks/{i}]"
    return None


def form_body(payload: dict[str, Any]) -> str:
    """A slash command as Slack POSTs it in HTTP mode."""
    return urllib.parse.urlencode(payload)


@asynccontextmanager
async def running() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    try:
        yield fake
    finally:
        await fake.stop()
