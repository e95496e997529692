"""The console adapter: paperbot in a terminal, and in shell pipelines.

The default when no platform token is set. Lines starting with `/` are slash
commands in the current channel (`#general` until `/channel #name`); any
other line is a direct message to the bot. Input is read line by line, so
`printf '/track x\\n/tracked\\n' | paperbot run` is a script; at end of input
the bot shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import logging
import re
import sys
import threading
from typing import TextIO

from bot.models import (
    ChannelRef,
    Command,
    DirectMessage,
    Platform,
    PlatformLimits,
    Post,
    PostRef,
    Reply,
    UserRef,
)
from bot.plaintext import card_lines, reply_text
from bot.ports import Inbox, OnPosted

log = logging.getLogger(__name__)

WORKSPACE = "local"
_CHANNEL_NAME = re.compile(r"^#?([\w.-]{1,80})$")
_INDENT = "    "


class ConsoleAdapter:
    """Reads commands from a text stream, prints replies and digests to another."""

    name = "console"
    limits = PlatformLimits(
        max_message_chars=1_000_000, max_cards_per_message=1000, posts_per_second_per_channel=1000
    )

    def __init__(self, stdin: TextIO, stdout: TextIO, *, interactive: bool, user: str = "you") -> None:
        self._in = stdin
        self._out = stdout
        self._interactive = interactive
        self.user = UserRef(Platform.CONSOLE, user, user)
        self.channel = self.channel_ref("general")
        self._ids = itertools.count(1)
        self._inbox: Inbox | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_stdio(cls) -> ConsoleAdapter:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            user = "you"
        return cls(sys.stdin, sys.stdout, interactive=sys.stdin.isatty(), user=user)

    @staticmethod
    def channel_ref(name: str) -> ChannelRef:
        return ChannelRef(Platform.CONSOLE, WORKSPACE, name, name)

    @property
    def connected(self) -> bool:
        """Reading its input (the console has nothing else to be connected to)."""
        return self._task is not None and not self._task.done()

    # -- the port ------------------------------------------------------------

    async def start(self, inbox: Inbox) -> None:
        self._inbox = inbox
        if self._interactive:
            self._print(
                "paperbot console. /help lists commands, /channel #name switches channel, Ctrl-D quits."
            )
        self._task = asyncio.create_task(self._read_loop(), name="console-input")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def post(
        self,
        channel: ChannelRef,
        post: Post,
        *,
        resume: PostRef | None = None,
        on_posted: OnPosted | None = None,
    ) -> PostRef:
        if resume is None:
            parent_id = f"console-{next(self._ids)}"
            self._print(f"[#{channel.name or channel.channel_id}] paperbot: {post.header}")
            for line in post.lines:
                self._print(_INDENT + line)
            if on_posted is not None:
                await on_posted(-1, parent_id)
        else:
            parent_id = resume.parent_id
            self._print(f"[#{channel.name or channel.channel_id}] (continuing thread {parent_id})")
        item_ids = list(resume.item_ids) if resume else []
        for index, card in enumerate(post.items):
            item_id = f"console-{next(self._ids)}"
            first, *rest = card_lines(card)
            self._print(f"{_INDENT}└ {first}")
            for line in rest:
                self._print(_INDENT * 2 + line)
            item_ids.append(item_id)
            if on_posted is not None:
                await on_posted(index, item_id)
        if post.footer:
            self._print(f"{_INDENT}└ {post.footer}")
        return PostRef(parent_id, tuple(item_ids))

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        self._print(f"[DM to {user.name or user.user_id}] {reply_text(reply)}")

    # -- input ---------------------------------------------------------------

    async def handle_line(self, line: str) -> None:
        """One line of input: a slash command, a channel switch, or a DM."""
        assert self._inbox is not None, "start() first"
        text = line.strip()
        if not text:
            return
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            if name == "channel":
                self._switch_channel(args.strip())
                return
            if name in ("quit", "exit"):
                self._inbox.request_stop()
                return
            reply = await self._inbox.command(Command(name, args, self.channel, self.user))
            self._print(reply_text(reply))
        else:
            reply = await self._inbox.direct_message(DirectMessage(self.user, text))
            self._print(reply_text(reply))

    def _switch_channel(self, arg: str) -> None:
        m = _CHANNEL_NAME.match(arg)
        if not m:
            self._print("Usage: /channel #name (letters, digits, '-', '_' or '.')")
            return
        self.channel = self.channel_ref(m.group(1))
        self._print(f"Now in #{self.channel.name}.")

    async def _read_loop(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        # A daemon thread, not the default executor: a thread blocked in readline()
        # on a terminal must not keep the process alive after Ctrl-C.
        def reader() -> None:
            try:
                for raw in self._in:
                    loop.call_soon_threadsafe(lines.put_nowait, raw)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                log.warning("console input ended: %s", exc)
            finally:
                # RuntimeError: the loop closed first, so nobody is listening anymore.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        assert self._inbox is not None
        try:
            while True:
                self._prompt()
                line = await lines.get()
                if line is None:
                    break
                await self.handle_line(line)
        finally:
            if self._interactive:
                self._print("")
            self._inbox.request_stop()

    def _prompt(self) -> None:
        if self._interactive:
            self._out.write(f"#{self.channel.name}> ")
            self._out.flush()

    def _print(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()
