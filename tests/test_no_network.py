"""The test suite itself cannot reach the network: every name but this machine's is refused."""

from __future__ import annotations

import socket

import aiohttp
import pytest


def test_resolving_a_real_host_is_refused() -> None:
    with pytest.raises(OSError, match="tests must not reach the network"):
        socket.getaddrinfo("export.arxiv.org", 443)
    assert socket.getaddrinfo("127.0.0.1", 9)


async def test_a_library_reaching_for_a_real_host_fails_fast() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await session.get("https://slack.com/api/auth.test")
    assert "tests must not reach the network" in str(refused.value.os_error)
