"""Tests that kill mutants a hand mutation run of signals/, solvers/ and sensing/ let through.

Every test checks a documented property against an independent reference (a naive loop, a
planted solution, an optimality condition or a documented formula), never a stored output.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cs_toolkit.solvers import duality_gap, fista, ista, mp


def _orthonormal_columns(rng, m, n):
    Q, _ = np.linalg.qr(rng.standard_normal((m, n)))
    return Q


# ----------------------------------------------------------------------------------------
# ISTA / FISTA driver
# ----------------------------------------------------------------------------------------
def test_gap_stopping_is_checked_on_the_last_iteration_too():
    """``stopping="gap"``: a signal whose duality gap meets the tolerance at the end of the run
    is reported converged (no ConvergenceWarning), even when ``max_iter`` is not a multiple of
    the 10 iterations between gap checks. With ``A = I`` one step reaches the optimum."""
    y = np.array([3.0, -0.5, 2.0, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, info = fista(np.eye(4), y, lam=1.0, max_iter=5, tol=1e-8, stopping="gap", return_info=True)
    np.testing.assert_allclose(x, np.sign(y) * np.maximum(np.abs(y) - 1.0, 0.0), atol=1e-12)
    assert info.gap[0] <= 1e-12
    assert info.converged.all()


def test_nonneg_ista_from_an_infeasible_warm_start_descends_from_a_feasible_point(rng):
    """With ``nonneg=True`` ISTA is a descent method on ``F + indicator(x >= 0)``: from any warm
    start its recorded objective never increases and starts at a feasible point, so the first
    value is at least the optimum of the constrained problem. A warm start at the unconstrained
    optimum (with negative entries: lower than any feasible objective) must not be taken as is."""
    m, n = 30, 20
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    y = A @ rng.standard_normal(n)
    lam = 0.05
    x_free = ista(A, y, lam=lam, max_iter=5000, tol=1e-12)
    assert (x_free < -0.1).any()
    x, info = ista(A, y, lam=lam, nonneg=True, x0=x_free, max_iter=300, tol=0, history=True,
                   return_info=True)
    obj = info.objective[:, 0]
    assert (x >= 0).all()
    assert np.all(np.diff(obj) <= 1e-10 * obj[0])
    f_opt = 0.5 * np.sum((A @ x - y) ** 2) + lam * np.abs(x).sum()
    assert obj[0] >= f_opt - 1e-9


def test_nonneg_duality_gap_vanishes_at_a_planted_optimum(rng):
    """With orthonormal columns the non-negative LASSO has the closed form
    ``x = max(A^T y - lam, 0)``; its duality gap (dual constraint ``A^T theta <= lam``, one-sided)
    is zero there even where ``A^T r`` is very negative."""
    A = _orthonormal_columns(rng, 20, 8)
    c = np.array([3.0, -4.0, 0.5, -2.5, 1.5, 0.0, -0.7, 2.0])
    y = A @ c
    lam = 0.4
    x = np.maximum(c - lam, 0.0)
    assert duality_gap(A, y, x, lam, nonneg=True) <= 1e-10
    # and the gap sees a suboptimal point
    assert duality_gap(A, y, x + 0.1, lam, nonneg=True) > 1e-3


def test_a_per_signal_lam_may_hold_zeros(rng):
    """``lam`` is documented as non-negative, shared or one per signal: a zero in the array is
    least squares for that signal (overdetermined ``A``: the lstsq solution)."""
    A = rng.standard_normal((30, 10))
    Y = rng.standard_normal((2, 30))
    X = fista(A, Y, lam=np.array([0.0, 0.5]), max_iter=5000, tol=1e-12)
    ls = np.linalg.lstsq(A, Y[0], rcond=None)[0]
    np.testing.assert_allclose(X[0], ls, atol=1e-6)


# ----------------------------------------------------------------------------------------
# matching pursuit
# ----------------------------------------------------------------------------------------
def _mp_reference(A, y, n_iter):
    """Matching pursuit, ties to the lowest column index (``np.argmax``)."""
    x = np.zeros(A.shape[1])
    r = y.astype(float).copy()
    norms = np.linalg.norm(A, axis=0)
    for _ in range(n_iter):
        c = A.T @ r
        i = int(np.argmax(np.abs(c) / norms))
        x[i] += c[i] / norms[i] ** 2
        r -= c[i] / norms[i] ** 2 * A[:, i]
    return x


@pytest.mark.parametrize("n_signals", [1, 64])
def test_mp_breaks_ties_toward_the_first_column(rng, n_signals):
    """Two identical atoms have the same correlation with every residual: MP takes the first
    (the ``argmax`` of its selection rule), on the matrix path and the Gram path alike."""
    m, n = 12, 20
    A = rng.standard_normal((m, n))
    A[:, 11] = A[:, 4]
    Y = np.tile(A[:, 4] * 2.0 + 0.3 * A[:, 9], (n_signals, 1))
    X = mp(A, Y, max_iter=6)
    ref = _mp_reference(A, Y[0], 6)
    assert X[0, 11] == 0.0 and ref[11] == 0.0
    np.testing.assert_allclose(X, np.tile(ref, (n_signals, 1)), atol=1e-10)


# ----------------------------------------------------------------------------------------
# group sparsity and hard thresholding pursuit
# ----------------------------------------------------------------------------------------
def _group_soft(v, labels, t):
    out = np.zeros_like(v)
    for g in np.unique(labels):
        idx = labels == g
        nrm = np.linalg.norm(v[idx])
        if nrm > t:
            out[idx] = v[idx] * (1.0 - t / nrm)
    return out


def test_group_lasso_follows_fista_with_gradient_restart(rng):
    """``group_lasso`` is FISTA with the gradient restart of O'Donoghue & Candes (2015), step
    ``1 / ||A||_2^2``: after a fixed number of iterations (``tol=0``) it is where a naive loop
    of that method is. The restart test is ``(z - x_new) . (x_new - x) > 0``."""
    m, n = 25, 40
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    labels = np.arange(n) // 4
    x_true = np.zeros(n)
    x_true[8:12] = rng.standard_normal(4)
    x_true[28:32] = rng.standard_normal(4)
    y = A @ x_true + 0.05 * rng.standard_normal(m)
    lam, n_iter = 0.1, 40
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    x = np.zeros(n)
    z = x.copy()
    t = 1.0
    n_restart = 0
    for _ in range(n_iter):
        w = _group_soft(z - step * (A.T @ (A @ z - y)), labels, step * lam)
        d = w - x
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        if (z - w) @ d > 0:
            n_restart += 1
            beta, t = 0.0, 1.0
        else:
            beta, t = (t - 1.0) / t_new, t_new
        z = w + beta * d
        x = w
    assert n_restart > 0  # the test exercises the restart
    got = _group_lasso(A, y, labels, lam, n_iter)
    np.testing.assert_allclose(got, x, atol=1e-10)


def _group_lasso(A, y, labels, lam, n_iter):
    from cs_toolkit.solvers import group_lasso

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return group_lasso(A, y, groups=labels, lam=lam, max_iter=n_iter, tol=0.0)


@pytest.mark.parametrize("contiguous", [True, False])
def test_group_hard_threshold_against_naive(rng, contiguous):
    """Keep a group when ``||x_g||_2 > t`` (the prox of ``t^2 / 2`` times the number of nonzero
    groups), for contiguous and interleaved labels alike; ``t`` between the group norms."""
    from cs_toolkit.solvers import group_hard_threshold

    n = 24
    labels = np.arange(n) // 4 if contiguous else np.arange(n) % 6
    X = rng.standard_normal((5, n)) * 0.6
    t = 1.3
    ref = X.copy()
    for row in ref:
        for g in np.unique(labels):
            if np.linalg.norm(row[labels == g]) <= t:
                row[labels == g] = 0.0
    got = group_hard_threshold(X, labels, t)
    assert 0 < np.count_nonzero(got) < got.size
    np.testing.assert_array_equal(got, ref)


def test_htp_stops_when_its_support_repeats(rng):
    """Foucart's HTP stops once the support repeats: on noisy measurements (the residual never
    meets ``tol``) it ends converged after a few iterations, where a naive HTP ends, without a
    ConvergenceWarning."""
    from cs_toolkit.solvers import htp

    m, n, k = 40, 80, 4
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x_true = np.zeros(n)
    x_true[[3, 17, 40, 66]] = [1.5, -2.0, 1.0, 2.5]
    y = A @ x_true + 0.05 * rng.standard_normal(m)
    mu = 1.0 / np.mean(np.sum(A * A, axis=0))
    x = np.zeros(n)
    S = frozenset()
    n_naive = 0
    while n_naive < 100:
        n_naive += 1
        Sn = frozenset(np.argsort(-np.abs(x + mu * A.T @ (y - A @ x)), kind="stable")[:k].tolist())
        if Sn == S:
            break
        S = Sn
        idx = sorted(S)
        x = np.zeros(n)
        x[idx] = np.linalg.lstsq(A[:, idx], y, rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, info = htp(A, y, n_nonzero_coefs=k, max_iter=50, tol=1e-9, return_info=True)
    assert info.converged.all()
    assert info.n_iter[0] <= n_naive < 50
    np.testing.assert_allclose(got, x, atol=1e-10)


# ----------------------------------------------------------------------------------------
# sensing diagnostics
# ----------------------------------------------------------------------------------------
def test_mutual_coherence_of_a_wide_matrix_against_naive(rng):
    """More than 2048 columns: the coherence is computed in blocks of columns, each block with
    its own diagonal to skip; it must still be the largest off-diagonal normalised Gram entry."""
    from cs_toolkit.sensing import mutual_coherence

    A = rng.standard_normal((40, 2100))
    An = A / np.linalg.norm(A, axis=0)
    G = np.abs(An.T @ An)
    np.fill_diagonal(G, 0.0)
    ref = G.max()
    assert ref < 0.99
    assert mutual_coherence(A) == pytest.approx(ref, rel=1e-12)


def test_t_averaged_coherence_counts_entries_equal_to_t(rng):
    """Elad's ``mu_t`` averages the entries with ``|g_ij| >= t``: at ``t`` equal to the largest
    entry (the mutual coherence) it is that entry, not 0."""
    from cs_toolkit.sensing import gram_entries, t_averaged_coherence

    A = rng.standard_normal((8, 12))
    g = gram_entries(A)
    t = float(g.max())
    assert t_averaged_coherence(A, t=t) == pytest.approx(t, rel=1e-15)
    second = float(np.unique(g)[-2])
    assert t_averaged_coherence(A, t=second) == pytest.approx(np.mean(g[g >= second]), rel=1e-15)


# ----------------------------------------------------------------------------------------
# image loops
# ----------------------------------------------------------------------------------------
def test_bcs_spl_lowers_lam_four_times_then_stops(rng, monkeypatch):
    """BCS-SPL (Mun & Fowler 2009, and their reference code): each time the RMS change stalls
    (changes by less than ``tol``) ``lam`` is multiplied by 0.6, four times; the fifth stall ends
    the loop. With a huge ``tol`` every iteration after the first stalls: the shrinkage sees
    ``lam, lam, 0.6 lam, ..., 0.6^4 lam`` and the loop runs six iterations."""
    from cs_toolkit.signals import _denoisers as den
    from cs_toolkit.signals import measure_image, reconstruct_image

    seen = []
    orig = den.wavelet_shrink

    def recording(x, lam, **kw):
        seen.append(lam)
        return orig(x, lam, **kw)

    monkeypatch.setattr(den, "wavelet_shrink", recording)
    img = np.clip(128 + 40 * rng.standard_normal((32, 32)), 0, 255)
    meas = measure_image(img, 0.4, block_size=16, rng=0)
    reconstruct_image(meas, method="bcs_spl", lam=6.0, tol=1e9, max_iter=50)
    np.testing.assert_allclose(seen, 6.0 * 0.6 ** np.array([0, 0, 1, 2, 3, 4]), rtol=1e-12)


def test_subtractive_dither_is_centred_on_the_cell(rng):
    """The dither is uniform on ``[-Delta/2, Delta/2]`` (documented): every draw lies there, both
    halves are used, and the reconstruction error ``values - Y`` stays within half a cell."""
    from cs_toolkit.sensing import quantize

    Y = rng.uniform(-0.9, 0.9, size=(20, 50))
    q = quantize(Y, 4, y_range=(-1.0, 1.0), dither=True, rng=3)
    d, w = q.dither, q.bin_width
    assert np.all(np.abs(d) <= w / 2)
    assert (d < -w / 4).mean() > 0.15 and (d > w / 4).mean() > 0.15
    assert abs(d.mean()) < 0.05 * w
    assert np.all(np.abs(q.values - Y) <= w / 2 + 1e-12)


# ----------------------------------------------------------------------------------------
# patch denoisers
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [4, 5])
def test_group_threshold_keeps_the_mean_of_a_dark_group(rng, k):
    """Collaborative hard thresholding keeps every group's mean (the [0, 0, 0] coefficient of
    its 3-D DCT) whatever its size: on a dark image the means fall below the threshold and must
    survive all the same (naive 3-D DCT loop as the reference)."""
    from scipy.fft import dctn, idctn

    from cs_toolkit.signals import _denoisers as den

    x = rng.random((14, 13)) * 3.0
    p, sigma, thr = 4, 12.0, 2.7
    groups = den.match_patches(x, patch_size=p, step=2, radius=3, group_size=k)
    n_cols = x.shape[1] - p + 1
    acc = np.zeros_like(x)
    cnt = np.zeros_like(x)
    n_small_mean = 0
    for g in groups:
        pos = [divmod(int(v), n_cols) for v in g]
        Z = dctn(np.stack([x[r:r + p, c:c + p] for r, c in pos]), norm="ortho")
        n_small_mean += abs(Z[0, 0, 0]) <= thr * sigma
        keep = np.abs(Z) > thr * sigma
        keep[0, 0, 0] = True
        w = 1.0 / keep.sum()
        est = idctn(Z * keep, norm="ortho")
        for (r, c), e in zip(pos, est, strict=True):
            acc[r:r + p, c:c + p] += w * e
            cnt[r:r + p, c:c + p] += w
    assert n_small_mean > 0
    got = den.group_dct_threshold(x, sigma, groups, patch_size=p, threshold=thr)
    np.testing.assert_allclose(got, acc / cnt, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------------------
# synthetic signals
# ----------------------------------------------------------------------------------------
def test_uniform_nonzeros_are_bounded_away_from_zero():
    """``distribution="uniform"``: nonzeros uniform on ``[-1, -0.1] U [0.1, 1]`` (documented, so
    every nonzero is detectable), for plain and block-sparse signals alike."""
    from cs_toolkit.signals import block_sparse_signals, sparse_signals

    for X, k in ((sparse_signals(400, 50, 10, rng=0, distribution="uniform"), 10),
                 (block_sparse_signals(400, 48, 12, 4, rng=0, distribution="uniform"), 12)):
        v = np.abs(X[X != 0])
        assert v.size == 400 * k
        assert v.min() >= 0.1 and v.max() <= 1.0
        assert v.min() < 0.11 and v.max() > 0.99  # the whole range is used


# ----------------------------------------------------------------------------------------
# MMV subspace pursuit
# ----------------------------------------------------------------------------------------
def test_mmv_sp_ends_on_the_least_squares_fit_of_its_support():
    """Subspace pursuit ends every iteration with a least-squares fit on the k rows it keeps
    (unlike CoSaMP, which prunes the merged fit): on noisy data the residual is orthogonal to
    every selected atom, and the codes are ``lstsq`` on that support."""
    from cs_toolkit.solvers import mmv_sp

    m, n, k, V = 24, 60, 6, 5
    for seed in range(3):  # problems where the first support is wrong and iterations are accepted
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((m, n)) / np.sqrt(m)
        X = np.zeros((V, n))
        X[:, rng.choice(n, k, replace=False)] = rng.standard_normal((V, k))
        Y = X @ A.T + 0.1 * rng.standard_normal((V, m))
        _check_sp_ls(mmv_sp, A, Y, k)


def _check_sp_ls(mmv_sp, A, Y, k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = mmv_sp(A, Y, n_nonzero_coefs=k)
    T = np.flatnonzero(np.abs(got).sum(axis=0))
    assert T.size == k
    ls = np.linalg.lstsq(A[:, T], Y.T, rcond=None)[0].T
    np.testing.assert_allclose(got[:, T], ls, atol=1e-10)
    R = Y - got @ A.T
    assert np.abs(R @ A[:, T]).max() <= 1e-10 * np.linalg.norm(Y)


def test_per_block_sparsity_solvers_keep_a_quarter_of_m_by_default():
    """The documented default of a sparsity solver run per block: m // 4 coefficients."""
    from cs_toolkit.signals import measure_image, reconstruct_image

    img = np.random.default_rng(3).random((32, 32))
    meas = measure_image(img, 0.5, block_size=16, rng=0)
    m = meas.A.shape[0]
    default = reconstruct_image(meas, method="omp")
    np.testing.assert_array_equal(default, reconstruct_image(meas, method="omp", n_nonzero_coefs=m // 4))
    assert not np.array_equal(default, reconstruct_image(meas, method="omp", n_nonzero_coefs=m // 2))
