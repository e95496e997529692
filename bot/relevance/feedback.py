"""What a channel's 👍 and 👎 teach its digest: a linear model per channel, as arxiv-sanity-lite does.

Features are the papers' tf-idf vectors (bot.relevance.textmodel). The positives are the papers the
channel liked (more 👍 than 👎), the negatives the ones it disliked plus a sample of the store's
other papers (the "everything else" a liked paper stands out from, as arxiv-sanity-lite trains
against all untagged papers). A linear SVM with balanced class weights scores every candidate:
the digest is ordered by that score before the cap, and up to `MAX_SUGGESTIONS` papers that no
query matched but the model scores positive are added, marked "you may also like".

It starts at `MIN_LIKES` liked papers: fewer is not a taste, it is an anecdote.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.models import Paper
from bot.relevance.textmodel import TextModel
from storage.reactions import Opinion

if TYPE_CHECKING:  # see bot.relevance.textmodel: scipy and scikit-learn are imported when a model is trained
    from sklearn.svm import LinearSVC

    from bot.relevance.textmodel import Matrix

MIN_LIKES = 5
MAX_SUGGESTIONS = 3
BACKGROUND = 1_000  # papers of the store the channel never reacted to, as the "everything else"
DISLIKE_WEIGHT = 3.0  # a 👎 says more than a paper nobody reacted to
C = 0.1  # regularisation: few likes, many features; a stronger C memorises the likes' exact words


@dataclass(frozen=True, slots=True)
class Ranker:
    """A channel's learned model, and how many reactions it learned from."""

    classifier: LinearSVC
    likes: int  # liked papers
    dislikes: int  # disliked papers
    reactions: int  # every 👍 and 👎 behind them

    def scores(self, vectors: Matrix) -> np.ndarray:
        """One score per row: above 0, the paper reads more like the liked ones than like the rest."""
        if vectors.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.classifier.decision_function(vectors), dtype=np.float64)


def train(
    opinions: Sequence[Opinion],
    papers: dict[str, Paper],
    model: TextModel,
    seed: str,
    *,
    background: int = BACKGROUND,
) -> Ranker | None:
    """The channel's model from its opinions; None below `MIN_LIKES` liked papers (or no text to learn).

    `papers` holds the reacted-to papers (those missing are skipped); `seed` makes the background
    sample the same from one run to the next, so the ranking does not wobble without new reactions.
    """
    liked = [papers[o.arxiv_id] for o in opinions if o.net > 0 and o.arxiv_id in papers]
    disliked = [papers[o.arxiv_id] for o in opinions if o.net < 0 and o.arxiv_id in papers]
    if len(liked) < MIN_LIKES or model.width <= 1:
        return None
    reacted = {o.arxiv_id for o in opinions}
    others = [i for i, p in enumerate(model.papers) if p.arxiv_id not in reacted]
    sample = sorted(random.Random(seed).sample(others, min(background, len(others))))
    if not disliked and not sample:  # nothing to tell the liked papers from
        return None
    import scipy.sparse as sp
    from sklearn.svm import LinearSVC

    x = sp.vstack([model.vectors(liked), model.vectors(disliked), model.matrix[sample]], format="csr")
    y = np.array([1] * len(liked) + [0] * (len(disliked) + len(sample)))
    weight = np.array([1.0] * len(liked) + [DISLIKE_WEIGHT] * len(disliked) + [1.0] * len(sample))
    classifier = LinearSVC(C=C, class_weight="balanced")
    classifier.fit(x, y, sample_weight=weight)
    return Ranker(classifier, len(liked), len(disliked), sum(o.reactions for o in opinions))
