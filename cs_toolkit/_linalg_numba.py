"""Small dense linear-algebra kernels that more than one subpackage's numba kernels call."""

from __future__ import annotations

from numba import njit

from ._config import JIT


@njit(**JIT)
def orthogonalise_twice(v, Q, nq):  # pragma: no cover - compiled
    """``v`` made orthogonal, in place, to the orthonormal rows ``Q[:nq]`` (each at least as long
    as ``v``) by modified Gram-Schmidt, the whole pass done twice: one pass can leave components of
    the order of the rounding times the cancellation, a second removes them ("twice is enough",
    Kahan; Parlett, *The Symmetric Eigenvalue Problem*, 6.9)."""
    for _ in range(2):
        for t in range(nq):
            d = 0.0
            for i in range(v.shape[0]):
                d += Q[t, i] * v[i]
            for i in range(v.shape[0]):
                v[i] -= d * Q[t, i]
