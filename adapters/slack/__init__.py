"""The Slack adapter: slash commands, threaded Block Kit digests and DMs, on slack-bolt.

Importing the package is cheap (the core reads `adapters.slack.platform` at every start);
`SlackAdapter` imports slack-bolt when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]


def __getattr__(name: str) -> Any:
    if name == "SlackAdapter":
        from adapters.slack.adapter import SlackAdapter

        return SlackAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
