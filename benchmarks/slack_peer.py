"""The fake Slack in a process of its own, for timing acks as Slack does.

Slack times an ack on its own servers: the bot's event loop and Python's GIL do not hold up
its clock. The fake Slack of the tests runs on the bot's event loop; under load, its own push
and its reading of the ack wait for that loop like the bot's work does, so the acks it times are
late by its own share. For the ack benchmarks, it runs here instead: `SlackPeer` starts this
file as a child process, which serves the fake on 127.0.0.1, sends the slash commands and times
the acks on its own loop. It takes JSON lines on stdin and answers with one JSON line each:

- (at start, unasked) `{"api_url": ...}`, the Web API's address for the bot's Slack client;
- `{"op": "connected"}`: once the bot's Socket Mode connection is up;
- `{"op": "go", "papers": [...], "other": "/tracked", "every": 0.02}`: someone runs `other`
  every `every` seconds (open loop: whether or not the last was acked), while `/papers <text>`
  runs for each text in turn, each waiting for its answer; answers once those are answered;
- `{"op": "stop"}`: stops sending, waits until every command sent is answered, answers with the
  acks' seconds (`{"seconds": [...]}`) and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANSWER_WITHIN = 60.0  # seconds a command may take to be answered before the run fails


class SlackPeer:
    """The parent's side: the child process running the fake Slack."""

    def __init__(self, process: asyncio.subprocess.Process, api_url: str) -> None:
        self.process = process
        self.api_url = api_url

    @classmethod
    async def start(cls) -> SlackPeer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,  # the acks' seconds come back on one line
        )
        first = await cls._read(process)
        return cls(process, first["api_url"])

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        await self.process.stdin.drain()
        return await self._read(self.process)

    @staticmethod
    async def _read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake Slack's process ended (exit status {await process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def _serve() -> None:
    from tests.fakes.slack_server import FakeSlack

    fake = await FakeSlack().start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    say({"api_url": fake.api_url})
    stop = asyncio.Event()
    seconds: list[float] = []
    answered: list[str] = []
    watcher: asyncio.Task[None] | None = None

    async def one_other(command: str) -> None:
        ack, rid = await fake.slash(command, "")
        seconds.append(ack.seconds)
        answered.append(rid)

    async def others(command: str, every: float) -> None:
        sent: list[asyncio.Task[None]] = []
        while not stop.is_set():
            sent.append(asyncio.create_task(one_other(command)))
            await asyncio.sleep(every)
        await asyncio.gather(*sent)

    try:
        while line := await reader.readline():
            message = json.loads(line)
            if message["op"] == "connected":
                await fake.wait_connected()
                say({"ok": True})
            elif message["op"] == "go":
                watcher = asyncio.create_task(
                    others(message.get("other", "/tracked"), message.get("every", 0.02))
                )
                for text in message["papers"]:
                    _, rid = await fake.slash("/papers", text)
                    await fake.answer(rid, within=ANSWER_WITHIN)
                say({"ok": True})
            elif message["op"] == "stop":
                stop.set()
                if watcher is not None:
                    await watcher
                for rid in answered:  # every command answered before the bot stops
                    await fake.answer(rid, within=ANSWER_WITHIN)
                say({"seconds": seconds})
                break
    finally:
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
