"""arXiv identifiers: parse what people paste (ids, `arXiv:` prefixes, abs/pdf URLs) into (id, version).

Two schemes exist (https://info.arxiv.org/help/arxiv_identifier.html):
- new style since April 2007: `YYMM.NNNN` (4-digit number up to 1412) or `YYMM.NNNNN` (5 digits from 1501);
- old style before that: `archive[.SC]/YYMMNNN`, e.g. `hep-th/9901001`, `math.GT/0309136`.
"""

from __future__ import annotations

import re

# Old-style archives: anything else before a slash is not an arXiv id (keeps `foo/9901001` out).
OLD_ARCHIVES = frozenset(
    {
        "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an", "chao-dyn",
        "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an", "gr-qc", "hep-ex",
        "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin", "nucl-ex", "nucl-th",
        "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph", "solv-int", "supr-con",
    }
)  # fmt: skip

_NEW = r"(?P<new>(?P<yymm>\d{4})\.(?P<num>\d{4,5}))"
_OLD = r"(?P<old>(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]{2}(?:-[a-z]{2,})?)?/(?P<oyymm>\d{4})\d{3})"
_ID = rf"(?:{_NEW}|{_OLD})(?:v(?P<version>\d{{1,3}}))?"
_URL_PREFIX = r"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"

_WHOLE = re.compile(
    rf"\s*<?(?:{_URL_PREFIX}|arxiv:\s*)?{_ID}(?:\.pdf)?/?>?\s*",
    re.IGNORECASE,
)
# Inside a longer text: not glued to other word characters, dots or slashes (so `12401.01234` and
# `a/hep-th/9901001x` are not ids).
_EMBEDDED = re.compile(
    rf"(?<![\w./-])(?:{_URL_PREFIX}|arxiv:\s*)?{_ID}(?![\w-]|\.\d)",
    re.IGNORECASE,
)


def _valid(m: re.Match[str]) -> tuple[str, int | None] | None:
    version = int(m["version"]) if m["version"] else None
    if version == 0:
        return None
    if m["new"]:
        yymm, num = m["yymm"], m["num"]
        if not 1 <= int(yymm[2:]) <= 12 or int(yymm) < 704:
            return None
        # 4-digit numbers until 2014, 5 digits since 2015: anything else is a typo, not an id.
        if (len(num) == 5) != (int(yymm) >= 1501):
            return None
        return f"{yymm}.{num}", version
    old: str = m["old"]
    archive = m["archive"].lower()
    if archive not in OLD_ARCHIVES or not 1 <= int(m["oyymm"][2:]) <= 12:
        return None
    # The archive is lower case; a subject class keeps arXiv's spelling (math.GT).
    return archive + old[len(archive) :], version


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """`'https://arxiv.org/abs/2401.01234v3'` -> `('2401.01234', 3)`; None when `text` is not one arXiv id."""
    m = _WHOLE.fullmatch(text)
    return _valid(m) if m else None


def find_arxiv_ids(text: str) -> list[tuple[str, int | None]]:
    """Every arXiv id mentioned in `text`, in order of appearance, each once."""
    found: list[tuple[str, int | None]] = []
    seen: set[str] = set()
    for m in _EMBEDDED.finditer(text):
        parsed = _valid(m)
        if parsed and parsed[0] not in seen:
            seen.add(parsed[0])
            found.append(parsed)
    return found


def format_arxiv_id(arxiv_id: str, version: int | None = None) -> str:
    """`('2401.01234', 2)` -> `'2401.01234v2'`."""
    return f"{arxiv_id}v{version}" if version else arxiv_id
