"""baryon.patterns: Python/ECMA patterns on RE2, in linear time, with the meaning they were
written with (ASCII classes, "$" at the very end)."""

from __future__ import annotations

import pytest

from baryon import patterns


@pytest.mark.parametrize(
    ("source", "translated"),
    [
        (r"^\s+$", r"^[[:space:]]+$"),
        (r"^[^\S\d]$", r"^[^[:^space:]\d]$"),
        (r"^a\Z", r"^a\z"),
        (r"^\u00e9\U0001F600$", r"^\x{00e9}\x{0001F600}$"),
        (r"^[]\s]$", r"^[][:space:]]$"),
        (r"^[[:alpha:]\s]$", r"^[[:alpha:][:space:]]$"),
        (r"^\\s$", r"^\\s$"),
        (r"^[0-9]{1,3}($|/(16|24))", r"^[0-9]{1,3}($|/(16|24))"),
    ],
)
def test_patterns_are_translated_where_re2_would_read_them_differently(
    source: str, translated: str
) -> None:
    assert patterns.translate(source) == translated
    assert patterns.compile_pattern(source).translated == translated


@pytest.mark.parametrize(
    ("source", "text", "matches"),
    [
        (r"^prod$", "prod\n", False),
        (r"^\d+$", "1\u0661", False),
        (r"^\w+$", "r\u00e9le", False),
        (r"^\s$", "\x0b", True),
        (r"^\s$", "\u00a0", False),
        (r"^\u00e9$", "\u00e9", True),
        (r"^[a-z]+$", "ab\ud800", False),  # a lone surrogate (JSON allows one) is no error
        (r"b", "ab", True),  # patterns search: they are not implicitly anchored
    ],
)
def test_patterns_match_the_whole_value_in_ascii(source: str, text: str, matches: bool) -> None:
    assert patterns.search(source, text) is matches


@pytest.mark.timeout(60)
def test_a_catastrophic_pattern_answers_in_linear_time() -> None:
    assert patterns.search(r"^(a+)+$", "a" * 200_000 + "!") is False
    assert patterns.search(r"^(a|aa)*c$", "a" * 200_000) is False


def test_a_pattern_is_compiled_once_with_bounded_memory() -> None:
    first = patterns.compile_pattern(r"^[a-z]+-\d+$")
    assert patterns.compile_pattern(r"^[a-z]+-\d+$") is first
    assert first._regexp.options.max_mem == patterns.MAX_MEMORY


def test_a_short_texts_answer_is_kept_and_a_long_texts_is_not() -> None:
    source = r"^[a-z]+-kept-answers$"
    short, long = "ab-kept-answers", "a" * patterns._ANSWERED_CHARS + "-kept-answers"
    before = patterns._answered.cache_info()
    assert patterns.search(source, short) and patterns.search(source, short)
    assert patterns.search(source, long) and patterns.search(source, long)
    after = patterns._answered.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


@pytest.mark.parametrize(
    ("source", "predicate"),
    [
        ("^(?=a)", "cannot be used: "),
        ("^(?<!a)b", "cannot be used: "),
        (r"^(a)\1$", "cannot be used: "),
        ("^(a", "is not a valid regular expression: missing ), unterminated subpattern"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_with_its_reason(source: str, predicate: str) -> None:
    with pytest.raises(patterns.PatternError) as caught:
        patterns.compile_pattern(source)
    assert str(caught.value).startswith(predicate)
