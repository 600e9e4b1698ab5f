"""The proximal-gradient driver of ISTA and FISTA: validation, the working set of running rows,
backtracking, the divergence and float32 conditioning checks around the fused numba step
(:func:`cs_toolkit.solvers._fista_numba._pg_step`).
"""

from __future__ import annotations

import time
import warnings

import numba
import numpy as np

from .._config import EPS
from .._validation import check_bool, check_int, check_option, check_scalar, check_signals
from ..exceptions import (
    ConvergenceWarning,
    DivergenceWarning,
    IllConditionedWarning,
    ValidationError,
)
from ..sensing import LinearOperator
from ._common import SolverInfo, Status, _check_lam, _products, _spectral_norm2, prepare
from ._fista_numba import _pg_step, _pg_step_serial
from ._prox import prox_l1
from .lasso import _gap_from_parts

#: batches with fewer entries (n_signals * n) run the serial step kernel
_PARALLEL_MIN = 16384


def _validate_common(A, Y, lam, step, max_iter, tol, x0, nonneg, stopping):
    A, Y2, was_1d, dtype = prepare(A, Y)
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


class _WorkingSet:
    """The rows of a batch still running: parallel per-row arrays (attributes named at creation),
    compacted together as rows finish, with the iterate, status and iteration count of finished
    rows written back to the full arrays ``full = (X, status, n_iter)``."""

    def __init__(self, full, **rows):
        self.idx = np.arange(full[0].shape[0])
        self._full = full
        self._names = tuple(rows)
        self.__dict__.update(rows)

    def flush(self, rows):
        """Write rows ``rows`` (indices into the working set) back to the full arrays."""
        j = self.idx[rows]
        X, status, n_iter = self._full
        X[j], status[j], n_iter[j] = self.X[rows], self.status[rows], self.n_iter[rows]

    def compact(self, keep):
        """Keep the rows where ``keep`` is true (the others are flushed first)."""
        self.flush(np.flatnonzero(~keep))
        self.idx = self.idx[keep]
        for name in self._names:
            setattr(self, name, getattr(self, name)[keep])


