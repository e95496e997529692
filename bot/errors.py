"""The one error path: exception types the core understands, and the reporter.

Commands, direct messages and jobs route every exception through `ErrorReporter.failed`,
which logs it as it deserves (a person's mistake not at all, arXiv being down as a warning,
anything else once with its traceback and context) and returns the line to answer with. A
command or DM sends that line; a job carries on with the next channel. Nothing here re-raises.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator, Mapping

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


class PlatformUnreachable(PaperbotError):
    """Slack or Discord cannot be reached at start (no network, DNS, TLS): stop with one clear line."""

    @classmethod
    def because(cls, platform: str, url: str, exc: BaseException) -> PlatformUnreachable:
        """`cannot reach Discord at https://...: name resolution failed; is this machine online?`."""
        reason = unreachable_reason(exc) or (str(exc) or type(exc).__name__)
        return cls(f"cannot reach {platform} at {url}: {reason}")


class ArxivUnavailable(PaperbotError):
    """arXiv could not be reached after retries."""


class ArxivUnreachable(ArxivUnavailable):
    """A host of arXiv cannot be reached in a way retrying soon does not fix (DNS, refused, TLS)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"cannot reach {host}: {reason}")
        self.host = host
        self.reason = reason


class ArxivDeferred(ArxivUnavailable):
    """arXiv asked (Retry-After) to be left alone until after the caller's window: nothing was sent."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: causes, contexts, urllib3's `reason`, aiohttp's `os_error`, requests' args."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        wrapped = [e.__cause__, e.__context__, getattr(e, "reason", None), getattr(e, "os_error", None)]
        wrapped += [a for a in e.args if isinstance(a, BaseException)]
        todo += [w for w in wrapped if isinstance(w, BaseException)]


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection could not be made, when trying again in a few seconds cannot help; else None.

    Name resolution failing, a refused connection and a failed TLS handshake say something about
    this machine or the address: they are reported at once instead of being retried for minutes.
    """
    causes = list(_causes(exc))
    for e in causes:
        if isinstance(e, socket.gaierror):
            return "name resolution failed; is this machine online?"
    for e in causes:
        if isinstance(e, ConnectionRefusedError):
            return "connection refused; is the address right, and the service up?"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"the TLS certificate was not accepted ({e.verify_message}); is a proxy in the way?"
        if isinstance(e, ssl.SSLError):
            return f"the TLS handshake failed ({e.reason or e}); is a proxy in the way?"
    return None


INTERNAL_ERROR_REPLY = "Sorry, something went wrong on my side. It has been logged; please try again later."
ARXIV_DOWN_REPLY = "arXiv is not answering right now; please try again in a few minutes."


class ErrorReporter:
    """Logs unexpected exceptions from commands and jobs, with their context."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log
        self.count = 0

    def failed(self, exc: Exception, where: str, context: Mapping[str, object] | None = None) -> str:
        """What a person is told when `where` (`command /track`, `direct message`, `job harvest`) failed.

        A UserError is their mistake: its message is the answer and nothing is logged. arXiv being
        down is not a bug: one warning line. Anything else is reported with its traceback.
        """
        if isinstance(exc, UserError):
            return str(exc)
        if isinstance(exc, ArxivUnavailable):
            self._log.warning("%s: %s", where, exc)
            return ARXIV_DOWN_REPLY
        self.report(exc, where, context)
        return INTERNAL_ERROR_REPLY

    def report(self, exc: BaseException, where: str, context: Mapping[str, object] | None = None) -> None:
        """Log an unexpected exception once, with its traceback and context."""
        self.count += 1
        details = " ".join(f"{k}={v!r}" for k, v in (context or {}).items())
        self._log.error("%s failed: %s %s", where, exc, details, exc_info=exc)
