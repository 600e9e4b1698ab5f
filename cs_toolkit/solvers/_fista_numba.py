"""Numba kernels of the proximal-gradient solvers (ISTA, FISTA).

One fused step serves both methods (STYLE.md section 4): given the product
``P = Z A^T A`` (computed by BLAS or by an operator) and ``B = A^T Y``, the
kernel applies, for every running row ``i`` of the batch,

    x_new = prox_{thr_i ||.||_1}(Z_i - step_i * (P_i - B_i))

then (FISTA) the momentum update with the gradient restart test of
O'Donoghue & Candes (2015), the relative-change stopping rule and the
divergence checks, all in one pass over the row. Kernels do not raise and do
not allocate per iteration.

Divergence checks (all free: they reuse the sums the step computes anyway)
--------------------------------------------------------------------------
* non-finite values in the new iterate (status 2);
* the iterate leaves a ball that every convergent run stays in (status 3):
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
  large (status 3). This is the "objective increasing" test without computing
  the objective.

A diverged row is frozen at its last accepted iterate.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT_PARALLEL
from ._prox import _prox_l1

#: status codes written by the kernels
RUNNING, CONVERGED, DIVERGED, GREW = 0, 1, 2, 3


@njit(**JIT_PARALLEL)
def _pg_step(X, Z, P, B, W, steps, thr, nonneg, accel, restart, t, tol, use_change, status, change_ok, n_iter,
             xmax2, dmin2, mono, rnd):
    """One ISTA/FISTA step on every running row of the batch (in place).

    Parameters
    ----------
    X : (k, n) current iterates, overwritten with the new ones.
    Z : (k, n) extrapolated points (the same array as ``X`` for ISTA), overwritten.
    P : (k, n) ``Z @ (A^T A)``.
    B : (k, n) ``Y @ A``.
    W : (k, n) scratch.
    steps, thr : (k,) step and threshold (step * lam) per row.
    nonneg, accel, restart : bool flags.
    t : (k,) FISTA momentum parameters, updated.
    tol : relative-change tolerance (0 disables the test).
    use_change : whether the relative-change test alone stops a row.
    status : (k,) int8, 0 running, 1 converged, 2 non-finite, 3 grew; rows not 0 are frozen.
    change_ok : (k,) uint8, set to 1 when the relative-change test holds.
    n_iter : (k,) iteration counters.
    xmax2 : (k,) float64, bound on ``||x||^2`` of a convergent run (``inf`` disables).
    dmin2 : (k,) float64, smallest squared change so far (updated; used with ``mono``).
    mono : bool, apply the non-increasing-change test (ISTA with a fixed step).
    rnd : float, rounding floor of that test (relative, squared).
    """
    k, n = X.shape
    tiny = 1e-300
    for i in prange(k):
        if status[i] != 0:
            continue
        s = steps[i]
        th = thr[i]
        d2 = 0.0
        x2 = 0.0
        rs = 0.0
        for j in range(n):  # no reduction here, so this loop vectorises
            W[i, j] = _prox_l1(Z[i, j] - s * (P[i, j] - B[i, j]), th, nonneg)
        for j in range(n):
            w64 = np.float64(W[i, j])
            dx = w64 - X[i, j]
            d2 += dx * dx
            x2 += w64 * w64
            rs += (Z[i, j] - w64) * dx
        if not np.isfinite(d2 + x2):
            status[i] = 2
            continue
        if x2 > xmax2[i]:
            status[i] = 3
            continue
        if mono:
            if d2 > 4.0 * dmin2[i] + rnd * x2:
                status[i] = 3
                continue
            if d2 < dmin2[i]:
                dmin2[i] = d2
        n_iter[i] += 1
        if accel:
            if restart and rs > 0.0:
                t[i] = 1.0
                beta = 0.0
            else:
                t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t[i] * t[i]))
                beta = (t[i] - 1.0) / t_new
                t[i] = t_new
            for j in range(n):
                w = W[i, j]
                Z[i, j] = w + beta * (w - X[i, j])
                X[i, j] = w
        else:
            for j in range(n):
                X[i, j] = W[i, j]
        if tol > 0.0 and d2 <= tol * tol * max(x2, tiny):
            change_ok[i] = 1
            if use_change:
                status[i] = 1
        else:
            change_ok[i] = 0
