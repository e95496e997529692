"""The Slack adapter: lifecycle over one slack-bolt AsyncApp, in Socket Mode or over HTTP.

Socket Mode (the default) connects out to Slack over a WebSocket: no public URL, two
tokens (SLACK_BOT_TOKEN for the Web API, SLACK_APP_TOKEN for the connection). HTTP mode
serves Slack's requests on `slack.http_host:http_port` + `http_path` and has Bolt verify
each one against SLACK_SIGNING_SECRET (signature and a five-minute timestamp window).

Both tokens are checked at start (auth.test, apps.connections.open) so a wrong one stops
paperbot with a clear message instead of slack-sdk retrying a dead connection forever.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Sequence

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.access import Managers
from adapters.slack.commands import Listeners
from adapters.slack.config import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, SlackConfig, slack_config
from adapters.slack.names import CommandNames
from adapters.slack.posting import AUTH_ERRORS, Pacer, Poster, slack_error
from bot.config import Config, Secret
from bot.errors import ConfigError, PaperbotError, PlatformAuthError, PlatformUnreachable
from bot.ports import Inbox, PostsThroughPoster

log = logging.getLogger(__name__)


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and warns that the client we give
    it (the same token, pointed at `slack.api_url`) wins: true, and not worth a warning at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


# Bolt's logger; the filter is on it only while an adapter runs (importing this module changes nothing).
_bolt_log = logging.getLogger("slack_bolt.AsyncApp")


def _refuse_malformed_timestamps(slack_path: str) -> Middleware:
    """A request whose timestamp is not a number is not from Slack: 401, as for a bad signature.

    Bolt's verifier would call int() on it and answer 500 with a traceback in the log. Only
    requests to Slack's path are Slack's: /healthz and /metrics may share the server (`share_http`).
    """

    @web.middleware
    async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if request.path == slack_path and not (
            timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
        ):
            return web.json_response({"error": "invalid request"}, status=401)
        return await handler(request)

    return refuse


TOKEN_HELP = (
    "create the app from adapters/slack/manifest.yaml, install it to the workspace, then set "
    "SLACK_BOT_TOKEN (OAuth & Permissions, xoxb-...) and SLACK_APP_TOKEN (Basic Information, "
    "App-Level Tokens with connections:write, xapp-...); see the README's Slack section"
)


class SlackAdapter(PostsThroughPoster):
    """paperbot on Slack through slack-bolt."""

    name = "slack"

    def __init__(
        self,
        bot_token: Secret,
        app_token: Secret | None = None,
        signing_secret: Secret | None = None,
        settings: SlackConfig | None = None,
        *,
        posts_per_second: float = 1.0,
    ) -> None:
        self.settings = settings or SlackConfig()
        if self.settings.mode == "socket" and app_token is None:
            raise ConfigError(f"the slack adapter in Socket Mode needs SLACK_APP_TOKEN: {TOKEN_HELP}")
        if self.settings.mode == "http" and signing_secret is None:
            raise ConfigError("the slack adapter in HTTP mode needs SLACK_SIGNING_SECRET (Basic Information)")
        self._bot_token = bot_token
        self._app_token = app_token
        self._signing_secret = signing_secret
        self._pacer = Pacer(posts_per_second)
        self._client: AsyncWebClient | None = None
        self._poster: Poster | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._shared_routes: list[web.RouteDef] = []  # the ops routes, when they share our port
        self.names = CommandNames(self.settings.command_prefix)
        self._quiet_bolt = _NoTokenSkippedWarning()
        self.http_port = 0  # HTTP mode: the port actually bound (the configured one, or a free one for 0)

    @classmethod
    def from_config(cls, config: Config) -> SlackAdapter:
        secrets = config.secrets
        bot_token = secrets.get(BOT_TOKEN)
        if bot_token is None:
            raise ConfigError(f"the slack adapter needs SLACK_BOT_TOKEN: {TOKEN_HELP}")
        return cls(bot_token, secrets.get(APP_TOKEN), secrets.get(SIGNING_SECRET), slack_config(config))

    def _web_client(self, token: str) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self.settings.api_url,
            timeout=30,
            # 429s wait out Retry-After; dropped connections are retried; both a few times.
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
            ],
        )

    # -- lifecycle ---------------------------------------------------------

    async def start(self, inbox: Inbox) -> None:
        """Check the tokens, then connect Socket Mode or start serving HTTP."""
        client = self._client = self._web_client(self._bot_token.reveal())
        self._poster = Poster(client, self._pacer)
        identity = await self._check("SLACK_BOT_TOKEN", client.auth_test())
        http = self.settings.mode == "http"
        _bolt_log.addFilter(self._quiet_bolt)  # before AsyncApp(), which warns; stop() takes it off
        app = AsyncApp(
            client=client,
            signing_secret=self._signing_secret.reveal() if self._signing_secret else "",
            request_verification_enabled=http,
            logger=_bolt_log,
        )
        managers = Managers(client, self.settings.managers, self.names)
        Listeners(inbox, client, self.names, managers).register(app)
        try:
            if http:
                await self._serve(app)
            else:
                await self._connect(app)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "connected to Slack workspace %s as %s (%s)",
            identity.get("team"),
            identity.get("user"),
            "HTTP" if http else "Socket Mode",
        )

    async def _check(self, variable: str, call: Awaitable[AsyncSlackResponse]) -> dict[str, object]:
        try:
            response = await call
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise PlatformUnreachable.because("Slack", self.settings.api_url, exc) from None
        except SlackApiError as exc:
            error = slack_error(exc)
            if error in AUTH_ERRORS:
                raise PlatformAuthError(f"Slack rejected {variable} ({error}): {TOKEN_HELP}") from None
            raise PaperbotError(
                f"Slack refused paperbot at start ({error or exc}); check {variable}"
            ) from None
        return response.data if isinstance(response.data, dict) else {}

    async def _connect(self, app: AsyncApp) -> None:
        assert self._app_token is not None
        # Opening the connection URL ourselves checks the app token; the handler then uses it.
        app_token = self._app_token.reveal()
        opened = await self._check(
            "SLACK_APP_TOKEN", self._web_client(app_token).apps_connections_open(app_token=app_token)
        )
        handler = self._socket = AsyncSocketModeHandler(
            app, app_token, web_client=self._web_client(app_token)
        )
        handler.client.wss_uri = str(opened["url"])
        await handler.connect_async()  # type: ignore[no-untyped-call]

    async def _serve(self, app: AsyncApp) -> None:
        server = AsyncSlackAppServer(
            port=self.settings.http_port, path=self.settings.http_path, app=app, host=self.settings.http_host
        )
        server.web_app.middlewares.append(_refuse_malformed_timestamps(self.settings.http_path))
        server.web_app.add_routes(self._shared_routes)
        runner = self._runner = web.AppRunner(server.web_app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.http_host, self.settings.http_port)
        try:
            await site.start()
        except OSError as exc:
            where = f"{self.settings.http_host}:{self.settings.http_port}"
            raise ConfigError(f"slack.http_port: cannot listen on {where}: {exc}") from None
        self.http_port = runner.addresses[0][1]
        log.info(
            "serving Slack requests on http://%s:%d%s",
            self.settings.http_host,
            self.http_port,
            self.settings.http_path,
        )

    def share_http(self, port: int, routes: Sequence[web.RouteDef]) -> bool:
        """In HTTP mode on `port`, serve `routes` (/healthz, /metrics) beside Slack's (call before start)."""
        if self.settings.mode != "http" or port != self.settings.http_port:
            return False
        self._shared_routes = list(routes)
        return True

    @property
    def connected(self) -> bool:
        """Socket Mode: the WebSocket to Slack is open; HTTP mode: the server is listening."""
        if self._runner is not None:
            return True
        if self._socket is None:
            return False
        client = self._socket.client
        session = client.current_session
        return not client.closed and not client.stale and session is not None and not session.closed

    def command_name(self, command: str) -> str:
        """`settings` -> `/paperbot settings`, `track` -> `/track`, with the configured prefix."""
        return self.names.slash(command)

    async def stop(self) -> None:
        """Close the Socket Mode connection or the HTTP server; safe after a failed or no start."""
        socket, runner = self._socket, self._runner
        self._socket = self._runner = None
        _bolt_log.removeFilter(self._quiet_bolt)
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close_async()  # type: ignore[no-untyped-call]
        if runner is not None:
            await runner.cleanup()

    # -- the port ----------------------------------------------------------

    @property
    def poster(self) -> Poster:
        if self._poster is None:
            raise RuntimeError("the Slack adapter is not started")
        return self._poster
