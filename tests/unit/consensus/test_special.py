"""Digamma and trigamma: closed forms, recurrences, and scipy where it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowd.consensus.special import digamma, trigamma

EULER = 0.5772156649015329


def test_closed_forms() -> None:
    x = np.array([1.0, 0.5, 2.0])
    np.testing.assert_allclose(digamma(x), [-EULER, -EULER - 2 * math.log(2), 1 - EULER], rtol=1e-10)
    np.testing.assert_allclose(trigamma(x), [math.pi**2 / 6, math.pi**2 / 2, math.pi**2 / 6 - 1], rtol=1e-10)


def test_recurrences_over_many_scales() -> None:
    x = np.exp(np.linspace(-6.0, 9.0, 400))
    np.testing.assert_allclose(digamma(x + 1) - digamma(x), 1 / x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(trigamma(x) - trigamma(x + 1), 1 / x**2, rtol=1e-9)


def test_agree_with_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    x = np.exp(np.linspace(-8.0, 12.0, 2000))
    np.testing.assert_allclose(digamma(x), special.digamma(x), rtol=1e-9, atol=1e-10)  # absolute near its root, 1.46
    np.testing.assert_allclose(trigamma(x), special.polygamma(1, x), rtol=1e-9)
