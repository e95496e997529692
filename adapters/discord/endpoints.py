"""Where discord.py sends REST calls and opens the gateway.

discord.py has no per-client base URL: REST routes are built from the class
attribute `Route.BASE` and the gateway from `DiscordWebSocket.DEFAULT_GATEWAY`.
Tests and proxies set `discord.api_url` / `discord.gateway_url`; a canary test
in tests/adapters/discord/test_lifecycle.py fails if discord.py moves either attribute.
"""

from __future__ import annotations

from collections.abc import Callable

import discord.gateway
import discord.http
import yarl

from adapters.discord.config import DEFAULT_API_URL as DEFAULT_API_URL
from adapters.discord.config import DEFAULT_GATEWAY_URL as DEFAULT_GATEWAY_URL


def redirect(api_url: str, gateway_url: str) -> Callable[[], None]:
    """Aim discord.py at `api_url` and `gateway_url` (when not Discord's); returns the undo."""
    route, websocket = discord.http.Route, discord.gateway.DiscordWebSocket
    old_base, old_gateway = route.BASE, websocket.DEFAULT_GATEWAY
    if api_url.rstrip("/") != DEFAULT_API_URL:
        route.BASE = api_url.rstrip("/")
    if gateway_url != DEFAULT_GATEWAY_URL:
        websocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def undo() -> None:
        route.BASE, websocket.DEFAULT_GATEWAY = old_base, old_gateway

    return undo
