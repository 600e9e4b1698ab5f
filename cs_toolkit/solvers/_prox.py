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
top k            keep the k entries of largest |v|      = projection onto k-sparse vectors
support select.  soft threshold but the top k of |v| pass unshrunk (learned layers, with the
                 masks of its derivative: ``shrink``, ``shrink_thresh_grad``)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._config import JIT, JIT_SUMS
from .._validation import check_array, check_int, check_scalar
from ..exceptions import DTypeError, ValidationError

__all__ = ["soft_threshold", "nonneg_soft_threshold", "hard_threshold", "keep_largest", "prox_l1", "shrink",
           "shrink_thresh_grad",
           "group_soft_threshold", "group_hard_threshold", "group_index"]


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
def _prox_l1(v, t, nonneg):
    """Soft threshold, or its non-negative version when ``nonneg``."""
    if nonneg:
        return _soft_nonneg(v, t)
    return _soft(v, t)


def prox_l1(x, thresh, nonneg=False):
    """Batch form of the ``_prox_l1`` kernel: :func:`soft_threshold`, or :func:`nonneg_soft_threshold`
    when ``nonneg`` (the proximal step of ISTA/FISTA and of the ISTA layer). Internal: the
    caller has validated ``thresh`` (it is not checked again here, in the solvers' loops)."""
    arr = _as_float(x)
    t = np.asarray(thresh, dtype=arr.dtype)
    return _soft_nonneg_arr(arr, t) if nonneg else _soft_arr(arr, t)


# ----------------------------------------------------------------------------------------
# support selection: top-k masks, and the layer nonlinearity of the learned networks with
# the masks of its derivative (for training)
# ----------------------------------------------------------------------------------------
def _topk_mask(V, k):
    """Boolean mask of the ``k`` entries of largest magnitude along the last axis of ``V``.

    ``k <= 0`` selects nothing, ``k >= n`` everything; ties are broken as ``np.argpartition``
    breaks them. The one top-k selection of the package (:func:`keep_largest`, the greedy
    solvers, support selection in :func:`shrink`).
    """
    mask = np.zeros(V.shape, dtype=bool)
    if k <= 0:
        return mask
    if k >= V.shape[-1]:
        mask[...] = True
        return mask
    idx = np.argpartition(-np.abs(V), k - 1, axis=-1)[..., :k]
    np.put_along_axis(mask, idx, True, axis=-1)
    return mask


def shrink(v, thresh, k=0):
    """Soft threshold with support selection, and the masks of its derivative.

    The ``k`` entries of largest magnitude of each row pass unshrunk when they exceed
    ``thresh`` (support selection, Chen et al. 2018); the others are soft thresholded.

    Parameters
    ----------
    v : ndarray of shape (n_signals, n)
        Pre-activations (float32 or float64).
    thresh : float or ndarray broadcastable to ``v``
        Non-negative threshold (e.g. one per row, shape (n_signals, 1)).
    k : int, default 0
        Entries selected per row (0: plain soft threshold).

    Returns
    -------
    x : ndarray of the shape and dtype of ``v``
    active : ndarray of bool
        ``|v| > thresh``: the derivative of ``x`` with respect to ``v``.
    shrunk : ndarray of bool
        The active entries that were shrunk: ``x`` moves by ``-sign(v)`` per unit of
        ``thresh`` there (see :func:`shrink_thresh_grad`).

    Examples
    --------
    >>> x, active, shrunk = shrink(np.array([[3.0, -2.0, 0.5]]), 1.0, k=1)
    >>> x
    array([[ 3., -1.,  0.]])
    >>> shrunk
    array([[False,  True, False]])
    """
    arr = _as_float(v)
    x = _soft_arr(arr, np.asarray(thresh, dtype=arr.dtype))  # thresh unchecked: training loops
    active = np.abs(v) > thresh
    if k > 0:
        sel = _topk_mask(v, k) & active
        x[sel] = v[sel]
        return x, active, active & ~sel
    return x, active, active


def shrink_thresh_grad(dx, v, shrunk, per_row=False):
    """Derivative with respect to the threshold of ``sum(dx * shrink(v, thresh)[0])``.

    ``-sum(dx * sign(v))`` over the ``shrunk`` entries: a float (summed in float64) for a
    threshold shared by the batch, or with ``per_row=True`` an array of shape (n_signals, 1)
    for one threshold per row.
    """
    if per_row:
        return -np.sum(dx * np.sign(v) * shrunk, axis=1, keepdims=True)
    return -float(np.sum(dx[shrunk] * np.sign(v[shrunk]), dtype=np.float64))


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_float(x, name="x", min_ndim=0):
    """``x`` as a float32 or float64 array (float32 kept, other real dtypes become float64; no
    copy for a float array). O(1) checks only: non-finite entries pass (solvers detect
    divergence on the result).

    Raises
    ------
    DTypeError
        Complex, object or string input (the imaginary part is never dropped).
    ValidationError
        Fewer than ``min_ndim`` dimensions, or input that is not array-like.
    """
    if type(x) is np.ndarray and x.dtype in _FLOATS and x.ndim >= min_ndim:  # fast path
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValidationError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype not in _FLOATS:
        if arr.dtype.kind == "c":  # the messages of check_array
            raise DTypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}; pass np.real({name}).")
        if arr.dtype.kind not in "biu":
            raise DTypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}.")
        arr = arr.astype(np.float64)
    if arr.ndim < min_ndim:
        raise ValidationError(f"{name} must be an array of at least {min_ndim} dimension(s) (entries along "
                              f"the last axis), got a {arr.ndim}-D value of shape {arr.shape}.")
    return arr


