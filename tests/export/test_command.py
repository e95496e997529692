"""`paperbot export`: DailyArXiv's README from the store, and the same list as Atom, JSON, CSV, BibTeX.

The golden check: the 100 papers DailyArXiv listed for "Video Retrieval", stored, exported with
`paperbot export --query "video retrieval"`, give DailyArXiv's table: the same papers in the same
order, with the same dates, titles, abstracts and comments (tests/fakes/dailyarxiv.py), and the
file is byte for byte tests/data/export_video_retrieval.md.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import feedparser
import pytest

from bot.cli import main
from bot.export.command import find_channel
from bot.export.formats import cell
from bot.models import ChannelRef, Paper, Platform
from storage import Store
from storage.process_lock import ProcessLock
from tests.fakes.arxiv_server import FakeArxiv, load_sample
from tests.fakes.dailyarxiv import dailyarxiv_rows, records, source_papers
from tests.fakes.operator import paperbot

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "export_video_retrieval.md"
NOW = datetime(2025, 10, 15, 6, 0, tzinfo=UTC)
ML = ChannelRef(Platform.SLACK, "T024BE7LD", "C024BE91L", "ml-papers")
VISION = ChannelRef(Platform.DISCORD, "81384788765712384", "103735883630395392", "vision")


async def stored(
    path: Path, papers: Iterable[Paper], subscriptions: Iterable[tuple[ChannelRef, str]] = ()
) -> None:
    store = await Store.open(path)
    try:
        await store.papers.upsert_many(list(papers), NOW)
        for channel, query in subscriptions:
            await store.subscriptions.add(channel, query.casefold(), query, "U1", NOW)
    finally:
        await store.close()


@pytest.fixture(autouse=True)
def own_logging() -> Iterator[None]:
    """main() sets up logging to the stderr of its test (another test's main() may have left one)."""
    root = logging.getLogger()
    handlers, level = [h for h in root.handlers if h.get_name() != "paperbot"], root.level
    root.handlers[:] = handlers
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "paperbot.db"
    monkeypatch.setenv("PAPERBOT_DATABASE", str(path))
    monkeypatch.delenv("PAPERBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./config.toml of the developer's
    return path


def export(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


_ROW = re.compile(
    r"^\| \*\*\[(?P<title>.*)\]\((?P<url>[^)]*)\)\*\* \| (?P<date>[0-9-]*) \| "
    r"<details><summary>Show</summary><p>(?P<abstract>.*)</p></details> \| (?P<comment>.*) \|$"
)


def unescaped(text: str) -> str:
    """A cell as a reader sees it: the table's and HTML's escapes undone."""
    text = re.sub(r"\\([|\[\]])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def table(markdown: str) -> list[dict[str, str]]:
    return [m.groupdict() for line in markdown.splitlines() if (m := _ROW.match(line))]


def test_export_reproduces_dailyarxivs_video_retrieval_table(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(stored(database, source_papers()))
    out = database.parent / "README.md"
    code, _, err = export("--query", "video retrieval", "--output", str(out), capsys=capsys)
    assert code == 0, err
    written = out.read_text(encoding="utf-8")

    rows = table(written)
    expected = dailyarxiv_rows()
    assert len(rows) == len(expected) == 100
    for row, (title, day, abstract, comment), record in zip(rows, expected, records(), strict=True):
        assert (unescaped(row["title"]), row["date"]) == (title, day)
        assert row["url"] == f"https://arxiv.org/abs/{record['arxiv_id']}v{record['version']}"
        assert unescaped(row["abstract"]) == abstract
        assert unescaped(row["comment"]) == comment
    assert "Last update: 2025-10-14" in written  # the newest paper's day, not the clock
    assert written.startswith("# Daily Papers\n")
    head = "| **Title** | **Date** | **Abstract** | **Comment** |\n| --- | --- | --- | --- |\n"
    assert "\n## video retrieval\n" + head in written
    # The whole file, byte for byte: a scheduled job that commits it sees no change without new papers.
    assert written == GOLDEN.read_text(encoding="utf-8")


def test_the_same_data_gives_the_same_bytes_and_date_sets_the_update_line(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(stored(database, source_papers()[:20]))
    first = export("--query", "video retrieval", capsys=capsys)
    second = export("--query", "Video  Retrieval", capsys=capsys)
    assert first[0] == second[0] == 0
    assert first[1].replace("## video retrieval", "") == second[1].replace("## Video Retrieval", "")
    dated = export("--query", "video retrieval", "--date", "2025-12-01", "--max", "5", capsys=capsys)[1]
    assert "Last update: 2025-12-01" in dated and len(table(dated)) == 5


def test_titles_and_abstracts_are_escaped_for_tables_and_latex_stays_readable(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = Paper(
        "2510.00001",
        2,
        "Video | Retrieval <script>alert(1)</script> [draft",
        "We bound $|x|$ by $\\mathcal{O}(n^2)$ & keep &lt;tags&gt; as text; a\nnew | line.",
        ("Zoë Ünal",),
        ("cs.CV",),
        comment="| 12 pages <b>",
        updated=datetime(2025, 10, 1, 9, tzinfo=UTC),
    )
    asyncio.run(stored(database, [hostile]))
    code, out, _ = export("--query", "video retrieval", capsys=capsys)
    assert code == 0
    [row] = table(out)
    assert row["title"] == "Video \\| Retrieval &lt;script&gt;alert(1)&lt;/script&gt; \\[draft"
    assert row["abstract"] == (
        "We bound $\\|x\\|$ by $\\mathcal{O}(n^2)$ & keep &amp;lt;tags&amp;gt; as text; a new \\| line."
    )
    assert row["comment"] == "\\| 12 pages &lt;b&gt;"
    assert "<script>" not in out and "\n| new" not in out
    assert cell("a|b") == "a\\|b"


def test_atom_is_a_feed_any_reader_takes(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    papers = [*source_papers()[:10], replace(load_sample()[16], updated=datetime(2025, 10, 20, tzinfo=UTC))]
    asyncio.run(stored(database, papers))
    code, out, _ = export(
        "--query", "video retrieval", "--query", "cat:cs.IR", "--format", "atom", capsys=capsys
    )
    assert code == 0
    feed = feedparser.parse(out)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Daily Papers"
    assert len(feed.entries) == 11  # each paper once, whichever queries found it
    first = feed.entries[0]
    assert first.link == "https://arxiv.org/abs/2504.19637v2"  # the newest last update first
    assert {t.term for t in first.tags} >= {"cs.CV", "cs.IR", "cat:cs.IR", "video retrieval"}
    assert first.updated_parsed[:3] == (2025, 10, 20)
    assert [e.title for e in feed.entries[1:]] == [
        " ".join(p.title.split()) for p in papers[:10] if p.arxiv_id != "2504.19637"
    ]
    assert (
        export("--query", "video retrieval", "--format", "atom", capsys=capsys)[1]
        == export("--query", "video retrieval", "--format", "atom", capsys=capsys)[1]
    )


def test_json_csv_and_bibtex(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = load_sample()
    asyncio.run(stored(database, sample))
    data = json.loads(export("--query", "video retrieval", "--format", "json", capsys=capsys)[1])
    [section] = data["sections"]
    assert section["query"] == "video retrieval" and len(section["papers"]) == len(sample)
    assert section["papers"][0] == {
        "arxiv_id": "2510.12283",
        "version": 1,
        "date": "2025-10-14",
        "title": sample[0].title,
        "authors": ["Anna Chen", "Sofia Zhang", "Yuki Ivanova"],
        "abstract": " ".join(sample[0].abstract.split()),
        "comment": None,
        "journal_ref": None,
        "doi": None,
        "categories": ["cs.CV", "cs.LG"],
        "published": "2025-10-14T17:59:00+00:00",
        "updated": "2025-10-14T17:59:00+00:00",
        "url": "https://arxiv.org/abs/2510.12283v1",
        "pdf_url": "https://arxiv.org/pdf/2510.12283",
    }
    rows = list(
        csv.DictReader(io.StringIO(export("--query", "video retrieval", "--format", "csv", capsys=capsys)[1]))
    )
    by_id = {r["arxiv_id"]: r for r in rows}
    assert len(rows) == len(sample) and by_id["2502.15130"]["doi"] == "10.1109/TPAMI.2025.3500003"
    assert by_id["2510.12283"]["authors"] == "Anna Chen; Sofia Zhang; Yuki Ivanova"
    bib = export("--query", "video retrieval", "--format", "bibtex", capsys=capsys)[1]
    keys = re.findall(r"^@misc\{([^,]+),$", bib, re.MULTILINE)
    assert len(keys) == len(sample) == len(set(keys))
    assert "      doi={10.1109/TPAMI.2025.3500003},\n      journal={IEEE TPAMI 47 (2025)},\n" in bib


def test_a_channel_is_named_as_an_operator_types_it(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(
        stored(
            database,
            source_papers(),
            [(ML, "Video Retrieval"), (ML, "cat:cs.IR AND moment"), (VISION, "video retrieval")],
        )
    )
    for name in ("slack:T024BE7LD/C024BE91L", "slack:T024BE7LD/#ml-papers", "#ml-papers", "C024BE91L"):
        code, out, err = export("--channel", name, capsys=capsys)
        assert code == 0, err
        assert out.startswith("# Daily Papers: #ml-papers\n")
        assert [h for h in out.splitlines() if h.startswith("## ")] == [
            "## Video Retrieval",
            "## cat:cs.IR AND moment",
        ]
    # Two channels tracking one query: one section.
    both = export("--channel", "#ml-papers", "--channel", "vision", capsys=capsys)[1]
    assert both.count("\n## ") == 2
    code, _, err = export("--channel", "#nope", capsys=capsys)
    assert code == 2 and "no channel '#nope'" in err and "slack:T024BE7LD/C024BE91L/#ml-papers" in err


def test_find_channel_refuses_an_ambiguous_name() -> None:
    twin = replace(VISION, name="ml-papers")
    with pytest.raises(Exception, match="names 2 channels"):
        find_channel("#ml-papers", [ML, twin])
    assert find_channel("discord:81384788765712384/#ML-Papers", [ML, twin]) == twin


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "say what to export"),
        (("--query", '"video retrieval'), "unbalanced quote"),
        (("--query", "  "), "--query needs a query"),
        (("--query", "x" * 600), "the limit is 500"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(
    database: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    asyncio.run(stored(database, []))
    code, out, err = export(*args, capsys=capsys)
    assert code == 2 and out == "" and expected in err and err.count("\n") == 1


def test_no_database_is_one_line_and_nothing_is_created(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = export("--query", "video retrieval", capsys=capsys)
    assert code == 2 and "no paperbot database here" in err
    assert not database.exists()


async def test_export_runs_beside_a_running_bot_and_writes_nothing(tmp_path: Path) -> None:
    """The bot holds its lock (and the database); export reads it anyway, changing nothing."""
    path = tmp_path / "paperbot.db"
    await stored(path, source_papers())
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    lock = await ProcessLock.acquire(path)
    store = await Store.open(path)  # the running bot's connection, WAL and all
    try:
        env = {"PAPERBOT_DATABASE": str(path), "PATH": "/usr/bin:/bin"}
        proc = await paperbot("export", "--query", "video retrieval", "--format", "json", env=env)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert len(json.loads(out)["sections"][0]["papers"]) == 100
        assert await store.papers.count() == 100
    finally:
        await store.close()
        lock.release()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_fetch_reads_arxiv_when_there_is_no_database(
    database: Path,
    capsys: pytest.CaptureFixture[str],
    arxiv_server: FakeArxiv,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAPERBOT_ARXIV__API_URL", arxiv_server.api_url)
    monkeypatch.setenv("PAPERBOT_ARXIV__FEED_URL", arxiv_server.feed_url)
    monkeypatch.setenv("PAPERBOT_ARXIV__MIN_INTERVAL_S", "0.05")
    code, out, err = export("--query", "video retrieval", "--fetch", "--max", "5", capsys=capsys)
    assert code == 0, err
    assert [r["date"] for r in table(out)] == [
        "2025-10-14",
        "2025-10-11",
        "2025-10-09",
        "2025-10-09",
        "2025-10-09",
    ]
    assert len(arxiv_server.requests) == 1  # one search for the query, as DailyArXiv makes
    assert not database.exists()  # nothing stored anywhere
    arxiv_server.down()
    code, out, err = export("--query", "video retrieval", "--fetch", "-o", "README.md", capsys=capsys)
    assert code == 1 and "nothing written" in err and not Path("README.md").exists()


def test_an_export_on_a_day_with_no_papers_has_a_clear_section(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(stored(database, source_papers()[:3]))
    out = export(
        "--query",
        "video retrieval",
        "--query",
        "cat:hep-th",
        "--date",
        str(date(2025, 10, 15)),
        capsys=capsys,
    )[1]
    assert "## cat:hep-th\nNo matching papers yet.\n" in out


def test_a_like_topic_lists_the_papers_that_read_like_its_examples(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(stored(database, source_papers(), [(ML, "like:2510.12283")]))
    code, out, err = export("--channel", "#ml-papers", capsys=capsys)
    assert code == 0, err
    rows = table(out)
    assert "## like:2510.12283\n" in out and 0 < len(rows) < 100
    assert all("2510.12283v1" not in r["url"] for r in rows)  # not the example itself
    assert [r["date"] for r in rows] == sorted((r["date"] for r in rows), reverse=True)
