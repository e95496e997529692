"""The /track query language: grammar, canonical form, readings, and every kind of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import UserError
from bot.matching.query import MAX_QUERY_CHARS, And, Not, Phrase, Query, QueryError, parse
from bot.matching.query_syntax import MAX_DEPTH, MAX_TERMS

QUICK = settings(max_examples=200, deadline=None)


def test_bare_words_are_one_phrase_in_title_or_abstract() -> None:
    q = parse("video retrieval")
    assert q.root == Phrase("any", "video retrieval", ("video", "retrieval"), ("video", "retriev"))
    assert q.canonical == "video retrieval"
    assert q.describe() == 'title or abstract contains the phrase "video retrieval"'
    assert q.to_arxiv() == '(ti:"video retrieval" OR abs:"video retrieval")'
    assert q.categories() is None


def test_spacing_and_case_do_not_make_a_new_subscription() -> None:
    assert parse("Video  Retrieval") == parse("video retrieval") == parse('"VIDEO retrieval"')
    assert hash(parse("Video  Retrieval")) == hash(parse("video retrieval"))


def test_a_phrase_next_to_an_exclusion_is_anded() -> None:
    q = parse('"video retrieval" -audio')
    assert q.canonical == "video retrieval AND NOT audio"
    assert q.describe() == (
        'title or abstract contains the phrase "video retrieval" and '
        'title or abstract does not contain "audio"'
    )
    assert q.to_arxiv() == '(ti:"video retrieval" OR abs:"video retrieval") ANDNOT (ti:audio OR abs:audio)'
    assert parse("video retrieval -audio") == parse("video retrieval AND NOT audio") == q


def test_minus_binds_one_word_and_not_binds_a_run() -> None:
    assert parse("-audio visual speech").canonical == "visual speech AND NOT audio"
    assert parse("speech NOT audio visual").canonical == "speech AND NOT audio visual"


def test_precedence_not_over_and_over_or() -> None:
    q = parse("diffusion OR video AND NOT audio")
    assert q.canonical == "diffusion OR video AND NOT audio"
    assert q.describe() == (
        'title or abstract contains "diffusion" or '
        '(title or abstract contains "video" and title or abstract does not contain "audio")'
    )
    grouped = parse("(diffusion OR video) AND NOT audio")
    assert grouped.canonical == "(diffusion OR video) AND NOT audio"
    assert grouped != q


def test_pipe_is_or_and_and_is_implicit_between_terms() -> None:
    assert parse("diffusion | video") == parse("video OR diffusion")
    assert parse('"graph neural" ti:survey') == parse('ti:survey AND "graph neural"')


def test_fields_apply_to_a_word_a_phrase_or_a_group() -> None:
    assert parse('ti:"Video Retrieval"').to_arxiv() == 'ti:"video retrieval"'
    assert parse("TI:diffusion").canonical == "ti:diffusion"
    grouped = parse("ti:(diffusion OR video)")
    assert grouped == parse("ti:diffusion OR ti:video")
    assert grouped.describe() == 'title contains "diffusion" or title contains "video"'
    assert parse("ti:video retrieval").canonical == "retrieval AND ti:video"  # a field takes one word
    assert parse("abs:(contrastive learning)").canonical == 'abs:"contrastive learning"'


def test_author_field() -> None:
    q = parse("au:Müller")
    assert q.canonical == "au:muller"
    assert q.to_arxiv() == "au:muller"
    assert q.describe() == 'an author is named "muller"'
    assert parse('au:"J. Müller"').canonical == 'au:"j muller"'
    assert parse("au:(jane muller)") == parse('au:"Jane Muller"')


def test_category_field() -> None:
    assert parse("cat:CS.cv").canonical == "cat:cs.CV"
    assert parse("cat:hep-th").canonical == "cat:hep-th"
    assert parse("cat:cond-mat.mes-hall").canonical == "cat:cond-mat.mes-hall"
    prefix = parse("cat:cs.*")
    assert prefix.canonical == prefix.to_arxiv() == "cat:cs.*"
    assert prefix.describe() == "category is in cs.*"
    assert parse("cat:cs") == prefix  # no paper is listed under a bare 'cs'
    assert parse("cat:(cs.CV cs.LG)").canonical == "cat:cs.CV AND cat:cs.LG"


@pytest.mark.parametrize(
    ("text", "required"),
    [
        ("cat:cs.CV video", {"cs.CV"}),
        ("cat:cs.CV OR cat:cs.LG", {"cs.CV", "cs.LG"}),
        ("cat:cs.* -cat:cs.CL", {"cs.*"}),
        ("cat:cs.CV OR video", None),
        ("video -cat:cs.CV", None),
        ("video", None),
        ("(cat:cs.CV OR cat:eess.IV) cat:cs.LG", {"cs.LG"}),
    ],
)
def test_categories_a_query_requires(text: str, required: set[str] | None) -> None:
    got = parse(text).categories()
    assert (None if got is None else set(got)) == required


def test_redundant_parentheses_and_double_negation_drop_out() -> None:
    assert parse("((video))").canonical == "video"
    assert parse("--video").canonical == "video"
    assert (
        parse("a1 AND (b1 AND c1)") == parse("(a1 AND b1) AND c1") == parse("c1 b1 a1".replace(" ", " AND "))
    )


def test_to_arxiv_writes_every_operator() -> None:
    q = parse('ti:diffusion -abs:"medical imaging" OR au:"J. Müller"')
    assert q.to_arxiv() == 'au:"j muller" OR (ti:diffusion ANDNOT abs:"medical imaging")'
    q = parse("graph (ti:survey OR cat:cs.LG) -audio -speech")
    assert q.to_arxiv() == (
        "((cat:cs.LG OR ti:survey) AND (ti:graph OR abs:graph)) ANDNOT "
        "((ti:audio OR abs:audio) OR (ti:speech OR abs:speech))"
    )


def test_stop_words_stay_inside_a_phrase() -> None:
    assert parse("learning to rank").root == Phrase(
        "any", "learning to rank", ("learning", "to", "rank"), ("learn", "to", "rank")
    )


def test_smart_quotes_from_chat_clients_are_quotes() -> None:
    assert parse("\u201cvideo retrieval\u201d -audio") == parse('"video retrieval" -audio')


def test_regex_and_sql_shaped_text_is_just_text() -> None:
    q = parse('"\'); DROP TABLE subscriptions;--"')
    assert q.canonical == '"\'); drop table subscriptions;--"'
    assert parse(q.canonical) == q
    assert parse("foo.*bar c++").to_arxiv() == '(ti:"foo bar c" OR abs:"foo bar c")'


# --- bad input -----------------------------------------------------------------


def _error(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert isinstance(caught.value, UserError)
    return caught.value


def test_empty_query() -> None:
    assert "empty" in str(_error(""))
    assert "empty" in str(_error("   \t"))


@pytest.mark.parametrize("text", ["the", "of and", "The OF"])
def test_only_stop_words(text: str) -> None:
    assert "only common words" in str(_error(text))


@pytest.mark.parametrize("text", ["...", "!?", '"--"', "ti:+++"])
def test_only_punctuation(text: str) -> None:
    assert "no letters or digits" in str(_error(text))


def test_too_long_names_the_limit() -> None:
    err = _error("video " * 100)
    assert str(MAX_QUERY_CHARS) in str(err) and "600 characters" in str(err)


def test_deep_nesting_is_a_clear_error_not_a_recursion_error() -> None:
    err = _error("(" * 1000 + "video" + ")" * 1000)
    assert "limit" in str(err)
    err = _error("(" * (MAX_DEPTH + 1) + "video" + ")" * (MAX_DEPTH + 1))
    assert f"nested too deeply at column {MAX_DEPTH + 1}" in str(err)
    assert err.column == MAX_DEPTH + 1
    assert parse("(" * MAX_DEPTH + "video" + ")" * MAX_DEPTH).canonical == "video"
    assert parse("-" * 400 + "video").canonical == "video"


def test_too_many_terms() -> None:
    err = _error(" OR ".join(f"w{i}" for i in range(MAX_TERMS + 1)))
    assert f"limit is {MAX_TERMS}" in str(err)


def test_unknown_field_names_the_known_ones() -> None:
    err = _error("video xx:foo")
    assert str(err).startswith('unknown field "xx:" at column 7')
    assert all(f in str(err) for f in ("ti:", "abs:", "au:", "cat:"))
    assert err.column == 7


@pytest.mark.parametrize(
    ("text", "column"), [("video OR", 7), ("OR video", 1), ("video OR OR audio", 7), ("video AND", 7)]
)
def test_dangling_operator(text: str, column: int) -> None:
    err = _error(text)
    assert "needs a term on both sides" in str(err)
    assert err.column == column


@pytest.mark.parametrize(
    ("text", "column"), [("-", 1), ("video - audio", 7), ("video -", 7), ("(video -)", 8)]
)
def test_lone_minus(text: str, column: int) -> None:
    err = _error(text)
    assert str(err) == f"lone - at column {column}: put the word to exclude right after it, e.g. -audio"


def test_unbalanced_quote_names_the_column() -> None:
    err = _error('video "retrieval')
    assert str(err) == 'unbalanced quote at column 7: add the closing "'
    assert err.column == 7


def test_unbalanced_parentheses() -> None:
    assert "( at column 1 is never closed" in str(_error("(video OR audio"))
    assert "unexpected ) at column 6" in str(_error("video) audio"))
    assert "empty parentheses at column 7" in str(_error("video ()"))


def test_regex_metacharacters_are_a_clean_error() -> None:
    err = _error(r".*+?[](){}^$|\ ")
    assert "column" in str(err)


def test_sql_shaped_text_is_a_clean_error() -> None:
    assert "column" in str(_error("'); DROP TABLE subscriptions;--"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-audio", "at least one positive term"),
        ("NOT audio -speech", "at least one positive term"),
        ("video OR -audio", "each side of OR at column 7 needs a positive term"),
        ("video -(-audio -speech)", "needs a positive term inside"),
        ("ti: video", "needs a word"),
        ("ti:-video", "put the - before the field"),
        ("ti:(abs:video)", "fields cannot be nested"),
        ("cat:cs.CV.foo", "not an arXiv category"),
        ('video ""', "empty quotes at column 7"),
        ("NOT", "NOT at column 1 needs a term after it"),
    ],
)
def test_other_mistakes(text: str, message: str) -> None:
    assert message in str(_error(text))


# --- properties ------------------------------------------------------------------

_WORDS = st.sampled_from(
    ["video", "retrieval", "Audio", "graph", "Diffusion", "text-to-video", "müller", "c++"]
)
_PHRASES = st.lists(_WORDS, min_size=1, max_size=3).map(" ".join)
_ATOMS = st.one_of(
    _PHRASES,
    _PHRASES.map(lambda p: f'"{p}"'),
    st.tuples(st.sampled_from(["ti", "abs", "TI"]), _WORDS).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(st.sampled_from(["ti", "abs", "au"]), _PHRASES).map(lambda t: f'{t[0]}:"{t[1]}"'),
    st.sampled_from(["cat:cs.CV", "cat:cs.*", "cat:hep-th", "au:Muller", "cat:MATH.ag"]),
)
QUERIES = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) OR ({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} AND ({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) -({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) NOT {t[1]}"),
    ),
    max_leaves=6,
)
_GRAMMAR_SOUP = st.lists(
    st.sampled_from([*'ab xy()"-:|\u201c', "OR ", "AND ", "NOT ", "ti:", "au:", "cat:", "cs.*", "video"])
).map("".join)


@QUICK
@given(st.one_of(st.text(max_size=600), _GRAMMAR_SOUP))
def test_parse_raises_nothing_but_query_error(text: str) -> None:
    try:
        q = parse(text)
    except QueryError as err:
        assert err.column >= 1 and str(err)
    else:
        assert parse(q.canonical) == q


@QUICK
@given(QUERIES)
def test_canonical_reparses_to_an_equal_query(text: str) -> None:
    q = parse(text)
    again = parse(q.canonical)
    assert again == q and again.root == q.root and again.canonical == q.canonical
    assert isinstance(q.describe(), str) and isinstance(q.to_arxiv(), str)
    assert hash(again) == hash(q)


def test_query_is_a_frozen_hashable_value() -> None:
    q = parse("video retrieval -audio")
    assert isinstance(q, Query)
    assert isinstance(q.root, And) and isinstance(q.root.children[1], Not)
    assert {q: 1}[parse("Video Retrieval AND NOT Audio")] == 1
    with pytest.raises(AttributeError):
        q.canonical = "x"  # type: ignore[misc]
