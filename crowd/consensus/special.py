"""Digamma and trigamma on numpy arrays, for the empirical-Bayes prior (numpy has neither).

Both use the recurrences ``ψ(x) = ψ(x + 1) - 1/x`` and ``ψ'(x) = ψ'(x + 1) + 1/x²``
to move every argument up by :data:`SHIFT`, then the asymptotic series
(Abramowitz & Stegun 6.3.18 and 6.4.12): about 1e-10 relative error (1e-11
absolute near ψ's root) against scipy's, checked in the tests. Arguments must
be positive. :func:`digamma_gap` gives ``ψ(x + n) - ψ(x)`` with one logarithm
instead of two: on this project's machines ``np.log`` costs as much as a dozen
other elementwise operations.
"""

from __future__ import annotations

import numpy as np

from crowd.consensus.encoding import FloatArray

SHIFT = 6
"""Every argument is moved up by this many unit steps before the series."""


def _digamma_rest(x: FloatArray) -> FloatArray:
    """``ψ(x) - log(x + SHIFT)``."""
    shifted = x + SHIFT
    total = -0.5 / shifted
    for step in range(SHIFT):
        total -= 1.0 / (x + step)
    inverse_square = 1.0 / (shifted * shifted)
    total -= inverse_square * (1 / 12 - inverse_square * (1 / 120 - inverse_square * (1 / 252 - inverse_square / 240)))
    return total


def digamma(x: FloatArray) -> FloatArray:
    """``ψ(x) = d/dx log Γ(x)``, elementwise, for ``x > 0``."""
    result: FloatArray = _digamma_rest(x) + np.log(x + SHIFT)
    return result


def digamma_gap(x: FloatArray | float, n: FloatArray) -> FloatArray:
    """``ψ(x + n) - ψ(x)``, elementwise (``x`` may be a scalar), for ``x > 0`` and ``n >= 0``."""
    base = np.asarray(x, dtype=np.float64)
    gap = _digamma_rest(base + n)
    gap -= _digamma_rest(base)
    gap += np.log1p(n / (base + SHIFT))
    return gap


def trigamma(x: FloatArray) -> FloatArray:
    """``ψ'(x)``, elementwise, for ``x > 0``."""
    shifted = x + SHIFT
    total = np.zeros_like(shifted)
    for step in range(SHIFT):
        total += 1.0 / np.square(x + step)
    inverse = 1.0 / shifted
    inverse_square = inverse * inverse
    series = inverse * (
        1.0
        + inverse
        * (0.5 + inverse * (1 / 6 - inverse_square * (1 / 30 - inverse_square * (1 / 42 - inverse_square / 30))))
    )
    result: FloatArray = total + series
    return result