def _pg_solve(A, Y, lam, step, max_iter, tol, nonneg, x0, backtracking, history, stopping, accel, restart, name):
    t0 = time.perf_counter()
    nonneg = check_bool("nonneg", nonneg)
    backtracking = check_bool("backtracking", backtracking)
    history = check_bool("history", history)
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
    status[~Y2.any(axis=1) & ~X.any(axis=1)] = Status.CONVERGED  # zero signal from zero start: x = 0 is optimal
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

    # working set: the rows still running, compacted as signals converge
    rows = dict(X=X.copy(), Y=Y2, B=B, step=steps.copy(), thr=thr.copy(), t=t.copy(), lam=lam_arr.copy(),
                L=np.full(k, L), xmax2=xmax2.copy(), dmin2=dmin2.copy(), status=status.copy(),
                change_ok=change_ok.copy(), n_iter=n_iter.copy())
    if accel:
        rows["Z"] = X.copy()
    ws = _WorkingSet((X, status, n_iter), **rows)
    Pw, Ww, zerosB = np.empty_like(X), np.empty_like(X), None

    # small batches run the serial kernel: waking numba's threads for a parallel region then
    # costs more than the work (and much more on a busy machine)
    step_fn = _pg_step if (k * n >= _PARALLEL_MIN and numba.get_num_threads() > 1) else _pg_step_serial
    for it in range(max_iter):
        n_run = int(np.count_nonzero(ws.status == Status.RUNNING))
        if n_run == 0:
            break
        if n_run < 0.75 * ws.X.shape[0] and ws.X.shape[0] - n_run >= 4:
            ws.compact(ws.status == Status.RUNNING)
            Pw, Ww = np.empty_like(ws.X), np.empty_like(ws.X)
        Z = ws.Z if accel else ws.X
        if backtracking:
            if zerosB is None or zerosB.shape != ws.X.shape:
                zerosB = np.zeros_like(ws.X)
            G, Bk = _backtrack(Z, ws.Y, ws.lam, ws.L, ws.status, fwd, adj, nonneg, dtype), zerosB
            ws.step = 1.0 / ws.L
            ws.thr = ws.step * ws.lam
        else:
            G = Pw = prod(Z, Pw)
            Bk = ws.B
        step_fn(ws.X, Z, G, Bk, Ww, ws.step, ws.thr, nonneg, accel, restart, ws.t, tol_k, use_change, ws.status,
                ws.change_ok, ws.n_iter, ws.xmax2, ws.dmin2, mono, rnd)
        ws.X, Ww = Ww, ws.X  # the kernel wrote the new iterates into Ww
        if check_gap and ((it + 1) % gap_every == 0 or it == max_iter - 1) and tol > 0:
            run = np.flatnonzero(ws.status == Status.RUNNING)
            if stopping == "both":
                run = run[ws.change_ok[run] == 1]
            if run.size:
                g, p = gap_rows(ws.X[run], ws.Y[run], ws.lam[run])
                ws.status[run[g <= tol * np.maximum(p, EPS[np.dtype(np.float64)])]] = Status.CONVERGED
        if history:
            ws.flush(np.arange(ws.X.shape[0]))
            hist.append(objective(X))
    ws.flush(np.arange(ws.X.shape[0]))

    converged = status == Status.CONVERGED
    diverged = status >= Status.NONFINITE
    if diverged.any():
        n_nf, n_gr = int(np.sum(status == Status.NONFINITE)), int(np.sum(status == Status.GREW))
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
    gap = gap_rows(X, Y2, lam_arr)[0] if check_gap else None
    info = SolverInfo(n_iter=n_iter, converged=converged, elapsed=time.perf_counter() - t0,
                      objective=np.array(hist) if history else None, gap=gap, diverged=diverged,
                      pivot_ratio=pivot)
    return (X[0] if was_1d else X), info


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
        from ._greedy_driver import _columns

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
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        for _ in range(3):
            w = prod(v)
            nv = float(np.linalg.norm(v))
            est = float(np.linalg.norm(w)) / max(nv, 1e-300)
            if est == 0.0 or not np.isfinite(est):
                break
            v = (w / np.linalg.norm(w)).astype(dtype)
    if not np.isfinite(est):
        raise ValidationError(
            f"A's scale overflows: its norm is not finite in {np.dtype(dtype).name} (a power-iteration "
            f"estimate of ||A||_2^2, the Lipschitz constant of the step, overflowed); rescale A and Y "
            f"(e.g. divide both by max(abs(A)))."
        )
    return max(est, 1e-12)


def _backtrack(Zw, Yw, lamw, Lw, statw, fwd, adj, nonneg, dtype, eta=2.0, max_tries=60):
    """Beck & Teboulle backtracking: raise ``Lw`` (in place) per running row until the quadratic bound holds.

    For ``f(x) = ||A x - y||^2 / 2`` the bound ``f(x) <= f(z) + <grad f(z), x - z> + L ||x - z||^2 / 2``
    is exactly ``||A d||^2 <= L ||d||^2`` with ``d = x - z``, which is tested in that form: computed
    from ``f(x) - f(z)``, it cancelled when the residual is much smaller than ``y``, and rounding alone
    failed the test near the optimum and doubled ``L`` far beyond ``||A||^2`` (the steps stalled).
    Returns the gradient at ``Zw`` (rows of finished signals are left as computed).
    """
    Gz = np.ascontiguousarray(adj(fwd(Zw) - Yw), dtype=dtype)  # the gradient at Zw
    rows = np.flatnonzero(statw == Status.RUNNING)
    tol = 1.0 + 10 * EPS[np.dtype(dtype)]
    for _ in range(max_tries):
        if rows.size == 0:
            break
        Lr = Lw[rows][:, None]
        Xc = prox_l1(Zw[rows] - Gz[rows] / Lr, (lamw[rows] / Lw[rows])[:, None], nonneg).astype(dtype)
        D = np.ascontiguousarray(Xc - Zw[rows], dtype=dtype)
        AD = fwd(D)
        curv = np.einsum("ij,ij->i", AD, AD, dtype=np.float64)
        bad = ~(curv <= Lw[rows] * np.einsum("ij,ij->i", D, D, dtype=np.float64) * tol)
        rows = rows[bad]
        Lw[rows] *= eta
    return Gz

