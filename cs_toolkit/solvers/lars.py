"""Exact LASSO solutions by the LARS-lasso homotopy (Osborne et al. 2000; Efron et al. 2004)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numba
import numpy as np

from .._config import EPS
from .._threads import blas_single_thread
from .._validation import check_bool, check_int
from ..exceptions import (
    ConvergenceWarning,
    DependentAtomsWarning,
    IllConditionedWarning,
    ValidationError,
)
from ._common import SolverInfo, Status, _check_lam, prepare
from ._lars_numba import _lars_batch, _lars_one
from ._registry import register_solver

__all__ = ["lars", "LassoPath"]


@dataclass
class LassoPath:
    """Breakpoints of the LASSO path of one signal.

    Attributes
    ----------
    lambdas : ndarray of shape (n_breakpoints,)
        Decreasing penalties, from ``||A^T y||_inf`` down to ``lam``.
    coefs : ndarray of shape (n_breakpoints, n)
        Solution at each breakpoint; the path is linear in between.
    """

    lambdas: np.ndarray
    coefs: np.ndarray


@register_solver(
    "lars",
    kind="convex",
    sparsity_param=None,
    operator_ok=False,
    summary="exact LASSO 1/2||Ax-y||^2 + lam||x||_1 by the LARS-lasso homotopy",
)
def lars(A, Y, *, lam, max_iter=None, nonneg=False, return_path=False, return_info=False):
    """Exact LASSO solution by the LARS-lasso homotopy.

    Parameters
    ----------
    A : ndarray of shape (m, n)
        Sensing matrix or dictionary (dense; use ``op.to_dense()`` for an operator).
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    lam : float or ndarray of shape (n_signals,)
        Non-negative l1 penalty, shared or one per signal.
    max_iter : int, optional
        Maximum number of path steps (variables entering or leaving) per signal;
        default ``8 * min(m, n)``.
    nonneg : bool, default False
        Add the constraint ``x >= 0`` (the positive lasso path).
    return_path : bool, default False
        Also return the :class:`LassoPath` breakpoints (one signal only).
    return_info : bool, default False
        Also return a :class:`SolverInfo` (``n_iter`` counts path steps).

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Codes, of the dtype of the inputs (computed in float64).
    path : LassoPath
        Only with ``return_path=True``.
    info : SolverInfo
        Only with ``return_info=True`` (after ``path`` when both are asked).

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite values, negative ``lam``, an operator for ``A``,
        ``return_path`` with several signals, a flag (``nonneg``, ``return_path``,
        ``return_info``) that is not a bool.

    Warns
    -----
    ConvergenceWarning
        ``max_iter`` steps were not enough to reach ``lam``.
    DependentAtomsWarning
        A variable could not enter because it is dependent on the active ones.
    IllConditionedWarning
        The active set is too ill-conditioned for the input precision: its smallest
        normalised Cholesky pivot (``info.pivot_ratio``) is below ``sqrt(eps)`` of the
        input dtype (about 3.5e-4 for float32), i.e. ``cond(A_S) > 1 / sqrt(eps)``.

    See Also
    --------
    fista : first-order solver of the same problem, also for operators.

    Notes
    -----
    Minimises ``1/2 ||A x - y||_2^2 + lam ||x||_1`` by following the piecewise-linear
    solution path from ``lam_max = ||A^T y||_inf`` down to ``lam``, adding the variable
    whose correlation reaches the current penalty and removing an active variable
    whose coefficient crosses zero (the lasso modification of Efron et al. 2004).
    Everything works on ``G = A^T A`` and ``A^T y`` (computed once by BLAS); the
    active-set Cholesky factor is extended by one row per entering variable. The
    final coefficients are re-solved exactly from the active set and signs.
    scikit-learn's ``Lasso(alpha)`` minimises the objective divided by ``m``: ``alpha = lam / m``.

    Conditioning check (free): the normalised pivots ``L_pp / ||a_{j_p}||`` of the active-set
    factor are sines of angles between each active column and the span of the previous ones,
    and ``cond(A_S) >= 1 / min_p(L_pp / ||a_{j_p}||)``. The computation is in float64, but
    float32 data carry relative errors of ``eps32`` and the LASSO solution on the support
    amplifies them by up to ``cond(A_S)^2``, so below ``sqrt(eps)`` the float32 result is not
    meaningful and a warning says so. (For float64 the dependence test, pivot^2 below
    ``1e-10 ||a_j||^2``, blocks such columns first.)

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lars(A, np.array([3.0, 0.5]), lam=1.0)
    array([2., 0.])
    """
    t0 = time.perf_counter()
    nonneg = check_bool("nonneg", nonneg)
    return_path = check_bool("return_path", return_path)
    return_info = check_bool("return_info", return_info)
    A, Y2, was_1d, dtype = prepare(A, Y, allow_operator=False)
    k = Y2.shape[0]
    m, n = A.shape
    lam_arr = _check_lam(lam, k)
    if max_iter is None:
        max_iter = 8 * min(m, n)
    max_iter = check_int("max_iter", max_iter, low=1)
    if return_path and k != 1:
        raise ValidationError(f"return_path=True needs a single signal, got Y of shape {np.shape(Y)}.")
    A64 = A.astype(np.float64, copy=False)
    # one BLAS thread when the parallel kernel runs next: spinning BLAS threads would take its
    # cores (see cs_toolkit._threads)
    with blas_single_thread(k > 1 and numba.get_num_threads() > 1):
        G = A64.T @ A64
        C0 = np.ascontiguousarray(Y2.astype(np.float64, copy=False) @ A64)
    pmax = min(m, n)
    X = np.zeros((k, n))
    n_steps = np.zeros(k, dtype=np.int64)
    status = np.zeros(k, dtype=np.int64)
    pivot = np.ones(k)
    path = None
    if return_path:
        c, AB = np.empty(n), np.empty((3, n))
        L = np.empty((pmax, pmax))
        GS = np.empty((pmax, n))
        act = np.empty(pmax, dtype=np.int64)
        signs, d, z, rhs = (np.empty(pmax) for _ in range(4))
        flag = np.empty(n, dtype=np.int8)
        path_lam = np.empty(max_iter + 2)
        path_x = np.empty((max_iter + 2, n))
        s, st, n_rec, pr = _lars_one(G, C0[0], lam_arr[0], nonneg, max_iter, X[0], c, AB, L, GS, act, signs, d, z, rhs,
                                 flag, True, path_lam, path_x)
        n_steps[0], status[0], pivot[0] = s, st, pr
        path = LassoPath(path_lam[:n_rec].astype(dtype), path_x[:n_rec].astype(dtype))
    else:
        # chunks handed out one at a time (dynamic): signals differ in path length and the
        # machine may be shared, so equal static shares leave a thread idle at the end
        n_chunks = max(1, min(k, 16 * numba.get_num_threads()))
        with numba.parallel_chunksize(1):
            _lars_batch(G, C0, lam_arr, nonneg, max_iter, pmax, n_chunks, X, n_steps, status, pivot)
    if np.any(status == Status.MAX_ITER):
        warnings.warn(
            f"lars stopped at max_iter={max_iter} path steps before reaching lam for "
            f"{int(np.sum(status == Status.MAX_ITER))} of {k} signal(s); increase max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    if np.any(status == Status.DEPENDENT):
        warnings.warn(
            f"lars: some variables could not enter the active set for {int(np.sum(status == Status.DEPENDENT))} of {k} "
            f"signal(s) because they are linearly dependent on it; the result may not be optimal.",
            DependentAtomsWarning,
            stacklevel=2,
        )
    ill = pivot < np.sqrt(EPS[np.dtype(dtype)])
    if np.any(ill):
        warnings.warn(
            f"lars: the active set is too ill-conditioned for {np.dtype(dtype).name} input for "
            f"{int(ill.sum())} of {k} signal(s) (smallest normalised Cholesky pivot {pivot.min():.2e} < "
            f"sqrt(eps) = {np.sqrt(EPS[np.dtype(dtype)]):.2e}); use float64 data or a larger lam.",
            IllConditionedWarning,
            stacklevel=2,
        )
    Xo = X.astype(dtype)
    out = Xo[0] if was_1d else Xo
    res = [out]
    if return_path:
        res.append(path)
    if return_info:
        res.append(SolverInfo(n_iter=n_steps, converged=status != Status.MAX_ITER, elapsed=time.perf_counter() - t0,
                              diverged=np.zeros(k, dtype=bool), pivot_ratio=pivot))
    return res[0] if len(res) == 1 else tuple(res)
