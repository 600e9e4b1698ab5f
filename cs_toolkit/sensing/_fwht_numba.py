"""Numba kernel of the fast Walsh-Hadamard transform (batch of rows, in place).

The kernel is unnormalised (it applies the Sylvester-ordered Hadamard matrix
``H_n`` with entries +-1); the caller scales by ``1 / sqrt(n)`` to obtain the
orthonormal transform. ``n`` must be a power of two (checked by the caller).
"""

from __future__ import annotations

from numba import njit, prange

from .._config import JIT_PARALLEL


@njit(**JIT_PARALLEL)
def _fwht_rows(X):  # pragma: no cover - compiled
    """In-place unnormalised Walsh-Hadamard transform of every row of ``X`` (k, n)."""
    k, n = X.shape
    for r in prange(k):
        h = 1
        while h < n:
            for i in range(0, n, 2 * h):
                for j in range(i, i + h):
                    a = X[r, j]
                    b = X[r, j + h]
                    X[r, j] = a + b
                    X[r, j + h] = a - b
            h *= 2
