"""Proximal and thresholding operators shared by ISTA, FISTA, AMP and the learned layers.

The scalar kernels are ``@njit`` functions that other kernels call inline; the
array functions at the bottom are the validated NumPy-level versions used by
Python code (the learned networks, tests, notebooks). There is exactly one
definition of each operator in the package.

Definitions
-----------
soft threshold   S_t(v) = sign(v) max(|v| - t, 0)      = prox of t ||.||_1
nonneg soft      S+_t(v) = max(v - t, 0)                = prox of t ||.||_1 + indicator(x >= 0)
hard threshold   H_t(v) = v 1{|v| > t}                  = prox of (t^2 / 2) ||.||_0
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._config import JIT

__all__ = ["soft_threshold", "nonneg_soft_threshold", "hard_threshold", "keep_largest"]


@njit(inline="always", **JIT)
def _soft(v, t):
    # v - clip(v, -t, t): branch-free (min/max compile to selects, so loops calling it
    # vectorise and do not mispredict around the threshold); v - t and v + t exactly as
    # written, a zero of v's dtype in between
    return v - max(min(v, t), -t)


@njit(inline="always", **JIT)
def _soft_nonneg(v, t):
    # max(v - t, 0) written as v - min(v, t): branch-free, keeps v's dtype
    return v - min(v, t)


@njit(inline="always", **JIT)
def _hard(v, t):
    if v > t or v < -t:
        return v
    return v * np.float32(0.0)  # a signed zero of v's dtype (0.0 * v would promote float32)


@njit(inline="always", **JIT)
def _prox_l1(v, t, nonneg):
    """Soft threshold, or its non-negative version when ``nonneg``."""
    if nonneg:
        return _soft_nonneg(v, t)
    return _soft(v, t)


def _as_float(x):
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def soft_threshold(x, thresh):
    """Soft thresholding ``sign(x) * max(|x| - thresh, 0)``, the prox of ``thresh * ||x||_1``.

    Parameters
    ----------
    x : array_like
        Input of any shape; float32 is kept.
    thresh : float or array_like
        Non-negative threshold, broadcast against ``x`` (e.g. one per row or per entry).

    Returns
    -------
    ndarray
        New array of the dtype of ``x``.

    Examples
    --------
    >>> soft_threshold([-2.0, 0.5, 3.0], 1.0)
    array([-1.,  0.,  2.])
    """
    arr = _as_float(x)
    t = np.asarray(thresh, dtype=arr.dtype)
    return np.sign(arr) * np.maximum(np.abs(arr) - t, 0).astype(arr.dtype)


def nonneg_soft_threshold(x, thresh):
    """``max(x - thresh, 0)``: the prox of ``thresh * ||x||_1`` plus the constraint ``x >= 0``."""
    arr = _as_float(x)
    return np.maximum(arr - np.asarray(thresh, dtype=arr.dtype), 0).astype(arr.dtype)


def hard_threshold(x, thresh):
    """``x * (|x| > thresh)``: the prox of ``thresh**2 / 2 * ||x||_0``."""
    arr = _as_float(x)
    return np.where(np.abs(arr) > np.asarray(thresh, dtype=arr.dtype), arr, 0).astype(arr.dtype)


def keep_largest(x, k: int):
    """Keep the ``k`` entries of largest magnitude in each row (the projection onto k-sparse vectors).

    Ties are broken by index order (``np.argpartition``); rows are along the last axis.
    """
    arr = _as_float(x)
    out = np.zeros_like(arr)
    if k <= 0:
        return out
    if k >= arr.shape[-1]:
        return arr.copy()
    idx = np.argpartition(-np.abs(arr), k - 1, axis=-1)[..., :k]
    np.put_along_axis(out, idx, np.take_along_axis(arr, idx, axis=-1), axis=-1)
    return out
