"""Numba kernels of matching pursuit (MP).

Per signal: select ``i = argmax |<r, a_j>| / ||a_j||``, add
``c = <r, a_i> / ||a_i||^2`` to ``x_i``, remove ``c a_i`` from the residual.
With ``gram=True`` the correlations are updated with a row of ``G = A^T A``
(``O(n)`` per iteration) and ``||r||^2 -= <r, a_i>^2 / ||a_i||^2`` is tracked;
with ``gram=False`` ``A^T r`` is recomputed from the residual (``O(mn)`` per
iteration, no Gram matrix). Status per signal
(:class:`~cs_toolkit.solvers._common.Status`): ``MAX_ITER`` = ``max_iter``
reached, ``CONVERGED`` = error target met, ``EXHAUSTED`` = correlations
exhausted, ``DONE`` = the next atom would exceed the distinct-atom limit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL
from ._chol_numba import _rows_gemv
from ._common import Status

#: the status codes the kernel writes, as ints for numba
_DONE, _CONVERGED, _MAX_ITER, _EXHAUSTED = (int(Status.DONE), int(Status.CONVERGED), int(Status.MAX_ITER),
                                            int(Status.EXHAUSTED))


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
def _mp_range(M, S, y2, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop, gram,
              X, n_iter, status, resid2, start, stop):  # pragma: no cover - compiled
    """MP on signals ``start:stop`` (serial), one loop for both variants.

    ``gram=True``: ``M = G`` (n, n), ``S = A^T Y`` (n_signals, n) and ``y2`` the squared
    signal norms; ``gram=False``: ``M = A`` (m, n), ``S = Y`` (n_signals, m), ``y2`` unused.
    """
    n = M.shape[1]
    alpha = np.empty(n, M.dtype)
    r = np.empty(S.shape[1], M.dtype)  # the residual (matrix variant only)
    for sig in range(start, stop):
        row = S[sig]
        if gram:
            for j in range(n):
                alpha[j] = row[j]
            eps = y2[sig]
        else:
            eps = 0.0
            for p in range(r.shape[0]):
                r[p] = row[p]
                eps += float(row[p]) * float(row[p])
        x = X[sig]
        st = _MAX_ITER
        it = 0
        nnz = 0
        thresh = -1.0
        while it < max_iter:
            if use_tol and eps <= tol:
                st = _CONVERGED
                break
            if not gram:
                _rows_gemv(M, r, r.shape[0], alpha)  # alpha = A^T r
            i, smax = _mp_select(alpha, inv_norm)
            if it == 0:
                thresh = smax * rel_stop
            if smax <= thresh or smax <= 0.0:
                st = _EXHAUSTED
                break
            if x[i] == 0.0:
                if nnz >= kd:
                    st = _DONE
                    break
                nnz += 1
            c = alpha[i] / norms2[i]
            x[i] += c
            if gram:
                eps -= float(alpha[i]) * float(c)
                Gi = M[i]
                for j in range(n):
                    alpha[j] -= c * Gi[j]
            else:
                eps = 0.0
                for p in range(r.shape[0]):
                    r[p] -= c * M[p, i]
                    eps += float(r[p]) * float(r[p])
            it += 1
        if st == _MAX_ITER and use_tol and eps <= tol:
            st = _CONVERGED
        n_iter[sig] = it
        status[sig] = st
        resid2[sig] = eps


@njit(**JIT_PARALLEL)
def _mp_batch(M, S, y2, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop, gram,
              X, n_iter, status, resid2, block):  # pragma: no cover - compiled
    """:func:`_mp_range` over all rows of ``S``, ``prange`` over blocks of ``block`` signals."""
    N = S.shape[0]
    nb = (N + block - 1) // block
    for b in prange(nb):
        _mp_range(M, S, y2, norms2, inv_norm, max_iter, kd, tol, use_tol, rel_stop, gram,
                  X, n_iter, status, resid2, b * block, min(N, (b + 1) * block))
