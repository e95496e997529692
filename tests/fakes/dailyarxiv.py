"""DailyArXiv's "Video Retrieval" list (tests/data/video_retrieval.jsonl) as papers, and its table.

The records are the 100 papers DailyArXiv listed for the keyword, in its order (arXiv's, newest
last update first), each with the date of its last update but not the time. arXiv ordered papers
of one day by that time; the papers here get times that keep the listed order within each day
(noon UTC, then a second earlier per place), so the store holds what DailyArXiv was given.

`dailyarxiv_rows` renders the records as DailyArXiv's own generate_table does (its rules, written
here independently): the reference an export is compared with.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.models import Paper

DATA = Path(__file__).resolve().parent.parent / "data" / "video_retrieval.jsonl"


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def source_papers() -> list[Paper]:
    """The records as papers last updated in DailyArXiv's order."""
    papers: list[Paper] = []
    place: dict[str, int] = {}
    for r in records():
        k = place[r["updated"]] = place.get(r["updated"], -1) + 1
        when = datetime.fromisoformat(r["updated"]).replace(hour=12, tzinfo=UTC) - timedelta(seconds=k)
        papers.append(
            Paper(
                arxiv_id=r["arxiv_id"],
                version=int(r["version"]),
                title=r["title"],
                abstract=r["abstract"],
                authors=("A. Author",),
                categories=("cs.CV",),
                comment=r["comment"] or None,
                published=when if int(r["version"]) == 1 else None,
                updated=when,
            )
        )
    return papers


def dailyarxiv_rows() -> list[tuple[str, str, str, str]]:
    """(title, date, abstract, comment) per record, as DailyArXiv's table shows them, in its order."""
    rows = []
    for r in records():
        comment = " ".join(r["comment"].split())
        if len(comment) > 20:
            comment = f"<details><summary>{comment[:5]}...</summary><p>{comment}</p></details>"
        rows.append((" ".join(r["title"].split()), r["updated"], " ".join(r["abstract"].split()), comment))
    return rows
