"""Two real clusters of papers (tests/data) and unrelated filler, as a harvest would store them.

`video_retrieval()`: the 100 papers arXiv returned for "Video Retrieval"; `multimodal()`: 119
Hugging Face papers on multimodal and semi-supervised learning (given ids 2509.1xxxx);
`unrelated(n)`: papers from other fields, made of field words and shared boilerplate.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date
from pathlib import Path

from bot.models import Paper

DATA = Path(__file__).resolve().parent.parent / "data"

_FIELDS = {
    "astro-ph.GA": "galaxy stellar halo redshift dark matter spectroscopy quasar cluster luminosity "
    "metallicity survey emission accretion supernova telescope photometric",
    "math.AG": "variety scheme sheaf cohomology moduli curve divisor morphism algebraic "
    "surface conjecture isomorphism invariant genus projective",
    "q-bio.NC": "neuron cortex synaptic spiking hippocampus plasticity neural circuit firing "
    "dendritic memory brain electrophysiology oscillation",
    "cond-mat.str-el": "superconductivity lattice fermion spin magnetic phase transition hubbard "
    "electron correlated insulator quantum criticality doping",
}
_BOILERPLATE = (
    "We study {a} and {b}.",
    "Our analysis of {a} reveals a new {b}.",
    "We show that {a} determines {b} in this setting.",
    "These results shed light on {a}.",
)


def _load(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def _paper(arxiv_id: str, title: str, abstract: str, category: str, day: date) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        version=1,
        title=title,
        abstract=abstract,
        authors=("Ada Lovelace", "Alan Turing"),
        categories=(category,),
        announced=day,
        announce_type="new",
    )


def video_retrieval(day: date = date(2026, 11, 20)) -> list[Paper]:
    return [
        _paper(r["arxiv_id"], r["title"], r["abstract"], "cs.CV", day) for r in _load("video_retrieval.jsonl")
    ]


def multimodal(day: date = date(2026, 11, 20)) -> list[Paper]:
    return [
        _paper(f"2509.1{i:04d}", r["title"], r["abstract"], "cs.LG", day)
        for i, r in enumerate(_load("multimodal_ssl.jsonl"))
    ]


def unrelated(n: int, day: date = date(2026, 11, 20), seed: int = 7) -> list[Paper]:
    """Papers of other fields: their own words, and the phrasing every abstract shares."""
    rng = random.Random(seed)
    papers = []
    for i in range(n):
        category = rng.choice(sorted(_FIELDS))
        words = _FIELDS[category].split()
        title = " ".join(rng.sample(words, 5)).title()
        sentences = [
            rng.choice(_BOILERPLATE).format(a=rng.choice(words), b=rng.choice(words)) for _ in range(6)
        ]
        papers.append(_paper(f"2508.3{i:04d}", title, " ".join(sentences), category, day))
    return papers


def on_day(papers: list[Paper], day: date) -> list[Paper]:
    return [replace(p, announced=day) for p in papers]
