"""The Slack adapter: slash commands, threaded Block Kit digests and DMs, on slack-bolt."""

from __future__ import annotations

from adapters.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
