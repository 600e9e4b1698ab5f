"""Numba kernels of the learned collaborative-filter stages (:mod:`cs_toolkit.signals._image_nlstages`).

A group is ``k`` patch rows of ``C`` (2-D DCT spectra of ``p x p`` patches, ``n = p * p``
columns); its 3-D spectrum is ``Z = H @ C[rows]`` with an orthonormal ``k x k`` group transform
``H``: ``Hs`` holds either one transform for every group, the DCT of size ``k`` (BM3D's; its
symmetry halves the work, :func:`~cs_toolkit.signals._image_numba._group_spectrum`), or one per
group, ``Hs[g]`` (the principal axes of the group in the start image, :func:`_group_pca_bases`).
The learned shrinkage of every 3-D coefficient is the Wiener-shaped ``f(z) = z^3 / (z^2 + tau)``
(``tau = exp(theta)`` per coefficient position), the empirical Wiener filter guided by the
estimate itself, or ``f(z) = z gamma(z^2 / tau)`` with a learned gain curve ``gamma``
(:func:`_curve_gain`). Serial kernels (``nogil``): threads share the training images; inference filters
the groups of one image in parallel (:func:`_shrink_forward_parallel`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT
from ._image_numba import _group_scatter as _scatter
from ._image_numba import _group_scatter_dense as _scatter_dense
from ._image_numba import _group_spectrum as _spectrum
from ._image_numba import _group_spectrum_dense as _spectrum_dense
from ._image_numba import parity_run, parity_run_count
from ._lowrank_numba import _centred_gram


@njit(**JIT)
def _transform(C, rows, Hs, g, Z, W):  # pragma: no cover - compiled
    """``Z = H @ C[rows]`` with group ``g``'s transform: ``Hs[0]`` (the DCT) when ``Hs`` holds one,
    else ``Hs[g]`` (any orthonormal matrix, dense)."""
    if Hs.shape[0] == 1:
        _spectrum(C, rows, Hs[0], Z, W)
    else:
        _spectrum_dense(C, rows, Hs[g], Z)


@njit(**JIT)
def _transform_adjoint(Z, rows, Hs, g, w, S, W):  # pragma: no cover - compiled
    """``S[rows] += w * H.T @ Z``, the adjoint of :func:`_transform`, added in place."""
    if Hs.shape[0] == 1:
        _scatter(Z, rows, Hs[0], w, S, W)
    else:
        _scatter_dense(Z, rows, Hs[g], w, S)


@njit(**JIT)
def _group_pca_bases(C, groups, Hs, nu):  # pragma: no cover - compiled
    """``Hs[g]``: the principal axes of group ``g`` along the group (rows: the constant vector
    ``1 / sqrt(k)`` first, the mean patch's axis, then the eigenvectors of the Gram matrix of the
    centred group by decreasing eigenvalue): the basis in which the group's rows are decorrelated,
    the one the low-rank filter shrinks in. Each eigenvector's sign makes its largest entry positive
    (the result is independent of LAPACK's sign choice). ``nu[g]``: the group's tail variance, the
    mean of the ``k // 2`` smallest eigenvalues of that Gram matrix per coefficient (divided by
    ``n``): what the group's principal axes leave to noise and fine detail."""
    k, n = groups.shape[1], C.shape[1]
    dt = C.dtype
    M = np.empty((k, n), dt)
    K = np.empty((k, k), dt)
    mean = np.empty(n, dt)
    for g in range(groups.shape[0]):
        trace = _centred_gram(C, groups[g], M, K, mean)  # the low-rank filter's Gram matrix
        big = (trace + 1.0) / k  # the constant vector becomes the leading eigenvector (K 1 = 0)
        for a in range(k):
            for b in range(k):
                K[a, b] += big
        lam, V = np.linalg.eigh(K)
        tail = 0.0
        for i in range(k // 2):
            tail += max(lam[i], 0.0)
        nu[g] = tail / (max(k // 2, 1) * n)
        for i in range(k):
            col = k - 1 - i  # eigh's order is increasing
            j_max = 0
            for a in range(1, k):
                if abs(V[a, col]) > abs(V[j_max, col]):
                    j_max = a
            sgn = 1.0 if V[j_max, col] >= 0.0 else -1.0
            for a in range(k):
                Hs[g, i, a] = sgn * V[a, col]


@njit(**JIT)
def _group_weights(C, groups, Hs, s2, w):  # pragma: no cover - compiled
    """``w[g] = 1 / sum(gain^2)``, the empirical Wiener gains ``z^2 / (z^2 + s2)`` of group ``g``
    (the aggregation weights of BM3D's second step)."""
    k, n = groups.shape[1], C.shape[1]
    Z = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    for g in range(groups.shape[0]):
        _transform(C, groups[g], Hs, g, Z, W)
        e = 0.0
        for a in range(k):
            for c in range(n):
                q = Z[a, c] * Z[a, c]
                gain = q / (q + s2)
                e += gain * gain
        w[g] = 1.0 / max(e, 1e-12)


@njit(**JIT)
def _curve_gain(r, d, a, knots):  # pragma: no cover - compiled
    """``(gamma, dgamma/dr, i, w)`` of the shrinkage curve at ``r = z^2 / tau``: the Wiener gain
    ``r / (1 + r)`` plus ``Delta(r)``, piecewise linear in ``r`` between the ``knots`` (zero at the
    first and last, ``d[a, j - 1]`` at the interior knot ``j``); ``i`` the knot left of ``r`` and
    ``w`` its weight towards the next (``i = -1`` outside the knots, where ``Delta`` is 0)."""
    ip = 1.0 / (1.0 + r)
    g = r * ip
    gp = ip * ip
    K = knots.shape[0]
    if r <= knots[0] or r >= knots[K - 1]:
        return g, gp, -1, 0.0
    i = 0
    while r >= knots[i + 1]:
        i += 1
    h = knots[i + 1] - knots[i]
    w = (r - knots[i]) / h
    dl = d[a, i - 1] if i >= 1 else 0.0
    dr = d[a, i] if i + 1 <= K - 2 else 0.0
    return g + (1.0 - w) * dl + w * dr, gp + (dr - dl) / h, i, w


@njit(**JIT)
def _shrink_forward(C, groups, Hs, w, tau, s, S, delta, knots, g0=0, g1=-1):  # pragma: no cover - compiled
    """``S[rows_g] += w_g H^T f(H C[rows_g])`` for every group ``g`` (of ``g0:g1``; ``g1 = -1``: to
    the last), ``f(z) = z^3 / (z^2 + s_g tau)`` (``s``: every group's scale of ``tau``); with a
    learned curve (``delta`` of shape ``(k, n_knots - 2)``, not ``(k, 0)``) ``f(z) = z gamma(r)``,
    ``r = z^2 / (s_g tau)``, ``gamma`` of :func:`_curve_gain` for the group-transform row."""
    k, n = groups.shape[1], C.shape[1]
    Z = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    curve = delta.shape[1] > 0
    for g in range(g0, groups.shape[0] if g1 < 0 else g1):
        _transform(C, groups[g], Hs, g, Z, W)
        sg = s[g]
        for a in range(k):
            for c in range(n):
                z = Z[a, c]
                z2 = z * z
                if curve:
                    gam, _, _, _ = _curve_gain(z2 / (sg * tau[a, c]), delta, a, knots)
                    Z[a, c] = z * gam
                else:
                    Z[a, c] = z * z2 / (z2 + sg * tau[a, c])
        _transform_adjoint(Z, groups[g], Hs, g, w[g], S, W)


@njit(parallel=True, **JIT)
def _shrink_forward_parallel(C, groups, Hs, w, tau, s, S, delta, knots, bands):  # pragma: no cover - compiled
    """:func:`_shrink_forward` with the runs of groups ``bands[b]:bands[b + 1]`` in parallel, the
    even runs, then the odd ones (runs two apart write to different rows of ``S``; the bands of
    :func:`cs_toolkit.signals._denoisers._runs`)."""
    for parity in range(2):
        for i in prange(parity_run_count(bands, parity)):
            g0, g1 = parity_run(bands, parity, i)
            _shrink_forward(C, groups, Hs, w, tau, s, S, delta, knots, g0, g1)


@njit(**JIT)
def _shrink_backward(C, groups, Hs, w, tau, s, delta, knots, GS, GC, gtheta, gdelta):  # pragma: no cover - compiled
    """The adjoint of :func:`_shrink_forward` at ``C``: ``GC += dL/dC``, ``gtheta += dL/dtheta``
    (``tau = exp(theta)``) and, with a curve, ``gdelta += dL/ddelta`` from ``GS = dL/dS``."""
    k, n = groups.shape[1], C.shape[1]
    Z = np.empty((k, n), C.dtype)
    G = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    curve = delta.shape[1] > 0
    K = knots.shape[0]
    for g in range(groups.shape[0]):
        _transform(C, groups[g], Hs, g, Z, W)
        _transform(GS, groups[g], Hs, g, G, W)
        wg = w[g]
        sg = s[g]
        for a in range(k):
            for c in range(n):
                z = Z[a, c]
                z2 = z * z
                t = sg * tau[a, c]
                gz = wg * G[a, c]
                if curve:  # f = z gamma(r), r = z^2 / t: df/dz = gamma + 2 r gamma', df/dtheta = -z r gamma'
                    r = z2 / t
                    gam, gp, i, wr = _curve_gain(r, delta, a, knots)
                    gtheta[a, c] -= gz * z * r * gp
                    if i >= 1:
                        gdelta[a, i - 1] += gz * z * (1.0 - wr)
                    if i >= 0 and i + 1 <= K - 2:
                        gdelta[a, i] += gz * z * wr
                    G[a, c] = gz * (gam + 2.0 * r * gp)
                else:
                    d = z2 + t
                    inv = 1.0 / (d * d)
                    gtheta[a, c] -= gz * z * z2 * t * inv
                    G[a, c] = gz * (z2 * z2 + 3.0 * z2 * t) * inv
        _transform_adjoint(G, groups[g], Hs, g, 1.0, GC, W)
