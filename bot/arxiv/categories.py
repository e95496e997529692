"""arXiv's taxonomy as paperbot needs it: the archives, which are split into subject classes, and how
big each day's announcement feed of each is (https://arxiv.org/category_taxonomy)."""

from __future__ import annotations

# Every arXiv archive: a subscription without `cat:` needs all of them.
ALL_ARXIV_ARCHIVES = (
    "astro-ph", "cond-mat", "cs", "econ", "eess", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th",
    "math", "math-ph", "nlin", "nucl-ex", "nucl-th", "physics", "q-bio", "q-fin", "quant-ph", "stat",
)  # fmt: skip

# Archives whose categories are `archive.SUBJECT` (cs.CV); the rest (hep-th, gr-qc, ...) are one
# category. astro-ph and cond-mat also exist bare, on old papers.
ARCHIVES_WITH_SUBJECTS = frozenset(
    {"astro-ph", "cond-mat", "cs", "econ", "eess", "math", "nlin", "physics", "q-bio", "q-fin", "stat"}
)

# Subjects of archives too big for one feed request (all of them, so splitting loses nothing).
SUBJECTS: dict[str, tuple[str, ...]] = {
    "cs": (
        "cs.AI", "cs.AR", "cs.CC", "cs.CE", "cs.CG", "cs.CL", "cs.CR", "cs.CV", "cs.CY", "cs.DB",
        "cs.DC", "cs.DL", "cs.DM", "cs.DS", "cs.ET", "cs.FL", "cs.GL", "cs.GR", "cs.GT", "cs.HC",
        "cs.IR", "cs.IT", "cs.LG", "cs.LO", "cs.MA", "cs.MM", "cs.MS", "cs.NA", "cs.NE", "cs.NI",
        "cs.OH", "cs.OS", "cs.PF", "cs.PL", "cs.RO", "cs.SC", "cs.SD", "cs.SE", "cs.SI", "cs.SY",
    ),
}  # fmt: skip

# Typical items per announcement day (new + cross-lists + replacements) in the announcement feed,
# rounded up from arXiv's listing pages in 2024-2025. Only their sizes relative to a request's
# budget matter: `cs` alone can exceed 2000 and is split into its subjects; `math` and `physics`
# get a request of their own; the small archives share one.
DAILY_ITEMS: dict[str, int] = {
    "astro-ph": 400, "cond-mat": 550, "cs": 2600, "econ": 60, "eess": 500, "gr-qc": 150,
    "hep-ex": 60, "hep-lat": 40, "hep-ph": 250, "hep-th": 250, "math": 1300, "math-ph": 120,
    "nlin": 60, "nucl-ex": 40, "nucl-th": 90, "physics": 800, "q-bio": 150, "q-fin": 70,
    "quant-ph": 450, "stat": 500,
    # cs subjects (a paper is often in several, so they add up to more than `cs`)
    "cs.AI": 700, "cs.LG": 1000, "cs.CV": 650, "cs.CL": 500, "cs.RO": 200, "cs.CR": 180,
    "cs.SE": 120, "cs.HC": 110, "cs.IR": 110, "cs.IT": 100, "cs.DC": 90, "cs.NI": 70,
    "cs.SY": 100, "cs.CY": 90, "cs.NE": 60, "cs.DS": 80, "cs.LO": 50, "cs.SD": 60, "cs.MA": 40,
}  # fmt: skip
DEFAULT_ITEMS = 40  # a category not in the table: small


def archive_of(category: str) -> str:
    """`cs.CV` -> `cs`; `hep-th` -> `hep-th`."""
    return category.split(".", 1)[0]


def estimated_items(category: str) -> int:
    """Typical daily feed items of a category or archive (see DAILY_ITEMS)."""
    return DAILY_ITEMS.get(category, DEFAULT_ITEMS)
