"""TL;DRs: the contribution and the result, at most 300 characters, never cut mid-word."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest.tldr import MAX_CHARS, sentences, tldr

ABSTRACT = (
    "Recent advances in video-language models have improved many tasks. However, untrimmed videos "
    "remain hard to search. We propose DualPRVR, a dual learning framework for partially relevant "
    "video retrieval. Experiments on TVR and ActivityNet show that DualPRVR outperforms the previous "
    "state of the art by 4.1% R@1. Code is available online."
)


def test_picks_the_contribution_and_the_result_in_order() -> None:
    assert tldr(ABSTRACT) == (
        "We propose DualPRVR, a dual learning framework for partially relevant video retrieval. "
        "Experiments on TVR and ActivityNet show that DualPRVR outperforms the previous state of the art "
        "by 4.1% R@1."
    )


def test_a_one_sentence_abstract_is_its_own_tldr() -> None:
    assert tldr("We study retrieval of long videos.") == "We study retrieval of long videos."


def test_an_abstract_without_a_period_still_gives_text() -> None:
    assert tldr("a dataset of drone videos with captions") == "a dataset of drone videos with captions"


def test_latex_becomes_text() -> None:
    out = tldr(r"We prove that $\alpha$-mixing holds with rate $O(n^{-1/2})$ for \emph{all} chains.")
    assert "\\" not in out and "$" not in out
    assert "α-mixing" in out and "all chains" in out


def test_a_4000_character_abstract_is_cut_at_a_word_with_an_ellipsis() -> None:
    long = "We propose " + " ".join(f"component{i}" for i in range(400)) + "."
    out = tldr(long)
    assert len(out) <= MAX_CHARS
    assert out.endswith("…")
    assert out[:-1].split()[-1] in long.split()  # the last word is whole


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert sentences("We compare to prior work, e.g. CLIP and BLIP. It works.") == [
        "We compare to prior work, e.g. CLIP and BLIP.",
        "It works.",
    ]


def test_empty_abstract() -> None:
    assert tldr("   ") == ""


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_any_text_gives_a_short_deterministic_tldr(text: str) -> None:
    out = tldr(text)
    assert len(out) <= MAX_CHARS
    assert out == tldr(text)
