"""Approximate message passing (AMP) with soft thresholding (Donoho, Maleki & Montanari 2009)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import check_int, check_scalar
from ..exceptions import ConvergenceWarning, DivergenceWarning
from ..sensing._base import LinearOperator
from ._prox import soft_threshold
from ._registry import register_solver
from .ista import SolverInfo, _prepare, _products

__all__ = ["amp"]

#: A signal is declared diverged once its residual ``||y - A x_t||`` exceeds this multiple of
#: ``||y||``. On i.i.d. Gaussian matrices AMP that does not diverge stays within about 30
#: ``||y||`` even in its failure regime (measured: m/n from 0.05 to 0.8, alpha 1.5 and 2).
DIVERGENCE_RATIO = 1e3


@register_solver(
    "amp",
    kind="thresholding",
    sparsity_param=None,
    operator_ok=True,
    summary="approximate message passing with soft thresholding (i.i.d. Gaussian A)",
)
def amp(A, Y, *, max_iter=50, alpha=1.5, tol=1e-6, return_info=False):
    """Approximate message passing with soft thresholding.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix. AMP assumes i.i.d. Gaussian entries ``N(0, 1/m)``
        (columns of unit norm on average); on other matrices it may diverge.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    max_iter : int, default 50
        Number of iterations.
    alpha : float, default 1.5
        Threshold multiplier: ``theta_t = alpha ||z_t|| / sqrt(m)`` (the notation of
        Donoho, Maleki & Montanari; here it is neither a penalty nor a step).
    tol : float, default 1e-6
        A signal stops when ``||x_t - x_{t-1}|| <= tol * ||x_t||`` (0 disables).
    return_info : bool, default False
        Also return a :class:`SolverInfo`.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Estimates, of the dtype of the inputs.
    info : SolverInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite values, bad parameters.

    Warns
    -----
    ConvergenceWarning
        Some signals did not meet ``tol`` within ``max_iter``.
    DivergenceWarning
        The residual ``||y - A x_t||`` grew beyond ``DIVERGENCE_RATIO * ||y||`` or non-finite
        values appeared; those signals stop and return the estimate with the smallest
        residual seen (``info.diverged`` marks them).

    Notes
    -----
    Iterates ``x_{t+1} = S_{theta_t}(x_t + A^T z_t)`` and
    ``z_{t+1} = y - A x_{t+1} + (||x_{t+1}||_0 / m) z_t`` from ``x_0 = 0, z_0 = y``; the last
    term (the Onsager correction) makes ``x_t + A^T z_t`` behave like the true signal plus
    Gaussian noise when ``A`` is i.i.d. Gaussian ``N(0, 1/m)``, which is what the theory
    (state evolution) assumes. On other matrices (ill-conditioned, non-zero mean, low rank,
    or too few measurements for ``alpha``) the iteration can blow up geometrically; each
    iteration therefore also tracks the residual norm ``||y - A x_t||`` (no extra product)
    and keeps the best estimate per signal, which a diverged signal returns.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((100, 200)) / 10.0
    >>> x = np.zeros(200); x[[3, 50, 120]] = [1.0, -2.0, 1.5]
    >>> bool(np.allclose(amp(A, A @ x, max_iter=100), x, atol=1e-3))
    True
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype = _prepare(A, Y)
    max_iter = check_int("max_iter", max_iter, low=1)
    alpha = check_scalar("alpha", alpha, low=0.0)
    tol = check_scalar("tol", tol, low=0.0)
    k = Y2.shape[0]
    m, n = A.shape
    if isinstance(A, LinearOperator):
        _, _, fwd, adj = _products(A, dtype, k)
    else:
        def fwd(V):
            return V @ A.T

        def adj(V):
            return V @ A
    X = np.zeros((k, n), dtype=dtype)
    Xbest = np.zeros((k, n), dtype=dtype)
    ynorm = np.linalg.norm(Y2.astype(np.float64), axis=1)
    rbest = ynorm.copy()  # residual of x = 0
    Z = Y2.copy()
    running = np.ones(k, dtype=bool)
    running[~Y2.any(axis=1)] = False
    converged = ~running.copy()
    diverged = np.zeros(k, dtype=bool)
    n_iter = np.zeros(k, dtype=np.int64)
    sqm = np.sqrt(m)
    for _ in range(max_iter):
        r = np.flatnonzero(running)
        if r.size == 0:
            break
        Xr, Zr = X[r], Z[r]
        theta = alpha * np.linalg.norm(Zr, axis=1) / sqm
        Xn = soft_threshold(Xr + adj(Zr), theta[:, None]).astype(dtype)
        Rn = Y2[r] - fwd(Xn)
        Zn = Rn + (np.count_nonzero(Xn, axis=1) / m)[:, None] * Zr
        with np.errstate(over="ignore", invalid="ignore"):
            rn = np.linalg.norm(Rn.astype(np.float64), axis=1)
            bad = ~(np.isfinite(Xn).all(axis=1) & np.isfinite(Zn).all(axis=1) & (rn <= DIVERGENCE_RATIO * ynorm[r]))
        better = ~bad & (rn < rbest[r])
        if better.any():
            Xbest[r[better]] = Xn[better]
            rbest[r[better]] = rn[better]
        if bad.any():
            diverged[r[bad]] = True
            running[r[bad]] = False
            good = ~bad
            r, Xr, Xn, Zn = r[good], Xr[good], Xn[good], Zn[good]
        n_iter[r] += 1
        dx = np.linalg.norm((Xn - Xr).astype(np.float64), axis=1)
        X[r], Z[r] = Xn, Zn.astype(dtype)
        if tol > 0:
            done = dx <= tol * np.maximum(np.linalg.norm(Xn.astype(np.float64), axis=1), 1e-300)
            converged[r[done]] = True
            running[r[done]] = False
    if diverged.any():
        warnings.warn(f"amp diverged for {int(diverged.sum())} of {k} signal(s) (residual above "
                      f"{DIVERGENCE_RATIO:g} ||y|| or non-finite values); returning their estimate with the "
                      "smallest residual. AMP needs an i.i.d. Gaussian N(0, 1/m) matrix (or a larger alpha).",
                      DivergenceWarning, stacklevel=2)
    if tol > 0 and (~converged & ~diverged).any():
        warnings.warn(f"amp did not converge for {int((~converged & ~diverged).sum())} of {k} signal(s) in "
                      f"max_iter={max_iter} iterations.", ConvergenceWarning, stacklevel=2)
    X[diverged] = Xbest[diverged]
    out = X[0] if was_1d else X
    if return_info:
        return out, SolverInfo(n_iter=n_iter, converged=converged, elapsed=time.perf_counter() - t0,
                               diverged=diverged)
    return out
