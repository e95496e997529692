"""Benchmark: one announcement day (2,000 papers) against 1k / 10k / 100k subscriptions.

Run from the repo root: `python benchmarks/bench_matching.py` (`--quick` for 1,000 only).

Papers are recombined deterministically from the real records in tests/data;
queries are real title n-grams (so many share words), single words, OR, NOT,
ti:/abs:/au:/cat: fields, with about a fifth repeated across channels. Each
size runs in a fresh process so peak memory is per size.

The records cover two topics only (video retrieval, multimodal semi-supervised
learning), while a real day spans all of arXiv: a topic like "video retrieval"
is well under 1% of it. So only a share of the day (`--topical`, default 10%,
already generous) is recombined real text; the other papers are the same words
shuffled, standing in for other fields: same vocabulary and length, so they
meet the same single-word terms and candidate lookups, but not the topic's
phrases. With `--topical 1` every paper is on the two topics (the earlier
benchmark): title n-gram subscriptions then match half the day each.
Every size checks that the index returns exactly the naive scan's hits (keys,
papers and reasons) for a sample of subscriptions, and fails if not.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.matching.normalize import STOP_WORDS, stem, tokens  # noqa: E402
from bot.matching.paper import PreparedPaper, prepare  # noqa: E402
from bot.matching.query import Query, QueryError, parse  # noqa: E402
from bot.matching.reasons import MatchReason, explain  # noqa: E402
from bot.models import Paper  # noqa: E402
from tests.fakes.naive import index_of  # noqa: E402

SEED = 20240601
N_PAPERS = 2_000
SIZES = (1_000, 10_000, 100_000)
NAIVE_SAMPLE = 2_000
CATEGORIES = ["cs.CV", "cs.LG", "cs.CL", "cs.AI", "cs.IR", "cs.MM", "eess.IV", "stat.ML", "cs.RO", "math.OC"]
GIVEN = ["Anna", "Wei", "José", "Jörg", "Li", "Sara", "Ahmed", "Olga", "Kenji", "Marta", "Tom", "Priya"]
SURNAMES = ["Müller", "Zhang", "García", "Smith", "Kowalski", "Nguyen", "Østergaard", "Tanaka", "Rossi",
            "Dubois", "Kim", "Patel", "Novák", "Şahin", "Ivanova", "Chen", "Schröder", "Lopez"]  # fmt: skip


def load_records() -> list[dict[str, str]]:
    records = []
    for name in ("video_retrieval.jsonl", "multimodal_ssl.jsonl"):
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            records.append({"title": rec["title"], "abstract": rec["abstract"]})
    return records


def make_surnames(rng: random.Random, n: int = 3_000) -> list[str]:
    """Many distinct surnames (some accented), so an au: query matches a few papers, not a tenth."""
    onsets = ["B", "K", "M", "Sch", "Ch", "Z", "L", "N", "P", "R", "T", "V", "D", "G", "H", "Ö", "Š", "Y"]
    middles = ["a", "e", "i", "o", "u", "ü", "é", "ai", "ou", "ø", "ya"]
    codas = ["ller", "ng", "n", "r", "berg", "ski", "ez", "sen", "to", "va", "ic", "mann", "ri", "der"]
    names = {rng.choice(onsets) + rng.choice(middles) + rng.choice(codas) + rng.choice(["", "a", "o", "ev"])
             for _ in range(n * 3)}  # fmt: skip
    return sorted(names)[:n] + SURNAMES


def make_papers(
    records: list[dict[str, str]], n: int, rng: random.Random, surnames: list[str], topical: float = 1.0
) -> list[Paper]:
    """A day of papers: a real title with a word or two swapped, abstract sentences from three records.

    A paper outside the `topical` share gets the same title and abstract words shuffled: another
    field's paper, sharing the common vocabulary but not the topics' phrases.
    """
    title_words = [w for r in records for w in r["title"].split()]
    papers = []
    for i in range(n):
        base = rng.choice(records)
        words = base["title"].split()
        for _ in range(rng.randint(0, 2)):
            words[rng.randrange(len(words))] = rng.choice(title_words)
        sentences = [
            s for r in (base, rng.choice(records), rng.choice(records)) for s in r["abstract"].split(". ")
        ]
        rng.shuffle(sentences)
        abstract = ". ".join(sentences[: rng.randint(6, 12)])
        if topical < 1 and rng.random() >= topical:  # (at 1, the same day as before the option)
            rng.shuffle(words)
            body = abstract.split()
            rng.shuffle(body)
            abstract = " ".join(body)
        authors = tuple(f"{rng.choice(GIVEN)} {rng.choice(surnames)}" for _ in range(rng.randint(1, 6)))
        cats = tuple(rng.sample(CATEGORIES, rng.randint(1, 3)))
        papers.append(Paper(f"2601.{i:05d}", 1, " ".join(words), abstract, authors, cats))
    return papers


def make_queries(records: list[dict[str, str]], n: int, rng: random.Random, surnames: list[str]) -> list[str]:
    """Subscription texts: title n-grams and word pairs, plus OR/NOT/fields; ~20% repeated across channels.

    The records cover two topics only, so words and n-grams frequent among them would match a
    large part of every synthetic day; subscriptions use the rarer ones, as real topics are rare
    among all of a day's papers.
    """
    df: collections.Counter[str] = collections.Counter()
    grams: list[str] = []
    for rec in records:
        ws = [w.strip(",.:;()!?\"'").lower() for w in rec["title"].split()]
        ws = [w for w in ws if w]
        df.update(set(tokens(f"{rec['title']} {rec['abstract']}")))
        for k in (2, 3):
            for j in range(len(ws) - k + 1):
                gram = ws[j : j + k]
                if gram[0] not in STOP_WORDS and gram[-1] not in STOP_WORDS:
                    grams.append(" ".join(gram))
    vocab = {w for r in records for w in re.findall(r"[a-z]{5,}", f"{r['title']} {r['abstract']}".lower())}
    words = sorted(w for w in vocab if df[stem([w])[0]] <= 2)  # by stem: 'performed' is also 'performance'
    common = sorted(w for w in vocab if df[stem([w])[0]] > 2)

    def phrase() -> str:
        # A few real title n-grams (they match many of today's papers); mostly pairs of real words,
        # which share terms with each other and with the papers but rarely occur together.
        r = rng.random()
        if r < 0.15:
            return rng.choice(grams)
        return f"{rng.choice(common if r < 0.5 else words)} {rng.choice(words)}"

    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.2:
            out.append(rng.choice(out).upper() if rng.random() < 0.3 else rng.choice(out))
            continue
        r = rng.random()
        if r < 0.50:
            q = phrase()
        elif r < 0.58:
            q = rng.choice(words)
        elif r < 0.68:
            q = f'"{phrase()}" OR "{phrase()}"'
        elif r < 0.78:
            q = f"{phrase()} -{rng.choice(common)}"
        elif r < 0.84:
            q = f'ti:"{phrase()}"'
        elif r < 0.87:
            q = f'abs:"{phrase()}"'
        elif r < 0.91:
            q = f"au:{rng.choice(surnames)}"
        elif r < 0.97:
            q = f'"{phrase()}" cat:{rng.choice([*CATEGORIES[:5], "cs.*"])}'
        elif r < 0.99:
            q = f"(ti:{rng.choice(words)} OR abs:{rng.choice(words)}) NOT au:{rng.choice(surnames)}"
        else:
            q = f"cat:{rng.choice(CATEGORIES)} ti:{rng.choice(words)}"
        out.append(q)
    return out


Found = set[tuple[int, str, tuple[MatchReason, ...]]]


def naive_scan(subs: list[tuple[int, Query]], papers: list[PreparedPaper]) -> Found:
    """Every subscription's query verified against every paper (explaining the hits, like the index)."""
    found = set()
    for key, query in subs:
        for p in papers:
            if query.matches(p):
                found.add((key, p.arxiv_id, explain(query, p)))
    return found


