"""Theoretical phase transition of l1 minimisation (the Donoho-Tanner weak threshold).

The curve is computed through the statistical dimension of the descent cone
of the l1 norm (Amelunxen, Lotz, McCoy & Tropp 2014): basis pursuit recovers
a k-sparse vector in R^n from m Gaussian measurements with high probability
when ``m/n`` exceeds ``psi(k/n)`` and fails when it is below, asymptotically.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from .._validation import check_array
from ..exceptions import ValidationError

__all__ = ["l1_statistical_dimension", "l1_weak_threshold"]

_SQRT_2PI = np.sqrt(2.0 * np.pi)
#: Smallest delta of :func:`l1_weak_threshold` (below it the Gaussian densities underflow).
_DELTA_MIN = 1e-300


def _pdf(t):
    return np.exp(-0.5 * t * t) / _SQRT_2PI


def _tail(t):
    """Upper tail of the standard normal, Q(t) = 1 - Phi(t)."""
    return 0.5 * special.erfc(t / np.sqrt(2.0))


def _psi_at(rho_s: float, tau: float) -> float:
    # 2 * int_tau^inf (u - tau)^2 phi(u) du = 2 * ((1 + tau^2) Q(tau) - tau phi(tau))
    tail_term = 2.0 * ((1.0 + tau * tau) * _tail(tau) - tau * _pdf(tau))
    return rho_s * (1.0 + tau * tau) + (1.0 - rho_s) * tail_term


def _optimal_tau(rho_s: float) -> float:
    # d/dtau of the objective / 2:  rho_s tau - 2 (1 - rho_s) (phi(tau) - tau Q(tau)),
    # increasing in tau (the objective is convex), negative at 0.
    def g(t):
        return rho_s * t - 2.0 * (1.0 - rho_s) * (_pdf(t) - t * _tail(t))

    hi = 1.0
    while g(hi) < 0.0:
        hi *= 2.0
    return optimize.brentq(g, 0.0, hi, xtol=1e-14, rtol=1e-14, maxiter=200)


def _psi_scalar(rho_s: float) -> float:
    if rho_s <= 0.0:
        return 0.0
    if rho_s >= 1.0:
        return 1.0
    return float(_psi_at(rho_s, _optimal_tau(rho_s)))


def l1_statistical_dimension(rho_s):
    """Normalised statistical dimension of the l1 descent cone at a sparse point.

    Parameters
    ----------
    rho_s : float or array_like
        Sparsity fraction ``k / n`` in ``[0, 1]``.

    Returns
    -------
    psi : float or ndarray
        ``delta(D(||.||_1, x)) / n`` in the large-``n`` limit, same shape as ``rho_s``.

    Raises
    ------
    ValidationError
        Values outside ``[0, 1]`` or non-finite.

    Notes
    -----
    .. math::

        \\psi(\\rho_s) = \\inf_{\\tau \\ge 0} \\rho_s (1 + \\tau^2)
            + (1 - \\rho_s)\\, 2 \\int_\\tau^\\infty (u - \\tau)^2 \\varphi(u)\\, du,

    where the integral equals :math:`(1 + \\tau^2) Q(\\tau) - \\tau \\varphi(\\tau)` with
    :math:`Q` the standard normal tail. The objective is convex in :math:`\\tau`; the
    minimiser is the root of its derivative, found with Brent's method.
    Amelunxen, Lotz, McCoy & Tropp, "Living on the edge", Inf. Inference 3 (2014), Prop. 4.5.

    Examples
    --------
    >>> round(float(l1_statistical_dimension(0.1)), 4)
    0.3288
    """
    scalar = np.ndim(rho_s) == 0
    arr = check_array(rho_s, "rho_s", ndim=(0, 1, 2), dtype=np.float64)
    if np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValidationError(f"rho_s must lie in [0, 1], got values in [{arr.min()}, {arr.max()}].")
    out = np.array([_psi_scalar(float(r)) for r in arr.ravel()]).reshape(arr.shape)
    return float(out.ravel()[0]) if scalar else out


def _weak_threshold_scalar(delta: float) -> float:
    if delta >= 1.0:
        return 1.0
    # psi is increasing from 0 to 1 and psi(rho_s) > rho_s: solve psi(rho * delta) = delta for
    # rho = rho_s / delta in (0, 1), so that the tolerance is relative to rho however small delta is
    # (rho >= 1 / (2 log(1 / delta)) > 1e-3 for every double delta > 0).
    return optimize.brentq(lambda r: _psi_scalar(r * delta) - delta, 1e-6, 1.0,
                           xtol=1e-15, rtol=1e-13, maxiter=300)


def l1_weak_threshold(delta):
    """Asymptotic l1 (basis pursuit) phase transition ``rho = k/m`` as a function of ``delta = m/n``.

    This is the Donoho-Tanner weak threshold for signed sparse vectors and
    Gaussian measurement matrices: for ``k/m`` below the curve, basis pursuit
    recovers the signal with probability tending to one as ``n`` grows, above it
    with probability tending to zero.

    Parameters
    ----------
    delta : float or array_like
        Undersampling ratio ``m / n`` in ``(0, 1]`` (at least ``1e-300``).

    Returns
    -------
    rho : float or ndarray
        Sparsity ratio ``k / m`` on the transition curve, same shape as ``delta``.

    Raises
    ------
    ValidationError
        Values outside ``(0, 1]``, below ``1e-300``, or non-finite.

    See Also
    --------
    l1_statistical_dimension : the curve in the form ``delta = psi(k/n)``.

    Notes
    -----
    Solves :math:`\\delta = \\psi(\\rho_s)` for :math:`\\rho_s = k/n`, then returns
    :math:`\\rho = \\rho_s / \\delta`. Donoho & Tanner, "Observed universality of phase
    transitions in high-dimensional geometry", Phil. Trans. R. Soc. A 367 (2009);
    Amelunxen, Lotz, McCoy & Tropp (2014).

    Examples
    --------
    >>> round(float(l1_weak_threshold(0.5)), 4)
    0.3857
    """
    scalar = np.ndim(delta) == 0
    arr = check_array(delta, "delta", ndim=(0, 1, 2), dtype=np.float64)
    if np.any(arr <= 0.0) or np.any(arr > 1.0):
        raise ValidationError(f"delta must lie in (0, 1], got values in [{arr.min()}, {arr.max()}].")
    if np.any(arr < _DELTA_MIN):  # the normal tail underflows: the curve cannot be computed there
        raise ValidationError(f"delta must lie in (0, 1] and be at least {_DELTA_MIN:g}, got {arr.min()}.")
    out = np.array([_weak_threshold_scalar(float(d)) for d in arr.ravel()]).reshape(arr.shape)
    return float(out.ravel()[0]) if scalar else out
