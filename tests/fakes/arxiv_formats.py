"""What the fake arXiv speaks: the API's query language (as much as paperbot uses) and the Atom
and RSS documents arXiv's API and announcement feeds send, built from papers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from datetime import time as dtime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from bot.models import Paper

ET = ZoneInfo("America/New_York")


# -- the API's query language, as much as paperbot uses ------------------------------------------

_TOKEN = re.compile(
    r'\s*(\(|\)|ANDNOT\b|AND\b|OR\b|\w+:\[[^\]]*\]|\w+:"[^"]*"|\w+:[^\s()]+|"[^"]*"|[^\s()]+)'
)


def tokens(query: str) -> list[str]:
    return [m.group(1) for m in _TOKEN.finditer(query)]


def _term_matches(term: str, p: Paper) -> bool:
    fld, _, value = term.partition(":") if ":" in term else ("all", "", term)
    value = value.strip('"').lower()
    if fld == "cat":
        if value.endswith(".*"):
            return any(c.lower().startswith(value[:-1]) for c in p.categories)
        return any(c.lower() == value for c in p.categories)
    if fld.lower() == "submitteddate":
        lo, _, hi = value.strip("[]").partition(" to ")
        stamp = (p.published or datetime.min.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y%m%d%H%M")
        return lo <= stamp <= hi
    if fld == "id":
        return p.arxiv_id == value
    texts = {
        "ti": p.title,
        "abs": p.abstract,
        "au": " ".join(p.authors),
        "all": f"{p.title} {p.abstract} {' '.join(p.authors)}",
    }.get(fld, "")
    # arXiv's search tokenises: punctuation and hyphens separate words, as spaces do.
    return _words(value) in _words(texts)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def evaluate(tokens: list[str], p: Paper) -> bool:
    pos = 0

    def expr() -> bool:
        nonlocal pos
        value = atom()
        while pos < len(tokens) and tokens[pos] in ("AND", "OR", "ANDNOT"):
            op = tokens[pos]
            pos += 1
            right = atom()
            value = value and right if op == "AND" else value or right if op == "OR" else value and not right
        return value

    def atom() -> bool:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = expr()
            pos += 1  # ")"
            return value
        return _term_matches(tok, p)

    return expr() if tokens else False


# -- rendering -----------------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str:
    return (dt or datetime(2025, 1, 1, tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_entry(p: Paper) -> str:
    """One API `<entry>` as export.arxiv.org writes it."""
    vid = f"{p.arxiv_id}v{p.version}"
    parts = [
        "<entry>",
        f"<id>http://arxiv.org/abs/{vid}</id>",
        f"<updated>{_iso(p.updated)}</updated>",
        f"<published>{_iso(p.published)}</published>",
        f"<title>{escape(p.title)}</title>",
        f"<summary>  {escape(p.abstract)}\n</summary>",
        *(f"<author><name>{escape(a)}</name></author>" for a in p.authors),
    ]
    if p.doi:
        parts.append(f'<arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{escape(p.doi)}</arxiv:doi>')
        parts.append(f'<link title="doi" href="http://dx.doi.org/{escape(p.doi)}" rel="related"/>')
    if p.comment:
        parts.append(
            f'<arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">{escape(p.comment)}</arxiv:comment>'
        )
    if p.journal_ref:
        parts.append(
            '<arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"{escape(p.journal_ref)}</arxiv:journal_ref>"
        )
    parts += [
        f'<link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>',
        f'<link title="pdf" href="http://arxiv.org/pdf/{vid}" rel="related" type="application/pdf"/>',
        f'<arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{p.primary_category}"'
        ' scheme="http://arxiv.org/schemas/atom"/>',
        *(f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories),
        "</entry>",
    ]
    return "\n".join(parts)


def api_page(entries: Iterable[Paper], total: int, start: int, per_page: int, query: str) -> bytes:
    """An API response page with the opensearch header."""
    body = "\n".join(api_entry(p) for p in entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<link href={quoteattr('http://arxiv.org/api/query?' + query)}"
        ' rel="self" type="application/atom+xml"/>\n'
        f'<title type="html">ArXiv Query: {escape(query)}</title>\n'
        "<id>http://arxiv.org/api/fake</id>\n<updated>2025-10-15T00:00:00-04:00</updated>\n"
        '<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        f"{total}</opensearch:totalResults>\n"
        '<opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        f"{start}</opensearch:startIndex>\n"
        '<opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
        f"{per_page}</opensearch:itemsPerPage>\n{body}\n</feed>\n"
    ).encode()


def api_error(message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        '<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1'
        "</opensearch:totalResults>\n<entry><id>http://arxiv.org/api/errors#"
        f"{escape(message.replace(' ', '_'))}</id><title>Error</title><summary>{escape(message)}</summary>"
        "<updated>2025-10-15T00:00:00-04:00</updated></entry>\n</feed>\n"
    ).encode()


def _summary(p: Paper) -> str:
    return (
        f"arXiv:{p.arxiv_id}v{p.version} Announce Type: {p.announce_type or 'new'} \nAbstract: {p.abstract}"
    )


def atom_feed(cats: str, items: list[Paper], day: date | None) -> bytes:
    """An announcement feed as rss.arxiv.org/atom/<cats> writes it."""
    stamp = datetime.combine(day or date(2025, 10, 15), dtime(0, 30), ET)
    entries = []
    for p in items:
        published = datetime.combine(day or date(2025, 10, 15), dtime(0, 0), ET).isoformat()
        extra = ""
        if p.doi:
            extra += f"<arxiv:DOI>{escape(p.doi)}</arxiv:DOI>"
        if p.journal_ref:
            extra += f"<arxiv:journal_reference>{escape(p.journal_ref)}</arxiv:journal_reference>"
        entries.append(
            "<entry>"
            f"<id>oai:arXiv.org:{p.arxiv_id}v{p.version}</id>"
            f"<title>{escape(p.title)}</title><updated>{published}</updated>"
            f'<link href="https://arxiv.org/abs/{p.arxiv_id}" rel="alternate" type="text/html"/>'
            f"<summary>{escape(_summary(p))}</summary>"
            + "".join(f"<category term={quoteattr(c)}/>" for c in p.categories)
            + f"<published>{published}</published>"
            f"<arxiv:announce_type>{p.announce_type or 'new'}</arxiv:announce_type>"
            "<dc:rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</dc:rights>"
            f"<dc:creator>{escape(', '.join(p.authors))}</dc:creator>{extra}"
            "</entry>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="en-us">'
        f"<id>http://rss.arxiv.org/atom/{escape(cats)}</id>"
        f"<title>{escape(cats)} updates on arXiv.org</title>"
        f"<updated>{stamp.isoformat(timespec='microseconds')}</updated>"
        f'<link href="http://rss.arxiv.org/atom/{escape(cats)}" rel="self" type="application/atom+xml"/>'
        f"<subtitle>{escape(cats)} updates on the arXiv.org e-print archive.</subtitle>"
        + "".join(entries)
        + "</feed>\n"
    ).encode()


def rss_feed(cats: str, items: list[Paper], day: date | None) -> bytes:
    """An announcement feed as rss.arxiv.org/rss/<cats> writes it."""
    when = format_datetime(datetime.combine(day or date(2025, 10, 15), dtime(0, 0), ET))
    out = []
    for p in items:
        out.append(
            f"<item><title>{escape(p.title)}</title><link>https://arxiv.org/abs/{p.arxiv_id}</link>"
            f"<description>{escape(_summary(p))}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{p.arxiv_id}v{p.version}</guid>'
            + "".join(f"<category>{escape(c)}</category>" for c in p.categories)
            + f"<pubDate>{when}</pubDate>"
            f"<arxiv:announce_type>{p.announce_type or 'new'}</arxiv:announce_type>"
            "<dc:rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</dc:rights>"
            f"<dc:creator>{escape(', '.join(p.authors))}</dc:creator></item>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom" version="2.0"><channel>'
        f"<title>{escape(cats)} updates on arXiv.org</title><link>http://rss.arxiv.org/rss/{escape(cats)}</link>"
        f"<description>{escape(cats)} updates on the arXiv.org e-print archive.</description>"
        f"<language>en-us</language><lastBuildDate>{when}</lastBuildDate>"
        f"<managingEditor>rss-help@arxiv.org</managingEditor><pubDate>{when}</pubDate>"
        "<skipDays><day>Saturday</day><day>Sunday</day></skipDays>" + "".join(out) + "</channel></rss>\n"
    ).encode()


def in_categories(p: Paper, cats: list[str]) -> bool:
    return any(c == want or c.split(".", 1)[0] == want for c in p.categories for want in cats)
