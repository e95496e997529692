"""One shorten and one line splitter for every limit: TL;DRs, titles, Slack sections, Discord messages."""

from __future__ import annotations

from bot.textcut import shorten, split_lines


def test_shorten_keeps_short_text_and_cuts_long_text_at_a_word_with_an_ellipsis() -> None:
    assert shorten("video retrieval", 20) == "video retrieval"
    assert shorten("Contrastive learning, for video retrieval at scale", 30) == "Contrastive learning, for…"
    assert len(shorten("x" * 500, 100)) == 100  # no word boundary: cut at the limit
    assert shorten("ε-greedy μ-law ∂ transformers and more", 20).endswith("…")


def test_split_lines_cuts_at_line_breaks_and_loses_nothing_of_a_long_line() -> None:
    text = "\n".join(["a" * 40, "b" * 40, "c" * 250])
    chunks = split_lines(text, 100)
    assert chunks[0] == "a" * 40 + "\n" + "b" * 40
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(chunks[1:]) == "c" * 250


def test_split_lines_can_shorten_a_long_line_of_prose_instead() -> None:
    chunks = split_lines("intro\n" + "word " * 100, 100, shorten_long=True)
    assert chunks == ["intro", shorten("word " * 100, 100)]


def test_split_lines_gives_one_chunk_for_empty_text_and_drops_blank_chunks() -> None:
    assert split_lines("", 10) == [""]
    assert split_lines("x" * 10 + "\n   ", 10) == ["x" * 10]
