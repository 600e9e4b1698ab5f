"""CoSaMP and subspace pursuit, batch-first in NumPy.

Both solvers alternate support identification with least squares on small
supports. Each iteration works on the whole batch of signals still running:
two products (``R @ A`` and ``X @ A.T``: BLAS for arrays, the batch
``_forward``/``_adjoint`` of a matrix-free operator), row-wise top-k selection
and a batched least-squares solve on gathered atoms (normal equations of at
most 3k atoms, ``np.linalg.solve`` on a stack of small systems). For an
operator the gathered atoms are its columns ``A e_j``, obtained by applying it
to unit vectors (only for the atoms a support needs, cached), so the result is
that of the dense matrix up to rounding. Converged signals leave the working set.
"""

from __future__ import annotations

import numpy as np

# _ops and the _greedy_driver helpers are also imported from here by structured.py, group.py, tree.py
from ._common import _ops  # noqa: F401
from ._greedy_driver import (  # noqa: F401
    GreedyRun,
    _check_common,
    _columns,
    _fill_doc,
    _finish,
    _init_state,
    _ls_on_mask,
    _record,
    _row_norms,
    _warn_not_converged,
)
from ._prox import _keep_largest_arr, _topk_mask
from ._registry import register_solver

__all__ = ["cosamp", "subspace_pursuit"]


# ----------------------------------------------------------------------------------------
# solvers
# ----------------------------------------------------------------------------------------
@register_solver(
    "cosamp",
    kind="greedy",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="CoSaMP: 2k proxy atoms, merge, least squares, prune to k (Needell & Tropp 2009).",
)
def cosamp(A, Y, *, n_nonzero_coefs, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Compressive sampling matching pursuit (CoSaMP).

    {params_top}
    max_iter : int, default 100
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||`` or, for noisy data, once
        the iterates settle: ``||x_new - x|| <= tol ||x_new||``.
    {params_end}

    Raises
    ------
    {raises}, bad ``max_iter``/``tol``.

    Warns
    -----
    ConvergenceWarning
        Signals that did not meet ``tol`` within ``max_iter`` iterations.

    Notes
    -----
    Needell & Tropp (2009), "CoSaMP: Iterative signal recovery from incomplete and
    inaccurate samples", Algorithm 1: ``Omega = supp_2k(A^T r)``, ``T = Omega U supp(x)``,
    ``b = argmin_{supp(b) in T} ||y - A b||``, ``x = H_k(b)``, ``r = y - A x``.
    When ``3k > m`` the least squares is minimum-norm (``lstsq``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 60)) / np.sqrt(30)
    >>> x = np.zeros(60); x[[4, 9]] = [1.0, -1.0]
    >>> np.flatnonzero(cosamp(A, A @ x, n_nonzero_coefs=2))
    array([4, 9])
    """
    run = GreedyRun("cosamp", A, Y, n_nonzero_coefs, max_iter, tol, history)
    k, tol, fwd, adj, cols, Y2, X = run.k, run.tol, run.fwd, run.adj, run.cols, run.Y, run.X
    for it, active in run.iterations():
        Ya = Y2[active]
        Ra = Ya - fwd(X[active]) if it else Ya
        T = _topk_mask(adj(Ra), 2 * k) | (X[active] != 0)
        B = _ls_on_mask(cols, Ya, T, 3 * k)
        Xa = _keep_largest_arr(B, k).astype(run.dtype, copy=False)
        dx = _row_norms(Xa - X[active])
        X[active] = Xa
        r = _row_norms(Ya - fwd(Xa))
        run.record(it, r)
        run.stop((r <= tol * run.ny[active]) | (dx <= tol * _row_norms(Xa)))
    return run.finish(return_info)


@register_solver(
    "sp",
    kind="greedy",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Subspace pursuit: merge k new atoms, least squares, prune to k (Dai & Milenkovic 2009).",
)
def subspace_pursuit(A, Y, *, n_nonzero_coefs, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Subspace pursuit (SP).

    {params_top}
    max_iter : int, default 100
        Maximum iterations per signal (SP normally stops much earlier).
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||``.
    {params_end}

    Raises
    ------
    {raises}.

    Notes
    -----
    Dai & Milenkovic (2009), "Subspace pursuit for compressive sensing signal
    reconstruction": ``T~ = T U supp_k(A^T r)``, ``b = LS on T~``,
    ``T' = supp_k(b)``, ``x' = LS on T'``; accept while ``||r'|| < ||r||``,
    otherwise stop with the previous ``(T, x)``. The registry name is ``"sp"``.
    ``info.converged`` is True for every signal that stopped on ``tol`` or because its
    residual stopped decreasing.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 60)) / np.sqrt(30)
    >>> x = np.zeros(60); x[[4, 9]] = [1.0, -1.0]
    >>> np.flatnonzero(subspace_pursuit(A, A @ x, n_nonzero_coefs=2))
    array([4, 9])
    """
    run = GreedyRun("sp", A, Y, n_nonzero_coefs, max_iter, tol, history)
    k, max_iter, tol, fwd, adj, cols, Y2, ny = run.k, run.max_iter, run.tol, run.fwd, run.adj, run.cols, run.Y, run.ny
    N = Y2.shape[0]
    T = _topk_mask(adj(Y2), k)
    X = _ls_on_mask(cols, Y2, T, k)
    X[ny == 0] = 0
    rn = _row_norms(Y2 - fwd(X))
    n_iter = np.zeros(N, np.int64)
    conv = np.zeros(N, bool)
    hist = np.full((N, max_iter + 1), np.nan) if history else None
    if hist is not None:
        hist[:, 0] = rn
    done0 = rn <= tol * ny
    conv[done0] = True
    active = np.flatnonzero(~done0)
    for it in range(max_iter):
        if active.size == 0:
            break
        Ya = Y2[active]
        Ra = Ya - fwd(X[active])
        Tt = T[active] | _topk_mask(adj(Ra), k)
        B = _ls_on_mask(cols, Ya, Tt, 2 * k)
        Tn = _topk_mask(B, k)
        Xn = _ls_on_mask(cols, Ya, Tn, k)
        rnn = _row_norms(Ya - fwd(Xn))
        n_iter[active] += 1
        better = rnn < rn[active]
        acc = active[better]
        T[acc] = Tn[better]
        X[acc] = Xn[better]
        rn[acc] = rnn[better]
        if hist is not None:
            hist[active, it + 1] = rn[active]
        done = ~better | (rnn <= tol * ny[active])
        conv[active[done]] = True
        active = active[~done]
    run.X, run.n_iter, run.conv, run.rn, run.hist = X, n_iter, conv, rn, hist
    return run.finish(return_info, warn=False)


_fill_doc(cosamp)
_fill_doc(subspace_pursuit)
