"""The one error path: exception types the core understands, and the reporter.

Commands and jobs route every exception through `ErrorReporter.report`, which
logs it once with context. A command then answers the user with a short line;
a job carries on with the next channel. Nothing here ever re-raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)


class PaperbotError(Exception):
    """Base class for errors paperbot raises on purpose."""


class UserError(PaperbotError):
    """Bad input from a person: the message is shown to them as is."""


class ConfigError(PaperbotError):
    """The configuration is invalid; the message names file, key and reason."""


class StorageError(PaperbotError):
    """The database cannot be used (e.g. written by a newer paperbot)."""


class ChannelUnreachable(PaperbotError):
    """A channel cannot be posted to (deleted, bot removed, no permission).

    `fix` tells an operator what to do about it; it ends up in the log.
    """

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


class PlatformAuthError(PaperbotError):
    """The platform rejected our credentials at start: stop with a clear message."""


class ArxivUnavailable(PaperbotError):
    """arXiv could not be reached after retries."""


INTERNAL_ERROR_REPLY = "Sorry, something went wrong on my side. It has been logged; please try again later."


class ErrorReporter:
    """Logs unexpected exceptions from commands and jobs, with their context."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log
        self.count = 0

    def report(self, exc: BaseException, where: str, context: Mapping[str, object] | None = None) -> None:
        self.count += 1
        details = " ".join(f"{k}={v!r}" for k, v in (context or {}).items())
        self._log.error("%s failed: %s %s", where, exc, details, exc_info=exc)
