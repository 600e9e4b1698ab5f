"""Numba kernel of the least-squares debiasing layer (:func:`cs_toolkit.learned.ls_debias`)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT_PARALLEL
from ..solvers._chol_numba import _chol_add, _chol_solve


@njit(**JIT_PARALLEL)
def _ls_debias_batch(G, B, X, threshold, refit_threshold, max_support, rel_dep, out, sizes):  # pragma: no cover - compiled
    """Per row ``i``: least squares on the support ``|X[i]| > threshold * max|X[i]|``.

    ``G = A^T A`` (n, n) and ``B = Y @ A`` (N, n), both float64. The support is
    taken in decreasing magnitude, at most ``max_support`` entries, and an entry
    whose column is numerically dependent on the ones already taken is skipped
    (incremental Cholesky of ``G[S, S]``). ``out[i, S]`` receives the solution of
    ``G[S, S] z = B[i, S]``, the other entries zero; ``sizes[i] = |S|``. With
    ``refit_threshold >= 0`` a second pass keeps the entries of ``z`` with
    ``|z_j| > refit_threshold * max |z|`` and solves again on them.
    """
    N, n = X.shape
    for i in prange(N):
        a = np.abs(X[i])
        order = np.argsort(-a)
        for j in range(n):
            out[i, j] = 0.0
        top = a[order[0]]
        if not top > 0.0:
            sizes[i] = 0
            continue
        tau = threshold * top
        L = np.zeros((max_support, max_support))
        act = np.empty(max_support, dtype=np.int64)
        p = 0
        for q in range(n):
            j = order[q]
            if p >= max_support or not a[j] > tau:
                break
            if _chol_add(G, act, p, j, L, rel_dep):
                act[p] = j
                p += 1
        b = np.empty(p)
        for q in range(p):
            b[q] = B[i, act[q]]
        z = np.empty(p)
        sol = np.empty(p)
        _chol_solve(L, p, b, z, sol)
        if refit_threshold >= 0.0 and p > 0:
            top = 0.0
            for q in range(p):
                top = max(top, abs(sol[q]))
            cut = refit_threshold * top
            keep = np.empty(p, dtype=np.int64)
            p2 = 0
            for q in range(p):  # act is in decreasing |x| order, the factor is rebuilt in that order
                if abs(sol[q]) > cut and _chol_add(G, keep, p2, act[q], L, rel_dep):
                    keep[p2] = act[q]
                    p2 += 1
            p = p2
            for q in range(p):
                act[q] = keep[q]
                b[q] = B[i, act[q]]
            _chol_solve(L, p, b, z, sol)
        for q in range(p):
            out[i, act[q]] = sol[q]
        sizes[i] = p