def run_size(n_subs: int, topical: float) -> None:
    rng = random.Random(SEED)
    records = load_records()
    surnames = make_surnames(rng)
    papers = make_papers(records, N_PAPERS, rng, surnames, topical)
    texts = make_queries(records, n_subs, random.Random(SEED + n_subs), surnames)

    t0 = time.perf_counter()
    cache: dict[str, Query] = {}
    subs: list[tuple[int, Query]] = []
    for key, text in enumerate(texts):
        try:
            q = cache.get(text) or cache.setdefault(text, parse(text))
        except QueryError:
            continue
        subs.append((key, q))
    t_parse = time.perf_counter() - t0

    t0 = time.perf_counter()
    index = index_of(subs)
    t_build = time.perf_counter() - t0

    gc.disable()  # as inside `match`: otherwise the collector re-scans the index on every paper
    t0 = time.perf_counter()
    prepared = [prepare(p) for p in papers]
    t_prepare = time.perf_counter() - t0
    gc.enable()

    t0 = time.perf_counter()
    hits = index.match(papers)  # prepares the papers again: the figure is end to end
    t_match = time.perf_counter() - t0

    # A digest run ranks every hit (title hits first), then shows a dozen cards per channel: only
    # those need the matched words. Both are timed, and so is explaining every hit, for scale.
    t0 = time.perf_counter()
    in_title = sum(h.in_title for h in hits)
    t_rank = time.perf_counter() - t0
    peak_day_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    t0 = time.perf_counter()
    explained = sum(len(h.why) for h in hits)
    t_explain = time.perf_counter() - t0

    # A fair naive scan evaluates each distinct query once (many channels track the same one) and
    # hands its hits to every subscription tracking it: sample distinct queries, scale to all.
    first_of: dict[str, tuple[int, Query]] = {}
    for key, q in subs:
        first_of.setdefault(q.canonical, (key, q))
    distinct = list(first_of.values())
    sample = distinct if len(distinct) <= NAIVE_SAMPLE else random.Random(SEED).sample(distinct, NAIVE_SAMPLE)
    t0 = time.perf_counter()
    naive = naive_scan(sample, prepared)
    t_naive_sample = time.perf_counter() - t0
    estimated = len(sample) < len(distinct)
    t_naive = t_prepare + t_naive_sample * len(distinct) / len(sample)

    sample_keys = {k for k, _ in sample}
    fast = {(h.key, h.arxiv_id, h.why) for h in hits if h.key in sample_keys}
    agree = fast == naive and len(fast) == sum(h.key in sample_keys for h in hits)  # and no duplicates
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux

    pairs = len(subs) * len(papers)
    print(
        f"--- {len(subs):,} subscriptions ({index.distinct_queries:,} distinct queries)"
        f" x {len(papers):,} papers"
    )
    print(f"parse            {t_parse:8.2f} s   (not part of build: subscriptions are parsed when added)")
    print(f"build            {t_build:8.2f} s")
    print(f"match            {t_match:8.2f} s   (of which preparing the papers {t_prepare:.2f} s)")
    print(f"rank info        {t_rank:8.2f} s   (title hit or not, for every hit: {in_title:,} in titles)")
    print(f"match + rank     {t_match + t_rank:8.2f} s   <- a day's matching as a digest run needs it")
    print(
        f"explain all      {t_explain:8.2f} s   (matched words of every hit: {explained:,} reasons;"
        " a digest explains only the cards it shows)"
    )
    print(f"throughput       {pairs / t_match:12,.0f} paper x subscription pairs per second")
    print(f"hits             {len(hits):8,}   ({len({h.arxiv_id for h in hits}):,} papers matched something)")
    per_sub = sorted(collections.Counter(h.key for h in hits).values())
    if per_sub:
        print(
            f"hits per sub     {len(hits) / len(subs):8.1f}   mean; {len(per_sub):,} subscriptions hit,"
            f" median {per_sub[len(per_sub) // 2]}, 99th percentile {per_sub[len(per_sub) * 99 // 100]},"
            f" max {per_sub[-1]}"
        )
    print(
        f"peak memory      {peak_day_mb:8.0f} MB (max RSS after match + rank: papers, queries, index, hits)"
    )
    print(f"                 {peak_mb:8.0f} MB (... and after explaining every hit)")
    how = (
        f"each distinct query once; estimated: {len(sample):,} of them x all papers measured in"
        f" {t_naive_sample:.2f} s, scaled x{len(distinct) / len(sample):.0f}, plus preparing"
        if estimated
        else "measured, each distinct query once"
    )
    print(f"naive scan       {t_naive:8.2f} s   ({how})")
    t_all = t_match + t_rank + t_explain
    print(f"speed-up         {t_naive / t_all:8.1f} x   (naive scan vs match + rank + explain all)")
    print(f"same hits as naive for {len(sample):,} distinct queries: {agree} ({len(naive):,} hits)")
    sys.stdout.flush()
    if not agree:
        sys.exit(f"index only: {sorted(fast - naive)[:5]}\nnaive only: {sorted(naive - fast)[:5]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="run only the 1,000-subscription size")
    parser.add_argument(
        "--topical", type=float, default=0.1, help="share of the day's papers on the records' two topics"
    )
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # one size, in this process
    args = parser.parse_args()
    if args.size:
        run_size(args.size, args.topical)
        return
    print(f"{N_PAPERS:,} papers a day, {args.topical:.0%} of them on the records' two topics")
    sys.stdout.flush()
    for size in SIZES[:1] if args.quick else SIZES:
        cmd = [sys.executable, __file__, "--size", str(size), "--topical", str(args.topical)]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
