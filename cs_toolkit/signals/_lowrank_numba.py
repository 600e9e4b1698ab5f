"""Numba kernels of the low-rank collaborative filter (:func:`cs_toolkit.signals._denoisers.group_lowrank_shrink`).

A group is ``k`` patches of ``p x p`` pixels, read from the image as the rows of a ``k x n``
matrix (``n = p * p``); the estimates are summed into the image directly. (No patch transform:
the filter depends on the group matrix only through its singular values and vectors, which an
orthonormal transform of the patches leaves as they are.) The group matrix less its mean row is
shrunk in its singular values with the weights of weighted nuclear norm minimisation (Gu, Zhang,
Zuo & Feng 2014; used for compressive sensing by Dong, Shi, Li, Ma & Huang 2014, NLR-CS): a
singular value ``s`` becomes ``max(s - c sqrt(k) sigma^2 / (s_hat + eps), 0)`` with ``s_hat =
sqrt(max(s^2 - n sigma^2, 0))`` the estimate of the clean one, so large (structure) components are
shrunk little and small (noise) ones removed. Every kernel works in the floating type of the image.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_SUMS
from ._image_numba import parity_run, parity_run_count
from ._topeig_numba import top_eigenpairs, topeig_workspace


@njit(**JIT_SUMS)
def _row_dot(M, a, b):  # pragma: no cover - compiled
    """``M[a] . M[b]`` summed in float64 (reordered: vectorised)."""
    s = 0.0
    for j in range(M.shape[1]):
        s += M[a, j] * M[b, j]
    return s


@njit(**JIT)
def _centred_gram(C, rows, M, K, mean):  # pragma: no cover - compiled
    """The group ``C[rows]`` less its mean row: ``mean`` (n), ``M`` (k x n) and ``K = M M^T``
    (k x k); returns the trace of ``K`` (the group's centred energy)."""
    for a in range(rows.shape[0]):
        r = rows[a]
        for j in range(C.shape[1]):
            M[a, j] = C[r, j]
    return _centre_gram(M, K, mean)


@njit(**JIT)
def _centre_gram(M, K, mean):  # pragma: no cover - compiled
    """:func:`_centred_gram` of the group already in ``M`` (centred in place)."""
    _centre(M, mean)
    return _gram(M, K)


@njit(**JIT_SUMS)
def _centre(M, mean):  # pragma: no cover - compiled
    """``M`` (k x n) less its mean row ``mean`` (n), in place; returns the centred energy ``||M||_F^2``
    (the trace of the Gram matrix, summed in float64)."""
    k, n = M.shape
    for j in range(n):
        mean[j] = 0.0
    for a in range(k):
        for j in range(n):
            mean[j] += M[a, j]
    for j in range(n):
        mean[j] /= k
    energy = 0.0
    for a in range(k):
        for j in range(n):
            M[a, j] -= mean[j]
            energy += M[a, j] * M[a, j]
    return energy


@njit(**JIT)
def _gram(M, K):  # pragma: no cover - compiled
    """``K = M M^T`` (k x k, the rows' products summed in float64); returns its trace."""
    trace = 0.0
    for a in range(M.shape[0]):
        for b in range(a + 1):
            K[a, b] = K[b, a] = _row_dot(M, a, b)
        trace += K[a, a]
    return trace


#: Relative margin of :func:`_all_shrunk_to_zero`'s test, far above the rounding of the
#: eigenvalues and of the shrinkage's own comparison in float32.
_SKIP_MARGIN = 1e-4


@njit(**JIT)
def _all_shrunk_to_zero(K, noise, keep_above):  # pragma: no cover - compiled
    """Whether the shrinkage of :func:`_lowrank_run` sets every singular value of the group to zero,
    known without the eigendecomposition: a singular value ``sqrt(lam)`` survives only if
    ``sqrt(lam) (sqrt(max(lam - noise, 0)) + 1e-8)`` exceeds ``c sqrt(k) sigma^2``, which grows with
    ``lam``, and every eigenvalue of the Gram matrix ``K`` is at most its Frobenius norm; so when that
    bound does not survive (by ``keep_above``, the threshold less a margin), none does. Most groups
    of a smooth region while ``sigma`` is large. Exact for every ``c >= 0``: with ``c = 0`` it
    skips only an all-zero group, so every other group comes back unchanged."""
    k = K.shape[0]
    f2 = 0.0
    for a in range(k):
        for b in range(k):
            f2 += K[a, b] * K[a, b]
    return _below_threshold(np.sqrt(f2), noise, keep_above)


@njit(**JIT)
def _below_threshold(bound, noise, keep_above):  # pragma: no cover - compiled
    """Whether a singular value ``sqrt(bound)`` (and so every smaller one) is shrunk to zero (see
    :func:`_all_shrunk_to_zero`)."""
    return np.sqrt(bound) * (np.sqrt(max(bound - noise, 0.0)) + 1e-8) <= keep_above


#: Up to this many kept components, they are computed alone (:func:`top_eigenpairs`: about
#: 5.5 us plus 3 per component for a 16 x 16 group); beyond, all of them by implicit QR steps on
#: the same tridiagonal form (about 19 us; LAPACK's eigendecomposition takes 23).
_FEW = 4


@njit(**JIT)
def _lowest_kept(noise, threshold):  # pragma: no cover - compiled
    """A value below every eigenvalue ``lam`` of a group's Gram matrix whose singular value
    ``sqrt(lam)`` the shrinkage keeps, i.e. with ``sqrt(lam) (sqrt(max(lam - noise, 0)) + 1e-8) >
    threshold``: ``(noise + sqrt(noise^2 + 4 threshold^2)) / 2`` solves it without the ``1e-8``
    (which lowers the true bound by far less than the 1e-3 taken off), and below ``noise`` only
    ``lam > (1e8 threshold)^2`` can pass."""
    above_noise = 0.5 * (noise + np.sqrt(noise * noise + 4.0 * threshold * threshold))
    return min(above_noise, (1e8 * threshold) ** 2) * (1.0 - 1e-3)


@njit(**JIT)
def _gather(x, n_cols, p, rows, G):  # pragma: no cover - compiled
    """``G[a] = `` the ``p x p`` patch of ``x`` at position ``rows[a]`` (row-major positions,
    ``n_cols`` a row), flattened row by row."""
    for a in range(rows.shape[0]):
        r, q = divmod(rows[a], n_cols)
        for u in range(p):
            for v in range(p):
                G[a, u * p + v] = x[r + u, q + v]


@njit(**JIT)
def _lowrank_run(x, n_cols, p, groups, c_w, s2, S, Wp, g0, g1):  # pragma: no cover - compiled
    """Filter groups ``g0:g1`` of the image ``x``: for every member patch, ``S[patch] += w *
    estimate`` (pixel sums, ``x``'s shape) and ``Wp[position] += w`` with the group weight ``w = 1
    / (1 + rank kept)``. The singular vectors come from the eigendecomposition of the ``k x k``
    Gram matrix of the centred group (``k`` = group size, at most the ``n = p * p`` columns): with
    ``M = U s V^T``, ``K = M M^T = U s^2 U^T``, and the shrunk group is ``sum_i f_i u_i (u_i^T M)``
    over the kept components (``f_i`` = shrunk / original singular value), most often a few."""
    k, n = groups.shape[1], p * p
    dt = x.dtype
    M = np.empty((k, n), dt)
    K = np.empty((k, k), dt)
    Q = np.empty((k, n), dt)  # row t: f_i u_i^T M of the t-th kept component i
    U = np.empty((k, k), dt)  # column t: its u_i
    mean = np.empty(n, dt)
    est = np.empty(n, dt)
    lam = np.empty(k)
    V = np.empty((k, k))
    work = topeig_workspace(k)
    threshold = c_w * np.sqrt(k) * s2  # a singular value s is kept when s - threshold / (s_hat + eps) > 0
    keep_above = threshold * (1.0 - _SKIP_MARGIN)
    lowest = _lowest_kept(n * s2, threshold)
    for g in range(g0, g1):
        rows = groups[g]
        _gather(x, n_cols, p, rows, M)
        # every component is removed when even the group's energy (the Gram matrix's trace, at least
        # its largest eigenvalue) is, or else its Frobenius norm (a closer bound): then no Gram or
        # eigendecomposition is needed (most groups of a smooth region while sigma is large)
        energy = _centre(M, mean)
        rank = 0
        removed = _below_threshold(energy, n * s2, keep_above)
        if not removed:
            _gram(M, K)
            removed = _all_shrunk_to_zero(K, n * s2, keep_above)
        if not removed:
            m = top_eigenpairs(K, lowest, lam, V, work, _FEW)
            for i in range(m):
                sv = np.sqrt(max(lam[i], 0.0))
                e = np.sqrt(max(lam[i] - n * s2, 0.0))
                w = threshold / (e + 1e-8)
                fi = max(sv - w, 0.0) / sv if sv > 0.0 else 0.0
                if fi > 0.0:
                    for j in range(n):
                        Q[rank, j] = 0.0
                    for b in range(k):
                        vb = fi * V[b, i]
                        for j in range(n):
                            Q[rank, j] += vb * M[b, j]
                    for a in range(k):
                        U[a, rank] = V[a, i]
                    rank += 1
        wg = 1.0 / (1.0 + rank)
        for a in range(k):
            for j in range(n):
                est[j] = mean[j]
            for t in range(rank):
                ua = U[a, t]
                for j in range(n):
                    est[j] += ua * Q[t, j]
            Wp[rows[a]] += wg
            r, q = divmod(rows[a], n_cols)
            for u in range(p):
                for v in range(p):
                    S[r + u, q + v] += wg * est[u * p + v]


@njit(parallel=True, **JIT)
def _lowrank_parallel(x, p, groups, c_w, s2, S, Wp, bands):  # pragma: no cover - compiled
    """:func:`_lowrank_run` over all groups, the runs ``bands[b]:bands[b + 1]`` in parallel, the even
    runs, then the odd ones (runs two apart write to different pixel rows of ``S`` and rows of
    ``Wp``)."""
    n_cols = x.shape[1] - p + 1
    for parity in range(2):
        for i in prange(parity_run_count(bands, parity)):
            g0, g1 = parity_run(bands, parity, i)
            _lowrank_run(x, n_cols, p, groups, c_w, s2, S, Wp, g0, g1)
