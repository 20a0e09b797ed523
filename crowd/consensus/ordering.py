"""Orderings of integer keys for the layout: stable argsorts that stay linear, and inverse permutations.

numpy's stable argsort is a radix sort for 8- and 16-bit keys and timsort for
wider ones; timsort finds runs in linear time, so it is fast on keys that are
already nearly in order and slow (``n log n``, tens of ns a key) otherwise.
The layout sorts twice per fit — answers by task, then by cell — so each sort
picks the linear method for its keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crowd.consensus.encoding import IntArray

RADIX_BITS = 16
"""numpy's stable argsort is a radix sort for keys of at most 16 bits; wider keys are sorted digit by digit."""
NEARLY_SORTED = 64
"""Keys with fewer than one descent per this many are sorted by timsort (runs found in linear time), else by radix."""


def inverse(permutation: IntArray) -> IntArray:
    """``out[permutation[i]] = i``."""
    out = np.empty_like(permutation)
    np.put(out, permutation, np.arange(len(permutation), dtype=permutation.dtype))
    return out


def group(keys: IntArray, n_keys: int) -> IntArray:
    """A stable argsort for grouping: timsort, linear on input that is already nearly grouped, else radix.

    Task indices are numbered in order of first appearance, so answers that
    arrive grouped by task — the usual export — come sorted, or nearly.
    """
    descents = np.count_nonzero(keys[1:] < keys[:-1])
    if descents * NEARLY_SORTED < len(keys):
        order: IntArray = np.argsort(keys, kind="stable")
        return order
    return stable_argsort(keys, n_keys)


def narrow_type(n_keys: int) -> np.dtype[np.integer[Any]]:
    """The smallest unsigned type that holds ``n_keys`` values if that is 16 bits or less (numpy sorts those by
    radix), else ``intp``."""
    if n_keys > 1 << RADIX_BITS:
        return np.dtype(np.intp)
    return np.min_scalar_type(max(n_keys - 1, 0))


def stable_argsort(keys: IntArray, n_keys: int, then: IntArray | None = None) -> IntArray:
    """Stable argsort by radix: one pass per 16-bit digit of the keys (least significant first).

    numpy sorts keys of 8 or 16 bits by radix; wider keys are split into
    16-bit digits, which keeps the cost linear whatever the order of the
    input. With ``then``, returns ``then`` reordered by the sort instead.
    """
    if n_keys <= 1 << RADIX_BITS:
        order: IntArray = np.argsort(keys.astype(narrow_type(n_keys), copy=False), kind="stable")
    else:
        order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
        order = stable_argsort(np.take(keys, order) >> RADIX_BITS, (n_keys - 1 >> RADIX_BITS) + 1, then=order)
    return order if then is None else np.take(then, order)
