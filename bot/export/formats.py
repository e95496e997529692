"""What `paperbot export` writes: DailyArXiv's Markdown, an Atom feed, JSON, CSV and BibTeX.

Pure functions of an `Export`: the same export gives the same bytes (no clock, no randomness, a
fixed order), so a scheduled job can commit the file and the diff shows only what changed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from bot import __version__
from bot.matching.search import last_update
from bot.models import Paper

FORMATS = ("markdown", "atom", "json", "csv", "bibtex")
EXPORT_MAX = 100  # DailyArXiv keeps the latest 100 papers per keyword


@dataclass(frozen=True, slots=True)
class Section:
    """One query and its papers, newest by last update first."""

    query: str  # as the person typed it: the section's heading
    papers: tuple[Paper, ...]


@dataclass(frozen=True, slots=True)
class Export:
    """What to write: sections, the date of the "Last update" line, and where it comes from."""

    title: str
    sections: tuple[Section, ...]
    updated: date
    source: str  # "queries" or the channels', for the feed's identity

    def papers(self) -> list[Paper]:
        """Every paper once, newest by last update first (a paper in several sections counts once)."""
        found = {p.arxiv_id: p for s in self.sections for p in s.papers}
        return sorted(found.values(), key=lambda p: (last_update(p), p.arxiv_id), reverse=True)


def paper_date(paper: Paper) -> str:
    """DailyArXiv's Date column: the day of the last update (UTC)."""
    when = last_update(paper)
    return when.date().isoformat() if when.year > 1 else ""


def versioned_url(paper: Paper) -> str:
    """The abstract page of the version listed, as DailyArXiv links its titles."""
    return f"{paper.abs_url}v{paper.version}"


# -- Markdown, as DailyArXiv writes its README --------------------------------------------------

INTRO = (
    "The latest arXiv papers for each query below, new versions included, newest by last update "
    "(up to {n} a query). Written by paperbot."
)
_ENTITY = re.compile(r"&(?=#?\w+;)")
COMMENT_FOLD = 20  # DailyArXiv folds a comment longer than this, showing its first 5 characters


def cell(text: str) -> str:
    """Paper text in a table cell, on one line: `|` would end the cell, `<` and `>` open HTML.

    LaTeX stays as it is (GitHub renders `$...$`); `\\|` is the table's own escape, which GitHub
    undoes before the cell is read, so `$|x|$` still reaches the math as `|x|`.
    """
    return _escaped(" ".join(text.split()))


