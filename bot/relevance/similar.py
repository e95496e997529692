"""`like:` topics: follow the papers that read like a few examples.

`/track like:2510.12283,2509.01234` stores the canonical query `like:2509.01234,2510.12283`
(ids sorted, versions dropped). A topic is the centroid of its examples' tf-idf vectors
(bot.relevance.textmodel); a paper's similarity is its cosine with that centroid.

**How the threshold is chosen.** Similarity has no fixed scale: a topic in a crowded field
has many close papers, a niche one few. So each topic's threshold is set from the local store:
the papers announced in the last `CALIBRATION_DAYS` days are scored against the topic, and the
threshold is the score of the `TARGET_PER_DAY` x (announcement days in that window) -th best,
so that on an average day the topic brings about `TARGET_PER_DAY` papers. It never goes below
`FLOOR`: a cosine under it is shared vocabulary ("we propose", "model"), not a shared subject,
so a niche topic on a quiet day brings nothing rather than unrelated papers. (`FLOOR` is from
benchmarks/bench_similar.py: against 60 topics of 3 examples each, no paper of an unrelated
field scored above 0.121, while 95% and 82% of the two clusters' papers reach 0.125.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from bot.arxiv.ids import parse_arxiv_id
from bot.errors import UserError
from bot.models import Paper
from bot.relevance.textmodel import Matrix, TextModel
from bot.textcut import shorten

PREFIX = "like:"
MAX_EXAMPLES = 10
TARGET_PER_DAY = 4
CALIBRATION_DAYS = 14
FLOOR = 0.125
TOPICS_PER_CHUNK = 256  # scores are computed this many topics at a time: bounded memory at any count
EXAMPLE_TITLE_CHARS = 80

_SEPARATORS = re.compile(r"[,;\s]+")


def is_like(text: str) -> bool:
    """Whether a query is a `like:` topic (rather than words to match)."""
    return text.lstrip()[: len(PREFIX)].casefold() == PREFIX


@dataclass(frozen=True, slots=True)
class LikeQuery:
    """The example ids of a `like:` topic, sorted, without versions."""

    ids: tuple[str, ...]

    @property
    def canonical(self) -> str:
        return PREFIX + ",".join(self.ids)


def parse_like(text: str) -> LikeQuery:
    """'like:2510.12283v2, arxiv.org/abs/2509.01234' -> like:2509.01234,2510.12283; UserError if bad."""
    body = text.strip()[len(PREFIX) :]
    parts = [p for p in _SEPARATORS.split(body) if p]
    usage = "e.g. like:2510.12283 or like:2510.12283,2509.01234"
    if not parts:
        raise UserError(f"like: needs the arXiv ids of one or more example papers, {usage}")
    if len(parts) > MAX_EXAMPLES:
        raise UserError(f"like: takes at most {MAX_EXAMPLES} example papers (got {len(parts)}).")
    ids = []
    for part in parts:
        parsed = parse_arxiv_id(part)
        if parsed is None:
            raise UserError(f'"{shorten(part, 40)}" is not an arXiv id ({usage}).')
        ids.append(parsed[0])
    return LikeQuery(tuple(sorted(set(ids))))


def example_ids(canonical: str) -> tuple[str, ...]:
    """The ids of a stored `like:` query (empty if it no longer reads as one)."""
    try:
        return parse_like(canonical).ids
    except UserError:
        return ()


def example_title(paper: Paper) -> str:
    return shorten(" ".join(paper.title.split()), EXAMPLE_TITLE_CHARS)


@dataclass(frozen=True, slots=True)
class Topic:
    """A `like:` topic resolved against a text model: its examples, centroid and threshold."""

    canonical: str
    examples: tuple[Paper, ...]
    vectors: Matrix  # one row per example
    centroid: Matrix  # 1 x words, L2-normalised
    threshold: float

    def closest_example(self, vector: Matrix) -> Paper:
        """The example a paper (one row) reads most like: the one its card names."""
        sims = (self.vectors @ vector.T).toarray().ravel()
        return self.examples[int(np.argmax(sims))] if len(sims) else self.examples[0]


class Topics:
    """`like:` topics for one text model: built once per model, with thresholds from its papers."""

    def __init__(self, model: TextModel) -> None:
        import scipy.sparse as sp  # see bot.relevance.textmodel: imported when used

        self.model = model
        newest = max((p.announced for p in model.papers if p.announced), default=None)
        since = newest - timedelta(days=CALIBRATION_DAYS - 1) if newest else None
        rows = [i for i, p in enumerate(model.papers) if since and p.announced and p.announced >= since]
        self.reference_days = len({model.papers[i].announced for i in rows})
        self._reference = model.matrix[rows] if rows else sp.csr_matrix((0, model.width), dtype=np.float32)
        self._reference_row = {model.papers[i].arxiv_id: j for j, i in enumerate(rows)}
        self._topics: dict[str, Topic] = {}

    def topics(self, wanted: Mapping[str, Sequence[Paper]]) -> dict[str, Topic]:
        """canonical -> Topic for each `like:` query and its example papers (those found)."""
        new = {c: list(ex) for c, ex in wanted.items() if c not in self._topics and ex}
        if new:
            names = list(new)
            vectors = [self.model.vectors(new[c]) for c in names]
            import scipy.sparse as sp
            from sklearn.preprocessing import normalize

            centroids = normalize(sp.vstack([sp.csr_matrix(v.mean(axis=0)) for v in vectors], format="csr"))
            thresholds = self._thresholds(centroids, [{p.arxiv_id for p in new[c]} for c in names])
            for i, c in enumerate(names):
                self._topics[c] = Topic(c, tuple(new[c]), vectors[i], centroids[i], thresholds[i])
        return {c: self._topics[c] for c in wanted if c in self._topics}

    def _thresholds(self, centroids: Matrix, examples: Sequence[set[str]]) -> list[float]:
        k = TARGET_PER_DAY * self.reference_days
        out: list[float] = []
        for start, block in _score_blocks(self._reference, centroids):
            for j in range(block.shape[1]):
                column = block[:, j]
                # The examples score highest against themselves: they are not a day's papers.
                own = [self._reference_row[a] for a in examples[start + j] if a in self._reference_row]
                if own:
                    column = column.copy()
                    column[own] = -1.0
                kth = 0.0
                if 0 < k <= len(column) - len(own):
                    kth = float(np.partition(column, len(column) - k)[len(column) - k])
                out.append(max(FLOOR, kth))
        return out


def scores(papers: Matrix, topics: Sequence[Topic]) -> np.ndarray:
    """papers x topics cosine similarities (rows and centroids are L2-normalised)."""
    if not topics:
        return np.zeros((papers.shape[0], 0), dtype=np.float32)
    import scipy.sparse as sp

    centroids = sp.vstack([t.centroid for t in topics], format="csr")
    return np.hstack([block for _, block in _score_blocks(papers, centroids)])


def _score_blocks(papers: Matrix, centroids: Matrix) -> Iterable[tuple[int, np.ndarray]]:
    for start in range(0, centroids.shape[0], TOPICS_PER_CHUNK):
        block = papers @ centroids[start : start + TOPICS_PER_CHUNK].T
        yield start, np.asarray(block.toarray(), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Similar:
    """A paper a topic found: how similar, and the example it reads most like."""

    paper: Paper
    score: float
    example: Paper


def ranked(
    topic: Topic, model: TextModel, papers: Sequence[Paper], *, at_least: float, limit: int | None = None
) -> list[Similar]:
    """`papers` scoring `at_least` against `topic`, most similar first (at most `limit`); not the examples."""
    own = {p.arxiv_id for p in topic.examples}
    papers = [p for p in papers if p.arxiv_id not in own]
    vectors = model.vectors(papers)
    column = scores(vectors, [topic])[:, 0] if papers else np.zeros(0)
    order = [i for i in np.argsort(-column, kind="stable") if column[i] >= at_least][:limit]
    return [Similar(papers[i], float(column[i]), topic.closest_example(vectors[i])) for i in order]
