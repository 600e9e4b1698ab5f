"""ISTA and FISTA for the LASSO, and the ISTA layer shared with the learned networks.

Both solvers minimise, for each signal ``y`` (a row of ``Y``),

    F(x) = 1/2 ||A x - y||_2^2 + lam ||x||_1        (optionally subject to x >= 0)

by proximal gradient steps. The step itself is one fused numba kernel
(:func:`cs_toolkit.solvers._fista_numba._pg_step`) used by both methods; the
matrix products around it are plain BLAS calls on the whole batch (or the
``_forward``/``_adjoint`` methods of a matrix-free operator).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numba
import numpy as np

from .._config import EPS
from .._validation import (
    check_array,
    check_int,
    check_matrix,
    check_option,
    check_scalar,
    check_signals,
    result_dtype,
)
from ..exceptions import (
    ConvergenceWarning,
    DivergenceWarning,
    IllConditionedWarning,
    ValidationError,
)
from ..sensing import LinearOperator
from ._fista_numba import _pg_step, _pg_step_serial
from ._prox import nonneg_soft_threshold, soft_threshold
from ._registry import register_solver

__all__ = ["ista", "fista", "ista_layer", "lasso_objective", "duality_gap", "SolverInfo"]

#: batches with fewer entries (n_signals * n) run the serial step kernel
_PARALLEL_MIN = 16384


@dataclass
class SolverInfo:
    """Diagnostics returned with ``return_info=True`` by the convex solvers.

    Attributes
    ----------
    n_iter : ndarray of int, shape (n_signals,)
        Iterations (or path steps) run for each signal.
    converged : ndarray of bool, shape (n_signals,)
        Whether each signal met the stopping rule.
    elapsed : float
        Wall-clock seconds spent in the solver (validation included).
    objective : ndarray of shape (n_iter + 1, n_signals) or None
        Objective after each iteration (first row: the starting point),
        only with ``history=True``.
    gap : ndarray of shape (n_signals,) or None
        Final duality gap per signal, when it was computed.
    diverged : ndarray of bool, shape (n_signals,) or None
        Signals stopped because their iterates became non-finite or grew beyond
        what a convergent run allows (their last accepted iterate is returned).
    pivot_ratio : ndarray of shape (n_signals,) or None
        :func:`lars`, and :func:`ista`/:func:`fista` on float32 input: the smallest
        normalised Cholesky pivot of the final active set, ``min_p L_pp / ||a_{j_p}||`` (the sine of the smallest angle
        between an active atom and the span of the atoms before it; 1 for
        orthogonal atoms, 1 for an empty active set). A value below
        ``sqrt(eps)`` of the input dtype raises an ``IllConditionedWarning``. ista/fista
        check only with ``tol > 0`` and leave NaN where nothing was checked: every
        signal when ``tol=0``, diverged signals, supports larger than ``m`` or than 256 atoms.
    """

    n_iter: np.ndarray
    converged: np.ndarray
    elapsed: float
    objective: np.ndarray | None = None
    gap: np.ndarray | None = None
    diverged: np.ndarray | None = None
    pivot_ratio: np.ndarray | None = None


# ----------------------------------------------------------------------------------------
# validation helpers shared by the convex solvers
# ----------------------------------------------------------------------------------------
def _prepare(A, Y, *, allow_operator=True):
    """Validate ``A`` and ``Y`` and bring them to one float dtype. Returns (A, Y2, was_1d, dtype)."""
    A = check_matrix(A, "A", allow_operator=allow_operator)
    Y2, was_1d = check_signals(Y, "Y", n_features=A.shape[0])
    dtype = result_dtype(A.dtype, Y2.dtype)
    if isinstance(A, LinearOperator):
        if A.dtype != dtype:
            dtype = A.dtype if A.dtype == np.float64 else dtype
    else:
        A = np.ascontiguousarray(A, dtype=dtype)
    Y2 = np.ascontiguousarray(Y2, dtype=dtype)
    return A, Y2, was_1d, dtype


def _check_lam(lam, n_signals):
    """``lam`` as a float64 array of shape (n_signals,), each >= 0 and finite."""
    if np.ndim(lam) == 0:
        return np.full(n_signals, check_scalar("lam", lam, low=0.0))
    arr = check_array(lam, "lam", ndim=1, dtype=np.float64)
    if arr.shape[0] != n_signals:
        raise ValidationError(f"lam must be a scalar or have one value per signal ({n_signals},), got shape {arr.shape}.")
    if np.any(arr < 0):
        raise ValidationError(f"lam must be >= 0, got a minimum of {arr.min()}.")
    return arr.copy()


def _use_gram(m, n, n_signals):
    """Whether ``Z (A^T A)`` (one GEMM) beats ``(Z A^T) A`` (two) for a dense ``A``.

    The flop counts are ``k n^2`` and ``2 k m n``. Below ``n = 2 m`` the Gram form wins;
    at ``n = 2 m`` (workload C) the counts tie and one square GEMM still runs faster than
    two thin ones without the ``(k, m)`` intermediate, once the batch is large enough to
    pay for forming ``A^T A`` (``m n^2`` flops, a fraction of one iteration).
    """
    return n < 2 * m or (n <= 2 * m and n_signals >= 64)


def _products(A, dtype, n_signals):
    """Return ``(mode, AtY_fn, prod_fn, objective_parts_fn)`` for the matrix products.

    ``prod(Z, out)`` returns ``Z A^T A``; ``mode`` is "gram", "dense" or "operator".
    """
    if isinstance(A, LinearOperator):
        def prod(Z, out=None):
            return np.ascontiguousarray(A._adjoint(np.ascontiguousarray(A._forward(Z), dtype=A.dtype)), dtype=dtype)

        def fwd(X):
            return np.asarray(A._forward(np.ascontiguousarray(X, dtype=A.dtype)), dtype=dtype)

        def adj(R):
            return np.asarray(A._adjoint(np.ascontiguousarray(R, dtype=A.dtype)), dtype=dtype)

        return "operator", prod, fwd, adj
    m, n = A.shape
    fwd = lambda X: X @ A.T  # noqa: E731
    adj = lambda R: R @ A  # noqa: E731
    if _use_gram(m, n, n_signals):
        G = A.T @ A

        def prod(Z, out=None):
            if out is None or out.shape != Z.shape:
                return Z @ G
            return np.matmul(Z, G, out=out)

        return "gram", prod, fwd, adj
    AT = np.ascontiguousarray(A.T)
    buf = {}  # the (k, m) intermediate, reused across iterations

    def prod(Z, out=None):
        T = buf.get(Z.shape[0])
        if T is None:
            buf.clear()
            T = buf[Z.shape[0]] = np.empty((Z.shape[0], m), dtype=Z.dtype)
        np.matmul(Z, AT, out=T)
        if out is None or out.shape != Z.shape:
            return T @ A
        return np.matmul(T, A, out=out)

    return "dense", prod, fwd, adj


def lasso_objective(A, Y, X, lam, *, nonneg=False):
    """LASSO objective ``1/2 ||A x - y||^2 + lam ||x||_1`` for each signal.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
    Y : ndarray of shape (m,) or (n_signals, m)
    X : ndarray of shape (n,) or (n_signals, n)
    lam : float or ndarray of shape (n_signals,)
    nonneg : bool, default False
        Return ``inf`` for signals with a negative entry.

    Returns
    -------
    float or ndarray of shape (n_signals,)
        Computed in float64.
    """
    A, Y2, was_1d, _ = _prepare(A, Y)
    X2, _ = check_signals(X, "X", n_features=A.shape[1], dtype=np.float64)
    if X2.shape[0] != Y2.shape[0]:
        raise ValidationError(f"X and Y must hold the same number of signals, got {X2.shape[0]} and {Y2.shape[0]}.")
    lam_arr = _check_lam(lam, Y2.shape[0])
    if isinstance(A, LinearOperator):
        R = np.asarray(A._forward(np.ascontiguousarray(X2, dtype=A.dtype)), dtype=np.float64) - Y2
    else:
        R = X2 @ A.astype(np.float64).T - Y2
    f = 0.5 * np.einsum("ij,ij->i", R, R) + lam_arr * np.abs(X2).sum(axis=1)
    if nonneg:
        f = np.where((X2 < 0).any(axis=1), np.inf, f)
    return f[0] if was_1d else f


def _gap_from_parts(R, AtR, X, lam, Y, nonneg):
    """Duality gap per row from the residual ``R = y - A x`` and ``AtR = A^T R`` (float64)."""
    r2 = np.einsum("ij,ij->i", R, R)
    yr = np.einsum("ij,ij->i", Y, R)
    primal = 0.5 * r2 + lam * np.abs(X).sum(axis=1)
    c = np.maximum(AtR.max(axis=1), 0.0) if nonneg else np.abs(AtR).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(c > lam, lam / np.where(c > 0, c, 1.0), 1.0)
    dual = s * yr - 0.5 * s * s * r2
    return np.maximum(primal - dual, 0.0), primal


def duality_gap(A, Y, X, lam, *, nonneg=False):
    """Duality gap of the LASSO at ``X``, with the dual point obtained by scaling the residual.

    The dual of ``min 1/2||Ax-y||^2 + lam||x||_1`` is ``max 1/2||y||^2 - 1/2||y - theta||^2``
    subject to ``||A^T theta||_inf <= lam`` (``A^T theta <= lam`` with ``x >= 0``); the feasible
    point is ``theta = s r`` with ``r = y - A x`` and ``s = min(1, lam / ||A^T r||_inf)``.

    Returns
    -------
    gap : float or ndarray of shape (n_signals,)
        Non-negative; zero exactly at the optimum.
    """
    A, Y2, was_1d, _ = _prepare(A, Y)
    X2, _ = check_signals(X, "X", n_features=A.shape[1], dtype=np.float64)
    lam_arr = _check_lam(lam, Y2.shape[0])
    Yd = Y2.astype(np.float64)
    if isinstance(A, LinearOperator):
        R = Yd - np.asarray(A._forward(np.ascontiguousarray(X2, dtype=A.dtype)), dtype=np.float64)
        AtR = np.asarray(A._adjoint(np.ascontiguousarray(R, dtype=A.dtype)), dtype=np.float64)
    else:
        Ad = A.astype(np.float64)
        R = Yd - X2 @ Ad.T
        AtR = R @ Ad
    gap, _ = _gap_from_parts(R, AtR, X2, lam_arr, Yd, nonneg)
    return gap[0] if was_1d else gap


# ----------------------------------------------------------------------------------------
# the layer
# ----------------------------------------------------------------------------------------
def ista_layer(X, Y, W, S, theta, *, nonneg=False):
    """One ISTA iteration written as a (LISTA) layer: ``prox(Y @ W.T + X @ S.T, theta)``.

    With ``W = step * A.T``, ``S = I - step * A.T @ A`` and ``theta = step * lam``,
    ``K`` applications starting from ``X = 0`` reproduce ``ista(A, Y, lam=lam,
    step=step, max_iter=K, tol=0)`` up to float rounding.

    Parameters
    ----------
    X : ndarray of shape (n,) or (n_signals, n)
        Current codes.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements.
    W : ndarray of shape (n, m)
        Input weights.
    S : ndarray of shape (n, n)
        Recurrent weights.
    theta : float or ndarray of shape (n,)
        Non-negative threshold, shared or one per code entry.
    nonneg : bool, default False
        Use the non-negative soft threshold ``max(v - theta, 0)``.

    Returns
    -------
    ndarray of shape (n_signals, n) (or (n,) for 1-D ``X`` and ``Y``)
        New array; float32 when every input is float32.

    Raises
    ------
    ValidationError
        Inconsistent shapes, non-finite values or a negative threshold.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> step = 0.25
    >>> W, S = step * A.T, np.eye(2) - step * A.T @ A
    >>> ista_layer(np.zeros(2), np.array([4.0, 4.0]), W, S, step * 0.5)
    array([0.875, 1.875])
    """
    W = check_array(W, "W", ndim=2)
    S = check_array(S, "S", ndim=2)
    n, m = W.shape
    if S.shape != (n, n):
        raise ValidationError(f"Dimension mismatch: S must have shape ({n}, {n}) to match W of shape {W.shape}, got {S.shape}.")
    X2, x1d = check_signals(X, "X", n_features=n)
    Y2, y1d = check_signals(Y, "Y", n_features=m)
    if X2.shape[0] != Y2.shape[0]:
        raise ValidationError(f"X and Y must hold the same number of signals, got {X2.shape[0]} and {Y2.shape[0]}.")
    th = np.asarray(theta)
    if th.ndim == 0:
        th = check_scalar("theta", theta, low=0.0)
    else:
        th = check_array(theta, "theta", ndim=1)
        if th.shape[0] != n:
            raise ValidationError(f"theta must be a scalar or have shape ({n},), got {th.shape}.")
        if np.any(th < 0):
            raise ValidationError("theta must be >= 0 everywhere.")
    dt = result_dtype(X2.dtype, Y2.dtype, W.dtype, S.dtype)
    V = Y2.astype(dt, copy=False) @ W.astype(dt, copy=False).T + X2.astype(dt, copy=False) @ S.astype(dt, copy=False).T
    out = nonneg_soft_threshold(V, th) if nonneg else soft_threshold(V, th)
    out = np.ascontiguousarray(out, dtype=dt)
    return out[0] if (x1d and y1d) else out


# ----------------------------------------------------------------------------------------
# the solvers
# ----------------------------------------------------------------------------------------
def _spectral_norm2(A):
    if isinstance(A, LinearOperator):
        return float(A.norm()) ** 2
    return float(np.linalg.norm(A.astype(np.float64), 2)) ** 2


def _validate_common(A, Y, lam, step, max_iter, tol, x0, nonneg, stopping):
    A, Y2, was_1d, dtype = _prepare(A, Y)
    k = Y2.shape[0]
    lam_arr = _check_lam(lam, k)
    if step is not None:
        step = check_scalar("step", step, low=0.0, low_inclusive=False)
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0)
    stopping = check_option("stopping", stopping, ("change", "gap", "both"))
    if x0 is not None:
        X0, _ = check_signals(x0, "x0", n_features=A.shape[1], dtype=dtype, copy=True)
        if X0.shape[0] == 1 and k > 1:
            X0 = np.repeat(X0, k, axis=0)
        if X0.shape[0] != k:
            raise ValidationError(f"x0 must hold one start per signal ({k}, {A.shape[1]}), got shape {np.shape(x0)}.")
        if nonneg:
            X0 = np.maximum(X0, 0)
    else:
        X0 = np.zeros((k, A.shape[1]), dtype=dtype)
    return A, Y2, was_1d, dtype, lam_arr, step, max_iter, tol, X0, stopping


def _pg_solve(A, Y, lam, step, max_iter, tol, nonneg, x0, backtracking, history, stopping, accel, restart, name):
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype, lam_arr, step, max_iter, tol, X, stopping = _validate_common(
        A, Y, lam, step, max_iter, tol, x0, nonneg, stopping
    )
    k, n = X.shape
    mode, prod, fwd, adj = _products(A, dtype, k)
    B = np.ascontiguousarray(adj(Y2), dtype=dtype)  # A^T y per row
    if backtracking:
        L = 1.0 / step if step is not None else _lipschitz_lower_bound(prod, n, dtype)
    else:
        L = 1.0 / step if step is not None else _spectral_norm2(A)
    if L == 0.0:  # A == 0: x = 0 is optimal
        L = 1.0
    steps = np.full(k, 1.0 / L)
    thr = steps * lam_arr
    xmax2 = _iterate_bound2(X, Y2, lam_arr, fwd, x0 is not None)
    dmin2 = np.full(k, np.inf)
    mono = (not accel) and (not backtracking)
    rnd = (32.0 * EPS[np.dtype(dtype)]) ** 2 * n
    status = np.zeros(k, dtype=np.int8)
    status[~Y2.any(axis=1) & ~X.any(axis=1)] = 1  # zero signal from zero start: x = 0 is optimal
    change_ok = np.zeros(k, dtype=np.uint8)
    n_iter = np.zeros(k, dtype=np.int64)
    t = np.ones(k)
    gap_every = 10
    check_gap = stopping in ("gap", "both")
    use_change = stopping == "change"
    tol_k = tol if tol > 0 else 0.0

    hist = []
    def objective(Xc):
        R = fwd(Xc).astype(np.float64) - Y2
        return 0.5 * np.einsum("ij,ij->i", R, R) + lam_arr * np.abs(Xc).sum(axis=1)

    def gap_rows(Xw, Yw, lamw):
        R = Yw.astype(np.float64) - fwd(Xw).astype(np.float64)
        AtR = adj(R.astype(dtype)).astype(np.float64)
        return _gap_from_parts(R, AtR, Xw.astype(np.float64), lamw, Yw.astype(np.float64), nonneg)

    if history:
        hist.append(objective(X))

    # working set: rows still running (compacted as signals converge)
    idx = np.arange(k)
    Xw, Yw, Bw = X.copy(), Y2, B
    Zw = Xw.copy() if accel else Xw
    Pw = np.empty_like(Xw)
    Ww = np.empty_like(Xw)
    stw, thw, tw = steps.copy(), thr.copy(), t.copy()
    statw, chw, itw = status.copy(), change_ok.copy(), n_iter.copy()
    lamw = lam_arr.copy()
    Lw = np.full(k, L)
    xm2w, dm2w = xmax2.copy(), dmin2.copy()
    zerosB = None

    def flush(rows):
        X[idx[rows]] = Xw[rows]
        status[idx[rows]] = statw[rows]
        n_iter[idx[rows]] = itw[rows]

    # small batches run the serial kernel: waking numba's threads for a parallel region then
    # costs more than the work (and much more on a busy machine)
    step_fn = _pg_step if (k * n >= _PARALLEL_MIN and numba.get_num_threads() > 1) else _pg_step_serial
    for it in range(max_iter):
        n_run = int(np.count_nonzero(statw == 0))
        if n_run == 0:
            break
        if n_run < 0.75 * Xw.shape[0] and Xw.shape[0] - n_run >= 4:
            keep = statw == 0
            flush(np.flatnonzero(~keep))
            idx = idx[keep]
            Xw, Yw, Bw = Xw[keep], Yw[keep], Bw[keep]
            Zw = Zw[keep] if accel else Xw
            Pw, Ww = np.empty_like(Xw), np.empty_like(Xw)
            stw, thw, tw, lamw, Lw = stw[keep], thw[keep], tw[keep], lamw[keep], Lw[keep]
            xm2w, dm2w = xm2w[keep], dm2w[keep]
            statw, chw, itw = statw[keep], chw[keep], itw[keep]
        if backtracking:
            if zerosB is None or zerosB.shape != Xw.shape:
                zerosB = np.zeros_like(Xw)
            Gz = _backtrack(Zw, Yw, lamw, Lw, statw, fwd, adj, nonneg, dtype)
            stw = 1.0 / Lw
            thw = stw * lamw
            step_fn(Xw, Zw, Gz, zerosB, Ww, stw, thw, nonneg, accel, restart, tw, tol_k, use_change, statw, chw, itw,
                    xm2w, dm2w, mono, rnd)
        else:
            Pw = prod(Zw, Pw)
            step_fn(Xw, Zw, Pw, Bw, Ww, stw, thw, nonneg, accel, restart, tw, tol_k, use_change, statw, chw, itw,
                    xm2w, dm2w, mono, rnd)
        Xw, Ww = Ww, Xw  # the kernel wrote the new iterates into Ww
        if not accel:
            Zw = Xw
        if check_gap and ((it + 1) % gap_every == 0 or it == max_iter - 1) and tol > 0:
            run = np.flatnonzero(statw == 0)
            if stopping == "both":
                run = run[chw[run] == 1]
            if run.size:
                g, p = gap_rows(Xw[run], Yw[run], lamw[run])
                statw[run[g <= tol * np.maximum(p, EPS[np.dtype(np.float64)])]] = 1
        if history:
            flush(np.arange(Xw.shape[0]))
            hist.append(objective(X))
    flush(np.arange(Xw.shape[0]))

    converged = status == 1
    diverged = status >= 2
    if diverged.any():
        n_nf, n_gr = int(np.sum(status == 2)), int(np.sum(status == 3))
        warnings.warn(
            f"{name} diverged for {int(diverged.sum())} of {k} signal(s) ({n_nf} with non-finite values, "
            f"{n_gr} with iterates growing beyond the bound of a convergent run); returning their last "
            f"accepted iterate. Reduce step (or use step=None or backtracking=True).",
            DivergenceWarning,
            stacklevel=3,
        )
    not_conv = ~converged & ~diverged
    if not_conv.any() and tol > 0:
        warnings.warn(
            f"{name} did not converge for {int(not_conv.sum())} of {k} signal(s) in max_iter={max_iter} "
            f"iterations (tol={tol:g}); increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    pivot = None
    if dtype == np.float32:
        # checked only when a tolerance asks for an accurate solution (tol=0 runs a fixed number of
        # iterations, as benchmarks and unrolled-network baselines do, and pays nothing); not
        # checked: diverged rows, supports larger than m (rank-deficient whatever the dtype) or
        # than _PIVOT_MAX_SUPPORT atoms (bounds the cost)
        pivot = np.full(k, np.nan)
        support = np.count_nonzero(X, axis=1)
        rows = ~diverged & (support <= min(A.shape[0], _PIVOT_MAX_SUPPORT)) & (tol > 0)
        if rows.any():
            pivot[rows] = _active_pivot_ratio(A, X[rows])
        ill = pivot < np.sqrt(EPS[np.dtype(np.float32)])
        if ill.any():
            warnings.warn(
                f"{name}: the active set is too ill-conditioned for float32 input for {int(ill.sum())} of {k} "
                f"signal(s) (smallest normalised Cholesky pivot {np.nanmin(pivot):.2e} < sqrt(eps) = "
                f"{np.sqrt(EPS[np.dtype(np.float32)]):.2e}): the float32 solution has no reliable digits "
                f"whatever tol is; use float64 data or a larger lam.",
                IllConditionedWarning,
                stacklevel=3,
            )
    out = X[0] if was_1d else X
    info = None
    if True:
        gap = None
        if check_gap:
            gap, _ = gap_rows(X, Y2, lam_arr)
        info = SolverInfo(
            n_iter=n_iter,
            converged=converged,
            elapsed=time.perf_counter() - t0,
            objective=np.array(hist) if history else None,
            gap=gap,
            diverged=diverged,
            pivot_ratio=pivot,
        )
    return out, info


_PIVOT_MAX_SUPPORT = 256  # larger active sets are not checked (cost s^3 per signal)
_PIVOT_BYTES = 1 << 26  # memory of one chunk of gathered active columns / Gram blocks
_PIVOT_GRAM_MAX_N = 2048  # up to this n the full Gram matrix (32 MB) is formed once


def _active_pivot_ratio(A, X):
    """Smallest normalised Cholesky pivot of ``A_S^T A_S`` on each row's support ``S = supp(x)``.

    The same quantity as :func:`lars` reports: with unit-norm columns the pivots ``L_pp`` are
    the sines of the angles between each active atom and the span of the previous ones, and
    ``cond(A_S) >= 1 / min_p L_pp``. Computed in float64 from the Gram matrix (formed once)
    for arrays with ``n <= 2048`` when that is cheaper than gathering, else from the active
    columns (gathered, or ``A e_j`` for operators), in chunks of bounded memory. Rows with
    an empty support get 1; a numerically singular ``A_S`` gets 0.
    """
    k, n = X.shape
    ratio = np.ones(k)
    mask = X != 0
    counts = mask.sum(axis=1)
    s = int(counts.max()) if k else 0
    if s == 0:
        return ratio
    G = None
    # the Gram matrix costs m n^2 once, gathering the active columns m s^2 per signal: take the
    # cheaper (the Gram matrix only up to _PIVOT_GRAM_MAX_N, 32 MB)
    if not isinstance(A, LinearOperator) and n <= _PIVOT_GRAM_MAX_N and n * n <= k * s * s:
        A64 = A.astype(np.float64)
        G = A64.T @ A64  # once; then every A_S^T A_S is a gather (s^2 per signal)
    else:
        from .greedy import _columns

        cols = _columns(A if isinstance(A, LinearOperator) else A.astype(np.float64), np.float64)
    diag = np.arange(s)
    chunk = max(1, _PIVOT_BYTES // (8 * s * (s if G is not None else max(s, A.shape[0]))))
    for c0 in range(0, k, chunk):
        c1 = min(k, c0 + chunk)
        mk = mask[c0:c1]
        order = np.argsort(~mk, axis=1, kind="stable")[:, :s]
        valid = np.take_along_axis(mk, order, axis=1)
        if G is not None:
            Gs = G[order[:, :, None], order[:, None, :]]
        else:
            As = cols(order)  # (chunk, s, m): the active atoms (m s^2 per signal)
            Gs = As @ As.transpose(0, 2, 1)
        Gs = Gs * (valid[:, :, None] & valid[:, None, :])
        d = np.sqrt(np.where(valid, Gs[:, diag, diag], 1.0))
        d = np.where(d > 0, d, 1.0)
        Gs = Gs / (d[:, :, None] * d[:, None, :])
        Gs[:, diag, diag] = np.where(valid, Gs[:, diag, diag], 1.0)
        try:
            Ls = np.linalg.cholesky(Gs)
            piv = np.where(valid, np.abs(Ls[:, diag, diag]), np.inf).min(axis=1)
            piv = np.where(np.isfinite(piv), piv, 0.0)
        except np.linalg.LinAlgError:  # some A_S numerically singular: row by row
            piv = np.empty(c1 - c0)
            for i in range(c1 - c0):
                try:
                    L = np.linalg.cholesky(Gs[i])
                    piv[i] = np.where(valid[i], np.abs(np.diag(L)), np.inf).min()
                except np.linalg.LinAlgError:
                    piv[i] = 0.0
        ratio[c0:c1] = np.where(counts[c0:c1] > 0, piv, 1.0)
    return ratio


def _iterate_bound2(X0, Y2, lam, fwd, warm):
    """Per-row bound on ``||x_k||^2`` that no convergent ISTA/FISTA run exceeds (``inf`` if ``lam = 0``).

    ``lam ||x*||_1 <= F(x_0)`` and ``||x_k - x*|| <= ||x_0 - x*||`` give
    ``||x_k|| <= ||x_0|| + 2 F(x_0) / lam``; twice that is returned (squared) so
    rounding never trips it. ``F(x_0) = ||y||^2 / 2`` from a zero start, else one
    forward product (only for a warm start).
    """
    Yd = Y2.astype(np.float64)
    if warm:
        R = np.asarray(fwd(X0), dtype=np.float64) - Yd
        x0n = np.linalg.norm(X0.astype(np.float64), axis=1)
        f0 = 0.5 * np.einsum("ij,ij->i", R, R) + lam * np.abs(X0.astype(np.float64)).sum(axis=1)
    else:
        x0n = np.zeros(Y2.shape[0])
        f0 = 0.5 * np.einsum("ij,ij->i", Yd, Yd)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bound = 2.0 * (x0n + 2.0 * f0 / lam)
        b2 = bound * bound * (1.0 + 1e-6) + 1e-300
    return np.where(lam > 0, b2, np.inf)


def _lipschitz_lower_bound(prod, n, dtype):
    """A cheap lower bound of ``||A||^2`` (a few power steps) to start backtracking from."""
    v = np.random.default_rng(0).standard_normal((1, n)).astype(dtype)
    est = 0.0
    for _ in range(3):
        w = prod(v)
        nv = float(np.linalg.norm(v))
        est = float(np.linalg.norm(w)) / max(nv, 1e-300)
        if est == 0.0:
            break
        v = (w / np.linalg.norm(w)).astype(dtype)
    return max(est, 1e-12)


def _backtracking_grad(Zw, Yw, fwd, adj):
    Rz = fwd(Zw) - Yw
    return Rz, adj(Rz)


def _backtrack(Zw, Yw, lamw, Lw, statw, fwd, adj, nonneg, dtype, eta=2.0, max_tries=60):
    """Beck & Teboulle backtracking: raise ``Lw`` (in place) per running row until the quadratic bound holds.

    Returns the gradient at ``Zw`` (rows of finished signals are left as computed).
    """
    Rz, Gz = _backtracking_grad(Zw, Yw, fwd, adj)
    Gz = np.ascontiguousarray(Gz, dtype=dtype)
    fz = 0.5 * np.einsum("ij,ij->i", Rz, Rz, dtype=np.float64)
    rows = np.flatnonzero(statw == 0)
    prox = nonneg_soft_threshold if nonneg else soft_threshold
    for _ in range(max_tries):
        if rows.size == 0:
            break
        Lr = Lw[rows][:, None]
        Xc = prox(Zw[rows] - Gz[rows] / Lr, (lamw[rows] / Lw[rows])[:, None]).astype(dtype)
        D = (Xc - Zw[rows]).astype(np.float64)
        Rx = fwd(Xc) - Yw[rows]
        fx = 0.5 * np.einsum("ij,ij->i", Rx, Rx, dtype=np.float64)
        q = fz[rows] + np.einsum("ij,ij->i", Gz[rows].astype(np.float64), D) + 0.5 * Lw[rows] * np.einsum("ij,ij->i", D, D)
        slack = 10 * EPS[np.dtype(dtype)] * np.maximum(np.abs(fz[rows]), 1e-300)
        bad = ~(fx <= q + slack)
        rows = rows[bad]
        Lw[rows] *= eta
    return Gz


_COMMON_DOC = """
    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix or dictionary (matrix-free operators are used through
        their batch ``_forward``/``_adjoint`` methods).
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    lam : float or ndarray of shape (n_signals,)
        Non-negative l1 penalty, shared or one per signal.
    step : float, optional
        Step size; default ``1 / ||A||_2^2`` (exact for arrays, power iteration
        for operators, cached on the operator). With ``backtracking=True`` it is
        the initial step (default: from a lower bound of ``||A||_2^2``).
    max_iter : int, default 500
        Maximum number of iterations.
    tol : float, default 1e-6
        Stopping tolerance: a signal stops when ``||x_k - x_{k-1}|| <= tol * ||x_k||``
        (``stopping="change"``), when the duality gap is ``<= tol *`` the primal objective
        (``"gap"``, checked every 10 iterations), or when both hold (``"both"``).
        ``tol=0`` runs exactly ``max_iter`` iterations.
    nonneg : bool, default False
        Add the constraint ``x >= 0``.
    x0 : ndarray of shape (n,) or (n_signals, n), optional
        Warm start (default zeros).
    backtracking : bool, default False
        Beck & Teboulle backtracking line search on the Lipschitz constant, per signal.
    return_info : bool, default False
        Also return a :class:`SolverInfo`.
    history : bool, default False
        Record the objective of every signal after each iteration in ``info.objective``
        (costs one extra product per iteration).
    stopping : {"change", "gap", "both"}, default "change"
        Stopping rule, see ``tol``.
