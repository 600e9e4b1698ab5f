"""Numba kernels of BCS-SPL's two smoothing steps and of its wavelet transform
(:mod:`cs_toolkit.signals._denoisers`).

The adaptive Wiener filter and the bivariate shrinkage of one wavelet band both need local
means over a square window with reflected borders (``scipy.ndimage.uniform_filter(...,
mode="reflect")``). Formed here in one pass per image or band, with no temporaries beyond one
scratch array, instead of up to a dozen NumPy and SciPy calls (each band of a 256 x 256 picture
is small, so the calls' overhead was most of the cost). One level of the periodized discrete
wavelet transform along rows, and its inverse, give the 2-D transform (the columns through
transposes); PyWavelets took about 1.8 ms for one level of a 256 x 256 picture. Every kernel works
in the floating type of its arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._config import JIT


@njit(inline="always", **JIT)
def _reflect(i, n):  # pragma: no cover - compiled
    """Index ``i`` folded into ``[0, n)`` by half-sample symmetric reflection (``d c b a | a b c d
    | d c b a``, repeated): SciPy's ``mode="reflect"``, windows wider than the array included."""
    period = 2 * n
    i %= period
    if i < 0:
        i += period
    return i if i < n else period - 1 - i


@njit(**JIT)
def _box_sums(x, size, square, tmp, out):  # pragma: no cover - compiled
    """``out`` = sums of ``x`` (``x * x`` when ``square``) over the ``size x size`` window around
    every pixel, borders reflected; ``tmp`` is scratch of ``x``'s shape. Separable: rows (through
    a reflected copy of the row), then columns (through a table of reflected row indices)."""
    h, w = x.shape
    half = size // 2
    pad = np.empty(w + size - 1, dtype=x.dtype)
    for i in range(h):
        for t in range(w + size - 1):
            jj = t - half
            v = x[i, jj if 0 <= jj < w else _reflect(jj, w)]
            pad[t] = v * v if square else v
        for j in range(w):
            acc = pad[j]
            for t in range(1, size):
                acc += pad[j + t]
            tmp[i, j] = acc
    rows = np.empty(h + size - 1, dtype=np.int64)
    for t in range(h + size - 1):
        rows[t] = _reflect(t - half, h)
    for i in range(h):
        r = rows[i]
        for j in range(w):
            out[i, j] = tmp[r, j]
        for t in range(1, size):
            r = rows[i + t]
            for j in range(w):
                out[i, j] += tmp[r, j]


@njit(**JIT)
def _wiener_smooth(x, size, out):  # pragma: no cover - compiled
    """Adaptive Wiener filter of ``x`` into ``out`` (see ``_denoisers.wiener_smooth``): local mean
    ``mu`` and variance ``v`` over the window, noise power ``nu`` = mean of ``v``, and ``out =
    mu + max(v - nu, 0) / v * (x - mu)``."""
    h, w = x.shape
    tmp = np.empty_like(x)
    mean = np.empty_like(x)
    var = np.empty_like(x)
    _box_sums(x, size, False, tmp, mean)
    _box_sums(x, size, True, tmp, var)
    inv = 1.0 / (size * size)
    noise = 0.0
    for i in range(h):
        for j in range(w):
            mu = mean[i, j] * inv
            v = var[i, j] * inv - mu * mu
            if v < 0.0:
                v = 0.0
            mean[i, j] = mu
            var[i, j] = v
            noise += v
    noise /= h * w
    for i in range(h):
        for j in range(w):
            v = var[i, j]
            gain = (v - noise) / v if v > noise else 0.0
            out[i, j] = mean[i, j] + gain * (x[i, j] - mean[i, j])


@njit(**JIT)
def _bivariate_band(w1, parent, has_parent, n2, lam, window, out):  # pragma: no cover - compiled
    """Bivariate shrinkage of one wavelet band ``w1`` into ``out`` (see
    ``_denoisers.bivariate_shrink``): ``w2 = parent[i // 2, j // 2]`` (the next coarser band of
    the same orientation, upsampled by repetition; 0 without one), local signal deviation
    ``sigma = sqrt(max(mean_window(w1^2) - n2, 1e-12))``, ``T = lam sqrt(3) n2 / sigma``, ``r =
    sqrt(w1^2 + w2^2)`` and ``out = w1 max(r - T, 0) / r`` (0 where ``r = 0``)."""
    h, w = w1.shape
    tmp = np.empty_like(w1)
    loc = np.empty_like(w1)
    _box_sums(w1, window, True, tmp, loc)
    inv = 1.0 / (window * window)
    c = lam * np.sqrt(3.0) * n2
    for i in range(h):
        for j in range(w):
            s2 = loc[i, j] * inv - n2
            sig = np.sqrt(s2 if s2 > 1e-12 else 1e-12)
            a = w1[i, j]
            b = parent[i // 2, j // 2] if has_parent else 0.0
            r = np.sqrt(a * a + b * b)
            t = r - c / sig
            out[i, j] = a * (t / r) if (r > 0.0 and t > 0.0) else 0.0


# ----------------------------------------------------------------------------------------
# one level of the periodized wavelet transform along the rows (PyWavelets' "periodization"
# mode for rows of even length and filters of even length)
# ----------------------------------------------------------------------------------------
@njit(**JIT)
def _dwt_rows(X, h, g, A, D):  # pragma: no cover - compiled
    """``A[r, i] = sum_k h[k] X[r, (2 i + F/2 - k) mod N]`` and the same with ``g`` into ``D``:
    the approximation and detail halves of every row (``F`` the filter length, ``N`` the row's)."""
    n_rows, N = X.shape
    F = h.shape[0]
    half = F // 2
    for r in range(n_rows):
        for i in range(N // 2):
            base = 2 * i + half
            sa = 0.0
            sd = 0.0
            if base - F + 1 >= 0 and base < N:
                for k in range(F):
                    v = X[r, base - k]
                    sa += h[k] * v
                    sd += g[k] * v
            else:
                for k in range(F):
                    v = X[r, (base - k) % N]
                    sa += h[k] * v
                    sd += g[k] * v
            A[r, i] = sa
            D[r, i] = sd


@njit(**JIT)
def _idwt_rows(A, D, h, g, X):  # pragma: no cover - compiled
    """The inverse of :func:`_dwt_rows` given the reconstruction filters ``h, g``:
    ``X[r, (2 i - F/2 + 1 + k) mod N] += A[r, i] h[k] + D[r, i] g[k]`` (``X`` overwritten)."""
    n_rows, N = X.shape
    F = h.shape[0]
    shift = F // 2 - 1
    for r in range(n_rows):
        for n in range(N):
            X[r, n] = 0.0
        for i in range(N // 2):
            a = A[r, i]
            d = D[r, i]
            base = 2 * i - shift
            if base >= 0 and base + F <= N:
                for k in range(F):
                    X[r, base + k] += a * h[k] + d * g[k]
            else:
                for k in range(F):
                    X[r, (base + k) % N] += a * h[k] + d * g[k]
