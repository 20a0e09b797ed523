"""Stable argsorts that stay linear whatever the keys, and inverse permutations."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.ordering import group, inverse, narrow_type, stable_argsort


@pytest.mark.parametrize("n_keys", [1, 200, 1 << 16, (1 << 16) + 1, 1 << 33])
def test_stable_argsort_by_digits(n_keys: int) -> None:
    keys = np.random.default_rng(n_keys).integers(0, n_keys, 5000)
    np.testing.assert_array_equal(stable_argsort(keys, n_keys), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("disorder", [0, 3, 5000])
def test_grouping_is_a_stable_argsort_whatever_the_order(disorder: int) -> None:
    rng = np.random.default_rng(disorder)
    keys = np.sort(rng.integers(0, 300, 5000))
    swaps = rng.integers(0, len(keys), (disorder, 2))
    for i, j in swaps:
        keys[i], keys[j] = keys[j], keys[i]
    np.testing.assert_array_equal(group(keys, 300), np.argsort(keys, kind="stable"))


def test_inverse_permutation() -> None:
    permutation = np.random.default_rng(0).permutation(1000)
    np.testing.assert_array_equal(inverse(permutation)[permutation], np.arange(1000))


@pytest.mark.parametrize(("n_keys", "dtype"), [(0, np.uint8), (256, np.uint8), (257, np.uint16), (1 << 16, np.uint16)])
def test_narrow_types_hold_every_key(n_keys: int, dtype: type) -> None:
    assert narrow_type(n_keys) == dtype
    assert narrow_type((1 << 16) + 1) == np.intp
