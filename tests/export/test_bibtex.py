"""BibTeX as arXiv's "Export BibTeX Citation" gives it, and /bibtex."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.app import App
from bot.config import ArxivConfig, Config
from bot.errors import ARXIV_DOWN_REPLY
from bot.export import bibtex
from bot.models import Paper
from bot.plaintext import reply_text
from tests.conftest import command
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_sample
from tests.fakes.recording import RecordingAdapter

ATTENTION = Paper(
    arxiv_id="1706.03762",
    version=7,
    title="Attention Is All\n  You Need",
    abstract="The dominant sequence transduction models ...",
    authors=(
        "Ashish Vaswani",
        "Noam Shazeer",
        "Niki Parmar",
        "Jakob Uszkoreit",
        "Llion Jones",
        "Aidan N. Gomez",
        "Lukasz Kaiser",
        "Illia Polosukhin",
    ),
    categories=("cs.CL", "cs.LG"),
    published=datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC),
    updated=datetime(2023, 8, 2, 0, 41, 18, tzinfo=UTC),
)

# What arXiv's abstract page gives for it ("Export BibTeX Citation"), byte for byte: the year is
# the latest version's, the key the surname, year and first four title words that are not stop words.
ARXIVS_OWN = """\
@misc{vaswani2023attentionneed,
      title={Attention Is All You Need}, 
      author={Ashish Vaswani and Noam Shazeer and Niki Parmar and Jakob Uszkoreit and Llion Jones and Aidan N. Gomez and Lukasz Kaiser and Illia Polosukhin},
      year={2023},
      eprint={1706.03762},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/1706.03762}, 
}"""  # noqa: E501, W291 - arXiv's line, and its space after the title's and the url's commas


def test_the_entry_is_arxivs_own() -> None:
    assert bibtex.entry(ATTENTION) == ARXIVS_OWN


@pytest.mark.parametrize(
    ("title", "author", "key"),
    [
        ("An Image is Worth 16x16 Words", "Alexey Dosovitskiy", "dosovitskiy2023imageworth16x16words"),
        ("TCMA: Text-Conditioned Multi-scale", "Jo Rossi", "rossi2023tcmatextconditionedmultiscale"),
        ("On the Müller Method", "Mei Müller", "müller2023müllermethod"),
        ("I Know What You Did", "Ludwig van Beethoven Jr.", "vanbeethoven2023iknowdid"),
        ("The", "", "unknown2023unknown"),
    ],
)  # fmt: skip
def test_keys_follow_arxivs_rule(title: str, author: str, key: str) -> None:
    paper = replace(ATTENTION, title=title, authors=(author,) if author else ())
    assert bibtex.key(paper) == key


def test_doi_and_journal_when_known_and_braces_that_would_break_the_entry() -> None:
    paper = replace(
        ATTENTION,
        title="Sets $\\{x\\}$ and {\\em emphasis} with a stray } brace",
        doi="10.1109/TPAMI.2025.3500003",
        journal_ref="IEEE TPAMI 47\n (2025)",
    )
    entry = bibtex.entry(paper)
    assert "      doi={10.1109/TPAMI.2025.3500003},\n      journal={IEEE TPAMI 47 (2025)},\n" in entry
    assert "title={Sets $\\{x\\}$ and \\{\\em emphasis\\} with a stray \\} brace}" in entry
    balanced = bibtex.entry(replace(ATTENTION, title="The $\\mathcal{O}(n)$ {Transformer}"))
    assert "title={The $\\mathcal{O}(n)$ {Transformer}}" in balanced


def test_a_collaborations_entry_fits_a_chat_message_and_says_others() -> None:
    huge = replace(ATTENTION, authors=tuple(f"Author Number{i}" for i in range(3000)))
    reply = bibtex.bibtex_reply(huge)
    assert len(reply.code) < 2000 and " and Author Number9 and others}," in reply.code
    assert bibtex.entry(huge).count(" and ") == 2999  # an export keeps them all


def test_a_bibliography_has_unique_keys() -> None:
    twin = replace(ATTENTION, arxiv_id="1706.03763")
    bib = bibtex.bibliography([ATTENTION, twin, ATTENTION])
    assert bib.count("@misc{") == 2
    assert "@misc{vaswani2023attentionneed," in bib and "@misc{vaswani2023attentionneedb," in bib


@pytest.fixture
async def app(config: Config, arxiv_config: ArxivConfig, arxiv_server: FakeArxiv) -> AsyncIterator[App]:
    async with App(replace(config, arxiv=arxiv_config), [RecordingAdapter()]) as app:
        yield app


async def test_bibtex_command_looks_the_paper_up(app: App, arxiv_server: FakeArxiv) -> None:
    sample = load_sample()[3]  # with a DOI and a journal ref
    reply = await app.command(command("/bibtex https://arxiv.org/abs/2502.15130v2"))
    assert reply.text == f"BibTeX for {sample.title} (2502.15130):"
    assert reply.code.startswith("@misc{garcía2025") and "      primaryClass={cs.CV},\n" in reply.code
    assert "      doi={10.1109/TPAMI.2025.3500003},\n" in reply.code
    assert reply_text(reply).endswith(reply.code)  # the console prints it as is
    assert len(arxiv_server.requests) == 1
    again = await app.command(command("/bibtex 2502.15130"))
    assert again.code == reply.code and len(arxiv_server.requests) == 1  # stored since


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", "Usage: /bibtex <arXiv id or link>"),
        ("hello there", "is not an arXiv id or link"),
        ("2512.99999", "arXiv has no paper 2512.99999."),
    ],
)
async def test_bibtex_bad_input(app: App, args: str, expected: str) -> None:
    reply = await app.command(command(f"/bibtex {args}"))
    assert expected in reply.text and not reply.code


async def test_bibtex_when_arxiv_is_down(app: App, arxiv_server: FakeArxiv) -> None:
    arxiv_server.script(*[Fault.http(503)] * 10)
    assert (await app.command(command("/bibtex 2510.12283"))).text == ARXIV_DOWN_REPLY
