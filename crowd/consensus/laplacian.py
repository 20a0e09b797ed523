"""Linear algebra on comparison graphs: ``(L_w + λ I) x = b`` and the diagonal of its inverse.

``L_w`` is the weighted graph Laplacian of the compared item pairs: each
comparison of items ``i`` and ``j`` with weight ``h`` adds ``h`` at ``(i, i)``
and ``(j, j)`` and ``-h`` at ``(i, j)`` and ``(j, i)``. With ``λ > 0`` the
matrix is symmetric positive definite. Up to :data:`DENSE_ITEMS` items it is
built and solved densely (LAPACK); past that, solves run matrix-free by
conjugate gradients preconditioned with the diagonal, and the inverse's
diagonal is approximated by ``1 / diag`` (an under-estimate of each
variance: it ignores the uncertainty an item inherits from its neighbours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowd.consensus.encoding import FloatArray, IntArray

DENSE_ITEMS = 1500
"""Largest item count solved densely (a 1500² matrix is 18 MB; a solve takes tens of milliseconds)."""
CG_TOLERANCE = 1e-10
CG_MAX_STEPS = 1000


@dataclass(frozen=True)
class ComparisonGraph:
    """The compared pairs ``(first[j], second[j])`` of ``n`` items, with weights given per solve."""

    first: IntArray
    second: IntArray
    n: int

    def degree(self, weights: FloatArray) -> FloatArray:
        degree = np.bincount(self.first, weights, self.n) + np.bincount(self.second, weights, self.n)
        as_float: FloatArray = degree.astype(np.float64)
        return as_float

    def apply(self, weights: FloatArray, ridge: float, x: FloatArray) -> FloatArray:
        """``(L_w + ridge I) x``."""
        flow = weights * (x[self.first] - x[self.second])
        product = np.bincount(self.first, flow, self.n) - np.bincount(self.second, flow, self.n)
        applied: FloatArray = product.astype(np.float64) + ridge * x
        return applied

    def dense(self, weights: FloatArray, ridge: float) -> FloatArray:
        n = self.n
        cells = np.bincount(self.first * n + self.second, weights, n * n).reshape(n, n)
        matrix: FloatArray = -(cells + cells.T).astype(np.float64)
        matrix[np.diag_indices(n)] = self.degree(weights) + ridge
        return matrix

    def solve(self, weights: FloatArray, ridge: float, rhs: FloatArray) -> FloatArray:
        if self.n <= DENSE_ITEMS:
            solution = np.linalg.solve(self.dense(weights, ridge), rhs)
            return np.asarray(solution, dtype=np.float64)
        return self._conjugate_gradients(weights, ridge, rhs)

    def inverse_diagonal(self, weights: FloatArray, ridge: float) -> tuple[FloatArray, FloatArray | None]:
        """The diagonal of ``(L_w + ridge I)⁻¹`` and, when dense, the whole inverse (else ``None``)."""
        if self.n <= DENSE_ITEMS:
            inverse = np.asarray(np.linalg.inv(self.dense(weights, ridge)), dtype=np.float64)
            return np.diagonal(inverse).copy(), inverse
        return 1.0 / (self.degree(weights) + ridge), None

    def _conjugate_gradients(self, weights: FloatArray, ridge: float, rhs: FloatArray) -> FloatArray:
        preconditioner = 1.0 / (self.degree(weights) + ridge)
        x: FloatArray = rhs * preconditioner
        residual = rhs - self.apply(weights, ridge, x)
        z: FloatArray = residual * preconditioner
        direction = z.copy()
        rz = float(residual @ z)
        target = CG_TOLERANCE * CG_TOLERANCE * float(rhs @ rhs)
        for _ in range(CG_MAX_STEPS):
            if float(residual @ residual) <= target:
                break
            pushed = self.apply(weights, ridge, direction)
            step = rz / float(direction @ pushed)
            x += step * direction
            residual -= step * pushed
            z = (residual * preconditioner).astype(np.float64)
            rz, previous = float(residual @ z), rz
            direction = z + (rz / previous) * direction
        return x
