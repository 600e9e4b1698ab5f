"""Group (block) sparsity: group LASSO by FISTA, block-OMP, block-CoSaMP and block-IHT.

The groups are non-overlapping and given as labels, one integer per coefficient (column of
``A``): ``groups = np.arange(n) // 4`` makes blocks of four. A block-sparse signal has its
nonzeros in few groups. The group soft threshold (prox of the l2,1 norm) and the group hard
threshold live in :mod:`cs_toolkit.solvers._prox` (``group_soft_threshold``,
``group_hard_threshold``).
"""

from __future__ import annotations

import time

import numpy as np

from .._validation import check_int, check_scalar, check_signals
from ..exceptions import ValidationError
from ._common import Status, _spectral_norm2
from ._prox import group_hard_threshold, group_index, group_soft_threshold
from ._registry import register_solver
from .greedy import _fill_doc, _topk_mask
from .omp import _check_sparsity, _check_tol, _prepare, _tolerances
from .structured import group_fista, group_norms, model_cosamp, model_iht

__all__ = ["group_lasso", "block_omp", "block_cosamp", "block_iht", "group_soft_threshold", "group_hard_threshold"]

_SERIAL_MAX = 8


def _block_model(labels, order, starts):
    """``proj(V, k) -> bool mask``: keep the ``k`` groups of largest l2 norm in every row."""

    def proj(V, k):
        gm = _topk_mask(group_norms(V, order, starts), min(k, starts.size - 1))
        return gm[:, labels]

    return proj


def _prepare_blocks(A, Y, groups, n_nonzero_blocks, max_iter, tol):
    A, Y2, was_1d, dtype = _prepare(A, Y, dense=False)
    labels, order, starts = group_index(groups, A.shape[1])
    if n_nonzero_blocks is None:
        raise ValidationError("n_nonzero_blocks is required (the number of nonzero groups, an int >= 1); got None.")
    kb = _check_sparsity(n_nonzero_blocks, starts.size - 1, name="n_nonzero_blocks", what="the number of groups")
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = _check_tol(tol)
    return A, Y2, was_1d, dtype, labels, order, starts, kb, max_iter, tol


def gomp_supports(A, Y3, order, starts, max_groups, tol, dtype):
    """Run the group/simultaneous OMP kernel on validated ``Y3`` (n_problems, n_vectors, m)."""
    from ._group_numba import _gomp_batch, _gomp_serial

    P = Y3.shape[0]
    sel = np.full((P, max(max_groups, 1)), -1, np.int64)
    nsel = np.zeros(P, np.int64)
    status = np.zeros(P, np.int8)
    rel_dep = _tolerances(dtype)[1]
    fn = _gomp_serial if P < _SERIAL_MAX else _gomp_batch
    fn(np.ascontiguousarray(A), np.ascontiguousarray(Y3), order, starts, int(max_groups), float(tol) ** 2,
       float(rel_dep), sel, nsel, status)
    return sel, nsel, status


def ls_on_columns(A, Yp, cols):
    """Least squares ``argmin ||A[:, cols] Z^T - Yp^T||`` for every row of ``Yp``; returns ``Z`` (rows)."""
    if cols.size == 0:
        return np.zeros((Yp.shape[0], 0), Yp.dtype)
    return np.linalg.lstsq(A[:, cols], Yp.T, rcond=None)[0].T


