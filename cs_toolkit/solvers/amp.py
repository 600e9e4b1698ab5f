"""Approximate message passing (AMP): soft thresholding (Donoho, Maleki & Montanari 2009) or the
Bernoulli-Gaussian MMSE denoiser (Bayes-optimal AMP; Donoho, Maleki & Montanari 2010)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import check_int, check_option, check_scalar
from ..exceptions import ConvergenceWarning, DivergenceWarning, ValidationError
from ..sensing import LinearOperator
from ._common import SolverInfo, _products, prepare
from ._prox import _soft_arr
from ._registry import register_solver

__all__ = ["amp", "bg_denoise"]

#: The denoisers of :func:`amp`.
AMP_DENOISERS = ("soft", "bg")

#: A signal is declared diverged once its residual ``||y - A x_t||`` exceeds this multiple of
#: ``||y||``. On i.i.d. Gaussian matrices AMP that does not diverge stays within about 30
#: ``||y||`` even in its failure regime (measured: m/n from 0.05 to 0.8, alpha 1.5 and 2).
DIVERGENCE_RATIO = 1e3


@register_solver(
    "amp",
    kind="thresholding",
    sparsity_param=None,
    operator_ok=True,
    summary="approximate message passing, soft thresholding or Bernoulli-Gaussian MMSE (i.i.d. Gaussian A)",
)
def amp(A, Y, *, max_iter=50, alpha=1.5, tol=1e-6, denoiser="soft", sparsity=None, variance=1.0,
        return_info=False):
    """Approximate message passing with soft thresholding or the Bernoulli-Gaussian MMSE denoiser.

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
        Donoho, Maleki & Montanari; here it is neither a penalty nor a step). Only used by
        ``denoiser="soft"``.
    tol : float, default 1e-6
        A signal stops when ``||x_t - x_{t-1}|| <= tol * ||x_t||`` (0 disables).
    denoiser : {"soft", "bg"}, default "soft"
        ``"soft"``: soft thresholding at ``theta_t`` (no prior needed, minimax over sparse
        signals). ``"bg"``: the posterior mean under the Bernoulli-Gaussian prior
        ``x_i ~ (1 - sparsity) delta_0 + sparsity N(0, variance)`` (:func:`bg_denoise`), with
        the effective noise variance ``||z_t||^2 / m``. When the prior is right, this is the
        Bayes-optimal AMP: its error approaches the minimum mean squared error, below what any
        soft-thresholding method reaches on noisy data.
    sparsity : float in (0, 1), optional
        Prior probability that an entry is non-zero; required with ``denoiser="bg"``.
    variance : float > 0, default 1.0
        Prior variance of the non-zero entries (``denoiser="bg"``).
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
    Iterates ``x_{t+1} = eta_t(x_t + A^T z_t)`` and
    ``z_{t+1} = y - A x_{t+1} + (sum_i eta_t'(.)_i / m) z_t`` from ``x_0 = 0, z_0 = y``
    (for soft thresholding the sum of derivatives is ``||x_{t+1}||_0``); the last
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
    A, Y2, was_1d, dtype = prepare(A, Y)
    max_iter = check_int("max_iter", max_iter, low=1)
    alpha = check_scalar("alpha", alpha, low=0.0)
    tol = check_scalar("tol", tol, low=0.0)
    denoiser = check_option("denoiser", denoiser, AMP_DENOISERS)
    if denoiser == "bg":
        if sparsity is None:
            raise ValidationError("sparsity is required with denoiser='bg' (the prior probability that an "
                                  "entry is non-zero, in (0, 1)).")
        sparsity = check_scalar("sparsity", sparsity, low=0.0, high=1.0, low_inclusive=False,
                                high_inclusive=False)
        variance = check_scalar("variance", variance, low=0.0, low_inclusive=False)
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
        if denoiser == "soft":
            theta = alpha * np.linalg.norm(Zr, axis=1) / sqm
            Xn = _soft_arr(Xr + adj(Zr), theta[:, None]).astype(dtype)
            onsager = np.count_nonzero(Xn, axis=1) / m
        else:
            tau2 = np.einsum("ij,ij->i", Zr, Zr) / m
            Xn, dsum = bg_denoise(Xr + adj(Zr), tau2, sparsity, variance)
            onsager = dsum / m
        Rn = Y2[r] - fwd(Xn)
        Zn = Rn + onsager.astype(dtype)[:, None] * Zr
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


def bg_denoise(R, tau2, sparsity, variance):
    """Posterior mean of ``x`` given ``r = x + N(0, tau2)`` under a Bernoulli-Gaussian prior.

    The prior is ``x ~ (1 - sparsity) delta_0 + sparsity N(0, variance)``. With
    ``s = variance + tau2`` the posterior probability of a non-zero entry is
    ``pi(r) = 1 / (1 + exp(-L))``, ``L = log(sparsity / (1 - sparsity)) - log(s / tau2) / 2
    + r^2 variance / (2 tau2 s)``, and the posterior mean is ``pi(r) r variance / s``.

    Parameters
    ----------
    R : ndarray of shape (n_signals, n)
        Noisy observations, one signal per row (float32 or float64).
    tau2 : ndarray of shape (n_signals,)
        Noise variance of each row (floored at a tiny positive value).
    sparsity, variance : float
        Prior parameters (``0 < sparsity < 1``, ``variance > 0``).

    Returns
    -------
    X : ndarray of shape (n_signals, n)
        Posterior means, of the dtype of ``R``.
    dsum : ndarray of shape (n_signals,)
        ``sum_i d X_i / d r_i`` per row (float64), the Onsager term of AMP.
    """
    R = np.asarray(R)
    dtype = R.dtype
    t2 = np.maximum(np.asarray(tau2, dtype=np.float64), 1e-30)[:, None]
    s = variance + t2
    g = variance / s
    # q = r^2 variance / (tau2 s) is capped: beyond it pi = 1 to machine precision and
    # q pi (1 - pi) vanishes, so the cap changes nothing but keeps exp and products finite
    q = np.minimum((R.astype(np.float64) ** 2) * (g / t2), 1e4)
    L = np.clip(np.log(sparsity / (1.0 - sparsity)) - 0.5 * np.log(s / t2) + 0.5 * q, -60.0, 60.0)
    pi = 1.0 / (1.0 + np.exp(-L))
    X = (pi * g) * R
    dsum = np.sum(g * pi * (1.0 + q * (1.0 - pi)), axis=1)
    return X.astype(dtype, copy=False), dsum
