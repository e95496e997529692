"""Announcement feed parsing with the real feedparser, on documents in arXiv's formats."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bot.arxiv.feeds import MalformedFeed, merge, parse_feed
from tests.fakes.arxiv_formats import atom_feed, rss_feed
from tests.fakes.arxiv_server import load_sample

DAY = date(2025, 10, 15)
PAPERS = load_sample()


@pytest.mark.parametrize("render", [atom_feed, rss_feed])
def test_parses_every_field(render) -> None:  # type: ignore[no-untyped-def]
    doi_paper = next(p for p in PAPERS if p.doi)
    items = [
        replace(PAPERS[0], announce_type="new"),
        replace(PAPERS[1], version=3, announce_type="replace"),
        replace(PAPERS[2], announce_type="cross"),
        replace(doi_paper, announce_type="new"),
    ]
    feed = parse_feed(render("cs.CV+cs.IR", items, DAY))
    assert feed.announced == DAY
    assert feed.items == 4 and feed.skipped == 0
    got = {p.arxiv_id: p for p in feed.papers}
    first = got[PAPERS[0].arxiv_id]
    assert first.title == PAPERS[0].title
    assert first.abstract == PAPERS[0].abstract  # the "arXiv:... Announce Type" preamble is gone
    assert first.authors == PAPERS[0].authors
    assert first.categories == PAPERS[0].categories
    assert first.announce_type == "new" and first.announced == DAY and first.version == 1
    replaced = got[PAPERS[1].arxiv_id]
    assert replaced.version == 3 and replaced.announce_type == "replace"
    assert replaced.announced is None  # a replacement is not a new announcement
    assert got[PAPERS[2].arxiv_id].announce_type == "cross"
    if render is atom_feed:  # the RSS flavour carries no DOI/journal ref
        assert got[doi_paper.arxiv_id].doi == doi_paper.doi
        assert got[doi_paper.arxiv_id].journal_ref == doi_paper.journal_ref


def test_duplicates_collapse_keeping_new_over_cross() -> None:
    items = [replace(PAPERS[0], announce_type="cross"), replace(PAPERS[0], announce_type="new")]
    feed = parse_feed(atom_feed("cs", items, DAY))
    assert feed.items == 2
    assert [(p.arxiv_id, p.announce_type) for p in feed.papers] == [(PAPERS[0].arxiv_id, "new")]


def test_merge_across_feeds() -> None:
    a = parse_feed(atom_feed("cs", [replace(PAPERS[0], announce_type="new"), PAPERS[1]], DAY))
    b = parse_feed(atom_feed("math", [replace(PAPERS[0], announce_type="cross")], DAY))
    assert sorted(p.arxiv_id for p in merge([b, a])) == sorted([PAPERS[0].arxiv_id, PAPERS[1].arxiv_id])
    assert {p.arxiv_id: p.announce_type for p in merge([b, a])}[PAPERS[0].arxiv_id] == "new"


def test_malformed_entry_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    doc = atom_feed("cs", [PAPERS[0], PAPERS[1]], DAY).replace(
        f"<id>oai:arXiv.org:{PAPERS[1].arxiv_id}v1</id>".encode(), b"<id>oai:arXiv.org:garbage</id>"
    )
    doc = doc.replace(f"https://arxiv.org/abs/{PAPERS[1].arxiv_id}".encode(), b"https://example.org/x")
    feed = parse_feed(doc)
    assert [p.arxiv_id for p in feed.papers] == [PAPERS[0].arxiv_id]
    assert feed.skipped == 1 and feed.items == 2
    assert "skipping malformed feed entry" in caplog.text


def test_old_style_ids_in_feeds() -> None:
    old = replace(PAPERS[0], arxiv_id="hep-th/9901001", version=2, categories=("hep-th",))
    feed = parse_feed(rss_feed("hep-th", [old], DAY))
    assert [(p.arxiv_id, p.version) for p in feed.papers] == [("hep-th/9901001", 2)]


def test_empty_feed_is_not_an_error() -> None:
    for render in (atom_feed, rss_feed):
        feed = parse_feed(render("cs.CV", [], DAY))
        assert feed.empty and feed.papers == () and feed.announced == DAY


def test_malformed_xml_raises() -> None:
    doc = atom_feed("cs", PAPERS[:3], DAY)
    with pytest.raises(MalformedFeed):
        parse_feed(doc[: len(doc) // 2])  # a truncated feed must not pass for a short day


def test_html_page_raises() -> None:
    with pytest.raises(MalformedFeed):
        parse_feed(b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>")


def test_html_markup_in_rss_descriptions_is_text() -> None:
    p = replace(PAPERS[0], abstract="We show a < b and <i>c</i> & d.")
    feed = parse_feed(rss_feed("cs", [p], DAY))
    assert feed.papers[0].abstract == "We show a < b and c & d."