@register_solver(
    "group_lasso",
    kind="group",
    sparsity_param=None,
    operator_ok=True,
    summary="Group LASSO 1/2||Ax-y||^2 + lam sum_g ||x_g||_2 by FISTA with restart, duality gap.",
)
def group_lasso(A, Y, *, groups, lam, max_iter=2000, tol=1e-8, x0=None, return_info=False):
    """Solve the group LASSO ``min 1/2||A x - y||^2 + lam sum_g ||x_g||_2`` by FISTA.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix or operator.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row (solved as a batch).
    groups : array_like of int, shape (n,)
        Group label of each coefficient (non-overlapping groups).
    lam : float
        Penalty weight ``>= 0``. Every group is zero once ``lam >= max_g ||A_g^T y||``.
    max_iter : int, default 2000
        Maximum iterations per signal.
    tol : float, default 1e-8
        Stop a signal once ``||x_new - x|| <= tol ||x_new||``.
    x0 : ndarray of shape (n,) or (n_signals, n), optional
        Warm start (e.g. the solution at a nearby ``lam``); not modified.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.SolverInfo` with ``n_iter``,
        ``converged``, ``elapsed`` and ``gap`` (the duality gap at the returned point).

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        float32 only if ``A`` and ``Y`` are.
    info : SolverInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, bad ``groups`` (wrong length, non-integer), ``lam < 0``, bad ``x0``.

    Notes
    -----
    Beck & Teboulle (2009) FISTA with the gradient restart of O'Donoghue & Candes (2015), step
    ``1 / ||A||_2^2``; the prox is the group soft threshold
    ``x_g max(1 - t / ||x_g||, 0)`` (Yuan & Lin 2006). The duality gap uses the scaled residual
    ``theta = r min(1, lam / max_g ||A_g^T r||)`` as the dual point.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(4)
    >>> np.round(group_lasso(A, np.array([3.0, 4.0, 0.1, 0.1]), groups=[0, 0, 1, 1], lam=1.0), 4)
    array([2.4, 3.2, 0. , 0. ])
    """
    from . import SolverInfo

    t0 = time.perf_counter()
    A, Y2, was_1d, dtype = _prepare(A, Y, dense=False)
    m, n = A.shape
    _, order, starts = group_index(groups, n)
    lam = check_scalar("lam", lam, low=0.0)
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0)
    if x0 is None:
        X0 = np.zeros((Y2.shape[0], n), dtype)
    else:
        X0, _ = check_signals(x0, "x0", n_features=n, dtype=dtype, copy=True)
        if X0.shape[0] != Y2.shape[0]:
            raise ValidationError(f"x0 must have one row per signal ({Y2.shape[0]}), got {X0.shape[0]} rows.")
    fwd, adj, lips = _fwd_adj_lips(A, dtype)
    X, n_iter, conv, gap, _ = group_fista(fwd, adj, Y2, X0, lam, lips, order, starts, max_iter=max_iter, tol=tol,
                                          dtype=dtype)
    out = X[0] if was_1d else X
    if not return_info:
        return out
    return out, SolverInfo(n_iter=n_iter, converged=conv, elapsed=time.perf_counter() - t0, gap=gap)


def _fwd_adj_lips(A, dtype):
    from .greedy import _ops

    fwd, adj = _ops(A, dtype)
    return fwd, adj, _spectral_norm2(A)


@register_solver(
    "block_omp",
    kind="group",
    sparsity_param="n_nonzero_blocks",
    operator_ok=False,
    summary="Block-OMP: select the group best correlated with the residual (Eldar, Kuppinger & Bolcskei 2010).",
)
def block_omp(A, Y, *, groups, n_nonzero_blocks, tol=None, return_info=False):
    """Block orthogonal matching pursuit.

    Parameters
    ----------
    A : ndarray of shape (m, n)
        Sensing matrix (an operator is made dense).
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    groups : array_like of int, shape (n,)
        Group label of each coefficient (non-overlapping blocks).
    n_nonzero_blocks : int
        Number of groups to select; clipped to the number of groups with a warning.
    tol : float, optional
        Also stop a signal once ``||y - A x|| <= tol ||y||``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo` (``n_iter`` = groups selected).

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Codes supported on the selected groups (least squares on their atoms).
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, bad ``groups``, ``n_nonzero_blocks`` missing or < 1, ``tol < 0``.

    Notes
    -----
    Eldar, Kuppinger & Bolcskei (2010), "Block-sparse signals: uncertainty relations and
    efficient recovery": ``g = argmax_g ||A_g^T r||_2``, least squares on the atoms of the
    selected groups, ``r = y - A x``. Numba kernel: :mod:`cs_toolkit.solvers._group_numba`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 40)) / np.sqrt(20)
    >>> x = np.zeros(40); x[8:12] = [1.0, -2.0, 0.5, 1.0]
    >>> np.flatnonzero(block_omp(A, A @ x, groups=np.arange(40) // 4, n_nonzero_blocks=1)).tolist()
    [8, 9, 10, 11]
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype = _prepare(A, Y, dense=True)
    labels, order, starts = group_index(groups, A.shape[1])
    if n_nonzero_blocks is None:
        raise ValidationError("n_nonzero_blocks is required (the number of nonzero groups, an int >= 1); got None.")
    kb = _check_sparsity(n_nonzero_blocks, starts.size - 1, name="n_nonzero_blocks", what="the number of groups")
    tol = _check_tol(tol)
    sel, nsel, status = gomp_supports(A, Y2[:, None, :], order, starts, kb, 0.0 if tol is None else tol, dtype)
    X = np.zeros((Y2.shape[0], A.shape[1]), dtype)
    for i in range(Y2.shape[0]):
        cols = np.flatnonzero(np.isin(labels, sel[i, :nsel[i]]))
        X[i, cols] = ls_on_columns(A, Y2[i:i + 1], cols)[0]
    out = X[0] if was_1d else X
    if not return_info:
        return out
    from .omp import GreedyInfo

    rn = np.linalg.norm((Y2 - X @ A.T).astype(np.float64), axis=1)
    return out, GreedyInfo(n_iter=nsel, converged=status != Status.DEPENDENT, resid_norm=rn, elapsed=time.perf_counter() - t0,
                           method="block_omp")


@register_solver(
    "block_cosamp",
    kind="group",
    sparsity_param="n_nonzero_blocks",
    operator_ok=True,
    summary="Block-CoSaMP: model-based CoSaMP keeping whole groups (Baraniuk et al. 2010).",
)
def block_cosamp(A, Y, *, groups, n_nonzero_blocks, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Block-sparse CoSaMP: CoSaMP with "k largest entries" replaced by "k largest groups".

    {params_top}
    groups : array_like of int, shape (n,)
        Group label of each coefficient (non-overlapping blocks).
    n_nonzero_blocks : int
        Number of nonzero groups ``k`` (the block sparsity; there is no ``n_nonzero_coefs``).
    max_iter : int, default 100
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||`` or ``||x_new - x|| <= tol ||x_new||``.
    {params_end}

    Raises
    ------
    {raises}, bad ``groups``.

    Notes
    -----
    Baraniuk, Cevher, Duarte & Hegde (2010), model-based CoSaMP with the block model:
    ``Omega`` = the ``2k`` groups of largest ``||(A^T r)_g||``, least squares on
    ``Omega U supp(x)``, keep the ``k`` groups of largest norm.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 40)) / np.sqrt(20)
    >>> x = np.zeros(40); x[8:12] = [1.0, -2.0, 0.5, 1.0]
    >>> np.flatnonzero(block_cosamp(A, A @ x, groups=np.arange(40) // 4, n_nonzero_blocks=1)).tolist()
    [8, 9, 10, 11]
    """
    A, Y2, was_1d, dtype, labels, order, starts, kb, max_iter, tol = _prepare_blocks(
        A, Y, groups, n_nonzero_blocks, max_iter, tol)
    return model_cosamp(A, Y2, was_1d, dtype, _block_model(labels, order, starts), kb, max_iter=max_iter,
                        tol=tol, history=history, return_info=return_info, name="block_cosamp")


