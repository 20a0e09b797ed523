"""Digamma and trigamma on numpy arrays, for the empirical-Bayes prior (numpy has neither).

Both use the recurrences ``ψ(x) = ψ(x + 1) - 1/x`` and ``ψ'(x) = ψ'(x + 1) + 1/x²``
to move every argument to at least :data:`SHIFT`, then the asymptotic series
(Abramowitz & Stegun 6.3.18 and 6.4.12): about 1e-10 relative error against
scipy's, checked in the tests. Arguments must be positive.
"""

from __future__ import annotations

import numpy as np

from crowd.consensus.encoding import FloatArray

SHIFT = 6
"""Every argument is moved up by this many unit steps before the series."""


def digamma(x: FloatArray) -> FloatArray:
    """``ψ(x) = d/dx log Γ(x)``, elementwise, for ``x > 0``."""
    shifted = x + SHIFT
    total = np.zeros_like(shifted)
    for step in range(SHIFT):
        total -= 1.0 / (x + step)
    inverse_square = 1.0 / (shifted * shifted)
    series = inverse_square * (1 / 12 - inverse_square * (1 / 120 - inverse_square * (1 / 252 - inverse_square / 240)))
    result: FloatArray = total + np.log(shifted) - 0.5 / shifted - series
    return result


def trigamma(x: FloatArray) -> FloatArray:
    """``ψ'(x)``, elementwise, for ``x > 0``."""
    shifted = x + SHIFT
    total = np.zeros_like(shifted)
    for step in range(SHIFT):
        total += 1.0 / np.square(x + step)
    inverse = 1.0 / shifted
    inverse_square = inverse * inverse
    series = inverse * (
        1.0 + inverse * (0.5 + inverse * (1 / 6 - inverse_square * (1 / 30 - inverse_square * (1 / 42 - inverse_square / 30))))
    )
    result: FloatArray = total + series
    return result
