"""Numba kernels of the learned collaborative-filter stages (:mod:`cs_toolkit.signals._image_nlstages`).

A group is ``k`` patch rows of ``C`` (2-D DCT spectra of ``p x p`` patches, ``n = p * p``
columns); its 3-D spectrum is ``Z = H @ C[rows]`` with the orthonormal group transform ``H``.
The learned shrinkage of every 3-D coefficient is the Wiener-shaped ``f(z) = z^3 / (z^2 + tau)``
(``tau = exp(theta)`` per coefficient position), the empirical Wiener filter guided by the
estimate itself. Serial kernels (``nogil``): threads share the training images; inference filters
the groups of one image in parallel (:func:`_shrink_forward_parallel`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT
from ._image_numba import _group_scatter as _scatter
from ._image_numba import _group_spectrum as _spectrum


@njit(**JIT)
def _group_weights(C, groups, H, s2, w):  # pragma: no cover - compiled
    """``w[g] = 1 / sum(gain^2)``, the empirical Wiener gains ``z^2 / (z^2 + s2)`` of group ``g``
    (the aggregation weights of BM3D's second step)."""
    k, n = groups.shape[1], C.shape[1]
    Z = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    for g in range(groups.shape[0]):
        _spectrum(C, groups[g], H, Z, W)
        e = 0.0
        for a in range(k):
            for c in range(n):
                q = Z[a, c] * Z[a, c]
                gain = q / (q + s2)
                e += gain * gain
        w[g] = 1.0 / max(e, 1e-12)


@njit(**JIT)
def _shrink_forward(C, groups, H, w, tau, S, g0=0, g1=-1):  # pragma: no cover - compiled
    """``S[rows_g] += w_g H^T f(H C[rows_g])`` for every group ``g`` (of ``g0:g1``; ``g1 = -1``: to
    the last), ``f(z) = z^3 / (z^2 + tau)``."""
    k, n = groups.shape[1], C.shape[1]
    Z = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    for g in range(g0, groups.shape[0] if g1 < 0 else g1):
        _spectrum(C, groups[g], H, Z, W)
        for a in range(k):
            for c in range(n):
                z = Z[a, c]
                z2 = z * z
                Z[a, c] = z * z2 / (z2 + tau[a, c])
        _scatter(Z, groups[g], H, w[g], S, W)


@njit(parallel=True, **JIT)
def _shrink_forward_parallel(C, groups, H, w, tau, S, bands):  # pragma: no cover - compiled
    """:func:`_shrink_forward` with the runs of groups ``bands[b]:bands[b + 1]`` in parallel, the
    even runs, then the odd ones (runs two apart write to different rows of ``S``; the bands of
    :func:`cs_toolkit.signals._denoisers._runs`)."""
    for parity in range(2):
        n_runs = (bands.shape[0] - 1 - parity + 1) // 2
        for i in prange(n_runs):
            b = parity + 2 * i
            _shrink_forward(C, groups, H, w, tau, S, bands[b], bands[b + 1])


@njit(**JIT)
def _shrink_backward(C, groups, H, w, tau, GS, GC, gtheta):  # pragma: no cover - compiled
    """The adjoint of :func:`_shrink_forward` at ``C``: ``GC += dL/dC`` and ``gtheta += dL/dtheta``
    (``tau = exp(theta)``) from ``GS = dL/dS``."""
    k, n = groups.shape[1], C.shape[1]
    Z = np.empty((k, n), C.dtype)
    G = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    for g in range(groups.shape[0]):
        _spectrum(C, groups[g], H, Z, W)
        _spectrum(GS, groups[g], H, G, W)
        wg = w[g]
        for a in range(k):
            for c in range(n):
                z = Z[a, c]
                z2 = z * z
                t = tau[a, c]
                d = z2 + t
                gz = wg * G[a, c]
                inv = 1.0 / (d * d)
                gtheta[a, c] -= gz * z * z2 * t * inv
                G[a, c] = gz * (z2 * z2 + 3.0 * z2 * t) * inv
        _scatter(G, groups[g], H, 1.0, GC, W)
