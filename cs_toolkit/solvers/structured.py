"""The model-based CoSaMP and IHT loops shared by the block and tree solvers.

Baraniuk, Cevher, Duarte & Hegde (2010), "Model-based compressive sensing": CoSaMP and
IHT stay the same except that "keep the k largest entries" becomes the projection onto a
structured model (k blocks, a rooted subtree of k nodes). The loops below take that
projection as a function ``proj(V, k) -> mask`` on a batch of rows and reuse the batch
machinery of :mod:`cs_toolkit.solvers.greedy` (products, gathered least squares); the
public solvers in ``group.py`` and ``tree.py`` validate their inputs and pass the model.
"""

from __future__ import annotations

import time

import numpy as np

from .greedy import (
    _columns,
    _finish,
    _init_state,
    _ls_on_mask,
    _ops,
    _record,
    _row_norms,
    _warn_not_converged,
)

__all__: list[str] = []

_MAX_HALVINGS = 30  # step halvings per IHT iteration before a signal is declared stalled


def model_cosamp(A, Y2, was_1d, dtype, proj, k, *, max_iter, tol, history, return_info, name):
    """Model-based CoSaMP on validated inputs.

    ``T = supp(proj(A^T r, 2k)) U supp(x)``, ``b = argmin_{supp(b) in T} ||y - A b||``,
    ``x = b restricted to supp(proj(b, k))``, ``r = y - A x``; a signal stops once
    ``||r|| <= tol ||y||`` or ``||x_new - x|| <= tol ||x_new||``.
    """
    t0 = time.perf_counter()
    n = A.shape[1]
    fwd, adj = _ops(A, dtype)
    cols = _columns(A, dtype)
    X, ny, rn, n_iter, conv, hist, active = _init_state(Y2, n, dtype, max_iter, history)
    for it in range(max_iter):
        if active.size == 0:
            break
        Ya = Y2[active]
        Ra = Ya - fwd(X[active]) if it else Ya
        T = proj(adj(Ra), 2 * k) | (X[active] != 0)
        B = _ls_on_mask(cols, Ya, T, int(T.sum(axis=1).max()))
        Xa = np.where(proj(B, k), B, 0).astype(dtype, copy=False)
        dx = _row_norms(Xa - X[active])
        X[active] = Xa
        r = _row_norms(Ya - fwd(Xa))
        _record(rn, n_iter, hist, active, it, r)
        done = (r <= tol * ny[active]) | (dx <= tol * _row_norms(Xa))
        conv[active[done]] = True
        active = active[~done]
    _warn_not_converged(conv, name, max_iter)
    return _finish(X, was_1d, return_info, n_iter, conv, rn, t0, name, hist)


def model_iht(A, Y2, was_1d, dtype, proj, k, *, step, max_iter, tol, history, return_info, name):
    """Model-based IHT on validated inputs: ``x <- x_S`` with ``S = supp(proj(x + mu A^T r, k))``.

    ``step=None`` is the normalized step ``mu = ||g_S||^2 / ||A g_S||^2`` (``g = A^T r``,
    ``S`` the current support, or that of ``proj(g, k)`` at the start), halved while the
    residual would grow (at most 30 times; then the signal stops); a float is a fixed step.
    """
    t0 = time.perf_counter()
    n = A.shape[1]
    fwd, adj = _ops(A, dtype)
    X, ny, rn, n_iter, conv, hist, active = _init_state(Y2, n, dtype, max_iter, history)
    Ra = Y2[active]
    ra = ny[active].copy()
    for it in range(max_iter):
        if active.size == 0:
            break
        Xa = X[active]
        G = adj(Ra)
        if step is None:
            S = Xa != 0
            empty = ~S.any(axis=1)
            if empty.any():
                S[empty] = proj(G[empty], k)
            gS = G * S
            AgS = fwd(gS)
            den = np.einsum("ij,ij->i", AgS, AgS, dtype=np.float64)
            num = np.einsum("ij,ij->i", gS, gS, dtype=np.float64)
            mu = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        else:
            mu = np.full(active.size, float(step))
        U = Xa + (mu[:, None] * G).astype(dtype)
        Xn = np.where(proj(U, k), U, 0).astype(dtype, copy=False)
        Rn = Y2[active] - fwd(Xn)
        r = _row_norms(Rn)
        stall = np.zeros(active.size, bool)
        if step is None:
            todo = np.flatnonzero(r > ra)
            for _ in range(_MAX_HALVINGS):
                if todo.size == 0:
                    break
                mu[todo] *= 0.5
                Ut = Xa[todo] + (mu[todo, None] * G[todo]).astype(dtype)
                Xn[todo] = np.where(proj(Ut, k), Ut, 0)
                Rn[todo] = Y2[active[todo]] - fwd(Xn[todo])
                r[todo] = _row_norms(Rn[todo])
                todo = todo[r[todo] > ra[todo]]
            if todo.size:  # no step decreases the residual: keep the previous iterate
                Xn[todo] = Xa[todo]
                Rn[todo] = Ra[todo]
                r[todo] = ra[todo]
                stall[todo] = True
        dx = _row_norms(Xn - Xa)
        X[active] = Xn
        _record(rn, n_iter, hist, active, it, r)
        done = (dx <= tol * np.maximum(_row_norms(Xn), np.finfo(np.float64).tiny)) | (r <= tol * ny[active])
        conv[active[done | stall]] = True
        keep = ~(done | stall)
        active, Ra, ra = active[keep], Rn[keep], r[keep]
    _warn_not_converged(conv, name, max_iter)
    return _finish(X, was_1d, return_info, n_iter, conv, rn, t0, name, hist)


