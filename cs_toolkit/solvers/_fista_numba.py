"""Numba kernels of the proximal-gradient solvers (ISTA, FISTA).

One fused step serves both methods (a solver step is written once): given the product
``P = Z A^T A`` (computed by BLAS or by an operator) and ``B = A^T Y``, the
kernel applies, for every running row ``i`` of the batch,

    x_new = prox_{thr_i ||.||_1}(Z_i - step_i * (P_i - B_i))

then (FISTA) the momentum update with the gradient restart test of
O'Donoghue & Candes (2015), the relative-change stopping rule and the
divergence checks, all in ONE pass over the row: the new iterate goes to a
second buffer ``W`` (the caller swaps ``X`` and ``W`` afterwards, so the
previous iterate survives for a row that must be frozen), the extrapolated
point is written over ``Z`` assuming no restart (the momentum weight does not
depend on the row's data) and rewritten in the rare case the restart test
fires. The three sums the tests need (``||dx||^2``, ``||x||^2`` and the
restart inner product) use four independent float64 accumulators each so the
pass is not bound by the latency of one addition chain; the elementwise
arithmetic runs in the dtype of the arrays (float32 stays float32). The pass
reads ``Z, P, B, X`` and writes ``W, Z``: about half the memory traffic of a
step followed by a separate momentum pass, which matters because at
``n_signals * n`` of a few hundred thousand the step is memory-bound.

Two drivers share the row kernel: :func:`_pg_step` (``prange`` over rows) and
:func:`_pg_step_serial` for small batches, where waking numba's worker threads
costs more than the work. Kernels do not raise and do not allocate.

Divergence checks (all free: they reuse the sums the step computes anyway)
--------------------------------------------------------------------------
* non-finite values in the new iterate (status ``NONFINITE``);
* the iterate leaves a ball that every convergent run stays in (status ``GREW``):
  with a valid step both ISTA and FISTA keep ``||x_k - x*|| <= ||x_0 - x*||``
  (Fejer monotonicity for ISTA; for FISTA ``x_k`` is a convex combination of
  points of that ball, Beck & Teboulle 2009, Chambolle & Dossal 2015), and
  ``lam ||x*||_1 <= F(x_0)``, so ``||x_k|| <= ||x_0|| + 2 F(x_0) / lam``. The
  caller passes the square of twice that bound per row (``xmax2``; ``inf``
  when ``lam = 0``);
* ISTA only (``mono``): the map ``x -> prox(x - step grad f(x))`` is
  non-expansive for ``step <= 2 / L``, so ``||x_{k+1} - x_k||`` never
  increases; a change larger than twice the smallest one seen so far (plus a
  rounding floor ``rnd * ||x_{k+1}||^2``) proves the step is too
  large (status ``GREW``). This is the "objective increasing" test without computing
  the objective.

A diverged row is frozen at its last accepted iterate.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL, JIT_SUMS
from ._common import Status
from ._prox import _prox_l1

# The three sums of a row are the only reassociated arithmetic (``JIT_SUMS``): a strict
# left-to-right float64 sum made the whole step latency-bound (about 4x slower than its memory
# traffic). They feed the stopping and divergence tests, never the iterates.

#: the status codes the kernels write (:class:`~cs_toolkit.solvers._common.Status`), as ints for numba
_RUNNING, _CONVERGED, _NONFINITE, _GREW = (int(Status.RUNNING), int(Status.CONVERGED), int(Status.NONFINITE),
                                         int(Status.GREW))


@njit(**JIT_SUMS)
def _row_sums(w, x, z):
    """``||w - x||^2``, ``||w||^2`` and ``(z - w).(w - x)`` in float64, reassociated."""
    d2 = 0.0
    x2 = 0.0
    rs = 0.0
    for j in range(w.shape[0]):
        dx = np.float64(w[j]) - np.float64(x[j])
        wd = np.float64(w[j])
        d2 += dx * dx
        x2 += wd * wd
        rs += (np.float64(z[j]) - wd) * dx
    return d2, x2, rs


@njit(**JIT)
def _pg_row(i, X, Z, P, B, W, steps, thr, nonneg, accel, restart, t, tol, use_change, status, change_ok, n_iter,
            xmax2, dmin2, mono, rnd):
    n = X.shape[1]
    xr, zr, pr, br, wr = X[i], Z[i], P[i], B[i], W[i]
    if status[i] != _RUNNING:  # frozen: keep the last accepted iterate in the buffer the caller swaps in
        for j in range(n):
            wr[j] = xr[j]
        return
    cast = X.dtype.type
    s = cast(steps[i])
    th = cast(thr[i])
    t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t[i] * t[i]))
    bt = cast((t[i] - 1.0) / t_new if accel else 0.0)
    for j in range(n):  # no reduction: vectorises
        wr[j] = _prox_l1(zr[j] - s * (pr[j] - br[j]), th, nonneg)
    d2, x2, rs = _row_sums(wr, xr, zr)
    if accel:
        for j in range(n):
            w = wr[j]
            zr[j] = w + bt * (w - xr[j])
    bad = _RUNNING
    if not np.isfinite(d2 + x2):
        bad = _NONFINITE
    elif x2 > xmax2[i]:
        bad = _GREW
    elif mono and d2 > 4.0 * dmin2[i] + rnd * x2:
        bad = _GREW
    if bad != _RUNNING:  # frozen at the previous iterate (Z of a frozen row is never used again)
        status[i] = bad
        for j in range(n):
            wr[j] = xr[j]
        return
    if mono and d2 < dmin2[i]:
        dmin2[i] = d2
    n_iter[i] += 1
    if accel:
        if restart and rs > 0.0:  # gradient restart: no momentum for this step
            t[i] = 1.0
            for j in range(n):
                zr[j] = wr[j]
        else:
            t[i] = t_new
    if tol > 0.0 and d2 <= tol * tol * max(x2, 1e-300):
        change_ok[i] = 1
        if use_change:
            status[i] = _CONVERGED
    else:
        change_ok[i] = 0


@njit(**JIT_PARALLEL)
def _pg_step(X, Z, P, B, W, steps, thr, nonneg, accel, restart, t, tol, use_change, status, change_ok, n_iter,
             xmax2, dmin2, mono, rnd):
    """One ISTA/FISTA step on every running row of the batch.

    Parameters
    ----------
    X : (k, n) current iterates (read only).
    Z : (k, n) points the gradient was taken at (the same array as ``X`` for
        ISTA); overwritten with the next extrapolated points (FISTA).
    P : (k, n) ``Z @ (A^T A)``.
    B : (k, n) ``Y @ A``.
    W : (k, n) receives the new iterates (the previous ones for frozen rows);
        the caller swaps ``X`` and ``W`` afterwards.
    steps, thr : (k,) float64 step and threshold (step * lam) per row.
    nonneg, accel, restart : bool flags.
    t : (k,) FISTA momentum parameters, updated.
    tol : relative-change tolerance (0 disables the test).
    use_change : whether the relative-change test alone stops a row.
    status : (k,) int8, a :class:`~cs_toolkit.solvers._common.Status` per row; rows not RUNNING are frozen.
    change_ok : (k,) uint8, set to 1 when the relative-change test holds.
    n_iter : (k,) iteration counters.
    xmax2 : (k,) float64, bound on ``||x||^2`` of a convergent run (``inf`` disables).
    dmin2 : (k,) float64, smallest squared change so far (updated; used with ``mono``).
    mono : bool, apply the non-increasing-change test (ISTA with a fixed step).
    rnd : float, rounding floor of that test (relative, squared).
    """
    for i in prange(X.shape[0]):
        _pg_row(i, X, Z, P, B, W, steps, thr, nonneg, accel, restart, t, tol, use_change, status, change_ok, n_iter,
                xmax2, dmin2, mono, rnd)


@njit(**JIT)
def _pg_step_serial(X, Z, P, B, W, steps, thr, nonneg, accel, restart, t, tol, use_change, status, change_ok,
                    n_iter, xmax2, dmin2, mono, rnd):
    """Serial twin of :func:`_pg_step`, for small batches."""
    for i in range(X.shape[0]):
        _pg_row(i, X, Z, P, B, W, steps, thr, nonneg, accel, restart, t, tol, use_change, status, change_ok, n_iter,
                xmax2, dmin2, mono, rnd)

