"""/abstract, /papers, DMs and the /track preview: the real App, store and arxiv library, a fake arXiv."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from bot.app import App
from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.lookups import INTERACTIVE_RETRIES
from bot.commands.lookups import DM_HELP
from bot.config import ArxivConfig, Config
from bot.errors import ARXIV_DOWN_REPLY
from bot.models import DirectMessage, Paper
from tests.conftest import ALICE, command
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_sample
from tests.fakes.recording import RecordingAdapter

PAPERS = load_sample()
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)
OLD_STYLE = Paper(
    arxiv_id="hep-th/9901001",
    version=2,
    title="An Old-Style Paper on Strings",
    abstract="We revisit strings.",
    authors=("E. Witten",),
    categories=("hep-th",),
    published=datetime(1999, 1, 4, tzinfo=UTC),
)


@pytest.fixture
async def app(config: Config, arxiv_config: ArxivConfig, arxiv_server: FakeArxiv) -> AsyncIterator[App]:
    arxiv_server.add_papers([OLD_STYLE])
    async with App(replace(config, arxiv=arxiv_config), [RecordingAdapter()], clock=lambda: NOW) as app:
        yield app


async def dm(app: App, text: str) -> str:
    reply = await app.direct_message(DirectMessage(ALICE, text))
    return "\n".join([reply.text, *(c.body for c in reply.cards)])


@pytest.mark.parametrize(
    "text",
    [
        "2510.12283",
        "2510.12283v1",
        "arXiv:2510.12283",
        "https://arxiv.org/abs/2510.12283",
        "arxiv.org/pdf/2510.12283v1",
    ],
)
async def test_a_dmed_id_or_link_gets_the_abstract(app: App, text: str) -> None:
    reply = await app.direct_message(DirectMessage(ALICE, text))
    [card] = reply.cards
    assert card.title == PAPERS[0].title
    assert card.body == PAPERS[0].abstract
    assert [link.url for link in card.links][:2] == [
        "https://arxiv.org/abs/2510.12283",
        "https://arxiv.org/pdf/2510.12283",
    ]


@pytest.mark.parametrize(
    "text", ["hep-th/9901001", "hep-th/9901001v2", "https://arxiv.org/abs/hep-th/9901001"]
)
async def test_old_style_ids_work_with_or_without_version(app: App, text: str) -> None:
    assert "We revisit strings." in await dm(app, text)


async def test_a_dmed_title_gets_the_abstract(app: App) -> None:
    title = PAPERS[1].title.upper() + "!"  # case and punctuation aside
    reply = await app.direct_message(DirectMessage(ALICE, title))
    assert [c.title for c in reply.cards] == [PAPERS[1].title]


@pytest.mark.parametrize(
    "text", ["", "hi", "what is this?", "x" * 5000, "\x00\x01", "'); DROP TABLE papers;--"]
)
async def test_anything_else_gets_help(app: App, text: str) -> None:
    answer = await dm(app, text)
    assert answer in (DM_HELP, "That text contains control characters; please type plain text.")


async def test_unknown_and_malformed_ids_are_answered(app: App, arxiv_server: FakeArxiv) -> None:
    assert "arXiv has no paper 2401.99999" in await dm(app, "2401.99999")
    assert await app.direct_message(DirectMessage(ALICE, "2401.99999")) is not None


async def test_abstract_command(app: App) -> None:
    reply = await app.command(command("/abstract https://arxiv.org/abs/2510.10180v1"))
    assert reply.cards[0].title == PAPERS[1].title
    assert (await app.command(command("/abstract"))).text.startswith("Usage: /abstract")
    assert "not an arXiv id" in (await app.command(command("/abstract 2401.999"))).text


async def test_arxiv_down_gets_a_clear_answer(app: App, arxiv_server: FakeArxiv) -> None:
    arxiv_server.script(*[Fault.http(503)] * 10)
    assert await dm(app, "2510.07720") == ARXIV_DOWN_REPLY
    assert (await app.command(command("/abstract 2510.07720"))).text == ARXIV_DOWN_REPLY
    assert app.reporter.count == 0  # arXiv being down is not a bug to report
    # Someone is waiting: one retry per lookup, not the harvest's full series.
    assert app.config.arxiv.max_retries > INTERACTIVE_RETRIES
    assert len(arxiv_server.requests) == 2 * (INTERACTIVE_RETRIES + 1)


async def test_papers_reads_the_store_first_then_asks_arxiv(app: App, arxiv_server: FakeArxiv) -> None:
    local = [replace(p, announced=date(2025, 10, 15), announce_type="new") for p in PAPERS[:3]]
    await app.store.papers.upsert_many(local, NOW)
    arxiv_server.reset_requests()
    reply = await app.command(command("/papers video retrieval 3"))
    assert len(reply.cards) == 3 and arxiv_server.requests == []  # enough locally
    reply = await app.command(command("/papers video retrieval 12"))
    assert len(reply.cards) == 12 and len(arxiv_server.requests) >= 1
    assert reply.text == 'The latest 12 papers for "video retrieval":'
    [request] = arxiv_server.requests
    assert 'ti:"video retrieval"' in request.query.get("search_query", "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", "Usage: /papers"),
        ("video retrieval 0", "between 1 and 100"),
        ("video retrieval 101", "between 1 and 100"),
        ("video retrieval -3", "(got -3)"),
        ("video retrieval " + "9" * 5000, "between 1 and 100"),
        ('"unbalanced', "unbalanced quote"),
        ("x" * 600, "the limit is 500"),
    ],
)
async def test_papers_bad_input(app: App, args: str, expected: str) -> None:
    assert expected in (await app.command(command("/papers " + args))).text


async def test_papers_when_arxiv_is_down_says_so_and_shows_what_it_has(
    app: App, arxiv_server: FakeArxiv
) -> None:
    await app.store.papers.upsert_many([replace(PAPERS[0], announced=date(2025, 10, 15))], NOW)
    arxiv_server.script(*[Fault.http(503)] * 10)
    reply = await app.command(command("/papers video retrieval 5"))
    assert "arXiv did not answer" in reply.text and len(reply.cards) == 1


async def test_papers_lists_new_versions_by_last_update_as_dailyarxiv_does(
    app: App, arxiv_server: FakeArxiv
) -> None:
    """Tuesday's harvest brings three new papers; Thursday's a v3 of one and a v2 of a paper never seen."""
    tuesday, thursday = date(2025, 10, 14), date(2025, 10, 16)
    arxiv_server.announce(PAPERS[:3], tuesday, announce_type="new")
    await app.harvester.harvest(datetime.combine(tuesday, time(0, 30), ARXIV_TZ), needed=[None], force=True)
    replaced = [replace(PAPERS[0], version=3), replace(PAPERS[5], version=2)]
    arxiv_server.announce(replaced, thursday, announce_type="replace")
    await app.harvester.harvest(datetime.combine(thursday, time(0, 30), ARXIV_TZ), needed=[None], force=True)
    arxiv_server.reset_requests()

    reply = await app.command(command("/papers video retrieval 4"))
    assert arxiv_server.requests == []  # all four from the store
    # Newest last update first: Thursday's versions (the higher id first), then Tuesday's papers.
    assert [c.paper_id for c in reply.cards] == ["2510.12283", "2208.12510", "2510.10180", "2510.00566"]
    assert "v3, updated 16 Oct 2025" in reply.cards[0].meta
    assert "v2, updated 16 Oct 2025" in reply.cards[1].meta
    assert "v1, 14 Oct 2025" in reply.cards[2].meta
    # The preview counts the new versions too (the digest still posts only new papers).
    preview = await app.command(command("/track video retrieval"))
    assert "it would have matched 4 of 4 papers:" in preview.text


async def test_papers_shows_up_to_a_hundred(app: App, arxiv_server: FakeArxiv) -> None:
    many = [
        replace(PAPERS[i % len(PAPERS)], arxiv_id=f"2510.{i:05d}", announced=date(2025, 10, 15))
        for i in range(120)
    ]
    await app.store.papers.upsert_many(many, NOW)
    reply = await app.command(command("/papers cat:cs.CV 100"))
    assert len(reply.cards) == 100 and reply.text == 'The latest 100 papers for "cat:cs.CV":'
    assert arxiv_server.requests == []


async def test_track_previews_the_last_seven_days(app: App) -> None:
    recent = [replace(p, announced=date(2025, 10, 17), announce_type="new") for p in PAPERS[:5]]
    await app.store.papers.upsert_many(recent, NOW)
    reply = await app.command(command("/track Video  Retrieval"))
    assert reply.text.startswith(
        'Now tracking "video retrieval" in this channel: '
        'title or abstract contains the phrase "video retrieval".'
    )
    assert "In the last 7 days it would have matched 5 of 5 papers:" in reply.text
    assert reply.text.count("\n• ") == 3
    nothing = await app.command(command("/track cat:hep-th"))
    assert "would have matched none of 5 papers" in nothing.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("((((((((((((a))))))))))))", "nested"),
        ("xx:video", "unknown field"),
        ("video OR", "OR at column"),
        ("-", "lone -"),
        ('"video retrieval', "unbalanced quote"),
        ("the of and", "only common words"),
        ("!!! ???", "no letters or digits"),
    ],
)
async def test_track_bad_queries_get_a_clear_line(app: App, query: str, expected: str) -> None:
    reply = await app.command(command("/track " + query))
    assert expected in reply.text and "\n" not in reply.text
    assert await app.store.subscriptions.all() == []
