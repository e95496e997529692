"""arXiv id parsing: every form people paste, and what is not an id."""

from __future__ import annotations

import pytest

from bot.arxiv.ids import find_arxiv_ids, format_arxiv_id, parse_arxiv_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2401.01234", ("2401.01234", None)),
        ("2401.01234v2", ("2401.01234", 2)),
        ("arXiv:2401.01234", ("2401.01234", None)),
        ("ARXIV: 2401.01234v1", ("2401.01234", 1)),
        ("https://arxiv.org/abs/2401.01234v3", ("2401.01234", 3)),
        ("http://arxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("https://arxiv.org/pdf/2401.01234v3", ("2401.01234", 3)),
        ("https://arxiv.org/pdf/2401.01234v3.pdf", ("2401.01234", 3)),
        ("https://export.arxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("arxiv.org/abs/2401.01234/", ("2401.01234", None)),
        ("<https://arxiv.org/abs/2401.01234>", ("2401.01234", None)),
        ("  0704.0001 ", ("0704.0001", None)),
        ("1412.9999", ("1412.9999", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("https://arxiv.org/abs/hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("https://arxiv.org/pdf/math.GT/0309136v1.pdf", ("math.GT/0309136", 1)),
    ],
)
def test_parse_accepts(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "2413.01234",  # month 13
        "2400.01234",  # month 00
        "2401.0123",  # 4 digits after 2014
        "1401.01234",  # 5 digits before 2015
        "2401.012345",
        "0612.0001",  # before new-style ids existed
        "2401.01234v0",
        "foo/9901001",  # not an archive
        "hep-th/991301",
        "hep-th/9913001",  # month 13
        "https://example.org/abs/2401.01234",
        "2401.01234 and more",
        "12401.01234",
    ],
)
def test_parse_rejects(text: str) -> None:
    assert parse_arxiv_id(text) is None


def test_find_ids_in_a_message() -> None:
    text = (
        "have a look at https://arxiv.org/abs/2401.01234v2, and hep-th/9901001 (old!) "
        "but not 12401.01234 or 2413.00001; again arXiv:2401.01234 and arXiv:2312.11111."
    )
    assert find_arxiv_ids(text) == [("2401.01234", 2), ("hep-th/9901001", None), ("2312.11111", None)]


def test_find_nothing() -> None:
    assert find_arxiv_ids("version 1.2.3 released 2024-01-01, see v2401.01234x") == []


def test_format() -> None:
    assert format_arxiv_id("2401.01234", 2) == "2401.01234v2"
    assert format_arxiv_id("hep-th/9901001") == "hep-th/9901001"
