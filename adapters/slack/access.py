"""Who may change a channel on Slack: `[slack] managers`.

Slack lets every member run every slash command, so paperbot decides itself who may change
what a channel tracks (/track, /untrack), its settings and post its digest now (/digest):
"everyone" (the default), "admins" (workspace admins and owners, from `users.info`), or a
list of user ids and user-group ids (members from `usergroups.users.list`), optionally with
"admins". Lookups are cached for a few minutes. When Slack cannot answer, the change is
refused (never allowed by default) and the person is told why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.names import CommandNames
from adapters.slack.posting import slack_error
from bot.models import Command

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_SECONDS = 300.0
MAX_CACHED = 10_000  # people; a workspace bigger than this just looks people up again
# The scope each lookup needs, for the operator's fix when Slack says missing_scope.
SCOPES = {"users.info": "users:read", "usergroups.users.list": "usergroups:read"}


def changes_channel(cmd: Command) -> bool:
    """Commands that change a channel: /track, /untrack, /digest, and /settings with arguments."""
    if cmd.name == "settings":
        return bool(cmd.args.strip())
    return cmd.name in ("track", "untrack", "digest")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    message: str = ""  # for the person refused: who may, or why it could not be checked


class Managers:
    """The people who may change channels, and the Slack lookups that decide it."""

    def __init__(
        self,
        client: AsyncWebClient,
        setting: str | tuple[str, ...],
        names: CommandNames,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.names = names
        self.everyone = setting == "everyone"
        ids = (setting,) if isinstance(setting, str) else setting
        self.admins = "admins" in ids
        self.users = frozenset(i for i in ids if i[:1] in ("U", "W"))
        self.groups = tuple(i for i in ids if i.startswith("S"))
        self._clock = clock
        self._is_admin: dict[str, tuple[float, bool]] = {}
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def may_change(self, user_id: str, command: str) -> Decision:
        """Whether `user_id` may run the changing `command`; a refusal says who may."""
        if self.everyone or user_id in self.users:
            return Decision(True)
        failures: list[str] = []
        for group in self.groups:
            members = await self._cached(self._members, group, failures, self._group_members)
            if members is not None and user_id in members:
                return Decision(True)
        if self.admins:
            admin = await self._cached(self._is_admin, user_id, failures, self._admin)
            if admin:
                return Decision(True)
        if failures:
            return Decision(
                False,
                f"I could not check whether you may use {self.names.slash(command)} here: Slack did not "
                f"answer my lookup ({', '.join(failures)}). Please try again in a minute; if it keeps "
                "happening, tell whoever runs paperbot (its log says what to fix).",
            )
        return Decision(
            False, f"Only {self.describe()} can use {self.names.slash(command)} here. Ask one of them."
        )

    def describe(self) -> str:
        """Who may change channels, in Slack mrkdwn: mentions render as names."""
        who = [f"<@{u}>" for u in sorted(self.users)]
        who += [f"members of <!subteam^{g}>" for g in self.groups]
        if self.admins:
            who.append("workspace admins and owners")
        return who[0] if len(who) == 1 else ", ".join(who[:-1]) + " and " + who[-1]

    async def _cached(
        self,
        cache: dict[str, tuple[float, T]],
        key: str,
        failures: list[str],
        lookup: Callable[[str], Any],
    ) -> T | None:
        now = self._clock()
        hit = cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            value: T = await lookup(key)
        except SlackApiError as exc:
            error = slack_error(exc) or "error"
            failures.append(error)
            self._log_failure(exc, error)
            return None
        except (OSError, TimeoutError) as exc:  # aiohttp's connection errors are OSErrors
            failures.append("no connection")
            log.warning("Slack lookup for paperbot's managers failed: %r", exc)
            return None
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = (now + CACHE_SECONDS, value)
        return value

    async def _admin(self, user_id: str) -> bool:
        response = await self.client.users_info(user=user_id)
        user: dict[str, Any] = response.data["user"] if isinstance(response.data, dict) else {}
        if user.get("deleted"):
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    async def _group_members(self, group: str) -> frozenset[str]:
        response = await self.client.usergroups_users_list(usergroup=group)
        users = response.data.get("users", []) if isinstance(response.data, dict) else []
        return frozenset(str(u) for u in users)

    @staticmethod
    def _log_failure(exc: SlackApiError, error: str) -> None:
        method = str(getattr(exc.response, "api_url", "")).rsplit("/", 1)[-1]
        fix = ""
        if error == "missing_scope":
            scope = SCOPES.get(method, "")
            fix = (
                f" The app lacks the {scope} scope that slack.managers needs: add it (`paperbot slack "
                "manifest` prints the manifest with it) and reinstall the app."
            )
        elif error == "no_such_subteam":
            fix = " A user-group id in slack.managers does not exist (any more): fix the list."
        log.warning("Slack refused a lookup for paperbot's managers (%s: %s).%s", method, error, fix)
