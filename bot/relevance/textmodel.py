"""Papers as tf-idf vectors over title and abstract, fitted on the local store (scikit-learn).

Shared by `like:` topics (bot.relevance.similar) and the rankers channels learn from their reactions
(bot.relevance.feedback). Words are read as the matcher reads them (LaTeX as text, folded, stemmed), so
"retrieving" and "retrieval" are one feature; common English words are left out.

Fitting is CPU work of a second or two for the store's 20,000 latest papers: `Corpus` does it in a
worker thread, and only again after a harvest has stored new papers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from bot.matching.normalize import STOP_WORDS, stem, to_plain, tokens
from bot.models import Paper
from storage import Store

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

# scipy and scikit-learn are imported where they are used (100 MB at import): a bot without a
# `like:` topic or a channel learning from reactions never fits a model, and never needs them.

log = logging.getLogger(__name__)

FIT_PAPERS = 20_000  # the latest papers the vocabulary and idf weights are learned from
SMALL_CORPUS = 200  # below this, keep every word (a word seen once may be all there is)
EXTRA_KEPT = 20_000  # vectors of papers outside the corpus (examples, older likes) kept per model

_STOPPED = STOP_WORDS | frozenset(stem(STOP_WORDS))

# A scipy.sparse CSR matrix, one row per paper (scipy ships no type hints).
Matrix: TypeAlias = Any


def analyse(paper: Paper) -> list[str]:
    """The features of a paper: its stemmed words and adjacent pairs, title and abstract, stop words out.

    Pairs ("video retriev") tell a topic from papers that only share its words.
    """
    features: list[str] = []
    for text in (paper.title, paper.abstract):
        words = [t for t in tokens(to_plain(text)) if t not in _STOPPED and len(t) > 1]
        features += words
        features += [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return features


def _same(doc: list[str]) -> list[str]:
    return doc


class TextModel:
    """A vectoriser fitted on a corpus of papers, and the corpus' own vectors (rows L2-normalised)."""

    def __init__(self, papers: Sequence[Paper], generation: int = 0) -> None:
        self.generation = generation
        self.papers = list(papers)
        self.rows = {p.arxiv_id: i for i, p in enumerate(self.papers)}
        docs = [analyse(p) for p in self.papers]
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer: TfidfVectorizer | None = None
        self.matrix: Matrix = sp.csr_matrix((len(docs), 1), dtype=np.float32)
        big = len(docs) >= SMALL_CORPUS
        # Words in one paper only, and words in over half of them, tell papers apart poorly.
        for min_df, max_df in ((2, 0.5), (1, 1.0)) if big else ((1, 1.0),):
            vectorizer = TfidfVectorizer(
                analyzer=_same, sublinear_tf=True, min_df=min_df, max_df=max_df, dtype=np.float32
            )
            try:
                self.matrix = sp.csr_matrix(vectorizer.fit_transform(docs))
            except ValueError:  # no word left (an empty store, or papers without text)
                continue
            self._vectorizer = vectorizer
            break
        self._extra: OrderedDict[tuple[str, int], Matrix] = OrderedDict()
        self._extra_lock = threading.Lock()  # digests of several channels may ask at once, in threads

    @property
    def width(self) -> int:
        return int(self.matrix.shape[1])

    def vectors(self, papers: Sequence[Paper]) -> Matrix:
        """One row per paper, in order: the corpus' row when it has the paper, else its own transform."""
        if not papers:
            import scipy.sparse as sp

            return sp.csr_matrix((0, self.width), dtype=np.float32)
        with self._extra_lock:
            return self._vectors(papers)

    def _vectors(self, papers: Sequence[Paper]) -> Matrix:
        import scipy.sparse as sp

        missing = [
            p for p in papers if p.arxiv_id not in self.rows and (p.arxiv_id, p.version) not in self._extra
        ]
        if missing and self._vectorizer is not None:
            fresh = sp.csr_matrix(self._vectorizer.transform([analyse(p) for p in missing]))
            for i, p in enumerate(missing):
                self._extra[(p.arxiv_id, p.version)] = fresh[i]
            while len(self._extra) > EXTRA_KEPT:
                self._extra.popitem(last=False)
        rows = [self.rows.get(p.arxiv_id, -1) for p in papers]
        inside = [r for r in rows if r >= 0]
        if len(inside) == len(rows):  # the usual case: one slice of the corpus
            return self.matrix[rows]
        empty = sp.csr_matrix((1, self.width), dtype=np.float32)
        outside = [
            self._extra.get((p.arxiv_id, p.version), empty)
            for p, r in zip(papers, rows, strict=True)
            if r < 0
        ]
        stacked = sp.vstack([self.matrix[inside], *outside], format="csr")
        # Back in the order asked for: corpus rows first in `stacked`, then the others.
        order, k_in, k_out = [], 0, len(inside)
        for r in rows:
            if r >= 0:
                order.append(k_in)
                k_in += 1
            else:
                order.append(k_out)
                k_out += 1
        return sp.csr_matrix(stacked[order], dtype=np.float32)


class Corpus:
    """The current text model, refitted (in a thread) when a harvest has stored new papers since."""

    def __init__(self, fit_papers: int = FIT_PAPERS) -> None:
        self.fit_papers = fit_papers
        self._model: TextModel | None = None
        self._fitted_on: tuple[datetime | None, int] | None = None
        self._lock = asyncio.Lock()
        self._generation = 0

    async def model(self, store: Store) -> TextModel:
        """The model for the store as it is: the last one, unless papers were harvested since."""
        signature = await store.papers.harvest_signature()
        async with self._lock:
            if self._model is None or signature != self._fitted_on:
                papers = await store.papers.recent(self.fit_papers)
                self._generation += 1
                self._model = await asyncio.to_thread(TextModel, papers, self._generation)
                self._fitted_on = signature
                log.info("text model fitted on %d papers (%d words)", len(papers), self._model.width)
            return self._model
