"""Matching pursuit (Mallat & Zhang 1993)."""

from __future__ import annotations

import time

import numpy as np

from ._common import GreedyInfo, Status, _check_sparsity, _check_tol, prepare
from ._registry import register_solver
from .omp import GRAM_MAX_BYTES, _run_kernel, _tolerances

__all__ = ["mp"]

#: Placeholder for the squared signal norms, which the matrix variant computes itself.
_NO_NORMS = np.empty(0, np.float64)


@register_solver(
    "mp",
    kind="greedy",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Matching pursuit (atoms may repeat; no least-squares refit).",
)
def mp(A, Y, *, n_nonzero_coefs=None, max_iter=None, tol=None, return_info=False):
    """Matching pursuit.

    Each iteration selects the atom best correlated with the residual,
    ``i = argmax_j |<r, a_j>| / ||a_j||``, adds ``<r, a_i> / ||a_i||^2`` to
    ``x_i`` and removes that multiple of ``a_i`` from the residual. Atoms may be
    selected again; there is no least-squares refit (see :func:`omp`).

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix or dictionary; columns need not be normalised (all-zero
        columns are never selected). An operator is made explicit with ``to_dense()``.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    n_nonzero_coefs : int, optional
        Maximum number of *distinct* atoms: a signal stops when its next
        selection would be a new atom beyond this limit. Default: no limit.
        Values above ``n`` are clipped with a ``SparsityClippedWarning``.
    max_iter : int, optional
        Maximum iterations (selections) per signal; default ``10 * min(m, n)``.
    tol : float, optional
        Stop once the squared residual norm is ``<= tol``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`; ``converged`` is
        False for signals stopped by ``max_iter`` while ``tol`` or
        ``n_nonzero_coefs`` was given.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Codes, float32 only if ``A`` and ``Y`` are float32.
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite input, ``n_nonzero_coefs < 1``, ``max_iter < 1``, ``tol < 0``.

    Notes
    -----
    With many signals the correlations are updated with rows of the Gram matrix
    (``O(n)`` per iteration; the residual norm is tracked as
    ``||r||^2 - <r, a_i>^2 / ||a_i||^2``), otherwise recomputed as ``A^T r``.
    Mallat & Zhang (1993), "Matching pursuits with time-frequency dictionaries".

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(4)
    >>> mp(A, np.array([0.0, 3.0, 0.0, -1.0]), max_iter=2)
    array([ 0.,  3.,  0., -1.])
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype = prepare(A, Y, dense=True)
    m, n = A.shape
    N = Y2.shape[0]
    from .._validation import check_int

    kd = n if n_nonzero_coefs is None else _check_sparsity(n_nonzero_coefs, n, what="n")
    max_iter = 10 * min(m, n) if max_iter is None else check_int("max_iter", max_iter, low=1)
    tol = _check_tol(tol)
    use_tol = tol is not None
    tol_v = float(tol) if use_tol else 0.0
    rel_stop, _ = _tolerances(dtype)
    norms2 = np.einsum("ij,ij->j", A, A)
    with np.errstate(divide="ignore"):
        inv_norm = np.where(norms2 > 0, 1.0 / np.sqrt(np.where(norms2 > 0, norms2, 1)), 0).astype(dtype)
    X = np.zeros((N, n), dtype)
    n_iter = np.zeros(N, np.int64)
    status = np.zeros(N, np.int8)
    resid2 = np.empty(N, np.float64)
    from ._mp_numba import _mp_batch, _mp_range

    use_gram = N * max_iter > 4 * n and n * n * dtype.itemsize <= GRAM_MAX_BYTES
    if use_gram:
        G = A.T @ A
        AtY = Y2 @ A
        y2 = np.einsum("ij,ij->i", Y2, Y2, dtype=np.float64)
        _run_kernel(_mp_batch, _mp_range,
                    (G, AtY, y2, norms2, inv_norm, max_iter, kd, tol_v, use_tol, rel_stop, True,
                     X, n_iter, status, resid2), N)
    else:
        # few signals (N * max_iter <= 4 n): the serial kernel, no thread start-up or parallel compile
        _mp_range(A, Y2, _NO_NORMS, norms2, inv_norm, max_iter, kd, tol_v, use_tol, rel_stop, False,
                  X, n_iter, status, resid2, 0, N)
    out = X[0] if was_1d else X
    if return_info:
        limited = use_tol or n_nonzero_coefs is not None
        conv = status != Status.MAX_ITER if limited else np.ones(N, bool)
        info = GreedyInfo(n_iter=n_iter, converged=conv, resid_norm=np.sqrt(np.maximum(resid2, 0.0)),
                          elapsed=time.perf_counter() - t0, method="mp/gram" if use_gram else "mp/matrix")
        return out, info
    return out
