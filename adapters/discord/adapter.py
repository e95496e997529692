"""The Discord adapter: lifecycle, slash commands, digests and DMs over one discord.py client.

Intents are the unprivileged minimum: `guilds` (channels, roles and permissions
for posting), `dm_messages` (DMs to the bot carry their content without the
privileged message_content intent) and `guild_reactions` (👍 / 👎 on digest cards,
which teach a channel's digest). Mentions are disabled on everything sent, so
text a user typed can never ping a channel or role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp
import discord

from adapters.discord import quiet_voice
from adapters.discord.buttons import ABSTRACT, BIBTEX, CardButton, reaction_value
from adapters.discord.commands import SlashCommands
from adapters.discord.config import TOKEN, DiscordConfig, discord_config
from adapters.discord.endpoints import redirect
from adapters.discord.invite import TOKEN_HELP
from adapters.discord.posting import Poster
from adapters.discord.render import discord_files, reply_messages
from bot.config import Config, Secret
from bot.errors import ConfigError, PaperbotError, PlatformAuthError, PlatformUnreachable
from bot.models import ChannelRef, DirectMessage, Platform, Reaction, Reply, UserRef
from bot.ports import Inbox, PostsThroughPoster, slash

log = logging.getLogger(__name__)

# Discord closes the gateway with 4004 when the token is rejected there.
AUTHENTICATION_FAILED = 4004


class _Client(discord.Client):
    """discord.py's client, with DMs handed to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._adapter = adapter

    async def on_message(self, message: discord.Message) -> None:
        await self._adapter.on_message(message)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._adapter.on_reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._adapter.on_reaction(payload, added=False)

    async def on_card_button(self, interaction: discord.Interaction, action: str, paper_id: str) -> None:
        await self._adapter.on_card_button(interaction, action, paper_id)


