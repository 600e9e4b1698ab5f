"""Least-squares debiasing: refit the nonzero entries of a sparse estimate by least squares.

The soft threshold of every unrolled layer shrinks the entries it keeps, and
measurement noise leaves small spurious ones; both bias the estimate. The
classic remedy after a LASSO-type solve (the "debiased" or "relaxed" LASSO) is
to keep only the detected support and solve least squares on it. Here the
support of a row ``x_hat`` is

``S = {j : |x_hat_j| > threshold * max_k |x_hat_k|}``

(a fraction of the row's largest magnitude, so the rule does not depend on the
signal's scale), taken in decreasing magnitude and capped at ``max_support``
entries, and the output is ``x_S = argmin ||y - A_S z||_2``, zero elsewhere.
An optional second pass ("prune and refit") keeps the entries of that unbiased
refit with ``|z_j| > refit_threshold * max_k |z_k|`` and solves again: the
refit separates true entries from false alarms better than the shrunk input.
:meth:`UnrolledNetwork.calibrate_debias` picks the fraction on validation data
and ``debias=True`` makes it the network's last layer.
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_array,
    check_bool,
    check_int,
    check_scalar,
    check_signals,
    dense_matrix,
    restore_rank,
)
from ..exceptions import ValidationError

__all__ = ["ls_debias", "default_max_support"]

#: relative pivot below which a column counts as dependent on the support already taken
_REL_DEP = 1e-10


def default_max_support(n_measurements) -> int:
    """Default cap on the debiased support: half the number of measurements (at least 1)."""
    return max(1, int(n_measurements) // 2)


def ls_debias(A, Y, X, *, threshold=0.1, refit_threshold=None, max_support=None, gram=None,
              return_support_size=False):
    """Least squares on the detected support of every row of ``X``.

    Parameters
    ----------
    A : array_like of shape (m, n)
        Sensing matrix (times the dictionary, for codes).
    Y : array_like of shape (m,) or (n_signals, m)
        Measurements.
    X : array_like of shape (n,) or (n_signals, n)
        Sparse estimates (e.g. the output of an unrolled network); not modified.
    threshold : float in [0, 1), default 0.1
        Support rule ``|x_j| > threshold * max_k |x_k|`` per row (0: every nonzero entry).
    refit_threshold : float in [0, 1), optional
        Second pass: keep the entries of the first refit ``z`` with
        ``|z_j| > refit_threshold * max_k |z_k|`` and refit on them (None: one pass).
    max_support : int, optional
        Most entries kept per row, the largest ones (default ``m // 2``, at most ``m``).
        Entries whose column is numerically dependent on the larger ones already
        kept are left out.
    gram : array_like of shape (n, n), optional
        ``A.T @ A`` (float64: a float32 array is refused), when the caller keeps it (a model caches it).
    return_support_size : bool, default False
        Also return the size of the support used for every row.

    Returns
    -------
    X_ls : ndarray of the shape of ``X``
        Least-squares refit, in the dtype of ``X`` (float32 or float64; the
        solve runs in float64).
    sizes : ndarray of int64 of shape (n_signals,)
        Only with ``return_support_size``.

    Raises
    ------
    ValidationError
        Mismatched shapes, a threshold outside ``[0, 1)``, non-finite values.

    Notes
    -----
    ``A^T A`` is formed once, ``Y A`` by one GEMM; every row then factors its
    ``|S| x |S|`` Gram block by an incremental Cholesky (about ``|S|^3 / 6``
    flops, rows in parallel). This is the debiasing step of the relaxed LASSO
    (Meinshausen 2007) and of the LASSO-debias literature (Figueiredo, Nowak and
    Wright 2007, GPSR's debiasing phase).

    Examples
    --------
    >>> A = np.random.default_rng(0).standard_normal((30, 60)) / np.sqrt(30)
    >>> x = np.zeros(60); x[[3, 17]] = [1.0, -2.0]
    >>> x_hat = 0.8 * x; x_hat[40] = 0.01        # shrunk, with a tiny false alarm
    >>> bool(np.allclose(ls_debias(A, A @ x, x_hat, threshold=0.1), x))
    True
    """
    from ._debias_numba import _ls_debias_batch

    A = dense_matrix(A, "A", copy=False)
    m, n = A.shape
    X2, was_1d = check_signals(X, "X", n_features=n)
    dtype = X2.dtype if X2.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    Y2, was_1d_y = check_signals(Y, "Y", n_features=m, dtype=np.float64)
    if was_1d != was_1d_y or X2.shape[0] != Y2.shape[0]:
        raise ValidationError(
            f"Y and X must hold the same number of signals, got shapes {np.shape(Y)} and {np.shape(X)}."
        )
    threshold = check_scalar("threshold", threshold, low=0.0, high=1.0, high_inclusive=False)
    if refit_threshold is None:
        refit = -1.0
    else:
        refit = check_scalar("refit_threshold", refit_threshold, low=0.0, high=1.0, high_inclusive=False)
    if max_support is None:
        max_support = default_max_support(m)
    max_support = check_int("max_support", max_support, low=1, high=m)
    return_support_size = check_bool("return_support_size", return_support_size)
    if gram is None:
        gram = A.T @ A
    else:
        gram = check_array(gram, "gram", ndim=2)  # a list of lists becomes float64; float32 is kept, and refused
        if gram.shape != (n, n) or gram.dtype != np.float64:
            raise ValidationError(f"gram must be A.T @ A as float64 of shape {(n, n)}, got {gram.dtype} {gram.shape}.")
    B = Y2 @ A
    out = np.empty((X2.shape[0], n), dtype=np.float64)
    sizes = np.empty(X2.shape[0], dtype=np.int64)
    _ls_debias_batch(np.ascontiguousarray(gram), B, np.ascontiguousarray(X2, dtype=np.float64), float(threshold),
                     refit, max_support, _REL_DEP, out, sizes)
    out = restore_rank(out.astype(dtype, copy=False), was_1d)
    return (out, sizes) if return_support_size else out
