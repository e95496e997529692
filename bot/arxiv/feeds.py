"""Parsing arXiv's announcement feeds (rss.arxiv.org `/atom/<cats>` and `/rss/<cats>`) into papers.

Pure: bytes in, papers out; fetching is bot.arxiv.client's job. Both formats carry one entry per
announced paper with `arxiv:announce_type` (new, cross, replace, replace-cross), the authors in one
`dc:creator`, and the abstract after an `arXiv:<id> Announce Type: <type> Abstract:` preamble.
"""

from __future__ import annotations

import email.utils
import html
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import feedparser

from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.ids import parse_arxiv_id
from bot.models import Paper

log = logging.getLogger(__name__)

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
# When one paper shows up twice (say, in two category requests), the entry closest to "this paper
# is new here" wins: a paper new in cs.CV and cross-listed to math is new.
_TYPE_RANK = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}

_PREAMBLE = re.compile(
    r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE
)
_WS = re.compile(r"\s+")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


class MalformedFeed(ValueError):
    """The bytes are not an announcement feed (broken XML, an HTML error page, ...)."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """One announcement feed: its papers (deduplicated), the date it announces, what was skipped."""

    papers: tuple[Paper, ...]
    announced: date | None
    items: int  # entries in the document, before dropping duplicates and malformed ones
    skipped: int = 0

    @property
    def empty(self) -> bool:
        return self.items == 0


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _parse_when(value: str | None) -> datetime | None:
    """An Atom (RFC 3339) or RSS (RFC 822) timestamp, timezone-aware; None if absent or garbled."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _et_date(value: str | None) -> date | None:
    when = _parse_when(value)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ARXIV_TZ)
    return when.astimezone(ARXIV_TZ).date()


def _split_authors(raw: str) -> tuple[str, ...]:
    # dc:creator is one comma-separated string; "and" may join the last two names.
    names = re.split(r",\s*|\s+and\s+", _clean(raw))
    return tuple(n for n in (n.strip() for n in names) if n)


def _entry_to_paper(entry: Any, fallback_day: date | None) -> Paper:
    raw_id = entry.get("id") or entry.get("guid") or ""
    bare = raw_id.rsplit(":", 1)[-1] if raw_id.lower().startswith("oai:arxiv.org:") else raw_id
    parsed = parse_arxiv_id(bare) or parse_arxiv_id(entry.get("link") or "")
    if parsed is None:
        raise ValueError(f"no arXiv id in {raw_id!r}")
    arxiv_id, version = parsed

    summary = entry.get("summary") or ""
    preamble = _PREAMBLE.match(summary)
    announce_type = (entry.get("arxiv_announce_type") or (preamble["type"] if preamble else "")).lower()
    if announce_type not in ANNOUNCE_TYPES:
        raise ValueError(f"{arxiv_id}: unknown announce type {announce_type!r}")
    if version is None and preamble:
        # The id element may lack the version; the preamble (`arXiv:2401.01234v2`) has it.
        in_preamble = parse_arxiv_id(summary.split()[0])
        version = in_preamble[1] if in_preamble else None
    body = summary[preamble.end() :] if preamble else summary
    if (entry.get("summary_detail") or {}).get("type") == "text/html":
        # RSS descriptions come back as sanitized HTML: drop tags, then decode `&lt;` and friends.
        body = html.unescape(_TAG.sub(" ", body))
    abstract = _clean(body)

    title = _clean(entry.get("title") or "")
    if not title:
        raise ValueError(f"{arxiv_id}: no title")
    categories = tuple(dict.fromkeys(t["term"] for t in entry.get("tags", []) if t.get("term")))
    published = _parse_when(entry.get("published") or entry.get("updated"))
    day = _et_date(entry.get("published") or entry.get("updated")) or fallback_day
    replaced = announce_type.startswith("replace")
    return Paper(
        arxiv_id=arxiv_id,
        version=version or 1,
        title=title,
        abstract=abstract,
        authors=_split_authors(entry.get("author") or ""),
        categories=categories,
        journal_ref=_clean(entry.get("arxiv_journal_reference") or entry.get("arxiv_journal_ref") or "")
        or None,
        doi=_clean(entry.get("arxiv_doi") or "") or None,
        # The feed date of a replacement is not the paper's first announcement, and its original
        # submission date is not in the feed: leave both to the stored record (or the API).
        published=None if replaced else published,
        updated=published if replaced else None,
        announced=None if replaced else day,
        announce_type=announce_type,
    )


def parse_feed(content: bytes) -> ParsedFeed:
    """Parse an announcement feed (Atom or RSS); raises MalformedFeed when it is not one."""
    doc = feedparser.parse(content)
    exc = doc.get("bozo_exception")
    # A character-encoding override is harmless; any other bozo flag means the XML is broken,
    # and a truncated feed must not pass for a short day.
    if doc.get("bozo") and not isinstance(exc, feedparser.CharacterEncodingOverride):
        raise MalformedFeed(f"not well-formed XML: {exc}")
    if not doc.get("version"):
        raise MalformedFeed("not an RSS or Atom feed (an HTML error page?)")

    meta = doc.get("feed", {})
    feed_day = _et_date(meta.get("published") or meta.get("updated"))
    best: dict[str, Paper] = {}
    skipped = 0
    for entry in doc.entries:
        try:
            paper = _entry_to_paper(entry, feed_day)
        except (ValueError, KeyError, TypeError) as err:
            skipped += 1
            log.warning("skipping malformed feed entry: %s", err)
            continue
        seen = best.get(paper.arxiv_id)
        if seen is None or _rank(paper) < _rank(seen):
            best[paper.arxiv_id] = paper
    return ParsedFeed(tuple(best.values()), feed_day, len(doc.entries), skipped)


def _rank(p: Paper) -> tuple[int, int]:
    return (_TYPE_RANK.get(p.announce_type or "", 9), -p.version)


def merge(feeds: list[ParsedFeed]) -> list[Paper]:
    """The papers of several feeds, each paper once (the 'newest here' entry wins)."""
    best: dict[str, Paper] = {}
    for feed in feeds:
        for paper in feed.papers:
            seen = best.get(paper.arxiv_id)
            if seen is None or _rank(paper) < _rank(seen):
                best[paper.arxiv_id] = paper
    return list(best.values())