"""

_RETURNS_DOC = """Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Codes, of the dtype of the inputs (float32 kept).
    info : SolverInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite values, negative ``lam``, bad options.
    DTypeError
        Complex or non-numeric input.

    Warns
    -----
    ConvergenceWarning
        Some signals did not meet ``tol`` within ``max_iter``.
    DivergenceWarning
        The iterates became non-finite or grew beyond the bound that every
        convergent run respects (step too large); see Notes.
    IllConditionedWarning
        float32 input whose final active set ``A_S`` is too ill-conditioned for float32
        (``info.pivot_ratio`` below ``sqrt(eps32)``, the criterion of :func:`lars`;
        ``cond(A_S) >= 1 / pivot_ratio`` and float32 errors grow like ``cond(A_S)^2``;
        NaN for diverged signals, which are not checked).
        Checked after the solve from the Gram matrix of the support."""


def _fill_doc(func):
    """Expand the ``{common}``/``{returns}`` sections shared by the ista and fista docstrings."""
    doc = func.__doc__.replace("{common}", _COMMON_DOC).replace("{returns}", _RETURNS_DOC)
    func.__doc__ = doc.replace("{{", "{").replace("}}", "}")
    return func


def _finish(out, info, return_info):
    return (out, info) if return_info else out


@register_solver(
    "ista",
    kind="convex",
    sparsity_param=None,
    operator_ok=True,
    summary="ISTA proximal gradient for the LASSO 1/2||Ax-y||^2 + lam||x||_1",
)
def ista(A, Y, *, lam, step=None, max_iter=500, tol=1e-6, nonneg=False, x0=None, backtracking=False,
         return_info=False, history=False, stopping="change"):
    """Solve the LASSO by ISTA (iterative shrinkage-thresholding).
    {common}
    {returns}

    See Also
    --------
    fista, lars, ista_layer

    Notes
    -----
    Minimises ``1/2 ||A x - y||_2^2 + lam ||x||_1`` by
    ``x_{{k+1}} = S_{{step*lam}}(x_k - step A^T (A x_k - y))`` (Daubechies, Defrise & De Mol 2004).
    For a dense ``A`` the Gram matrix ``A^T A`` is formed when ``n < 2 m``; each iteration is then
    one GEMM on the batch plus one fused numba pass.

    Divergence (a step above ``2 / ||A||_2^2``) is caught without extra products: a signal
    stops with ``info.diverged`` when its iterate is non-finite, when ``||x_k||`` exceeds
    ``2 (||x_0|| + 2 F(x_0) / lam)`` (no convergent run can, see
    :mod:`cs_toolkit.solvers._fista_numba`), or when ``||x_{{k+1}} - x_k||`` exceeds twice the
    smallest change seen so far (for a valid step the ISTA map is non-expansive, so the change
    never grows). The last accepted iterate is returned.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> np.round(ista(A, np.array([3.0, 0.5]), lam=1.0), 6)
    array([2., 0.])
    """
    out, info = _pg_solve(A, Y, lam, step, max_iter, tol, nonneg, x0, backtracking, history, stopping,
                          accel=False, restart=False, name="ista")
    return _finish(out, info, return_info)


@register_solver(
    "fista",
    kind="convex",
    sparsity_param=None,
    operator_ok=True,
    summary="FISTA (accelerated, adaptive restart) for the LASSO 1/2||Ax-y||^2 + lam||x||_1",
)
def fista(A, Y, *, lam, step=None, max_iter=500, tol=1e-6, nonneg=False, x0=None, backtracking=False,
          restart="adaptive", return_info=False, history=False, stopping="change"):
    """Solve the LASSO by FISTA with optional adaptive restart.
    {common}    restart : {{"adaptive", None}}, default "adaptive"
        Gradient-based adaptive restart of the momentum (O'Donoghue & Candes 2015).

    {returns}

    See Also
    --------
    ista, lars

    Notes
    -----
    Beck & Teboulle (2009): ``x_k = S_{{step*lam}}(z_k - step A^T (A z_k - y))``,
    ``t_{{k+1}} = (1 + sqrt(1 + 4 t_k^2)) / 2``, ``z_{{k+1}} = x_k + (t_k - 1)/t_{{k+1}} (x_k - x_{{k-1}})``.
    With ``restart="adaptive"`` the momentum is reset (``t = 1``) whenever
    ``(z_k - x_k)^T (x_k - x_{{k-1}}) > 0``.

    Divergence (a step above ``1 / ||A||_2^2`` can make FISTA diverge) is caught without extra
    products: a signal stops with ``info.diverged`` when its iterate is non-finite or when
    ``||x_k||`` exceeds ``2 (||x_0|| + 2 F(x_0) / lam)``, a bound that no convergent run
    exceeds (see :mod:`cs_toolkit.solvers._fista_numba`). The last accepted iterate is returned.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> np.round(fista(A, np.array([3.0, 0.5]), lam=1.0), 6)
    array([2., 0.])
    """
    if restart is not None:
        check_option("restart", restart, ("adaptive",))
    out, info = _pg_solve(A, Y, lam, step, max_iter, tol, nonneg, x0, backtracking, history, stopping,
                          accel=True, restart=restart is not None, name="fista")
    return _finish(out, info, return_info)


_fill_doc(ista)
_fill_doc(fista)
