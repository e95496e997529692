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
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from bot.models import ChannelRef, Command, DirectMessage, Platform, Post, ThreadItem, UserRef
from bot.plaintext import card_lines, reply_text
from bot.platforms import PlatformSpec
from bot.ports import Inbox, slash

if TYPE_CHECKING:
    from bot.config import Config
    from bot.ports import Adapter

log = logging.getLogger(__name__)

WORKSPACE = "local"
_CHANNEL_NAME = re.compile(r"^#?([\w.-]{1,80})$")
_INDENT = "    "


class ConsoleAdapter:
    """Reads commands from a text stream, prints replies and digests to another."""

    name = "console"

    def __init__(self, stdin: TextIO, stdout: TextIO, *, interactive: bool, user: str = "you") -> None:
        self._in = stdin
        self._out = stdout
        self._interactive = interactive
        self.user = UserRef(Platform.CONSOLE, user, user)
        self.channel = self.channel_ref("general")
        self._ids = itertools.count(1)
        self._thread = ""  # the thread printed last
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

    def command_name(self, command: str) -> str:
        return slash(command)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def post_parent(self, channel: ChannelRef, post: Post, key: str) -> str:
        self._print(f"[#{channel.name or channel.channel_id}] paperbot: {post.header}")
        for line in post.lines:
            self._print(_INDENT + line)
        self._thread = f"console-{next(self._ids)}"
        return self._thread

    async def post_reply(self, channel: ChannelRef, parent: str, item: ThreadItem, key: str) -> str:
        if parent != self._thread:  # a digest resumed after a restart, or another channel's
            self._thread = parent
            self._print(f"[#{channel.name or channel.channel_id}] (continuing thread {parent})")
        first, *rest = card_lines(item) if not isinstance(item, str) else [item]
        self._print(f"{_INDENT}└ {first}")
        for line in rest:
            self._print(_INDENT * 2 + line)
        return f"console-{next(self._ids)}"

    async def find_posted(
        self,
        channel: ChannelRef,
        parent: str | None,
        wanted: Mapping[str, Post | ThreadItem],
        since: datetime,
    ) -> dict[str, str]:
        # What went to a terminal cannot be read back: after a crash the line in flight is
        # printed again. (The console is for trying paperbot; chat platforms are read back.)
        return {}

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


def _create(config: Config) -> Adapter:
    return ConsoleAdapter.from_stdio()


# No settings, no secrets: the adapter paperbot runs when no chat platform is configured.
PLATFORM = PlatformSpec(name="console", title="The console", create=_create, default=True)
