"""Normalisation, word edit distance, word error rate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.words import (
    TextNormalization,
    corpus_word_error_rate,
    edit_distance,
    normalized_edit_distance,
    word_error_rate,
)


def plain_levenshtein(first: list[str], second: list[str]) -> int:
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i] + [0] * len(second)
        for j, b in enumerate(second, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
        previous = current
    return previous[-1]


def test_default_normalisation_matches_the_crowdspeech_convention() -> None:
    text = "The discipline, is\nconcerned —  with “polymeric”\tmaterials! Don't STOP."
    assert TextNormalization().words(text) == [
        "the", "discipline", "is", "concerned", "with", "polymeric", "materials", "don't", "stop",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("normalization", "expected"),
    [
        (TextNormalization(lowercase=False), ["Hello", "world", "it's", "me"]),
        (TextNormalization(punctuation="keep"), ["hello,", "world!", "it's", "me."]),
        (TextNormalization(punctuation="separate"), ["hello", ",", "world", "!", "it's", "me", "."]),
        (TextNormalization(keep_apostrophes=False), ["hello", "world", "it", "s", "me"]),
    ],
)
def test_normalisation_rules(normalization: TextNormalization, expected: list[str]) -> None:
    assert normalization.words("Hello, world! it's me.") == expected


def test_nfkc_folds_full_width_letters_and_no_break_spaces() -> None:
    assert TextNormalization().words("ＡＢＣ\u00a0def") == ["abc", "def"]
    assert TextNormalization(unicode_nfkc=False).words("ＡＢＣ") == ["ａｂｃ"]


def test_blank_answers_have_no_words_and_settings_round_trip() -> None:
    assert TextNormalization().words(" \n\t ") == []
    settings_ = TextNormalization(lowercase=False, punctuation="separate")
    assert TextNormalization.from_dict(settings_.to_dict()) == settings_
    with pytest.raises(ValueError, match="punctuation"):
        TextNormalization(punctuation="strip")  # type: ignore[arg-type]


def test_edit_distance_golden() -> None:
    assert edit_distance(["kitten"], ["sitting"]) == 1
    assert edit_distance(list("kitten"), list("sitting")) == 3
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b"], []) == 2
    assert edit_distance(["a"] * 100, ["a"] * 99 + ["b"]) == 1  # longer than a machine word


words = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=80)


@settings(max_examples=200, deadline=None)
@given(words, words)
def test_bit_parallel_distance_equals_the_plain_table(first: list[str], second: list[str]) -> None:
    assert edit_distance(first, second) == plain_levenshtein(first, second)
    assert edit_distance(second, first) == edit_distance(first, second)


def test_word_error_rate_and_its_empty_cases() -> None:
    assert word_error_rate(["the", "cat"], ["the", "cat", "sat"]) == pytest.approx(1 / 3)
    assert word_error_rate(["a", "b", "c", "d"], ["x"]) == 4.0  # past 1: inserted words
    assert word_error_rate([], []) == 0.0
    assert word_error_rate(["a"], []) == 1.0
    assert corpus_word_error_rate([["a"], ["b", "c"]], [["a", "x"], ["b", "c"]]) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        corpus_word_error_rate([["a"]], [])


@settings(max_examples=100, deadline=None)
@given(words, words)
def test_normalized_edit_distance_is_within_zero_and_one(first: list[str], second: list[str]) -> None:
    distance = normalized_edit_distance(first, second)
    assert 0.0 <= distance <= 1.0
    assert (distance == 0.0) == (first == second)
