"""Bayes-optimal AMP (Bernoulli-Gaussian MMSE denoiser) against naive references and known answers."""

import warnings

import numpy as np
import pytest
from scipy.stats import norm

from cs_toolkit.exceptions import ValidationError
from cs_toolkit.metrics import nmse
from cs_toolkit.solvers import amp
from cs_toolkit.solvers.amp import bg_denoise


def _posterior_mean_naive(r, tau2, eps, v):
    """E[x | r] from the two densities, written out (no shared algebra with bg_denoise)."""
    p1 = eps * norm.pdf(r, scale=np.sqrt(v + tau2))
    p0 = (1 - eps) * norm.pdf(r, scale=np.sqrt(tau2))
    return p1 / (p0 + p1) * r * v / (v + tau2)


def test_bg_denoise_matches_bayes_rule_and_its_derivative(rng):
    R = rng.standard_normal((3, 40)) * np.array([[0.3], [1.0], [2.5]])
    tau2 = np.array([0.05, 0.2, 1.0])
    X, dsum = bg_denoise(R, tau2, 0.15, 2.0)
    ref = np.stack([_posterior_mean_naive(R[i], tau2[i], 0.15, 2.0) for i in range(3)])
    np.testing.assert_allclose(X, ref, rtol=1e-10, atol=1e-14)
    h = 1e-6
    fd = np.stack([(_posterior_mean_naive(R[i] + h, tau2[i], 0.15, 2.0)
                    - _posterior_mean_naive(R[i] - h, tau2[i], 0.15, 2.0)) / (2 * h) for i in range(3)])
    np.testing.assert_allclose(dsum, fd.sum(axis=1), rtol=1e-6)


def test_bg_denoise_extremes_stay_finite():
    R = np.array([[0.0, 1e-8, 1e3, -1e6]])
    X, dsum = bg_denoise(R, np.array([1e-40]), 0.1, 1.0)  # noise variance below the floor
    assert np.isfinite(X).all() and np.isfinite(dsum).all()
    np.testing.assert_allclose(X[0, 2:], R[0, 2:], rtol=1e-12)  # large entries pass unshrunk
    assert X[0, 0] == 0.0


def _amp_bg_naive(A, y, eps, v, n_iter):
    m, n = A.shape
    x, z = np.zeros(n), y.copy()
    for _ in range(n_iter):
        tau2 = z @ z / m
        r = x + A.T @ z
        x = _posterior_mean_naive(r, tau2, eps, v)
        h = 1e-6
        dsum = np.sum((_posterior_mean_naive(r + h, tau2, eps, v) - _posterior_mean_naive(r - h, tau2, eps, v)) / (2 * h))
        z = y - A @ x + dsum / m * z
    return x


def _bg_problem(rng, m, n, k, eps, snr_db):
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    A /= np.linalg.norm(A, axis=0)
    X = rng.standard_normal((k, n)) * (rng.random((k, n)) < eps)
    Y0 = X @ A.T
    Y = Y0 + rng.standard_normal(Y0.shape) * Y0.std() * 10 ** (-snr_db / 20)
    return A, X, Y


def test_amp_bg_matches_naive_iteration(rng):
    A, X, Y = _bg_problem(rng, 60, 120, 3, 0.1, 30.0)
    Xh = amp(A, Y, max_iter=12, tol=0, denoiser="bg", sparsity=0.1, variance=1.0)
    for i in range(3):
        np.testing.assert_allclose(Xh[i], _amp_bg_naive(A, Y[i], 0.1, 1.0, 12), rtol=1e-6, atol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_amp_bg_beats_soft_amp_and_nears_the_oracle(rng, dtype):
    A, X, Y = _bg_problem(rng, 200, 400, 200, 0.1, 30.0)
    oracle = np.zeros_like(X)
    for i in range(X.shape[0]):
        s = np.flatnonzero(X[i])
        oracle[i, s] = np.linalg.lstsq(A[:, s], Y[i], rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xb = amp(A.astype(dtype), Y.astype(dtype), max_iter=30, tol=0, denoiser="bg", sparsity=0.1)
        soft = min(nmse(X, amp(A, Y, max_iter=30, tol=0, alpha=a), db=True) for a in (1.0, 1.5, 2.0, 2.5))
    assert Xb.dtype == dtype
    bg = nmse(X, Xb.astype(np.float64), db=True)
    assert bg < soft - 3.0  # the MMSE denoiser removes the soft-threshold bias
    assert bg < nmse(X, oracle, db=True) + 2.0  # and comes close to support-oracle least squares


def test_amp_bg_exact_recovery_noiseless(rng):
    A, X, Y = _bg_problem(rng, 100, 200, 20, 0.1, 300.0)
    Xh = amp(A, X @ A.T, max_iter=60, tol=0, denoiser="bg", sparsity=0.1)
    assert nmse(X, Xh, db=True) < -60


@pytest.mark.parametrize("kw, pattern", [
    (dict(denoiser="hard"), r"denoiser must be one of 'soft', 'bg'; got 'hard'"),
    (dict(denoiser="bg"), r"sparsity is required"),
    (dict(denoiser="bg", sparsity=1.0), r"sparsity must be < 1"),
    (dict(denoiser="bg", sparsity=0.1, variance=0.0), r"variance must be > 0"),
])
def test_amp_bg_bad_arguments(rng, kw, pattern):
    A, _, Y = _bg_problem(rng, 20, 40, 2, 0.1, 30.0)
    with pytest.raises(ValidationError, match=pattern):
        amp(A, Y, **kw)
