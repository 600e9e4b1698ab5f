"""Numba kernels of the one-bit and quantization-consistent thresholding solvers.

The products with ``A`` stay in BLAS (one GEMM each way per iteration for the whole
batch); these kernels fuse the elementwise steps between them, ``prange`` over signals:
the sign residual of BIHT, the residual to the quantization cells, and the row-wise
hard threshold (keep the ``k`` largest magnitudes, optionally scale to unit norm).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT_PARALLEL


@njit(**JIT_PARALLEL)
def _sign_residual(Z, S, R, n_bad):  # pragma: no cover - compiled
    """``R = S - sign(Z)`` with ``sign(0) = +1``; ``n_bad[i]`` = sign mismatches of row ``i``."""
    N, m = Z.shape
    for i in prange(N):
        cnt = 0
        for j in range(m):
            s = 1.0 if Z[i, j] >= 0 else -1.0
            r = S[i, j] - s
            R[i, j] = r
            if r != 0:
                cnt += 1
        n_bad[i] = cnt


@njit(**JIT_PARALLEL)
def _cell_residual(Z, lo, hi, R, dist):  # pragma: no cover - compiled
    """``R = clip(Z, lo, hi) - Z`` (pull towards the cells); ``dist[i] = ||R_i||_2``."""
    N, m = Z.shape
    for i in prange(N):
        acc = 0.0
        for j in range(m):
            z = Z[i, j]
            r = z * 0.0
            if z < lo[i, j]:
                r = lo[i, j] - z
            elif z > hi[i, j]:
                r = hi[i, j] - z
            R[i, j] = r
            acc += float(r) * float(r)
        dist[i] = np.sqrt(acc)


@njit(**JIT_PARALLEL)
def _threshold_rows(V, k, normalize, X):  # pragma: no cover - compiled
    """``X_i = H_k(V_i)``, scaled to unit norm when ``normalize`` (a zero row stays zero)."""
    N, n = V.shape
    for i in prange(N):
        v = V[i]
        order = np.argsort(-np.abs(v), kind="mergesort")  # stable: ties go to the lower index
        for j in range(n):
            X[i, j] = 0.0
        nrm = 0.0
        for p in range(k):
            j = order[p]
            X[i, j] = v[j]
            nrm += float(v[j]) * float(v[j])
        if normalize and nrm > 0.0:
            s = 1.0 / np.sqrt(nrm)
            for p in range(k):
                j = order[p]
                X[i, j] = X[i, j] * s