# ----------------------------------------------------------------------------------------
# FISTA for the group penalty lam * sum_g ||x_g||_2 (group LASSO, and M-FISTA through a
# vectorised operator)
# ----------------------------------------------------------------------------------------
def group_norms(V, order, starts):
    """``||V_g||_2`` for every row of ``V`` and every group, shape ``(n_rows, n_groups)`` (float64)."""
    W = np.asarray(V, dtype=np.float64)[:, order]
    return np.sqrt(np.add.reduceat(W * W, starts[:-1], axis=1))


def group_gap(Y, R, AtR, X, lam, order, starts):
    """Duality gap and primal objective per row of the group LASSO (float64 inputs).

    The dual of ``min 1/2||Ax - y||^2 + lam sum_g ||x_g||`` is ``max 1/2||y||^2 - 1/2||y - theta||^2``
    subject to ``||A_g^T theta|| <= lam`` for every group; the feasible point is the scaled
    residual ``theta = s r``, ``s = min(1, lam / max_g ||A_g^T r||)``.
    """
    r2 = np.einsum("ij,ij->i", R, R)
    yr = np.einsum("ij,ij->i", Y, R)
    primal = 0.5 * r2 + lam * group_norms(X, order, starts).sum(axis=1)
    c = group_norms(AtR, order, starts).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(c > lam, lam / np.where(c > 0, c, 1.0), 1.0)
    dual = s * yr - 0.5 * s * s * r2
    return np.maximum(primal - dual, 0.0), primal


def group_fista(fwd, adj, Y2, X0, lam, lips, order, starts, *, max_iter, tol, dtype):
    """FISTA with gradient restart for ``1/2||fwd(x) - y||^2 + lam sum_g ||x_g||`` on a batch of rows.

    Returns ``(X, n_iter, converged, gap, primal)``; a row stops once
    ``||x_new - x|| <= tol ||x_new||``. ``lips`` is a Lipschitz constant of the gradient
    (``||A||_2^2``). The prox is the numba kernel of ``_prox.py``.
    """
    from ._prox import _group_threshold_rows

    N = Y2.shape[0]
    step = 1.0 / lips if lips > 0 else 1.0
    X = X0.copy()
    Z = X.copy()
    t = np.ones(N)
    n_iter = np.zeros(N, np.int64)
    conv = np.zeros(N, bool)
    B = adj(Y2)
    active = np.arange(N)
    for _ in range(max_iter):
        if active.size == 0:
            break
        Za, Xa = Z[active], X[active]
        V = np.ascontiguousarray(Za - (step * (adj(fwd(Za)) - B[active])).astype(dtype))
        Wa = np.empty_like(V)
        _group_threshold_rows(V, Wa, order, starts, np.full(active.size, step * lam), False)
        D = Wa - Xa
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t[active] ** 2))
        restart = np.einsum("ij,ij->i", Za - Wa, D, dtype=np.float64) > 0
        beta = np.where(restart, 0.0, (t[active] - 1.0) / t_new)
        t[active] = np.where(restart, 1.0, t_new)
        Z[active] = Wa + (beta[:, None] * D).astype(dtype)
        X[active] = Wa
        n_iter[active] += 1
        dx = np.sqrt(np.einsum("ij,ij->i", D, D, dtype=np.float64))
        nx = np.sqrt(np.einsum("ij,ij->i", Wa, Wa, dtype=np.float64))
        done = dx <= tol * np.maximum(nx, np.finfo(np.float64).tiny)
        conv[active[done]] = True
        active = active[~done]
    Xd = X.astype(np.float64)
    Yd = Y2.astype(np.float64)
    R = Yd - np.asarray(fwd(X), dtype=np.float64)
    AtR = np.asarray(adj(R.astype(dtype)), dtype=np.float64)
    gap, primal = group_gap(Yd, R, AtR, Xd, lam, order, starts)
    return X, n_iter, conv, gap, primal
