"""The Slack names of paperbot's commands, with the configured prefix (`pb-` gives `/pb-track`).

Slash command names are workspace-wide on Slack: another app may already own `/track` or
`/digest`. One `CommandNames` decides every name the bot listens to, the manifest declares
and the replies mention (the core names commands through `SlackAdapter.command_name`), so
the three never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

# The core commands with a slash command of their own, in the manifest's order.
OWN_COMMANDS = ("track", "untrack", "tracked", "papers", "abstract", "bibtex", "trending", "digest")
# The umbrella holds the rest (`/paperbot settings time 08:30`, `/paperbot help`) and accepts
# every other command by name too (`/paperbot track video retrieval`).
UMBRELLA_NAME = "paperbot"
UMBRELLA_ONLY = ("help", "settings", "like", "dislike")
UMBRELLA_COMMANDS = frozenset({*UMBRELLA_ONLY, *OWN_COMMANDS})


@dataclass(frozen=True, slots=True)
class CommandNames:
    """paperbot's slash commands on one Slack app."""

    prefix: str = ""

    def slash(self, command: str) -> str:
        """The Slack command that runs the core `command` (`settings` -> `/paperbot settings`)."""
        if command in OWN_COMMANDS:
            return f"/{self.prefix}{command}"
        return f"{self.umbrella} {command}"

    @property
    def umbrella(self) -> str:
        return f"/{self.prefix}{UMBRELLA_NAME}"

    @property
    def own(self) -> dict[str, str]:
        """Slack command -> core command, for the commands with a name of their own."""
        return {f"/{self.prefix}{name}": name for name in OWN_COMMANDS}

    @property
    def all(self) -> tuple[str, ...]:
        """Every Slack command of the app: what the manifest declares and the bot listens to."""
        return (*self.own, self.umbrella)


DEFAULT_NAMES = CommandNames()