@register_solver(
    "block_iht",
    kind="group",
    sparsity_param="n_nonzero_blocks",
    operator_ok=True,
    summary="Block-IHT: model-based IHT keeping whole groups, normalized step (Baraniuk et al. 2010).",
)
def block_iht(A, Y, *, groups, n_nonzero_blocks, step=None, max_iter=500, tol=1e-6, history=False,
              return_info=False):
    """Block-sparse iterative hard thresholding, ``x <- B_k(x + mu A^T (y - A x))``.

    {params_top}
    groups : array_like of int, shape (n,)
        Group label of each coefficient (non-overlapping blocks).
    n_nonzero_blocks : int
        Number of nonzero groups ``k``.
    step : float, optional
        Fixed step ``mu``; by default the normalized step ``||g_S||^2 / ||A g_S||^2``,
        halved while the residual would grow.
    max_iter : int, default 500
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||x_new - x|| <= tol ||x_new||`` or ``||y - A x|| <= tol ||y||``.
    {params_end}

    Raises
    ------
    {raises}, bad ``groups``, ``step <= 0``.

    Notes
    -----
    ``B_k`` keeps the ``k`` groups of largest l2 norm (the group hard threshold at the
    ``k``-th largest group norm); Baraniuk et al. (2010), Algorithm 2 with the block model.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((24, 40)) / np.sqrt(24)
    >>> x = np.zeros(40); x[8:12] = [1.0, -2.0, 0.5, 1.0]
    >>> X = block_iht(A, A @ x, groups=np.arange(40) // 4, n_nonzero_blocks=1)
    >>> np.flatnonzero(np.round(X, 6)).tolist()
    [8, 9, 10, 11]
    """
    A, Y2, was_1d, dtype, labels, order, starts, kb, max_iter, tol = _prepare_blocks(
        A, Y, groups, n_nonzero_blocks, max_iter, tol)
    if step is not None:
        step = check_scalar("step", step, low=0.0, low_inclusive=False)
    return model_iht(A, Y2, was_1d, dtype, _block_model(labels, order, starts), kb, step=step, max_iter=max_iter,
                     tol=tol, history=history, return_info=return_info, name="block_iht")


_fill_doc(block_cosamp)
_fill_doc(block_iht)
