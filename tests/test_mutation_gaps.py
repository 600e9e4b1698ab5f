"""Tests written to kill mutants that the rest of the suite let survive (hand mutation testing).

Each test checks a documented property against an independent reference (a naive loop, a
closed form, planted ground truth or an optimality condition), not a stored output.
"""

import naive
import numpy as np

from cs_toolkit.bench import phase_transition


# --- bench.phase: the grid of (m, k) -------------------------------------------------------------
def test_phase_grid_rounds_m_and_k_to_nearest():
    # documented: m = round(delta n), k = max(1, round(rho m)); rho * m = 3.6, 4.8, 9.6, 7.2, ...
    n, deltas, rhos = 40, [0.3, 0.6], [0.3, 0.4, 0.8]
    res = phase_transition("omp", n=n, deltas=deltas, rhos=rhos, n_trials=1, rng=0, progress=False)
    assert len(res.rows) == len(deltas) * len(rhos)
    for r in res.rows:
        m = max(1, int(np.floor(r["delta"] * n + 0.5)))
        k = min(m, max(1, int(np.floor(r["rho"] * m + 0.5))))
        assert (r["m"], r["k"]) == (m, k)
        assert r["rho_actual"] == k / m and r["delta_actual"] == m / n


# --- signals._image_loops: the momentum of the plug-and-play loop --------------------------------
def test_pnp_loop_follows_its_documented_nesterov_recursion():
    from cs_toolkit.signals._image_loops import BlockConstraint, _pnp
    from cs_toolkit.transforms import image_to_tiles

    rng = np.random.default_rng(3)
    B, shape = 4, (8, 12)
    A = rng.standard_normal((6, B * B))
    P = np.linalg.pinv(A)
    truth = rng.random(shape) * 255.0
    Y = image_to_tiles(truth, B) @ A.T
    con = BlockConstraint(Y, A, P, shape, B)
    x0 = con.project(np.zeros(shape))

    def denoiser(z, s):  # linear in z, depends on sigma: the momentum must matter
        return (1.0 - s / 100.0) * z + 0.01 * s * np.roll(z, 1, axis=1)

    sigma0, sigma_end, n_iter = 30.0, 2.0, 7
    got = _pnp(Y, A, P, shape, B, x0, denoiser=denoiser, sigma0=sigma0, sigma_end=sigma_end, n_iter=n_iter)
    # reference: z = x_k + k / (k + 3) (x_k - x_{k-1}),  x_{k+1} = P_y(D_{sigma_k}(z)), sigma geometric
    x, x_prev = x0.copy(), x0.copy()
    ratio = (sigma_end / sigma0) ** (1.0 / (n_iter - 1))
    for k in range(n_iter):
        s = sigma0 * ratio**k
        z = x + k / (k + 3.0) * (x - x_prev)
        x_prev, x = x, con.project(denoiser(z, s))
    np.testing.assert_allclose(got, x, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(image_to_tiles(got, B) @ A.T, Y, atol=1e-8)  # consistent with y


# --- signals._denoisers: the TV weight ------------------------------------------------------------
def test_tv_denoise_weight_is_proportional_to_weight_factor_times_sigma():
    from skimage.restoration import denoise_tv_chambolle

    from cs_toolkit.signals import _denoisers as den

    rng = np.random.default_rng(4)
    x = np.clip(128.0 + 40.0 * rng.standard_normal((24, 20)), 0, 255)
    half = den.tv_denoise(x, 20.0, weight_factor=0.5)
    np.testing.assert_allclose(half, den.tv_denoise(x, 10.0), rtol=1e-12, atol=1e-9)
    ref = denoise_tv_chambolle(x / 255.0, weight=0.5 * 20.0 / 255.0) * 255.0  # the documented Chambolle TV
    np.testing.assert_allclose(half, ref, rtol=1e-12, atol=1e-9)
    assert np.abs(half - den.tv_denoise(x, 20.0)).max() > 1.0  # the factor does change the result


# --- signals.audio: overlap-add when the hop does not divide the frame length ---------------------
def _naive_ola(F, hop, total):
    s = np.zeros(total)
    for i, row in enumerate(F):
        for j, v in enumerate(row):
            s[i * hop + j] += v
    return s


def test_audio_overlap_add_matches_naive_and_is_the_adjoint_of_cutting():
    from cs_toolkit.signals.audio import _cut, _FramesOperator, _ola
    from cs_toolkit.transforms import DCT

    rng = np.random.default_rng(5)
    N = 16
    w = np.sin(np.pi * (np.arange(N) + 0.5) / N)
    for hop in (3, 6, 8, 16, 5):
        nf = 7
        total = (nf - 1) * hop + N
        F = rng.standard_normal((nf, N))
        np.testing.assert_allclose(_ola(F, hop, total), _naive_ola(F, hop, total), rtol=1e-13, atol=1e-13)
        s = rng.standard_normal(total)  # <cut(s), F> = <s, OLA(w F)>
        assert np.isclose(np.sum(_cut(s, w, hop, nf) * F), s @ _ola(F * w, hop, total), rtol=1e-12)
        op = _FramesOperator(rng.standard_normal((5, N)), DCT(N).to_dense(), w, hop, nf)
        x, y = rng.standard_normal(op.shape[1]), rng.standard_normal(op.shape[0])
        assert np.isclose(op.forward(x) @ y, x @ op.adjoint(y), rtol=1e-10)


# --- solvers._tree_numba: every row of the parallel (prange) driver is projected ----------------
def test_tree_kernels_parallel_path_projects_every_row():
    import numba
    import pytest

    from cs_toolkit.solvers import tree_l0_prox, tree_projection
    from cs_toolkit.transforms import Wavelet

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("the parallel driver needs two numba threads")
    before = numba.get_num_threads()
    P = np.random.default_rng(6).standard_normal((8200, 1024))  # above both parallel thresholds
    W = Wavelet(1024, "haar")
    try:
        numba.set_num_threads(2)
        T = tree_projection(P[:3000], W, 5)
        L0 = tree_l0_prox(P, W, 0.5)
    finally:
        numba.set_num_threads(before)
    assert np.all(np.count_nonzero(T, axis=1) == 5)  # Gaussian rows: exactly k nodes kept, in every row
    np.testing.assert_array_equal(T, np.where(T != 0, P[:3000], 0.0))
    rows = np.arange(0, 8200, 7)  # every 7th row, single-row (serial) calls as the reference
    np.testing.assert_array_equal(L0[rows], np.stack([tree_l0_prox(P[i], W, 0.5) for i in rows]))
    # and every row: the prox keeps v_i on its support, and at lam = 0.5 each row keeps some nodes
    np.testing.assert_array_equal(L0, np.where(L0 != 0, P, 0.0))
    assert np.all(np.count_nonzero(L0, axis=1) > 0)


# --- dictionary: the online learner's running statistics ---------------------------------------
def test_online_statistics_forget_both_a_and_b():
    from cs_toolkit.dictionary._ksvd_numba import _accumulate_stats

    rng = np.random.default_rng(7)
    n_signals, n_features, n_atoms = 30, 6, 9
    for dtype in (np.float64, np.float32):
        Xb = rng.standard_normal((n_signals, n_features)).astype(dtype)
        Cb = rng.standard_normal((n_signals, n_atoms)) * (rng.random((n_signals, n_atoms)) < 0.3)
        Cb = Cb.astype(dtype)
        A0 = rng.standard_normal((n_atoms, n_atoms)).astype(dtype)
        B0 = rng.standard_normal((n_features, n_atoms)).astype(dtype)
        A, B = A0.copy(), B0.copy()
        beta = 0.37
        _accumulate_stats(Xb, Cb, A, B, beta)
        tol = 1e-12 if dtype == np.float64 else 1e-4
        # documented: A = beta A + C^T C, B = beta B + X^T C
        np.testing.assert_allclose(A, beta * A0.astype(float) + Cb.T.astype(float) @ Cb, rtol=tol, atol=tol)
        np.testing.assert_allclose(B, beta * B0.astype(float) + Xb.T.astype(float) @ Cb, rtol=tol, atol=tol)


# --- dictionary.ksvd: the exact atom update when power iteration cannot certify ------------------
def test_ksvd_exact_update_is_the_best_rank_one_fit_on_a_clustered_spectrum():
    from cs_toolkit.dictionary import ksvd_update

    rng = np.random.default_rng(8)
    n_signals, n_features = 20, 8
    U, _ = np.linalg.qr(rng.standard_normal((n_signals, n_features)))
    V, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    s = np.array([1.0, 0.999, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01])  # tied top pair: the power step gives up
    X = (U * s) @ V.T
    D = np.ascontiguousarray(rng.standard_normal((n_features, 1)))
    D /= np.linalg.norm(D)
    C = rng.standard_normal((n_signals, 1)) + 3.0  # every signal uses the atom
    R = X - C @ D.T
    ksvd_update(D, C, R, exact=True)
    # best rank-1 approximation of X (Eckart-Young): error^2 = sum of the other squared singular values
    assert abs(np.sum(R**2) - np.sum(s[1:] ** 2)) < 1e-10
    assert abs(abs(D[:, 0] @ V[:, 0]) - 1.0) < 1e-10
    np.testing.assert_allclose(R, X - C @ D.T, atol=1e-12)


# --- solvers.mmv: CoSaMP merges the 2k strongest proxy columns ----------------------------------
def _naive_mmv_cosamp(A, Y, k, n_iter):
    """Needell & Tropp's CoSaMP with row-norm selection (shared support), a fixed number of steps."""
    n = A.shape[1]
    X, T = np.zeros((Y.shape[0], n)), np.zeros(0, int)
    for _ in range(n_iter):
        proxy = np.linalg.norm((Y - X @ A.T) @ A, axis=0)
        U = np.union1d(T, np.argsort(-proxy)[: 2 * k])
        B = np.zeros_like(X)
        B[:, U] = np.linalg.lstsq(A[:, U], Y.T, rcond=None)[0].T
        T = np.sort(np.argsort(-np.linalg.norm(B, axis=0))[:k])
        X = np.zeros_like(X)
        X[:, T] = B[:, T]
    return X


def test_mmv_cosamp_matches_a_naive_cosamp():
    from cs_toolkit.solvers import mmv_cosamp

    rng = np.random.default_rng(9)
    m, n, k, V = 24, 60, 4, 3
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X0 = np.zeros((V, n))
    X0[:, rng.choice(n, k, replace=False)] = rng.standard_normal((V, k))
    Y = X0 @ A.T + 0.3 * rng.standard_normal((V, m))  # noisy: the iterates depend on every step
    for n_iter in (1, 2, 5):
        got = mmv_cosamp(A, Y, n_nonzero_coefs=k, max_iter=n_iter, tol=0.0)
        np.testing.assert_allclose(got, _naive_mmv_cosamp(A, Y, k, n_iter), atol=1e-9)


# --- solvers.onebit: BIHT without per-step normalisation (Jacques et al.'s algorithm) ------------
def test_biht_without_normalize_matches_the_unnormalized_loop():
    import warnings

    from cs_toolkit.solvers import biht

    rng = np.random.default_rng(10)
    A = rng.standard_normal((60, 40))
    X = np.zeros((4, 40))
    for row in X:
        row[rng.choice(40, 3, replace=False)] = rng.standard_normal(3)
    Y = np.where(X @ A.T >= 0, 1.0, -1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xh = biht(A, Y, n_nonzero_coefs=3, step=0.05, max_iter=25, tol=0.0, normalize=False)
        Xn = biht(A, Y, n_nonzero_coefs=3, step=0.05, max_iter=25, tol=0.0, normalize=True)
    for y, xh in zip(Y, Xh):
        np.testing.assert_allclose(xh, naive.biht_naive(A, y, 3, 0.05, 25, normalize=False), atol=1e-10)
    assert np.abs(Xh - Xn).max() > 1e-6  # the two variants do differ on this problem
