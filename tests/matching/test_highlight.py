"""Matched words marked in card text: whole words, any case, escaped around the marks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.matching.highlight import MAX_TERMS, marked


def bold(s: str) -> str:
    return f"**{s}**"


def escape(s: str) -> str:
    return s.replace("*", "\\*")


def test_each_occurrence_is_marked_in_the_texts_own_case() -> None:
    text = "We improve video retrieval. Video  Retrieval benchmarks too."
    assert marked(text, ["Video Retrieval"], escape, bold) == (
        "We improve **video retrieval**. **Video  Retrieval** benchmarks too."
    )


def test_only_whole_words_and_the_longest_term_first() -> None:
    text = "Videos of video retrieval, not retrievals."
    assert marked(text, ["video", "video retrieval", "retrieval"], escape, bold) == (
        "Videos of **video retrieval**, not retrievals."
    )


def test_text_is_escaped_around_the_marks_so_it_cannot_break_them() -> None:
    assert marked("a *b* c", ["b"], escape, bold) == "a \\***b**\\* c"
    assert marked("2*x", [], escape, bold) == "2\\*x"


def test_regex_shaped_terms_are_plain_text() -> None:
    assert marked("costs (a+b)* now", ["(a+b)*", ".*"], escape, bold) == "costs **(a+b)\\*** now"


def test_too_many_or_too_long_terms_are_bounded() -> None:
    terms = [f"w{i}" for i in range(MAX_TERMS + 10)] + ["x" * 500]
    text = " ".join(terms)
    out = marked(text, terms, escape, bold)
    assert out.count("**") == 2 * MAX_TERMS


_TEXT = st.text(st.characters(blacklist_characters="\x00\x01"), max_size=200)


@given(_TEXT, st.lists(st.text(st.characters(blacklist_characters="\x00\x01"), max_size=20), max_size=5))
def test_removing_the_marks_gives_back_the_text(text: str, terms: list[str]) -> None:
    out = marked(text, terms, lambda s: s, lambda s: f"\x00{s}\x01")
    assert out.replace("\x00", "").replace("\x01", "") == text
