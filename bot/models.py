"""Domain types shared by the core, storage and every adapter.

Platform objects never appear here: adapters translate their events into these
types and back. Everything is frozen so a value can be passed between tasks and
cached without defensive copies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class Platform(enum.StrEnum):
    """The chat platform a channel or user lives on."""

    CONSOLE = "console"
    SLACK = "slack"
    DISCORD = "discord"


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A channel, identified within its platform and workspace (Slack team, Discord guild).

    The display name is not part of the identity: channels get renamed.
    """

    platform: Platform
    workspace: str
    channel_id: str
    name: str = field(default="", compare=False)

    def __str__(self) -> str:
        label = self.name or self.channel_id
        return f"{self.platform}:{self.workspace}/#{label}"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person (or bot) on a platform."""

    platform: Platform
    user_id: str
    name: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command as the core sees it: `/track video retrieval` -> name='track'."""

    name: str
    args: str
    channel: ChannelRef
    user: UserRef


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """Free text someone sent to the bot privately."""

    user: UserRef
    text: str


class Visibility(enum.StrEnum):
    """Who sees a reply: only the person who asked, or the whole channel."""

    EPHEMERAL = "ephemeral"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Card:
    """One paper, render-neutral: adapters turn it into Block Kit, an embed or text.

    `highlights` are the words that made the paper match; renderers may mark
    them in `title`/`body`. All text is plain (no platform markup): adapters
    escape it for their own format.
    """

    title: str
    url: str
    authors: str = ""
    meta: tuple[str, ...] = ()
    body: str = ""
    links: tuple[Link, ...] = ()
    footer: str = ""
    highlights: tuple[str, ...] = ()
    # The arXiv id the card is about, so adapters can offer an "Abstract" button
    # that comes back to the core as `/abstract <paper_id>`.
    paper_id: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """The core's answer to a command or DM."""

    text: str
    visibility: Visibility = Visibility.EPHEMERAL
    cards: tuple[Card, ...] = ()
    # Text to show exactly as is, in a code block (a BibTeX entry): never read as markup.
    code: str = ""


@dataclass(frozen=True, slots=True)
class Post:
    """A digest's parent message: the header and a line per query. Its thread holds the cards."""

    header: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reaction:
    """A 👍 or 👎 someone put on (or took off) a message: the core finds the card it was on.

    `channel` is where the message is (on Discord a digest's thread); `message_id` the platform's id.
    """

    channel: ChannelRef
    message_id: str
    user: UserRef
    value: int  # 1: like, -1: dislike
    added: bool = True  # False: the reaction was removed


# What goes into a digest's thread: a paper's card, or a line of text (the "+12 more" footer).
ThreadItem = Card | str


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A channel's schedule and limits; None means 'the configured default'."""

    timezone: str | None = None
    post_time: str | None = None  # "HH:MM" or "asap"
    max_papers: int | None = None
    paused: bool = False
    learn: bool = True  # re-rank the digest by what the channel's reactions taught (once it has enough)
    trending: int = 0  # how many of the day's top papers on Hugging Face the digest adds (0: none)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A query a channel tracks, stored in canonical form."""

    id: int
    channel: ChannelRef
    query: str
    raw_query: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Paper:
    """An arXiv paper as paperbot stores it.

    `arxiv_id` carries no version ('2401.01234', 'hep-th/9901001'); `version`
    is the newest one seen. `categories` lists the primary category first.
    """

    arxiv_id: str
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    announced: date | None = None
    announce_type: str | None = None  # new | cross | replace | replace-cross

    @property
    def primary_category(self) -> str:
        return self.categories[0] if self.categories else ""

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}"

    def links(self) -> tuple[Link, ...]:
        """The links a card or an abstract shows: the abstract page, the PDF, the DOI if any."""
        links = (Link("abs", self.abs_url), Link("pdf", self.pdf_url))
        return (*links, Link("doi", f"https://doi.org/{self.doi}")) if self.doi else links


@dataclass(frozen=True, slots=True)
class TrendingPaper:
    """A paper on Hugging Face's daily papers list: its arXiv id, what the list says, its upvotes."""

    arxiv_id: str
    title: str
    summary: str
    authors: tuple[str, ...]
    upvotes: int
    published: datetime | None = None  # on arXiv, as Hugging Face has it
    comments: int = 0


@dataclass(frozen=True, slots=True)
class TrendingDay:
    """One day's list (the date Hugging Face files it under), most upvoted first."""

    day: date
    papers: tuple[TrendingPaper, ...]
    fetched_at: datetime


class DayState(enum.StrEnum):
    """How much of an arXiv announcement day paperbot holds."""

    COMPLETE = "complete"  # every category read from its announcement feed
    PARTIAL = "partial"  # some categories only from the API (a fallback, or a past day), or not at all
    MISSING = "missing"  # nothing read yet


class Source(enum.StrEnum):
    """How one category of a day was read."""

    FEED = "feed"
    API = "api"  # new submissions and cross-lists by submission window; no replacements
    FAILED = "failed"


_SOURCE_RANK = {Source.FEED: 2, Source.API: 1, Source.FAILED: 0}


@dataclass(frozen=True, slots=True)
class AnnouncementDay:
    """One arXiv announcement day (US Eastern date) and how far paperbot has read it.

    `sources` maps each category asked for to how it was read; `not_before` is when arXiv's last
    Retry-After for it runs out.
    """

    day: date
    state: DayState = DayState.MISSING
    sources: tuple[tuple[str, Source], ...] = ()
    requests: int = 0
    first_read: datetime | None = None
    last_tried: datetime | None = None
    error: str | None = None
    not_before: datetime | None = None

    def source(self, category: str) -> Source | None:
        """How `category` was read (an archive read whole covers its categories: `cs` covers `cs.CV`)."""
        found = dict(self.sources)
        return found.get(category) or found.get(category.split(".", 1)[0])

    def merged(self, read: dict[str, Source]) -> tuple[tuple[str, Source], ...]:
        """The sources after a run that read `read`: a category never goes back (feed > api > failed)."""
        out = dict(self.sources)
        for category, how in read.items():
            if category not in out or _SOURCE_RANK[how] > _SOURCE_RANK[out[category]]:
                out[category] = how
        return tuple(sorted(out.items()))

    def categories(self, how: Source) -> list[str]:
        return [c for c, s in self.sources if s == how]
