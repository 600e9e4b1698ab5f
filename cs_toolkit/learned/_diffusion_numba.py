"""Numba kernels of the trained diffusion stages (:mod:`cs_toolkit.learned.diffusion`).

Responses are ``(n_pixels, n_filters)`` arrays; an influence function is piecewise linear
on ``n_knots`` equally spaced knots ``z0 + j * dz`` and constant beyond the end knots.
"""

from __future__ import annotations

from numba import njit, prange

from .._config import JIT, JIT_PARALLEL


@njit(**JIT_PARALLEL)
def _influence(Z, Wk, z0, dz, out):  # pragma: no cover - compiled
    """``out[n, i] = phi_i(Z[n, i])``, ``phi_i`` interpolating the values ``Wk[i, :]`` at the knots."""
    n_knots = Wk.shape[1]
    for n in prange(Z.shape[0]):
        for i in range(Z.shape[1]):
            u = (Z[n, i] - z0) / dz
            if u <= 0.0:
                out[n, i] = Wk[i, 0]
            elif u >= n_knots - 1:
                out[n, i] = Wk[i, n_knots - 1]
            else:
                j = int(u)
                t = u - j
                out[n, i] = (1.0 - t) * Wk[i, j] + t * Wk[i, j + 1]


@njit(**JIT)
def _influence_backward(Z, Wk, z0, dz, GA, GZ, GW):  # pragma: no cover - compiled
    """``GZ = phi'(Z) * GA`` and ``GW += d<GA, phi(Z)>/dWk`` (serial: ``GW`` is summed over pixels)."""
    n_knots = Wk.shape[1]
    for n in range(Z.shape[0]):
        for i in range(Z.shape[1]):
            u = (Z[n, i] - z0) / dz
            g = GA[n, i]
            if u <= 0.0:
                GZ[n, i] = 0.0
                GW[i, 0] += g
            elif u >= n_knots - 1:
                GZ[n, i] = 0.0
                GW[i, n_knots - 1] += g
            else:
                j = int(u)
                t = u - j
                GZ[n, i] = g * (Wk[i, j + 1] - Wk[i, j]) / dz
                GW[i, j] += (1.0 - t) * g
                GW[i, j + 1] += t * g


@njit(**JIT)
def _col2im(E, n_cols, s, out):  # pragma: no cover - compiled
    """``out += sum_i R_i^T E[i]``: every row of ``E`` is an ``s x s`` window added back in place
    (windows in row-major order over ``out``, which is ``s - 1`` larger than the image in each axis)."""
    for idx in range(E.shape[0]):
        r0 = idx // n_cols
        c0 = idx - r0 * n_cols
        for di in range(s):
            for dj in range(s):
                out[r0 + di, c0 + dj] += E[idx, di * s + dj]