class DiscordAdapter(PostsThroughPoster):
    """paperbot on Discord through discord.py."""

    name = "discord"

    def __init__(
        self,
        token: Secret,
        settings: DiscordConfig | None = None,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
        defer_after: float = 1.5,
    ) -> None:
        self.settings = settings or DiscordConfig()
        if self.settings.manage_permission not in discord.Permissions.VALID_FLAGS:
            raise ConfigError(
                f"discord.manage_permission: {self.settings.manage_permission!r} is not a Discord permission "
                "(e.g. manage_channels, manage_guild, manage_messages)"
            )
        self._token = token
        self._ready_timeout = ready_timeout
        self._guild_ready_timeout = guild_ready_timeout
        self._defer_after = defer_after
        self._client: _Client | None = None
        self._connection: asyncio.Task[None] | None = None
        self._undo_redirect: Callable[[], None] | None = None
        self._inbox: Inbox | None = None
        self._poster: Poster | None = None
        self._commands: SlashCommands | None = None

    @classmethod
    def from_config(cls, config: Config) -> DiscordAdapter:
        token = config.secrets.get(TOKEN)
        if token is None:
            raise ConfigError(f"the discord adapter needs DISCORD_TOKEN: {TOKEN_HELP}")
        return cls(token, discord_config(config))

    @property
    def client(self) -> discord.Client:
        if self._client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self._client

    @property
    def connected(self) -> bool:
        """Logged in with the gateway open (False while discord.py reconnects, and after stop)."""
        client = self._client
        if client is None or client.is_closed() or not client.is_ready():
            return False
        ws = client.ws
        return ws is not None and ws.open

    # -- lifecycle ---------------------------------------------------------

    async def start(self, inbox: Inbox) -> None:
        """Log in, connect the gateway, wait for READY, sync the slash commands."""
        self._inbox = inbox
        quiet_voice()
        self._undo_redirect = redirect(self.settings.api_url, self.settings.gateway_url)
        intents = discord.Intents.none()
        intents.guilds = True
        intents.dm_messages = True
        intents.guild_reactions = True
        client = self._client = _Client(
            self,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self._guild_ready_timeout,
        )
        commands = SlashCommands(
            inbox, manage_permission=self.settings.manage_permission, defer_after=self._defer_after
        )
        tree = commands.tree(client)
        self._commands = commands
        client.add_dynamic_items(CardButton)
        self._poster = Poster(client)
        try:
            try:
                await client.login(self._token.reveal())
            except discord.LoginFailure:
                raise PlatformAuthError(f"Discord rejected DISCORD_TOKEN: {TOKEN_HELP}") from None
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise PlatformUnreachable.because("Discord", self.settings.api_url, exc) from None
            self._connection = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
            await self._wait_until_ready(client, self._connection)
            await self._sync(tree)
        except BaseException:
            await self.stop()
            raise
        self._connection.add_done_callback(self._connection_ended)
        log.info("connected to Discord as %s in %d server(s)", client.user, len(client.guilds))

    def _connection_ended(self, connection: asyncio.Task[None]) -> None:
        # discord.py reconnects by itself; the task only ends on close or on a fatal gateway
        # error (token revoked, ...). Then the bot is deaf on Discord: shut down rather than idle.
        if connection.cancelled() or self._client is None:  # stop() clears _client first
            return
        log.error("the Discord gateway connection ended for good: %r", connection.exception())
        if self._inbox is not None:
            self._inbox.request_stop()

    async def _wait_until_ready(self, client: discord.Client, connection: asyncio.Task[None]) -> None:
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {ready, connection}, timeout=self._ready_timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            ready.cancel()
        if ready in done:
            return
        if connection in done:
            exc = connection.exception()
            if isinstance(exc, discord.ConnectionClosed) and exc.code == AUTHENTICATION_FAILED:
                raise PlatformAuthError(f"Discord's gateway rejected DISCORD_TOKEN: {TOKEN_HELP}")
            raise PaperbotError(f"the Discord gateway closed before it was ready: {exc!r}")
        raise PaperbotError(f"the Discord gateway was not ready after {self._ready_timeout:g} s")

    async def _sync(self, tree: discord.app_commands.CommandTree[discord.Client]) -> None:
        guild_id = self.settings.dev_guild_id
        if not guild_id:
            synced = await tree.sync()
            log.info(
                "synced %d slash commands globally (Discord may take a while to show changes)", len(synced)
            )
            return
        guild = discord.Object(guild_id)
        tree.copy_global_to(guild=guild)
        try:
            synced = await tree.sync(guild=guild)
        except discord.Forbidden as exc:
            raise ConfigError(
                f"discord.dev_guild_id: cannot register commands in server {guild_id} ({exc.text}): paperbot "
                "is not in it, or was invited without the applications.commands scope "
                "(`paperbot discord invite-url`)"
            ) from None
        log.info("synced %d slash commands to server %d", len(synced), guild_id)

    def command_name(self, command: str) -> str:
        return slash(command)

    async def stop(self) -> None:
        """Close the gateway and HTTP session; safe after a failed or no start."""
        client, connection = self._client, self._connection
        self._client = self._connection = None
        if client is not None:
            await client.close()
        if connection is not None:
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connection
        if self._undo_redirect is not None:
            self._undo_redirect()
            self._undo_redirect = None

    # -- the port ----------------------------------------------------------

    @property
    def poster(self) -> Poster:
        if self._poster is None or self._client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self._poster

    # -- events ------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """A DM from a person: the core answers (abstract or help). Everything else is ignored."""
        if message.author.bot or not isinstance(message.channel, discord.DMChannel) or self._inbox is None:
            return
        user = UserRef(Platform.DISCORD, str(message.author.id), message.author.name)
        try:
            async with message.channel.typing():
                reply = await self._inbox.direct_message(DirectMessage(user, message.content))
            await self._send(message.channel, reply)
        except discord.HTTPException as exc:
            log.warning("could not answer a DM from %s: %s", user.user_id, exc)

    async def on_reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        """A 👍 or 👎 on a message in a server: the core keeps it if the message is one of our cards."""
        value = reaction_value(payload.emoji.name or "") if payload.emoji.id is None else None
        me = self._client.user if self._client is not None else None
        if value is None or payload.guild_id is None or self._inbox is None:
            return
        if (me is not None and payload.user_id == me.id) or (
            payload.member is not None and payload.member.bot
        ):
            return
        channel = ChannelRef(Platform.DISCORD, str(payload.guild_id), str(payload.channel_id))
        user = UserRef(Platform.DISCORD, str(payload.user_id))
        await self._inbox.reaction(Reaction(channel, str(payload.message_id), user, value, added))

    async def on_card_button(self, interaction: discord.Interaction, action: str, paper_id: str) -> None:
        """A card's button: its abstract, more papers like it, or its BibTeX, for the person who clicked."""
        if self._commands is None:
            return
        if action in (ABSTRACT, BIBTEX):
            await self._commands.run(interaction, action, paper_id)
        else:
            await self._commands.run(interaction, "papers", f"like:{paper_id}")

    @staticmethod
    async def _send(channel: discord.abc.Messageable, reply: Reply) -> None:
        for part in reply_messages(reply):
            await channel.send(part.content or None, embeds=part.embeds, files=discord_files(part))
