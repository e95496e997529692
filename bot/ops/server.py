"""The operators' HTTP port: GET /healthz (200 or 503, JSON) and GET /metrics (Prometheus text).

Off unless `ops.http_port` is set. In Slack HTTP mode, setting it to `slack.http_port` serves
these two routes from the Slack adapter's server instead (one port to open and proxy): an
adapter that can do that implements `SharesHttp`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from bot.errors import ConfigError
from bot.ops import metrics
from bot.ops.health import Health

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


@runtime_checkable
class SharesHttp(Protocol):
    """An adapter with its own HTTP server that can serve the ops routes beside its own."""

    def share_http(self, port: int, routes: Sequence[web.RouteDef]) -> bool:
        """Serve `routes` too if this adapter listens on `port`; True if it will."""
        ...


class OpsServer:
    """The /healthz and /metrics routes, on their own port or on a shared one."""

    def __init__(self, health: Callable[[], Awaitable[Health]]) -> None:
        self._health = health
        self._runner: web.AppRunner | None = None
        self._failing: list[str] = []  # the checks failing at the last probe
        self.port = 0  # the port bound, once started on its own

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(HEALTH_PATH, self._healthz),
            web.get(METRICS_PATH, make_aiohttp_handler(metrics.REGISTRY)),
        ]

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self._health()
        # Logged when the state changes, not on every probe (a HEALTHCHECK asks every 30 s).
        failing = sorted(name for name, check in health.body["checks"].items() if not check["ok"])
        if failing != self._failing:
            if failing:
                log.warning("health check failing: %s", json.dumps(health.body["checks"]))
            elif self._failing:
                log.info("health check passing again")
            self._failing = failing
        return web.json_response(health.body, status=200 if health.ok else 503)

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.add_routes(self.routes())
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"ops.http_port: cannot listen on {host}:{port}: {exc}") from None
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("serving %s and %s on http://%s:%d", HEALTH_PATH, METRICS_PATH, host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
