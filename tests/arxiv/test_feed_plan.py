"""Planning a harvest's feed requests: categories needed, grouped within the budget, and the API's form.

The harvest itself (days, catch-up, re-polls) is tested in test_harvest.py and test_catch_up.py.
"""

from __future__ import annotations

from bot.arxiv.categories import ALL_ARXIV_ARCHIVES, SUBJECTS, estimated_items
from bot.arxiv.feed_plan import FEED_ITEM_BUDGET, api_categories, needed_union, plan_feed_requests

# -- planning ------------------------------------------------------------------------------------


def test_union_dedupes_and_defaults() -> None:
    assert needed_union([frozenset({"cs.CV"}), frozenset({"cs", "math.GT"}), None], ("stat",)) == [
        "cs",
        "math.GT",
        "stat",
    ]
    assert needed_union([], ("cs", "math")) == ["cs", "math"]
    assert needed_union([frozenset(), frozenset({"cs.CV"})], ("cs",)) == ["cs"]
    assert needed_union([frozenset({"math-ph", "math.GT"})], ()) == ["math-ph", "math.GT"]  # not one archive


def test_plan_covers_everything_within_budget() -> None:
    plan = plan_feed_requests(ALL_ARXIV_ARCHIVES)
    assert plan == plan_feed_requests(reversed(ALL_ARXIV_ARCHIVES))  # deterministic
    flat = [c for group in plan for c in group]
    assert len(flat) == len(set(flat))
    assert "cs" not in flat and set(SUBJECTS["cs"]) <= set(flat)  # cs is too big for one request
    assert set(ALL_ARXIV_ARCHIVES) - {"cs"} <= set(flat)
    assert all(sum(estimated_items(c) for c in g) <= FEED_ITEM_BUDGET for g in plan)
    assert len(plan) <= 10
    assert plan_feed_requests(["cs.CV", "cs.IR"]) == [("cs.CV", "cs.IR")]
    assert plan_feed_requests(["math", "cs.CV"]) == [("math",), ("cs.CV",)]


def test_an_api_query_names_an_archive_once_not_all_its_subjects() -> None:
    units = [c for group in plan_feed_requests(ALL_ARXIV_ARCHIVES) for c in group]
    assert api_categories(units) == sorted(ALL_ARXIV_ARCHIVES)
    assert api_categories(["cs.CV", "cs.IR", "math"]) == ["cs.CV", "cs.IR", "math"]
