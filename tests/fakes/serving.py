"""Serving a fake's aiohttp app on 127.0.0.1, port 0 (any free port)."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, shutdown_timeout: float = 0.1) -> tuple[web.AppRunner, int]:
    """The running app's runner (to clean up) and the port it got."""
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]
