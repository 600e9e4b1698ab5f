"""Numba kernels of the low-rank collaborative filter (:func:`cs_toolkit.signals._denoisers.group_lowrank_shrink`).

A group is ``k`` patch rows of ``C`` (2-D DCT spectra of ``p x p`` patches, ``n = p * p``
columns; an orthonormal transform of the pixels, so it leaves the singular values and the low-rank
approximation of the group matrix unchanged). The group matrix less its mean row is shrunk in its
singular values with the weights of weighted nuclear norm minimisation (Gu, Zhang, Zuo & Feng 2014;
used for compressive sensing by Dong, Shi, Li, Ma & Huang 2014, NLR-CS): a singular value ``s``
becomes ``max(s - c sqrt(k) sigma^2 / (s_hat + eps), 0)`` with ``s_hat = sqrt(max(s^2 - n sigma^2,
0))`` the estimate of the clean one, so large (structure) components are shrunk little and small
(noise) ones removed. Every kernel works in the floating type of ``C``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT


@njit(**JIT)
def _centred_gram(C, rows, M, Mt, K, mean):  # pragma: no cover - compiled
    """The group ``C[rows]`` less its mean row: ``mean`` (n), ``M`` (k x n), ``Mt`` its transpose and
    ``K = M M^T`` (k x k); returns the trace of ``K`` (the group's centred energy)."""
    k, n = rows.shape[0], C.shape[1]
    for j in range(n):
        mean[j] = 0.0
    for a in range(k):
        r = rows[a]
        for j in range(n):
            v = C[r, j]
            M[a, j] = v
            mean[j] += v
    for j in range(n):
        mean[j] /= k
    for a in range(k):
        for j in range(n):
            M[a, j] -= mean[j]
    for a in range(k):  # K = M M^T, each entry summed over j in order; the inner loop runs along
        for j in range(n):  # a row of M^T (contiguous, vectorised) instead of a dot product (a chain)
            Mt[j, a] = M[a, j]
    for a in range(k):
        for b in range(a + 1):
            K[a, b] = 0.0
        for j in range(n):
            v = M[a, j]
            for b in range(a + 1):
                K[a, b] += v * Mt[j, b]
        for b in range(a):
            K[b, a] = K[a, b]
    trace = 0.0
    for a in range(k):
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
    bound = np.sqrt(f2)
    return np.sqrt(bound) * (np.sqrt(max(bound - noise, 0.0)) + 1e-8) <= keep_above


@njit(**JIT)
def _lowrank_run(C, groups, c_w, s2, S, Wp, g0, g1):  # pragma: no cover - compiled
    """Filter groups ``g0:g1``: ``S[rows] += w * estimate`` and ``Wp[rows] += w`` with the group
    weight ``w = 1 / (1 + rank kept)``. The singular vectors come from the eigendecomposition of
    the ``k x k`` Gram matrix of the centred group (``k`` = group size, at most the ``n`` columns)."""
    k, n = groups.shape[1], C.shape[1]
    dt = C.dtype
    M = np.empty((k, n), dt)
    Mt = np.empty((n, k), dt)
    K = np.empty((k, k), dt)
    P = np.empty((k, k), dt)
    mean = np.empty(n, dt)
    f = np.empty(k, dt)
    root_k = np.sqrt(k)
    keep_above = c_w * root_k * s2 * (1.0 - _SKIP_MARGIN)
    for g in range(g0, g1):
        rows = groups[g]
        _centred_gram(C, rows, M, Mt, K, mean)
        rank = 0
        if _all_shrunk_to_zero(K, n * s2, keep_above):
            P[:, :] = 0.0  # (the same result as below, without the eigendecomposition)
        else:
            lam, V = np.linalg.eigh(K)
            for i in range(k):
                sv = np.sqrt(max(lam[i], 0.0))
                est = np.sqrt(max(lam[i] - n * s2, 0.0))
                w = c_w * root_k * s2 / (est + 1e-8)
                f[i] = max(sv - w, 0.0) / sv if sv > 0.0 else 0.0
                rank += 1 if f[i] > 0.0 else 0
            for a in range(k):  # P = V diag(f) V^T: the shrinkage acting on the group's rows
                for b in range(a + 1):
                    v = 0.0
                    for i in range(k):
                        v += V[a, i] * f[i] * V[b, i]
                    P[a, b] = v
                    P[b, a] = v
        wg = 1.0 / (1.0 + rank)
        for a in range(k):
            r = rows[a]
            Wp[r] += wg
            for j in range(n):
                S[r, j] += wg * mean[j]
            for b in range(k):
                pw = wg * P[a, b]
                if pw != 0.0:
                    for j in range(n):
                        S[r, j] += pw * M[b, j]


@njit(parallel=True, **JIT)
def _lowrank_parallel(C, groups, c_w, s2, S, Wp, bands):  # pragma: no cover - compiled
    """:func:`_lowrank_run` over all groups, the runs ``bands[b]:bands[b + 1]`` in parallel, the even
    runs, then the odd ones (runs two apart write to different rows of ``S``)."""
    for parity in range(2):
        n_runs = (bands.shape[0] - 1 - parity + 1) // 2
        for i in prange(n_runs):
            b = parity + 2 * i
            _lowrank_run(C, groups, c_w, s2, S, Wp, bands[b], bands[b + 1])
