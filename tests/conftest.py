"""Shared fixtures: a config and store in a temp dir, a command context, a recording adapter."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.arxiv.client import ArxivClient
from bot.commands.dispatch import Context
from bot.config import ArxivConfig, Config, HuggingfaceConfig, load_config
from bot.models import ChannelRef, Command, Platform, UserRef
from storage import Store
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.arxiv_server import load_sample as load_arxiv_sample
from tests.fakes.arxiv_server import running as running_arxiv
from tests.fakes.recording import RecordingAdapter

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
GENERAL = ChannelRef(Platform.CONSOLE, "local", "general", "general")
ALICE = UserRef(Platform.CONSOLE, "alice", "alice")


# Name lookups are where any connection starts (requests, aiohttp, discord.py, slack-sdk):
# refusing every host but this machine makes "no network in tests" a rule, not a hope.
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", ""})


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    real = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in _LOCAL_HOSTS:
            # What a resolver raises on a machine without network, so code under test sees it as one.
            raise socket.gaierror(
                socket.EAI_NONAME, f"tests must not reach the network (asked to resolve {name!r})"
            )
        return real(host, *args, **kwargs)

    socket.getaddrinfo = local_only
    try:
        yield
    finally:
        socket.getaddrinfo = real


# Port 9 (discard) on loopback refuses connections: a test that reaches for arXiv without a
# fake server fails fast instead of touching the network.
NO_ARXIV = ArxivConfig(
    api_url="http://127.0.0.1:9/api/query",
    feed_url="http://127.0.0.1:9",
    min_interval_s=0.01,
    timeout_s=1.0,
    max_retries=0,
)


# The same for Hugging Face's daily papers: a test that wants them starts tests/fakes/huggingface.py.
NO_HUGGINGFACE = HuggingfaceConfig(
    api_url="http://127.0.0.1:9/api/daily_papers", timeout_s=1.0, max_retries=0
)


@pytest.fixture
def config(tmp_path: object) -> Config:
    cfg = load_config(None, environ={})
    return replace(
        cfg,
        bot=replace(cfg.bot, database=str(tmp_path) + "/paperbot.db"),  # type: ignore[operator]
        arxiv=NO_ARXIV,
        huggingface=NO_HUGGINGFACE,
    )


@pytest.fixture
async def store(config: Config) -> AsyncIterator[Store]:
    s = await Store.open(config.database_path)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def ctx(config: Config, store: Store) -> Context:
    return Context(config, store, lambda: NOW)


@pytest.fixture
def recording() -> RecordingAdapter:
    return RecordingAdapter()


def command(text: str, channel: ChannelRef = GENERAL, user: UserRef = ALICE) -> Command:
    """'/track video retrieval' -> Command('track', 'video retrieval', ...)."""
    name, _, args = text.lstrip("/").partition(" ")
    return Command(name, args, channel, user)


# -- arXiv: a local fake server and a config pointing at it (issue 3) ----------------------------


@pytest.fixture
def arxiv_server() -> Iterator[FakeArxiv]:
    """A fake arXiv (API + announcement feeds) on 127.0.0.1, knowing the sample papers."""
    yield from running_arxiv(load_arxiv_sample())


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def arxiv_client(arxiv_config: ArxivConfig) -> AsyncIterator[ArxivClient]:
    """A client of the fake arXiv whose backoff between retries does not wait."""
    client = ArxivClient(arxiv_config, backoff_sleep=_no_sleep, rng=random.Random(2))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def arxiv_config(arxiv_server: FakeArxiv) -> ArxivConfig:
    """arXiv settings aimed at the fake server, with a tiny (test-only) request interval."""
    return ArxivConfig(
        api_url=arxiv_server.api_url,
        feed_url=arxiv_server.feed_url,
        contact="tests@example.org",
        min_interval_s=0.05,
        timeout_s=2.0,
        max_retries=3,
    )
