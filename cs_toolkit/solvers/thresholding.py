"""Iterative hard thresholding (IHT, normalized IHT) and hard thresholding pursuit (HTP).

Batch-first NumPy: each iteration applies ``A`` and ``A^T`` to the whole batch
of signals still running (BLAS for arrays, ``_forward``/``_adjoint`` for
matrix-free operators) and keeps the ``k`` largest entries per row with
:func:`cs_toolkit.solvers.keep_largest`. Both work matrix-free.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_scalar
from ..exceptions import ValidationError
from ..sensing import LinearOperator
from ._common import _ops
from ._greedy_driver import GreedyRun, _fill_doc, _ls_on_mask, _row_norms
from ._prox import _keep_largest_arr, _topk_mask
from ._registry import register_solver

__all__ = ["iht", "htp"]

_NIHT_C = 0.01      # safeguard constant c of Blumensath & Davies (2010)
_NIHT_KAPPA = 2.0   # step shrink factor kappa > 1 / (1 - c)
_NIHT_MAX_BACKTRACK = 60


def _default_step(A):
    """``1 / mean_j ||a_j||^2`` (1 for unit-norm columns).

    For an operator ``||A||_F^2 = E ||A z||^2`` is estimated with 16 fixed
    (seeded) Rademacher probes ``z``.
    """
    if isinstance(A, LinearOperator):
        Z = np.random.default_rng(0).choice(np.array([-1.0, 1.0]), size=(16, A.shape[1])).astype(A.dtype)
        AZ = _ops(A, np.float64)[0](Z)
        c = float(np.einsum("ij,ij->", AZ, AZ)) / (16 * A.shape[1])
    else:
        c = float(np.einsum("ij,ij->", A, A, dtype=np.float64)) / A.shape[1]
    return 1.0 / c if c > 0 else 1.0


@register_solver(
    "iht",
    kind="thresholding",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Iterative hard thresholding, normalized step with safeguard (Blumensath & Davies 2010).",
)
def iht(A, Y, *, n_nonzero_coefs, step="normalized", max_iter=500, tol=1e-6, history=False, return_info=False):
    """Iterative hard thresholding, ``x <- H_k(x + mu A^T (y - A x))``.

    {params_top}
    step : "normalized" or float, default "normalized"
        ``"normalized"``: the adaptive step of normalized IHT, per signal;
        a float: a fixed step ``mu > 0`` (stable for ``mu < 1 / ||A||_2^2``).
    max_iter : int, default 500
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||x_new - x|| <= tol ||x_new||``.
    {params_end}

    Raises
    ------
    {raises},
        ``step`` neither "normalized" nor a positive number.

    Warns
    -----
    ConvergenceWarning
        Signals still moving after ``max_iter`` iterations.

    Notes
    -----
    Normalized IHT (Blumensath & Davies 2010, "Normalized iterative hard
    thresholding: guaranteed stability and performance"): with ``S`` the current
    support (initially the ``k`` largest entries of ``A^T y``) and ``g = A^T(y - Ax)``,
    ``mu = ||g_S||^2 / ||A g_S||^2``. If the new support differs from ``S``
    and ``mu > omega = (1 - c) ||x_new - x||^2 / ||A (x_new - x)||^2`` the step is
    shrunk, ``mu <- mu / (kappa (1 - c))`` with ``c = 0.01``, ``kappa = 2``,
    until it is not.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((40, 80)) / np.sqrt(40)
    >>> x = np.zeros(80); x[[3, 50]] = [1.0, -1.0]
    >>> np.flatnonzero(np.round(iht(A, A @ x, n_nonzero_coefs=2), 6))
    array([ 3, 50])
    """
    run = GreedyRun("iht", A, Y, n_nonzero_coefs, max_iter, tol, history)
    if isinstance(step, str):
        if step != "normalized":
            raise ValidationError(f"step must be 'normalized' or a positive float; got {step!r}.")
        mu_fixed = None
    else:
        mu_fixed = check_scalar("step", step, low=0.0, low_inclusive=False)
    k, tol, dtype, fwd, adj, Y2, X = run.k, run.tol, run.dtype, run.fwd, run.adj, run.Y, run.X
    S = _topk_mask(adj(Y2[run.active]), k) if mu_fixed is None else None
    Ra = Y2[run.active]
    for it, active in run.iterations():
        Xa = X[active]
        Gr = adj(Ra)
        if mu_fixed is None:
            gS = Gr * S
            den = np.einsum("ij,ij->i", AgS := fwd(gS), AgS, dtype=np.float64)
            num = np.einsum("ij,ij->i", gS, gS, dtype=np.float64)
            mu = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
            Xn = _keep_largest_arr(Xa + (mu[:, None] * Gr).astype(dtype), k)
            Sn = Xn != 0
            todo = np.flatnonzero((Sn != S).any(axis=1))
            for _ in range(_NIHT_MAX_BACKTRACK):
                if todo.size == 0:
                    break
                D = Xn[todo] - Xa[todo]
                AD = fwd(D)
                ad = np.einsum("ij,ij->i", AD, AD, dtype=np.float64)
                dd = np.einsum("ij,ij->i", D, D, dtype=np.float64)
                omega = np.where(ad > 0, (1 - _NIHT_C) * dd / np.where(ad > 0, ad, 1.0), np.inf)
                bad = mu[todo] > omega
                todo = todo[bad]
                if todo.size == 0:
                    break
                mu[todo] /= _NIHT_KAPPA * (1 - _NIHT_C)
                Xn[todo] = _keep_largest_arr(Xa[todo] + (mu[todo, None] * Gr[todo]).astype(dtype), k)
            Sn = Xn != 0
        else:
            Xn = _keep_largest_arr(Xa + (mu_fixed * Gr).astype(dtype), k)
        dx = _row_norms(Xn - Xa)
        nx = _row_norms(Xn)
        X[active] = Xn
        Ra = Y2[active] - fwd(Xn)
        r = _row_norms(Ra)
        run.record(it, r)
        stall = (mu == 0) if mu_fixed is None else np.zeros(active.size, bool)
        done = (dx <= tol * np.maximum(nx, np.finfo(np.float64).tiny)) | stall
        run.stop(done)
        keep = ~done
        Ra = Ra[keep]
        if mu_fixed is None:
            S = Sn[keep]
    return run.finish(return_info)


@register_solver(
    "htp",
    kind="thresholding",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Hard thresholding pursuit: gradient step, keep k, least squares (Foucart 2011).",
)
def htp(A, Y, *, n_nonzero_coefs, step=None, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Hard thresholding pursuit.

    {params_top}
    step : float, optional
        Gradient step ``mu``. Default: ``1 / mean_j ||a_j||^2`` for arrays (1 for
        unit-norm columns, as in Foucart's experiments); for an operator the mean is
        estimated with 16 seeded random probes.
    max_iter : int, default 100
        Maximum iterations per signal.
    tol : float, default 1e-6
        A signal also stops once ``||y - A x|| <= tol ||y||``.
    {params_end}

    Raises
    ------
    {raises}, ``step <= 0``.

    Warns
    -----
    ConvergenceWarning
        Signals whose support still changed after ``max_iter`` iterations.

    Notes
    -----
    Foucart (2011), "Hard thresholding pursuit: an algorithm for compressive
    sensing": ``S = supp_k(x + mu A^T (y - A x))``, ``x = argmin_{supp(z) in S} ||y - A z||``;
    stop when ``S`` repeats.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 60)) / np.sqrt(30)
    >>> x = np.zeros(60); x[[4, 9]] = [1.0, -1.0]
    >>> np.flatnonzero(htp(A, A @ x, n_nonzero_coefs=2))
    array([4, 9])
    """
    run = GreedyRun("htp", A, Y, n_nonzero_coefs, max_iter, tol, history)
    mu = _default_step(run.A) if step is None else check_scalar("step", step, low=0.0, low_inclusive=False)
    k, tol, dtype, fwd, adj, cols, Y2, X = run.k, run.tol, run.dtype, run.fwd, run.adj, run.cols, run.Y, run.X
    S = np.zeros((run.active.size, run.n), bool)
    Ra = Y2[run.active]
    for it, active in run.iterations():
        Xa = X[active]
        U = Xa + (mu * adj(Ra)).astype(dtype)
        Sn = _topk_mask(U, k)
        same = (Sn == S).all(axis=1)
        run.stop(same)
        active, Sn = run.active, Sn[~same]
        if active.size == 0:
            break
        Ya = Y2[active]
        Xn = _ls_on_mask(cols, Ya, Sn, k)
        X[active] = Xn
        Ra = Ya - fwd(Xn)
        r = _row_norms(Ra)
        run.record(it, r)
        done = r <= tol * run.ny[active]
        run.stop(done)
        Ra, S = Ra[~done], Sn[~done]
    return run.finish(return_info)


_fill_doc(iht)
_fill_doc(htp)
