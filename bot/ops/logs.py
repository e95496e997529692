"""Log output for the command line: text or one JSON object per line, secrets masked in both.

Only the CLI calls `setup_logging` (libraries never configure logging). Every line goes
through the config's `Redactor`, so a token or a URL password that ends up in a message or a
traceback (a library's error echoing a request, say) is masked before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

# Libraries that are chatty at INFO about every reconnect (the chat platforms name theirs).
NOISY = ("apscheduler", "aiosqlite", "aiohttp.access", "arxiv", "urllib3")
# The attributes every LogRecord has; anything else was passed as `extra=` and is kept in JSON.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

Redact = Callable[[str], str]


class TextFormatter(logging.Formatter):
    """`2026-11-20 09:00:00,123 INFO bot.app: message`, masked."""

    def __init__(self, redact: Redact) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, exception, extras."""

    def __init__(self, redact: Redact) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                text = value if isinstance(value, int | float | bool) or value is None else str(value)
                entry[key] = self.redact(text) if isinstance(text, str) else text
        # ensure_ascii keeps each record on one line whatever the message holds (newlines are escaped).
        return json.dumps(entry, ensure_ascii=True)


def setup_logging(
    level: str, fmt: str, redact: Redact, stream: TextIO | None = None, *, quiet: Iterable[str] = ()
) -> logging.Handler:
    """Send every log record at `level` and above to stderr as `fmt` ("text" or "json").

    `quiet`: more loggers that, as NOISY's, show only warnings and errors (the platforms' libraries).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    handler.set_name("paperbot")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "paperbot"]:
        root.removeHandler(old)  # a second call (tests call main() repeatedly) replaces the first
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in (*NOISY, *quiet):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    return handler
