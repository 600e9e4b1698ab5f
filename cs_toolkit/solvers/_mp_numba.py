"""Numba kernels of matching pursuit (MP).

Per signal: select ``i = argmax |<r, a_j>| / ||a_j||``, add
``c = <r, a_i> / ||a_i||^2`` to ``x_i``, remove ``c a_i`` from the residual.
``_mp_gram_*`` update the correlations with a row of ``G = A^T A``
(``O(n)`` per iteration) and track ``||r||^2 -= <r, a_i>^2 / ||a_i||^2``;
``_mp_mat_*`` recompute ``A^T r`` from the residual (``O(mn)`` per
iteration, no Gram matrix). Status codes: 0 = ``max_iter`` reached,
2 = error target met, 3 = correlations exhausted, 4 = the next atom would
exceed the distinct-atom limit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL


@njit(**JIT)
def _mp_select(alpha, inv_norm):  # pragma: no cover - compiled
    best = 0
    smax = -1.0
    for j in range(alpha.shape[0]):
        sc = abs(alpha[j]) * inv_norm[j]
        if sc > smax:
            smax = sc
            best = j
    return best, smax


@njit(**JIT)
def _mp_gram_range(G, AtY, y2, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop,
                   X, n_iter, status, resid2, start, stop):  # pragma: no cover - compiled
    n = G.shape[0]
    alpha = np.empty(n, G.dtype)
    for sig in range(start, stop):
        row = AtY[sig]
        for j in range(n):
            alpha[j] = row[j]
        x = X[sig]
        eps = y2[sig]
        st = 0
        it = 0
        nnz = 0
        thresh = -1.0
        while it < max_iter:
            if use_tol and eps <= tol:
                st = 2
                break
            i, smax = _mp_select(alpha, inv_norm)
            if it == 0:
                thresh = smax * rel_stop
            if smax <= thresh or smax <= 0.0:
                st = 3
                break
            if x[i] == 0.0:
                if nnz >= kd:
                    st = 4
                    break
                nnz += 1
            c = alpha[i] / norms2[i]
            x[i] += c
            eps -= float(alpha[i]) * float(c)
            Gi = G[i]
            for j in range(n):
                alpha[j] -= c * Gi[j]
            it += 1
        if st == 0 and use_tol and eps <= tol:
            st = 2
        n_iter[sig] = it
        status[sig] = st
        resid2[sig] = eps


@njit(**JIT_PARALLEL)
def _mp_gram_batch(G, AtY, y2, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop,
                   X, n_iter, status, resid2, block):  # pragma: no cover - compiled
    N = AtY.shape[0]
    nb = (N + block - 1) // block
    for b in prange(nb):
        _mp_gram_range(G, AtY, y2, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop,
                       X, n_iter, status, resid2, b * block, min(N, (b + 1) * block))


@njit(**JIT)
def _mp_mat_range(A, Y, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop,
                  X, n_iter, status, resid2, start, stop):  # pragma: no cover - compiled
    m, n = A.shape
    alpha = np.empty(n, A.dtype)
    r = np.empty(m, A.dtype)
    for sig in range(start, stop):
        y = Y[sig]
        eps = 0.0
        for p in range(m):
            r[p] = y[p]
            eps += float(y[p]) * float(y[p])
        x = X[sig]
        st = 0
        it = 0
        nnz = 0
        thresh = -1.0
        while it < max_iter:
            if use_tol and eps <= tol:
                st = 2
                break
            for j in range(n):
                alpha[j] = 0.0
            for p in range(m):
                rp = r[p]
                Ap = A[p]
                for j in range(n):
                    alpha[j] += rp * Ap[j]
            i, smax = _mp_select(alpha, inv_norm)
            if it == 0:
                thresh = smax * rel_stop
            if smax <= thresh or smax <= 0.0:
                st = 3
                break
            if x[i] == 0.0:
                if nnz >= kd:
                    st = 4
                    break
                nnz += 1
            c = alpha[i] / norms2[i]
            x[i] += c
            eps = 0.0
            for p in range(m):
                r[p] -= c * A[p, i]
                eps += float(r[p]) * float(r[p])
            it += 1
        if st == 0 and use_tol and eps <= tol:
            st = 2
        n_iter[sig] = it
        status[sig] = st
        resid2[sig] = eps
