"""Basis pursuit: ``min ||x||_1`` subject to ``A x = y``, as a linear program (HiGHS)."""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import linprog

from ..exceptions import ConvergenceWarning
from ._common import SolverInfo, prepare
from ._registry import register_solver

__all__ = ["basis_pursuit"]


@register_solver(
    "basis_pursuit",
    kind="exact",
    sparsity_param=None,
    operator_ok=False,
    summary="basis pursuit min ||x||_1 s.t. Ax = y by linear programming (HiGHS)",
)
def basis_pursuit(A, Y, *, nonneg=False, return_info=False):
    """Basis pursuit ``min ||x||_1`` subject to ``A x = y``, solved as a linear program.

    Parameters
    ----------
    A : ndarray of shape (m, n)
        Sensing matrix (dense; use ``op.to_dense()`` for an operator).
    Y : ndarray of shape (m,) or (n_signals, m)
        Noiseless measurements, one signal per row.
    nonneg : bool, default False
        Add ``x >= 0`` (then the objective is ``sum(x)``).
    return_info : bool, default False
        Also return a :class:`SolverInfo`; ``converged`` is False for signals whose
        linear program failed (their codes are zeros).

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Codes, of the dtype of the inputs.
    info : SolverInfo
        Only with ``return_info=True`` (``n_iter`` holds the LP iterations).

    Raises
    ------
    ValidationError
        Shape mismatch or non-finite values.

    Warns
    -----
    ConvergenceWarning
        The LP was infeasible (``y`` not in the range of ``A``, or no non-negative
        solution) or failed for some signals; their codes are set to zero.

    Notes
    -----
    With ``x = u - v``, ``u, v >= 0`` the problem becomes the LP
    ``min 1^T (u + v)`` s.t. ``[A, -A] [u; v] = y`` (Chen, Donoho & Saunders 1998),
    solved by ``scipy.optimize.linprog(method="highs")`` one signal at a time.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    >>> np.round(basis_pursuit(A, np.array([1.0, 1.0])), 6) + 0.0
    array([0., 1., 0.])
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype = prepare(A, Y, allow_operator=False)
    k = Y2.shape[0]
    m, n = A.shape
    A64 = A.astype(np.float64)
    if nonneg:
        A_eq, cost = A64, np.ones(n)
    else:
        A_eq, cost = np.hstack([A64, -A64]), np.ones(2 * n)
    X = np.zeros((k, n))
    ok = np.zeros(k, dtype=bool)
    nit = np.zeros(k, dtype=np.int64)
    messages = []
    for i in range(k):
        y = Y2[i].astype(np.float64)
        if not y.any():
            ok[i] = True
            continue
        res = linprog(cost, A_eq=A_eq, b_eq=y, bounds=(0, None), method="highs")
        nit[i] = int(getattr(res, "nit", 0) or 0)
        if res.status == 0 and res.x is not None and np.all(np.isfinite(res.x)):
            X[i] = res.x if nonneg else res.x[:n] - res.x[n:]
            ok[i] = True
        else:
            messages.append(f"signal {i}: {res.message}")
    if not ok.all():
        warnings.warn(
            f"basis_pursuit: the linear program failed or was infeasible for {int((~ok).sum())} of {k} "
            f"signal(s) (their codes are zeros): {messages[0]}",
            ConvergenceWarning,
            stacklevel=2,
        )
    Xo = X.astype(dtype)
    out = Xo[0] if was_1d else Xo
    if return_info:
        return out, SolverInfo(n_iter=nit, converged=ok, elapsed=time.perf_counter() - t0,
                               diverged=np.zeros(k, dtype=bool))
    return out
