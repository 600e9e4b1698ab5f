"""Numba kernels of the sliding-window patch denoisers (:mod:`cs_toolkit.signals._denoisers`).

Patches are the rows of an ``(n_rows * n_cols, p * p)`` array in row-major position
order, each patch raveled row-major (what ``sliding_window_view(...).reshape`` gives).
"""

from __future__ import annotations

from numba import njit

from .._config import JIT


@njit(**JIT)
def _hard_threshold_rows(C, thr, weights):  # pragma: no cover - compiled
    """Zero ``|C[i, k]| <= thr`` for ``k >= 1`` in place; ``weights[i] = 1 / (kept entries of row i)``."""
    for i in range(C.shape[0]):
        kept = 1
        for k in range(1, C.shape[1]):
            if abs(C[i, k]) > thr:
                kept += 1
            else:
                C[i, k] = 0.0
        weights[i] = 1.0 / kept


@njit(**JIT)
def _aggregate_patches(E, weights, n_cols, p, acc, cnt):  # pragma: no cover - compiled
    """``acc += sum_i w_i R_i^T e_i`` and ``cnt += sum_i w_i R_i^T 1`` over the patch rows ``e_i``."""
    for idx in range(E.shape[0]):
        r0 = idx // n_cols
        c0 = idx - r0 * n_cols
        w = weights[idx]
        for di in range(p):
            for dj in range(p):
                acc[r0 + di, c0 + dj] += w * E[idx, di * p + dj]
                cnt[r0 + di, c0 + dj] += w


@njit(**JIT)
def _wiener_rows(C, Q, s2, weights):  # pragma: no cover - compiled
    """``C[i, k] *= g`` with ``g = Q[i, k]^2 / (Q[i, k]^2 + s2)`` for ``k >= 1`` in place;
    ``weights[i] = 1 / sum_k g^2`` (``g = 1`` for ``k = 0``)."""
    for i in range(C.shape[0]):
        energy = 1.0
        for k in range(1, C.shape[1]):
            q = Q[i, k] * Q[i, k]
            g = q / (q + s2)
            C[i, k] *= g
            energy += g * g
        weights[i] = 1.0 / energy
