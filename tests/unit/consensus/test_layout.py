"""Both summation plans give the per-key sums of a plain scatter-add."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.layout import Runs, Slabs, key_sums


@pytest.mark.parametrize(("n_keys", "mean_length"), [(2000, 4), (40, 60), (5, 1)])
def test_sums_match_a_scatter_add(n_keys: int, mean_length: int) -> None:
    rng = np.random.default_rng(n_keys)
    keys = np.sort(rng.integers(0, n_keys, n_keys * mean_length))
    rows = rng.random((len(keys), 3))
    expected = np.zeros((n_keys + 2, 3))
    np.add.at(expected, keys, rows)
    plan = key_sums(keys, n_keys + 2)  # two keys without rows
    np.testing.assert_allclose(plan.sums(rows[plan.order]), expected)


def test_plan_choice() -> None:
    many_short_runs = np.repeat(np.arange(3000), 3)
    few_long_runs = np.repeat(np.arange(10), 500)
    assert isinstance(key_sums(many_short_runs, 3000), Slabs)
    assert isinstance(key_sums(few_long_runs, 10), Runs)
    assert isinstance(key_sums(np.array([], dtype=np.intp), 0), Runs)
