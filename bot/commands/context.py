"""What command handlers are given (`Context`), and the input cleaning they all share."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from bot.config import Config
from bot.errors import UserError
from bot.matching.normalize import has_lone_surrogate, visible
from bot.models import Command, Reply
from bot.ports import CommandNaming, slash
from storage import Store

if TYPE_CHECKING:  # the services are built by the App; handlers only call them
    from bot.arxiv.lookups import ArxivService
    from bot.digest.delivery import Deliverer
    from bot.relevance.ranking import Relevance
    from bot.trending.daily import Trending

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Context:
    """What handlers may use. Built once by the App; tests build their own."""

    config: Config
    store: Store
    clock: Callable[[], datetime]
    arxiv: ArxivService | None = None
    deliverer: Deliverer | None = None
    relevance: Relevance | None = None
    trending: Trending | None = None
    # How users type a command on the platform the command came from (App sets it per command).
    name: CommandNaming = slash


Handler = Callable[[Context, Command], Awaitable[Reply]]


def clean_text(text: str) -> str:
    """Visible text (NFKC, no format characters), whitespace collapsed; refuses control characters."""
    if has_lone_surrogate(text):
        raise UserError(
            "That text contains a broken character (half of a UTF-16 pair); please type it again."
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise UserError("That text contains control characters; please type plain text.")
    return " ".join(visible(text).split())


def need(service: S | None, what: str) -> S:
    """`service`, or a UserError saying `what` is not available in this mode (the console, a test)."""
    if service is None:
        raise UserError(f"{what.capitalize()} are not available in this mode.")
    return service
