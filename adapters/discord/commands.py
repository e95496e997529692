"""The slash commands: Discord's side of `/track`, `/untrack`, `/tracked`, `/papers`, ...

Each command becomes a core `Command(name, args, channel, user)`; the core's
reply goes back through `respond.answer`. Commands that change a channel need
`discord.manage_permission` (Manage Channels by default) twice over: as the
command's default member permissions, so Discord hides them from others, and as
a runtime check, because server admins can override the default per role or
channel in Server Settings → Integrations.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from adapters.discord.respond import answer, answer_text
from bot.errors import INTERNAL_ERROR_REPLY
from bot.models import ChannelRef, Command, Platform, UserRef
from bot.ports import Inbox

log = logging.getLogger(__name__)

CHANGING = frozenset({"track", "untrack", "settings", "digest"})
TEACHING = frozenset({"like", "dislike"})  # about the digest's channel, also when typed in its thread
# Replies the core makes to the whole channel on success; the defer guesses from this.
PUBLIC_ON_SUCCESS = frozenset({"track", "untrack", "settings"})
DM_WORKSPACE = "@me"
MAX_CHOICES = 25  # Discord's limit of autocomplete choices
MAX_CHOICE_CHARS = 100


def permission_label(name: str) -> str:
    return name.replace("_", " ").title()


class SlashCommands:
    """Turns interactions into core commands and answers them; `tree()` registers them with Discord."""

    def __init__(self, inbox: Inbox, *, manage_permission: str, defer_after: float) -> None:
        self.inbox = inbox
        self.manage_permission = manage_permission
        self.defer_after = defer_after

    # -- translation -------------------------------------------------------

    @staticmethod
    def channel_ref(interaction: discord.Interaction) -> ChannelRef:
        name = getattr(interaction.channel, "name", None) or ""
        workspace = str(interaction.guild_id) if interaction.guild_id else DM_WORKSPACE
        return ChannelRef(Platform.DISCORD, workspace, str(interaction.channel_id), name)

    @staticmethod
    def user_ref(user: discord.abc.User) -> UserRef:
        return UserRef(Platform.DISCORD, str(user.id), user.name)

    def may_change(self, interaction: discord.Interaction) -> bool:
        perms = interaction.permissions
        return perms.administrator or bool(getattr(perms, self.manage_permission, False))

    # -- handlers ----------------------------------------------------------

    async def run(self, interaction: discord.Interaction, name: str, args: str) -> None:
        """Answer `/name args`: refuse a changing command without the permission, else ask the core."""
        if name in CHANGING and not self.may_change(interaction):
            await answer_text(
                interaction,
                f"You need the {permission_label(self.manage_permission)} permission in this channel "
                f"to use /{name}. Ask someone who has it, or a server admin (Server Settings → "
                "Integrations → paperbot).",
            )
            return
        channel = self.channel_ref(interaction)
        thread = interaction.channel
        if name in TEACHING and isinstance(thread, discord.Thread) and thread.parent_id:
            # Typed in a digest's thread: it is the channel's digest that learns.
            channel = ChannelRef(channel.platform, channel.workspace, str(thread.parent_id))
        cmd = Command(name, args, channel, self.user_ref(interaction.user))
        try:
            await answer(
                interaction,
                self.inbox.command(cmd),
                defer_after=self.defer_after,
                likely_public=name in PUBLIC_ON_SUCCESS,
            )
        except discord.NotFound as exc:  # 10062: the interaction expired before we answered
            log.warning("could not answer /%s in %s: %s", name, cmd.channel, exc)

    async def tracked_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The channel's queries containing what was typed so far, for /untrack."""
        queries = await self.inbox.tracked_queries(self.channel_ref(interaction))
        typed = " ".join(current.casefold().split())
        return [
            app_commands.Choice(name=q, value=q)
            for q in queries
            if typed in q.casefold() and len(q) <= MAX_CHOICE_CHARS
        ][:MAX_CHOICES]

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        name = interaction.command.name if interaction.command else "?"
        log.error("Discord command /%s failed: %s", name, error, exc_info=error)
        try:
            await answer_text(interaction, INTERNAL_ERROR_REPLY)
        except discord.HTTPException as exc:
            log.warning("could not tell the user /%s failed: %s", name, exc)

    # -- registration ------------------------------------------------------

    def tree(self, client: discord.Client) -> app_commands.CommandTree[discord.Client]:
        """A command tree on `client` holding the twelve commands."""
        tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
        tree.error(self.on_error)
        manage = discord.Permissions(**{self.manage_permission: True})

        @tree.command(
            name="track", description="Follow a topic: matching papers arrive in this channel's digest"
        )
        @app_commands.describe(
            query='What to follow, e.g. video retrieval or "diffusion model" AND cat:cs.CV'
        )
        @app_commands.guild_only()
        @app_commands.default_permissions(manage)
        async def track(interaction: discord.Interaction, query: str) -> None:
            await self.run(interaction, "track", query)

        @tree.command(name="untrack", description="Stop following a topic in this channel")
        @app_commands.describe(query="One of this channel's queries (see /tracked)")
        @app_commands.guild_only()
        @app_commands.default_permissions(manage)
        async def untrack(interaction: discord.Interaction, query: str) -> None:
            await self.run(interaction, "untrack", query)

        untrack.autocomplete("query")(self.tracked_choices)

        @tree.command(name="tracked", description="What this channel follows, and when its digest comes")
        @app_commands.guild_only()
        async def tracked(interaction: discord.Interaction) -> None:
            await self.run(interaction, "tracked", "")

        @tree.command(name="papers", description="The latest papers matching a query")
        @app_commands.describe(query="e.g. video retrieval", n="How many (default 10, at most 100)")
        async def papers(
            interaction: discord.Interaction, query: str, n: app_commands.Range[int, 1, 100] | None = None
        ) -> None:
            await self.run(interaction, "papers", f"{query} {n}" if n is not None else query)

        @tree.command(name="abstract", description="A paper's title, authors, abstract and links")
        @app_commands.describe(paper_id="An arXiv id or link, e.g. 2401.01234")
        @app_commands.rename(paper_id="id")
        async def abstract(interaction: discord.Interaction, paper_id: str) -> None:
            await self.run(interaction, "abstract", paper_id)

        @tree.command(name="bibtex", description="A paper's BibTeX entry, as arXiv gives it")
        @app_commands.describe(paper_id="An arXiv id or link, e.g. 2401.01234")
        @app_commands.rename(paper_id="id")
        async def bibtex(interaction: discord.Interaction, paper_id: str) -> None:
            await self.run(interaction, "bibtex", paper_id)

        @tree.command(name="trending", description="Today's most upvoted papers on Hugging Face")
        @app_commands.describe(n="How many (default 10, at most 50)")
        async def trending(
            interaction: discord.Interaction, n: app_commands.Range[int, 1, 50] | None = None
        ) -> None:
            await self.run(interaction, "trending", str(n) if n is not None else "")

        @tree.command(name="digest", description="Post what is pending for this channel now")
        @app_commands.guild_only()
        @app_commands.default_permissions(manage)
        async def digest(interaction: discord.Interaction) -> None:
            await self.run(interaction, "digest", "")

        @tree.command(
            name="settings", description="Show or change this channel's digest time, timezone and size"
        )
        @app_commands.describe(args="e.g. time 08:30 tz Europe/Berlin max 15, or pause / resume")
        @app_commands.guild_only()
        @app_commands.default_permissions(manage)
        async def settings(interaction: discord.Interaction, args: str | None = None) -> None:
            await self.run(interaction, "settings", args or "")

        @tree.command(
            name="like", description="This channel wants more papers like this one (as a 👍 on its card)"
        )
        @app_commands.describe(paper_id="An arXiv id or link, e.g. 2401.01234")
        @app_commands.rename(paper_id="id")
        @app_commands.guild_only()
        async def like(interaction: discord.Interaction, paper_id: str) -> None:
            await self.run(interaction, "like", paper_id)

        @tree.command(name="dislike", description="This channel wants fewer papers like this one (a 👎)")
        @app_commands.describe(paper_id="An arXiv id or link, e.g. 2401.01234")
        @app_commands.rename(paper_id="id")
        @app_commands.guild_only()
        async def dislike(interaction: discord.Interaction, paper_id: str) -> None:
            await self.run(interaction, "dislike", paper_id)

        @tree.command(name="help", description="What paperbot can do")
        async def help_(interaction: discord.Interaction) -> None:
            await self.run(interaction, "help", "")

        return tree
