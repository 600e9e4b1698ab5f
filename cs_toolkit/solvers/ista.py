"""ISTA and FISTA for the LASSO, and one ISTA iteration written as a LISTA layer (``ista_layer``).

Both solvers minimise, for each signal ``y`` (a row of ``Y``),

    F(x) = 1/2 ||A x - y||_2^2 + lam ||x||_1        (optionally subject to x >= 0)

by proximal gradient steps. The step itself is one fused numba kernel
(:func:`cs_toolkit.solvers._fista_numba._pg_step`) used by both methods, driven by
``_pg_solve`` (``_pg.py``); the matrix products around it are plain BLAS calls on the whole
batch (or the ``_forward``/``_adjoint`` methods of a matrix-free operator). The objective
and the duality gap are in ``lasso.py``, the shared plumbing in ``_common.py``. The kernel's
proximal step (``_prox_l1``), ``ista_layer``, the backtracking search and the learned layers
(:func:`cs_toolkit.solvers.shrink`) all threshold through ``_prox.py``.
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_array,
    check_bool,
    check_option,
    check_scalar,
    check_signals,
    result_dtype,
)
from ..exceptions import ValidationError
from ._common import SolverInfo
from ._pg import _pg_solve
from ._prox import prox_l1
from ._registry import register_solver
from .lasso import duality_gap, lasso_objective

__all__ = ["ista", "fista", "ista_layer", "lasso_objective", "duality_gap", "SolverInfo"]


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
    out = prox_l1(V, th, nonneg)
    out = np.ascontiguousarray(out, dtype=dt)
    return out[0] if (x1d and y1d) else out



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
    return_info = check_bool("return_info", return_info)  # checked before the work
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
    return_info = check_bool("return_info", return_info)  # checked before the work
    out, info = _pg_solve(A, Y, lam, step, max_iter, tol, nonneg, x0, backtracking, history, stopping,
                          accel=True, restart=restart is not None, name="fista")
    return _finish(out, info, return_info)


_fill_doc(ista)
_fill_doc(fista)
