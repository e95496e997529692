"""The full-text index answers exactly what a scan with the matcher answers, on real and hostile text."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.matching import search
from bot.matching.fulltext import search_text, to_fts
from bot.matching.paper import PreparedPaper, prepare
from bot.matching.query import Query, QueryError, parse
from bot.models import Paper
from storage import Store
from storage.migrations import LATEST_VERSION, MIGRATIONS
from tests.fakes.arxiv_server import load_sample

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)
AUTHORS = ("Anna Müller", "J. Smith", "Wei Zhang", "Sofia García-López", "Jörg Schröder", "O'Brien, P.")
CATEGORIES = ("cs.CV", "cs.IR", "cs.LG", "eess.IV", "hep-th", "math.AG", "astro-ph.CO", "cond-mat")


def shared_papers() -> list[Paper]:
    """The real records in tests/data (two topics and a sample), with varied authors, categories, dates."""
    rng = random.Random(7)
    papers: dict[str, Paper] = {p.arxiv_id: p for p in load_sample()}
    for name in ("video_retrieval", "multimodal_ssl"):
        for i, line in enumerate((DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()):
            r = json.loads(line)
            arxiv_id = r.get("arxiv_id") or f"2509.{i:05d}"
            updated = datetime.fromisoformat(r["updated"]).replace(tzinfo=UTC) if r.get("updated") else None
            papers.setdefault(
                arxiv_id,
                Paper(
                    arxiv_id,
                    int(r.get("version", 1)),
                    r["title"],
                    r["abstract"],
                    tuple(rng.sample(AUTHORS, rng.randint(1, 3))),
                    tuple(rng.sample(CATEGORIES, rng.randint(1, 3))),
                    comment=r.get("comment"),
                    updated=updated or NOW - timedelta(days=rng.randint(0, 400)),
                ),
            )
    return list(papers.values())


def scan(query: Query, papers: list[Paper]) -> list[str]:
    """What /papers means, by brute force: every matching paper, newest last update first."""
    hits = [p for p in papers if query.matches(_prepared(p))]
    return [p.arxiv_id for p in sorted(hits, key=lambda p: (search.last_update(p), p.arxiv_id), reverse=True)]


_PREPARED: dict[Paper, PreparedPaper] = {}


def _prepared(paper: Paper) -> PreparedPaper:
    # The scan is the slow side: tokenise each paper once across all the queries.
    found = _PREPARED.get(paper)
    if found is None:
        found = _PREPARED[paper] = prepare(paper)
    return found


def title_queries(papers: list[Paper], rng: random.Random, n: int) -> list[str]:
    """Phrases cut from real titles and abstracts, alone and combined the ways people write queries."""
    out = []
    for _ in range(n):
        p = rng.choice(papers)
        words = (p.title if rng.random() < 0.5 else p.abstract).split()
        k = rng.randint(0, max(0, len(words) - 3))
        phrase = " ".join(words[k : k + rng.randint(1, 3)])
        shape = rng.random()
        if shape < 0.4:
            out.append(f'"{phrase}"')
        elif shape < 0.55:
            out.append(f'ti:"{phrase}" OR abs:"{phrase}"')
        elif shape < 0.7:
            out.append(f'"{phrase}" -"{rng.choice(words)}"')
        elif shape < 0.8:
            out.append(f'"{phrase}" cat:{rng.choice(CATEGORIES)}')
        elif shape < 0.9:
            out.append(f'au:"{rng.choice(AUTHORS)}" OR "{phrase}"')
        else:
            out.append(f'("{phrase}" OR cat:cs.*) NOT au:{rng.choice(AUTHORS).split()[-1]}')
    return out


FIXED_QUERIES = [
    "video retrieval",
    "text-to-video retrieval",
    "semi-supervised",
    "au:muller",
    "au:mueller",
    'au:"j smith"',
    'au:"a muller"',
    'au:"wei zhang" OR au:garcia',
    "cat:cs.CV",
    "cat:cs.*",
    "cat:hep-th",
    "cat:astro-ph.*",
    "cat:cond-mat",
    "video -retrieval",
    '"video retrieval" NOT (audio OR au:smith)',
    "ti:video OR abs:semi",
    "(clip OR ti:transformer) cat:cs.IR -ti:survey",
    'NOT au:"j smith" video',
]


def _valid(texts: list[str]) -> list[Query]:
    out = []
    for text in texts:
        try:
            out.append(parse(text))
        except QueryError:
            continue
    return out


async def test_answers_equal_a_full_scan_on_the_shared_data(store: Store) -> None:
    papers = shared_papers()
    await store.papers.upsert_many(papers, NOW)
    queries = _valid(FIXED_QUERIES + title_queries(papers, random.Random(1), 150))
    assert len(queries) > 120
    for query in queries:
        found = await search.newest(store, query, 10_000)
        assert found.complete
        assert [p.arxiv_id for p in found.papers] == scan(query, papers), query.canonical
        top = await search.newest(store, query, 5)
        assert [p.arxiv_id for p in top.papers] == scan(query, papers)[:5]


async def test_preview_counts_equal_a_full_scan_over_the_window(store: Store) -> None:
    papers = shared_papers()
    await store.papers.upsert_many(papers, NOW)
    since = NOW - timedelta(days=60)
    recent = [p for p in papers if search.last_update(p) >= since]
    assert 0 < len(recent) < len(papers)
    for query in _valid(FIXED_QUERIES):
        got = await search.preview(store, query, since, 3)
        want = scan(query, recent)
        assert (got.matched, got.total, got.complete) == (len(want), len(recent), True), query.canonical
        assert [p.arxiv_id for p in got.shown] == want[:3]


# --- hostile text ---------------------------------------------------------------------------

# Paper text and queries built from real words and what breaks naive full-text search: FTS5's
# own syntax, quotes, LaTeX, scripts other than Latin, ligatures, letters that fold to two.
_FRAGMENTS = [
    "video", "retrieval", "Video-Retrieval", "retrieving", "graph", "neural", "networks", "the", "of",
    '"', "'", "*", "^", "NEAR(", ")", "(", "{", "}", ":", "-", "+", "AND", "OR", "NOT", "near", "col:",
    "title:", "abstract", "$\\alpha$-divergence", "M\\\"uller", "{\\ss}", "\\emph{video}", "$x^2$",
    "ﬁnding", "straße", "STRASSE", "æther", "Øresund", "İstanbul", "ıi", "中文检索", "視頻", "日本語",
    "русский", "Ελληνικά", "שָׁלוֹם", "हिन्दी", "한국어", "😀", "ＡＢＣ", "x\u200by", "e\u0301t\u00e9",
    "a_b", "O'Brien", "3.14", "C++", "#hash", "@user", "100%", "\\", "\u00a0", "\t",
]  # fmt: skip
_TEXT = st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map(" ".join)
_HOSTILE_PAPERS = st.builds(
    lambda i, t, a, au, c: Paper(f"p{i}", 1, t, a, tuple(au), tuple(c)),
    st.integers(0, 10**6),
    _TEXT,
    _TEXT,
    st.lists(
        st.sampled_from([*AUTHORS, "Mueller, A.", "李 伟", "Ἀριστοτέλης", 'J. "Jay" Doe', "x*y NEAR", ""]),
        max_size=3,
    ),
    st.lists(st.sampled_from([*CATEGORIES, "CS.cv", "bad cat", "x:y", "cs.cv*", "中文.CV", ""]), max_size=3),
)
_QUERY_PART = st.one_of(
    st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=3).map(" ".join),
    st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=3).map(lambda w: '"' + " ".join(w) + '"'),
    st.sampled_from(_FRAGMENTS).map(lambda w: f"ti:{w}"),
    st.sampled_from(_FRAGMENTS).map(lambda w: f'abs:"{w}"'),
    st.sampled_from(["au:muller", "au:mueller", 'au:"a muller"', 'au:"j smith"', "au:李", 'au:"x y"']),
    st.sampled_from(["cat:cs.CV", "cat:cs.*", "cat:hep-th", "cat:cs.cv", "cat:astro-ph.*"]),
)
_HOSTILE_QUERIES = st.one_of(
    _QUERY_PART,
    st.tuples(_QUERY_PART, _QUERY_PART).map(" OR ".join),
    st.tuples(_QUERY_PART, _QUERY_PART).map(lambda t: f"{t[0]} -{t[1]}"),
    st.tuples(_QUERY_PART, _QUERY_PART, _QUERY_PART).map(lambda t: f"({t[0]} OR {t[1]}) NOT ({t[2]})"),
)


def _fts_table() -> str:
    """The migration's CREATE VIRTUAL TABLE statement, so the test indexes exactly as the store does."""
    return next(s for m in MIGRATIONS for s in m if "CREATE VIRTUAL TABLE paper_search" in s)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_HOSTILE_QUERIES, min_size=1, max_size=6),
    st.lists(_HOSTILE_PAPERS, min_size=1, max_size=8, unique_by=lambda p: p.arxiv_id),
)
def test_the_index_agrees_with_the_matcher_on_hostile_text(texts: list[str], papers: list[Paper]) -> None:
    queries = _valid(texts)
    assume(queries)
    conn = sqlite3.connect(":memory:")
    conn.execute(_fts_table())
    conn.executemany(
        "INSERT INTO paper_search (rowid, title, abstract, authors, categories, archives)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(i, *search_text(p).values()) for i, p in enumerate(papers)],
    )
    for query in queries:
        fts = to_fts(query)
        got = {
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM paper_search WHERE paper_search MATCH ?", (fts.expression,)
            )
        }
        want = {i for i, p in enumerate(papers) if query.matches(prepare(p))}
        if fts.exact:
            assert got == want, (query.canonical, fts.expression)
        else:
            assert got >= want, (query.canonical, fts.expression)