def _escaped(text: str) -> str:
    text = _ENTITY.sub("&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _link_text(text: str) -> str:
    return cell(text).replace("[", "\\[").replace("]", "\\]")


def _comment(text: str) -> str:
    comment = " ".join(text.split())
    if len(comment) > COMMENT_FOLD:
        return f"<details><summary>{_escaped(comment[:5])}...</summary><p>{cell(comment)}</p></details>"
    return cell(comment)


def table_row(paper: Paper) -> str:
    """`| **[Title](link)** | 2025-10-14 | <details>...abstract...</details> | comment |`."""
    title = f"**[{_link_text(paper.title)}]({versioned_url(paper)})**"
    abstract = f"<details><summary>Show</summary><p>{cell(paper.abstract)}</p></details>"
    return f"| {title} | {paper_date(paper)} | {abstract} | {_comment(paper.comment or '')} |"


def markdown(export: Export, limit: int) -> str:
    """The DailyArXiv README: a heading, a "Last update" line, and a table per query."""
    lines = [f"# {export.title}", "", INTRO.format(n=limit), "", f"Last update: {export.updated.isoformat()}"]
    for section in export.sections:
        lines += ["", f"## {' '.join(section.query.split())}"]
        if not section.papers:
            lines.append("No matching papers yet.")
            continue
        lines += ["| **Title** | **Date** | **Abstract** | **Comment** |", "| --- | --- | --- | --- |"]
        lines += [table_row(p) for p in section.papers]
    return "\n".join(lines) + "\n"


# -- Atom ---------------------------------------------------------------------------------------

ATOM = "http://www.w3.org/2005/Atom"
ARXIV_SCHEME = "http://arxiv.org/schemas/atom"
QUERY_SCHEME = "urn:paperbot:query"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        node.text = _xml_text(text)
    return node


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot hold (control characters) are dropped: a feed must parse."""
    return _NOT_XML.sub("", text)


def atom(export: Export) -> str:
    """One Atom feed (RFC 4287) of every exported paper, newest first, each tagged with its queries."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "title", export.title)
    slug = re.sub(r"[^a-z0-9]+", "-", export.source.casefold()).strip("-") or "papers"
    _sub(feed, "id", f"urn:paperbot:export:{slug}")
    _sub(feed, "updated", _stamp(datetime.combine(export.updated, time(), UTC)))
    _sub(feed, "generator", "paperbot", version=__version__)
    _sub(_sub(feed, "author"), "name", "paperbot")
    queries: dict[str, list[str]] = {}
    for section in export.sections:
        for p in section.papers:
            queries.setdefault(p.arxiv_id, []).append(" ".join(section.query.split()))
    for paper in export.papers():
        entry = _sub(feed, "entry")
        _sub(entry, "id", versioned_url(paper))
        _sub(entry, "title", " ".join(paper.title.split()), type="text")
        _sub(entry, "link", href=versioned_url(paper), rel="alternate", type="text/html")
        _sub(entry, "link", href=paper.pdf_url, rel="related", type="application/pdf", title="pdf")
        updated = last_update(paper)  # Atom requires one: an undated paper gets the epoch
        _sub(entry, "updated", _stamp(updated if updated.year > 1 else datetime(1970, 1, 1, tzinfo=UTC)))
        if paper.published is not None:
            _sub(entry, "published", _stamp(paper.published))
        for name in paper.authors:
            _sub(_sub(entry, "author"), "name", name)
        _sub(entry, "summary", " ".join(paper.abstract.split()), type="text")
        if paper.comment:
            _sub(entry, "content", " ".join(paper.comment.split()), type="text")
        for category in paper.categories:
            _sub(entry, "category", term=category, scheme=ARXIV_SCHEME)
        for query in queries.get(paper.arxiv_id, []):
            _sub(entry, "category", term=query, scheme=QUERY_SCHEME, label=query)
    ET.indent(feed, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


# -- JSON and CSV -------------------------------------------------------------------------------


def paper_record(paper: Paper) -> dict[str, Any]:
    """A paper as JSON: everything paperbot knows about it, dates in ISO 8601."""
    return {
        "arxiv_id": paper.arxiv_id,
        "version": paper.version,
        "date": paper_date(paper),
        "title": " ".join(paper.title.split()),
        "authors": list(paper.authors),
        "abstract": " ".join(paper.abstract.split()),
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "categories": list(paper.categories),
        "published": paper.published.isoformat() if paper.published else None,
        "updated": paper.updated.isoformat() if paper.updated else None,
        "url": versioned_url(paper),
        "pdf_url": paper.pdf_url,
    }


def as_json(export: Export) -> str:
    data = {
        "title": export.title,
        "updated": export.updated.isoformat(),
        "sections": [
            {"query": s.query, "papers": [paper_record(p) for p in s.papers]} for s in export.sections
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = (
    "query", "arxiv_id", "version", "date", "title", "authors", "categories", "comment",
    "journal_ref", "doi", "url", "abstract",
)  # fmt: skip


def as_csv(export: Export) -> str:
    """One row per (query, paper), RFC 4180 (CRLF line ends, quotes where needed)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for section in export.sections:
        for p in section.papers:
            record = paper_record(p)
            writer.writerow(
                [
                    section.query,
                    p.arxiv_id,
                    p.version,
                    record["date"],
                    record["title"],
                    "; ".join(p.authors),
                    " ".join(p.categories),
                    " ".join((p.comment or "").split()),
                    p.journal_ref or "",
                    p.doi or "",
                    record["url"],
                    record["abstract"],
                ]
            )
    return out.getvalue()


def render(export: Export, fmt: str, limit: int) -> str:
    """The export in `fmt` (one of FORMATS)."""
    if fmt == "markdown":
        return markdown(export, limit)
    if fmt == "atom":
        return atom(export)
    if fmt == "json":
        return as_json(export)
    if fmt == "csv":
        return as_csv(export)
    if fmt == "bibtex":
        from bot.export import bibtex  # scikit-learn's stop words: not for every `paperbot` command to load

        return bibtex.bibliography(export.papers())
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def newest_date(papers: Iterable[Paper]) -> date | None:
    """The day of the newest last update among `papers`: the "Last update" line when none is given."""
    dates = [last_update(p) for p in papers]
    newest = max((d for d in dates if d.year > 1), default=None)
    return newest.date() if newest else None
