"""Multiple alignment of several answers into a word transition network (ROVER-style, order-free).

The network is a grid: one row per answer, one column per aligned position,
each cell a word id or :data:`GAP` (the answer has no word there). Reading a
row left to right without its gaps gives the answer back.

ROVER (Fiscus, 1997) aligns the answers one after the other in the order
they come, each to the network built so far, and its result depends on that
order. Here the order is a function of the answers alone:

1. the *centre* goes first: the answer with the smallest total word edit
   distance to the others (ties: the shorter total, then the smaller word
   sequence);
2. then the others, nearest to the centre first (ties: the smaller word
   sequence), so each new answer meets a network already shaped by the
   answers most like it.

Each answer is aligned to the network by dynamic programming over *profile*
costs, in units of one already-aligned row (integers, so ties are exact):

* a word against column ``j``: the number of rows whose cell in ``j`` is not that word;
* a gap against column ``j`` (the answer skips it): the rows whose cell is not a gap;
* a word in a new column between two old ones: every row (they all get a gap there).

This is the sum-of-pairs cost of progressive multiple alignment: the new
answer joins the column where most of the earlier answers agree with it,
not merely one where some answer does (ROVER's test). On equal cost the
trace prefers matching a column, then skipping one, then a new column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import IntArray
from crowd.consensus.words import edit_distance

GAP = -1
"""The cell of an answer that has no word at a column."""

_MATCH, _SKIP, _NEW = 0, 1, 2


@dataclass(frozen=True)
class WordNetwork:
    """Aligned answers: ``grid[r, c]`` is the word id of answer ``r`` at column ``c``, or :data:`GAP`."""

    grid: IntArray

    @property
    def n_columns(self) -> int:
        return int(self.grid.shape[1])

    def row(self, answer: int) -> list[int]:
        """Answer ``answer``'s words again, gaps left out."""
        return [int(word) for word in self.grid[answer] if word != GAP]


def align(
    answers: Sequence[Sequence[int]], words: Sequence[str] | None = None, reference: Sequence[int] | None = None
) -> WordNetwork:
    """Align word-id sequences into one network; row ``r`` of the grid is ``answers[r]``.

    ``words[i]`` is the text of word id ``i``; it breaks ties in the order of
    alignment so that the result does not depend on how ids were numbered
    (without it ties are broken on the ids themselves). A ``reference`` (a
    known gold text) is aligned last, as an extra final row: the answers'
    alignment is the same with or without it, apart from the new columns it
    opens where no answer has a word.
    """
    order = alignment_order(answers, words) if answers else []
    columns: list[dict[int, int]] = []
    rows: dict[int, list[int]] = {}
    sequences = [*answers, reference] if reference is not None else list(answers)
    for aligned, answer in enumerate([*order, len(answers)] if reference is not None else order):
        columns, rows = _extend(columns, rows, _best_path(sequences[answer], columns, aligned), answer)
    width = len(columns)
    grid = np.array([rows[answer] for answer in range(len(sequences))], dtype=np.intp).reshape(len(sequences), width)
    return WordNetwork(grid)


def alignment_order(answers: Sequence[Sequence[int]], words: Sequence[str] | None = None) -> list[int]:
    """The centre answer first, then the others by edit distance to it (ties broken on their words)."""

    def spelled(answer: int) -> tuple[str, ...] | tuple[int, ...]:
        return tuple(answers[answer]) if words is None else tuple(words[word] for word in answers[answer])

    n = len(answers)
    distances = np.zeros((n, n), dtype=np.intp)
    for first in range(n):
        for second in range(first + 1, n):
            distances[first, second] = distances[second, first] = edit_distance(answers[first], answers[second])
    totals = distances.sum(axis=1)
    centre = min(range(n), key=lambda answer: (int(totals[answer]), len(answers[answer]), spelled(answer)))
    others = sorted((a for a in range(n) if a != centre), key=lambda a: (int(distances[centre, a]), spelled(a)))
    return [centre, *others]


def _best_path(answer: Sequence[int], columns: list[dict[int, int]], aligned: int) -> list[tuple[int, int]]:
    """The cheapest alignment of ``answer`` to the network, as ``(move, word)`` steps from left to right.

    ``cost[i][j]``: aligning the first ``i`` words to the first ``j`` columns.
    A move is :data:`_MATCH` (word ``i`` into column ``j``), :data:`_SKIP` (a
    gap into column ``j``) or :data:`_NEW` (word ``i`` in a new column).
    """
    n_words, n_columns = len(answer), len(columns)
    skip = [aligned - column.get(GAP, 0) for column in columns]
    cost = [[0] * (n_columns + 1) for _ in range(n_words + 1)]
    for j in range(1, n_columns + 1):
        cost[0][j] = cost[0][j - 1] + skip[j - 1]
    for i in range(1, n_words + 1):
        word, above, here = answer[i - 1], cost[i - 1], cost[i]
        match = [aligned - column.get(word, 0) for column in columns]
        here[0] = best = above[0] + aligned
        for j in range(1, n_columns + 1):  # min() of the three moves, written out: this loop is the fit's hot spot
            best += skip[j - 1]
            diagonal = above[j - 1] + match[j - 1]
            if diagonal < best:
                best = diagonal
            new_column = above[j] + aligned
            if new_column < best:
                best = new_column
            here[j] = best
    return _trace(answer, columns, cost, skip, aligned)


def _trace(
    answer: Sequence[int], columns: list[dict[int, int]], cost: list[list[int]], skip: list[int], aligned: int
) -> list[tuple[int, int]]:
    """Walk the cost table back from the corner, preferring match, then skip, then a new column."""
    i, j, steps = len(answer), len(columns), []
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + aligned - columns[j - 1].get(answer[i - 1], 0):
            steps.append((_MATCH, answer[i - 1]))
            i, j = i - 1, j - 1
        elif j and cost[i][j] == cost[i][j - 1] + skip[j - 1]:
            steps.append((_SKIP, GAP))
            j -= 1
        else:
            steps.append((_NEW, answer[i - 1]))
            i -= 1
    return steps[::-1]


def _extend(
    columns: list[dict[int, int]], rows: dict[int, list[int]], path: list[tuple[int, int]], answer: int
) -> tuple[list[dict[int, int]], dict[int, list[int]]]:
    """The network with ``answer`` added along ``path``: old columns in order, new ones where the path makes them."""
    new_columns: list[dict[int, int]] = []
    new_rows: dict[int, list[int]] = {row: [] for row in rows}
    new_rows[answer] = []
    old = 0
    for move, word in path:
        if move == _NEW:
            column = {GAP: len(rows)} if rows else {}
            for row in rows:
                new_rows[row].append(GAP)
        else:
            column = dict(columns[old])
            for row, cells in rows.items():
                new_rows[row].append(cells[old])
            old += 1
        column[word] = column.get(word, 0) + 1
        new_columns.append(column)
        new_rows[answer].append(word)
    return new_columns, new_rows
