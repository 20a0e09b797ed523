"""Order-free multiple alignment of answers into a word network."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.alignment import GAP, align, alignment_order

WORDS = ["a", "b", "c", "d", "e"]
A, B, C, D, E = range(5)


def test_golden_alignment_of_four_answers() -> None:
    # "a b c", "a c", "a b e c", "d": the centre is "a b c"; "d" substitutes where it costs least.
    network = align([[A, B, C], [A, C], [A, B, E, C], [D]], WORDS)
    np.testing.assert_array_equal(
        network.grid,
        [
            [A, B, GAP, C],
            [A, GAP, GAP, C],
            [A, B, E, C],
            [GAP, GAP, GAP, D],
        ],
    )


def test_the_centre_answer_goes_first_then_the_nearest() -> None:
    # Total distances 9, 5, 5, 7: "a b c" and "a b" tie and the shorter is the centre; then by distance
    # to it ("a b c" 1, "a b c d" 2, "d e" 2), the tie broken on the words.
    assert alignment_order([[D, E], [A, B, C], [A, B], [A, B, C, D]], WORDS) == [2, 1, 3, 0]


def test_edge_cases() -> None:
    assert align([], WORDS).grid.shape == (0, 0)
    assert align([[]], WORDS).grid.shape == (1, 0)
    np.testing.assert_array_equal(align([[A, B]], WORDS).grid, [[A, B]])
    np.testing.assert_array_equal(align([[], [A]], WORDS).grid, [[GAP], [A]])
    np.testing.assert_array_equal(align([[A, B], [A, B]], WORDS).grid, [[A, B], [A, B]])


answer_lists = st.lists(st.lists(st.integers(0, 4), max_size=8), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(answer_lists)
def test_every_row_reads_back_as_its_answer(answers: list[list[int]]) -> None:
    network = align(answers, WORDS)
    assert [network.row(r) for r in range(len(answers))] == answers
    assert not np.any(np.all(network.grid == GAP, axis=0))  # no column without a word


@settings(max_examples=100, deadline=None)
@given(answer_lists, st.data())
def test_the_order_of_answers_does_not_matter(answers: list[list[int]], data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(answers))))
    shuffled = align([answers[i] for i in order], WORDS)
    np.testing.assert_array_equal(shuffled.grid, align(answers, WORDS).grid[order])


@settings(max_examples=100, deadline=None)
@given(answer_lists, st.lists(st.integers(0, 4), max_size=8))
def test_a_reference_is_aligned_last_and_changes_only_gap_columns(answers: list[list[int]], gold: list[int]) -> None:
    with_gold = align(answers, WORDS, reference=gold)
    assert with_gold.row(len(answers)) == gold
    answer_columns = ~np.all(with_gold.grid[: len(answers)] == GAP, axis=0)
    np.testing.assert_array_equal(with_gold.grid[: len(answers), answer_columns], align(answers, WORDS).grid)