async def test_hostile_text_through_the_store_equals_a_full_scan(store: Store) -> None:
    rng = random.Random(3)
    papers = [
        Paper(
            f"2510.{i:05d}",
            1,
            " ".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 10))),
            " ".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 40))),
            tuple(rng.sample(AUTHORS, 2)),
            tuple(rng.sample(CATEGORIES, 2)),
            published=NOW - timedelta(hours=i),
        )
        for i in range(300)
    ]
    await store.papers.upsert_many(papers, NOW)
    texts = [" ".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    texts += [f'"{t}"' for t in texts[:100]] + [
        f"{a} OR {b}" for a, b in zip(texts[:50], texts[50:100], strict=True)
    ]
    queries = _valid(texts)
    assert len(queries) > 100
    for query in queries:
        found = await search.newest(store, query, 1_000)
        assert [p.arxiv_id for p in found.papers] == scan(query, papers), query.canonical


# --- the index kept in step -----------------------------------------------------------------


def _paper(arxiv_id: str, title: str, *, version: int = 1, updated: datetime | None = None) -> Paper:
    return Paper(arxiv_id, version, title, "An abstract.", ("Ada Lovelace",), ("cs.CV",), updated=updated)


async def test_a_new_version_moves_the_paper_to_the_front_with_its_new_text(store: Store) -> None:
    day = datetime(2025, 10, 1, tzinfo=UTC)
    await store.papers.upsert_many(
        [
            _paper("2510.00001", "Video Retrieval Old", updated=day),
            _paper("2510.00002", "Video Retrieval B", updated=day + timedelta(days=1)),
        ],
        NOW,
    )
    q = parse("video retrieval")
    assert [p.arxiv_id for p in (await search.newest(store, q, 10)).papers] == ["2510.00002", "2510.00001"]
    # A replacement announcement: version 2, a new title, a later update.
    replaced = replace(
        _paper("2510.00001", "Sparse Codes", version=2, updated=day + timedelta(days=5)),
        announce_type="replace",
    )
    counts = await store.papers.upsert_many([replaced], NOW)
    assert counts.replaced == 1
    assert [p.arxiv_id for p in (await search.newest(store, q, 10)).papers] == ["2510.00002"]
    assert [p.arxiv_id for p in (await search.newest(store, parse("sparse codes"), 10)).papers] == [
        "2510.00001"
    ]
    # An older version arriving late changes nothing; a paper seen twice in one batch is one row.
    await store.papers.upsert_many([_paper("2510.00001", "Video Retrieval Old", updated=day)] * 2, NOW)
    assert [p.arxiv_id for p in (await search.newest(store, parse("sparse codes"), 10)).papers] == [
        "2510.00001"
    ]
    assert await store.papers.count() == 2
    assert await store.search.count('"retriev"', since=0) == 1


async def test_tokens_worked_out_beforehand_give_the_same_index(store: Store, tmp_path: Path) -> None:
    papers = shared_papers()[:60]
    newer = [replace(p, version=p.version + 1, title=p.title + " revisited") for p in papers[:10]]
    async with await Store.open(tmp_path / "other.db") as other:
        for s in (store, other):
            await s.papers.upsert_many(papers, NOW)
        # The harvester hands over the tokens; a paper seen twice in the batch keeps its newest text.
        batch = [*newer, *papers[:5]]
        await store.papers.upsert_many(batch, NOW, search={p: search_text(p) for p in batch})
        await other.papers.upsert_many(batch, NOW)
        for query in _valid(["revisited", "video retrieval", "cat:cs.CV", "au:muller"]):
            got = [p.arxiv_id for p in (await search.newest(store, query, 1_000)).papers]
            assert got == [p.arxiv_id for p in (await search.newest(other, query, 1_000)).papers]
        assert len((await search.newest(store, parse("revisited"), 100)).papers) == 10


async def test_papers_in_the_same_second_get_distinct_keys_in_id_order(store: Store) -> None:
    second = datetime(2025, 10, 15, 4, 0, tzinfo=UTC)
    batch = [_paper(f"2510.{i:05d}", f"Video retrieval {i}", updated=second) for i in (3, 1, 2)]
    await store.papers.upsert_many(batch[:2], NOW)
    await store.papers.upsert_many(batch[2:], NOW)
    found = await search.newest(store, parse("video retrieval"), 10)
    # Within one second the later batch comes first, and within a batch the higher id.
    assert [p.arxiv_id for p in found.papers] == ["2510.00002", "2510.00003", "2510.00001"]


async def test_the_migration_builds_the_index_for_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    rows = [
        ("2510.00001", 1, "Video Retrieval at Scale", "We retrieve videos.", '["Anna Müller"]', '["cs.CV"]',
         None, None, None, "2025-10-14T18:00:00+00:00", None, "2025-10-15", "new"),
        ("2510.00002", 3, "Sparse Video Retrieval", "Abstract.", '["J. Smith"]', '["cs.IR", "cs.CV"]',
         None, None, None, None, "2025-10-18T10:00:00+00:00", None, "replace"),
        ("2510.00003", 1, "Graphs", "Video retrieval in passing.", "[]", "[]",
         None, None, None, None, None, None, None),
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO papers (arxiv_id, version, title, abstract, authors, categories, comment, journal_ref,"
        " doi, published, updated, announced, announce_type, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'x', 'x')",
        rows,
    )
    conn.commit()
    conn.close()
    async with await Store.open(path) as store:
        assert await store.db.schema_version() == LATEST_VERSION
        found = await search.newest(store, parse("video retrieval"), 10)
        assert [p.arxiv_id for p in found.papers] == ["2510.00002", "2510.00001", "2510.00003"]
        assert [
            p.arxiv_id for p in (await search.newest(store, parse("au:muller cat:cs.CV"), 10)).papers
        ] == ["2510.00001"]
        # And it is kept in step from then on.
        await store.papers.upsert_many([_paper("2510.00004", "Video retrieval now", updated=NOW)], NOW)
        found = await search.newest(store, parse("video retrieval"), 1)
        assert [p.arxiv_id for p in found.papers] == ["2510.00004"]


@pytest.mark.parametrize(
    "text",
    [
        '"NEAR(video retrieval)"',
        '"video" OR "a*b"',
        'ti:"title:abstract"',
        'au:"o\'brien"',
        "中文检索",
        'x^2 -"a*b"',
    ],
)
async def test_queries_made_of_fts5_syntax_are_only_words(store: Store, text: str) -> None:
    await store.papers.upsert_many(
        [_paper("2510.00001", "NEAR video retrieval: title abstract 中文检索 x^2")], NOW
    )
    query = parse(text)
    found = await search.newest(store, query, 10)  # never an FTS5 syntax error
    assert [p.arxiv_id for p in found.papers] == scan(
        query, [_paper("2510.00001", "NEAR video retrieval: title abstract 中文检索 x^2")]
    )


def test_last_update_is_the_latest_of_version_date_and_announcement() -> None:
    p = _paper("2510.00001", "T", updated=datetime(2025, 10, 9, 17, tzinfo=UTC))
    assert search.last_update(p) == datetime(2025, 10, 9, 17, tzinfo=UTC)
    assert search.last_update(replace(p, announced=date(2025, 10, 10))) == datetime(2025, 10, 10, tzinfo=UTC)
    assert search.last_update(replace(p, updated=None)) == datetime.min.replace(tzinfo=UTC)