def _check_thresh(thresh, x):
    """A threshold for ``x``: a finite scalar >= 0, or an array of them that broadcasts to the
    shape of ``x``; returned as an array of the dtype of ``x`` (O(thresh.size))."""
    if type(thresh) is float and 0.0 <= thresh < np.inf:  # fast path (NaN fails the test)
        return np.asarray(thresh, dtype=x.dtype)
    if not isinstance(thresh, np.ndarray) and np.ndim(thresh) == 0:
        return np.asarray(check_scalar("thresh", thresh, low=0.0), dtype=x.dtype)
    t = check_array(thresh, "thresh", allow_empty=True)
    if t.size and t.min() < 0:
        raise ValidationError(f"thresh must be >= 0 everywhere, got a minimum of {t.min()}.")
    try:
        ok = np.broadcast_shapes(t.shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValidationError(f"thresh of shape {t.shape} does not broadcast to the shape {x.shape} of x "
                              f"(pass a scalar, or e.g. one threshold per row of shape (n_signals, 1)).")
    return t.astype(x.dtype, copy=False)


# the operators on float arrays and thresholds of their dtype, unchecked (prox_l1 and shrink, which
# solvers and learned layers call in their loops, use these)
def _soft_arr(arr, t):
    return np.sign(arr) * np.maximum(np.abs(arr) - t, 0).astype(arr.dtype)


def _soft_nonneg_arr(arr, t):
    return np.maximum(arr - t, 0).astype(arr.dtype)


def _hard_arr(arr, t):
    return np.where(np.abs(arr) > t, arr, 0).astype(arr.dtype)


def _keep_largest_arr(arr, k):
    out = np.zeros_like(arr)
    mask = _topk_mask(arr, k)
    out[mask] = arr[mask]
    return out


def soft_threshold(x, thresh):
    """Soft thresholding ``sign(x) * max(|x| - thresh, 0)``, the prox of ``thresh * ||x||_1``.

    Parameters
    ----------
    x : array_like
        Real input of any shape; float32 is kept.
    thresh : float or array_like
        Finite non-negative threshold, or an array of them that broadcasts to the shape of
        ``x`` (e.g. one per row, shape (n_signals, 1), or one per entry).

    Returns
    -------
    ndarray
        New array of the dtype of ``x``.

    Raises
    ------
    ValidationError
        Negative or non-finite ``thresh``, or one that does not broadcast to the shape of ``x``.
    DTypeError
        Complex (or other non-real) ``x``, or a complex array ``thresh``.

    Examples
    --------
    >>> soft_threshold([-2.0, 0.5, 3.0], 1.0)
    array([-1.,  0.,  2.])
    """
    arr = _as_float(x)
    return _soft_arr(arr, _check_thresh(thresh, arr))


def nonneg_soft_threshold(x, thresh):
    """``max(x - thresh, 0)``: the prox of ``thresh * ||x||_1`` plus the constraint ``x >= 0``.

    Same parameters and errors as :func:`soft_threshold`.
    """
    arr = _as_float(x)
    return _soft_nonneg_arr(arr, _check_thresh(thresh, arr))


def hard_threshold(x, thresh):
    """``x * (|x| > thresh)``: the prox of ``thresh**2 / 2 * ||x||_0``.

    Same parameters and errors as :func:`soft_threshold`.
    """
    arr = _as_float(x)
    return _hard_arr(arr, _check_thresh(thresh, arr))


def keep_largest(x, k: int):
    """Keep the ``k`` entries of largest magnitude in each row (the projection onto k-sparse vectors).

    Ties are broken by index order (``np.argpartition``); rows are along the last axis of ``x``
    (an array of at least one dimension). ``k`` is an integer >= 0 (0 keeps nothing; ``k`` at
    least the row length keeps everything). Raises ``ValidationError`` for another ``k`` or a
    0-d ``x``, ``DTypeError`` for a complex ``x``.
    """
    arr = _as_float(x, min_ndim=1)
    return _keep_largest_arr(arr, k if type(k) is int and k >= 0 else check_int("k", k, low=0))


# ----------------------------------------------------------------------------------------
# group (block) operators: non-overlapping groups given as labels
# ----------------------------------------------------------------------------------------
# group soft threshold   G_t(v)_g = v_g max(1 - t / ||v_g||_2, 0)   = prox of t sum_g ||v_g||_2 (l2,1)
# group hard threshold   H_t(v)_g = v_g 1{||v_g||_2 > t}           = prox of (t^2 / 2) #{g : v_g != 0}
#
# The kernels take the groups as a permutation ``order`` of the columns sorted by group and
# the offsets ``starts`` (length n_groups + 1): the columns of group g are
# ``order[starts[g]:starts[g + 1]]``. ``group_index`` builds both from labels.


@njit(**JIT)
def _group_norm2(v, order, starts, g):
    """``||v_g||^2`` in float64."""
    s = 0.0
    for p in range(starts[g], starts[g + 1]):
        a = np.float64(v[order[p]])
        s += a * a
    return s


@njit(**JIT)
def _group_soft_row(v, out, order, starts, t):
    """Group soft threshold of one row ``v`` into ``out`` (may be ``v`` itself)."""
    for g in range(starts.shape[0] - 1):
        nrm = np.sqrt(_group_norm2(v, order, starts, g))
        if nrm > t:
            c = v.dtype.type(1.0 - t / nrm)
            for p in range(starts[g], starts[g + 1]):
                j = order[p]
                out[j] = v[j] * c
        else:  # the whole group is zero (+0.0, as the soft threshold gives)
            for p in range(starts[g], starts[g + 1]):
                out[order[p]] = 0.0


@njit(**JIT)
def _group_hard_row(v, out, order, starts, t):
    """Group hard threshold of one row ``v`` into ``out`` (may be ``v`` itself)."""
    t2 = t * t
    for g in range(starts.shape[0] - 1):
        keep = _group_norm2(v, order, starts, g) > t2
        for p in range(starts[g], starts[g + 1]):
            j = order[p]
            out[j] = v[j] if keep else 0.0


@njit(**JIT_SUMS)
def _sumsq(v, a, b):
    """``sum v[a:b]^2`` in float64; the only reassociated arithmetic of the group kernels (a
    strict left-to-right sum is one dependent addition per entry; reordering changes the norm by
    rounding only)."""
    s = 0.0
    for j in range(a, b):
        x = np.float64(v[j])
        s += x * x
    return s


@njit(**JIT)
def _group_soft_row_contig(v, out, starts, t):
    """:func:`_group_soft_row` for contiguous groups (``order`` is the identity): no gathers."""
    for g in range(starts.shape[0] - 1):
        a, b = starts[g], starts[g + 1]
        nrm = np.sqrt(_sumsq(v, a, b))
        if nrm > t:
            c = v.dtype.type(1.0 - t / nrm)
            for j in range(a, b):
                out[j] = v[j] * c
        else:
            for j in range(a, b):
                out[j] = 0.0


@njit(**JIT)
def _group_hard_row_contig(v, out, starts, t):
    """:func:`_group_hard_row` for contiguous groups."""
    t2 = t * t
    for g in range(starts.shape[0] - 1):
        a, b = starts[g], starts[g + 1]
        keep = _sumsq(v, a, b) > t2
        for j in range(a, b):
            out[j] = v[j] if keep else 0.0


@njit(**JIT)
def _is_identity(order):
    for p in range(order.shape[0]):
        if order[p] != p:
            return False
    return True


@njit(**JIT)
def _group_threshold_row(v, out, order, starts, t, hard, contig):
    """One row: group soft (``hard=False``) or hard threshold, contiguous fast path when ``contig``."""
    if contig:
        if hard:
            _group_hard_row_contig(v, out, starts, t)
        else:
            _group_soft_row_contig(v, out, starts, t)
    elif hard:
        _group_hard_row(v, out, order, starts, t)
    else:
        _group_soft_row(v, out, order, starts, t)


@njit(**JIT)
def _group_threshold_rows(V, out, order, starts, thr, hard):
    """Group soft (``hard=False``) or hard threshold of every row of ``V``, threshold ``thr[i]`` per row."""
    contig = _is_identity(order)
    for i in range(V.shape[0]):
        _group_threshold_row(V[i], out[i], order, starts, thr[i], hard, contig)


#: Entries of a batch below which the group thresholds run on one thread.
_GROUP_PARALLEL_MIN = 1 << 18


def _group_threshold_batch(V, out, order, starts, thr, hard):
    """Run the group threshold kernel on a validated batch, in parallel for large batches."""
    import numba

    nt = int(numba.get_num_threads())
    if nt == 1 or V.shape[0] < 8 or V.size < _GROUP_PARALLEL_MIN:
        _group_threshold_rows(V, out, order, starts, thr, hard)
    else:
        from ._group_numba import _group_threshold_rows_par

        _group_threshold_rows_par(V, out, order, starts, thr, hard, max(1, -(-V.shape[0] // (4 * nt))))


def group_index(groups, n: int, name: str = "groups"):
    """Validate group labels and return ``(labels, order, starts)``.

    Parameters
    ----------
    groups : array_like of int, shape (n,)
        One label per coefficient (column of ``A``); equal labels form a group. Labels are
        any integers; they are renumbered ``0 .. n_groups - 1`` in increasing order.
    n : int
        Number of coefficients the labels must cover.
    name : str, default "groups"
        Argument name used in error messages.

    Returns
    -------
    labels : ndarray of int64, shape (n,)
        Labels renumbered to ``0 .. n_groups - 1``.
    order : ndarray of int64, shape (n,)
        Columns sorted by group (stable).
    starts : ndarray of int64, shape (n_groups + 1,)
        The columns of group ``g`` are ``order[starts[g]:starts[g + 1]]``.

    Raises
    ------
    ValidationError
        ``groups`` not a 1-D integer array of length ``n``.
    """
    if groups is None:
        raise ValidationError(f"{name} must be an array of {n} integer group labels (one per column), got None.")
    arr = np.asarray(groups)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ValidationError(f"{name} must hold integer group labels, got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValidationError(
            f"{name} must be a 1-D array of length {n} (one label per coefficient), got shape {arr.shape}."
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValidationError(f"{name} must hold integer group labels, got non-integer values.")
    raw = arr.astype(np.int64)
    key = index_key(n, raw)
    hit = _GROUP_CACHE.get(key)
    if hit is not None:
        return hit
    uniq, labels = np.unique(raw, return_inverse=True)
    labels = labels.astype(np.int64).reshape(-1)
    order = np.argsort(labels, kind="stable").astype(np.int64)
    starts = np.zeros(uniq.size + 1, np.int64)
    np.cumsum(np.bincount(labels, minlength=uniq.size), out=starts[1:])
    return remember(_GROUP_CACHE, key, (labels, order, starts))


def index_key(n: int, index: np.ndarray) -> tuple:
    """Cache key of a validated int64 index array (group labels, tree parents) of ``n`` columns."""
    import hashlib

    return (n, hashlib.blake2b(index.tobytes(), digest_size=16).digest())


def remember(cache: dict, key, arrays: tuple, size: int = 16) -> tuple:
    """Store ``arrays`` (made read-only) under ``key`` in a first-in first-out cache of
    ``size`` entries; returns them."""
    for a in arrays:
        a.setflags(write=False)
    if len(cache) >= size:
        cache.pop(next(iter(cache)))
    cache[key] = arrays
    return arrays


#: validated group labels (read-only arrays), keyed by length and a hash of the labels
_GROUP_CACHE: dict = {}


def _group_threshold(x, groups, thresh, hard):
    arr = check_array(x, "x", ndim=(1, 2))
    thr = check_scalar("thresh", thresh, low=0.0)
    _, order, starts = group_index(groups, arr.shape[-1])
    V = np.ascontiguousarray(arr.reshape(-1, arr.shape[-1]))
    out = np.empty_like(V)
    _group_threshold_batch(V, out, order, starts, np.full(V.shape[0], thr), hard)
    return out.reshape(arr.shape)


def group_soft_threshold(x, groups, thresh):
    """Group soft threshold, the prox of ``thresh * sum_g ||x_g||_2`` (the l2,1 norm).

    Parameters
    ----------
    x : array_like of shape (n,) or (n_signals, n)
        Input; each row is thresholded on its own. float32 is kept.
    groups : array_like of int, shape (n,)
        Group label of each coefficient (non-overlapping groups).
    thresh : float
        Non-negative threshold ``t``.

    Returns
    -------
    ndarray
        New array ``x_g max(1 - t / ||x_g||, 0)`` per group, of the shape and dtype of ``x``.

    Raises
    ------
    ValidationError
        Bad ``x``, ``groups`` of the wrong length or type, negative ``thresh``.

    Examples
    --------
    >>> group_soft_threshold([3.0, 4.0, 0.5], [0, 0, 1], 1.0)
    array([2.4, 3.2, 0. ])
    """
    return _group_threshold(x, groups, thresh, False)


def group_hard_threshold(x, groups, thresh):
    """Group hard threshold: keep the groups with ``||x_g||_2 > thresh``, zero the others.

    The prox of ``thresh**2 / 2`` times the number of nonzero groups. Same parameters as
    :func:`group_soft_threshold`.

    Examples
    --------
    >>> group_hard_threshold([3.0, 4.0, 0.5], [0, 0, 1], 1.0)
    array([3., 4., 0.])
    """
    return _group_threshold(x, groups, thresh, True)
