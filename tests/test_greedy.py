"""Tests of the greedy and thresholding solvers against the loop-level references in naive.py."""

import warnings

import naive
import numpy as np
import pytest

from cs_toolkit.exceptions import (
    ConvergenceWarning,
    DependentAtomsWarning,
    DTypeError,
    SparsityClippedWarning,
    ValidationError,
)
from cs_toolkit.sensing import MatrixOperator
from cs_toolkit.solvers import (
    GreedyInfo,
    cosamp,
    htp,
    iht,
    list_solvers,
    mp,
    omp,
    omp_gram,
    solve,
    subspace_pursuit,
)

MY_SOLVERS = ["omp", "mp", "cosamp", "sp", "iht", "htp"]


def _problem(rng, m, n, k, n_signals, noise=0.0, normalize=True):
    A = rng.standard_normal((m, n))
    if normalize:
        A /= np.linalg.norm(A, axis=0)
    X = np.zeros((n_signals, n))
    for i in range(n_signals):
        X[i, rng.choice(n, k, replace=False)] = rng.standard_normal(k) + np.sign(rng.standard_normal(k))
    Y = X @ A.T + noise * rng.standard_normal((n_signals, m))
    return A, X, Y


# ----------------------------------------------------------------------------------------
# OMP
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("precompute", [True, False])
def test_omp_matches_naive_supports_and_coefficients(rng, precompute):
    A, _, Y = _problem(rng, 24, 48, 5, 6, noise=0.1)
    X = omp(A, Y, n_nonzero_coefs=6, precompute=precompute)
    for y, x in zip(Y, X, strict=True):
        ref, support = naive.omp_naive(A, y, 6)
        assert set(np.flatnonzero(x)) == set(support)
        np.testing.assert_allclose(x, ref, atol=1e-10)


@pytest.mark.parametrize("precompute", [True, False])
def test_omp_error_target_matches_naive(rng, precompute):
    A, _, Y = _problem(rng, 24, 48, 5, 6, noise=0.05)
    tol = 0.2
    X, info = omp(A, Y, tol=tol, precompute=precompute, return_info=True)
    for i, (y, x) in enumerate(zip(Y, X, strict=True)):
        ref, support = naive.omp_naive(A, y, 24, tol=tol)
        np.testing.assert_allclose(x, ref, atol=1e-10)
        r2 = np.sum((y - A @ x) ** 2)
        assert r2 <= tol
        assert info.n_iter[i] == len(support)
        np.testing.assert_allclose(info.resid_norm[i], np.sqrt(r2), rtol=1e-8)
    assert info.converged.all()


def test_batch_omp_equals_cholesky_omp_and_loop_of_singles(rng):
    A, _, Y = _problem(rng, 32, 64, 6, 40, noise=0.05)  # 40 signals: the parallel kernels
    Xg = omp(A, Y, n_nonzero_coefs=7, precompute=True)
    Xq = omp(A, Y, n_nonzero_coefs=7, precompute=False)
    Xs = np.array([omp(A, y, n_nonzero_coefs=7) for y in Y])
    np.testing.assert_allclose(Xg, Xq, atol=1e-11)
    np.testing.assert_allclose(Xs, Xq, atol=1e-11)


def test_omp_float32_is_kept_and_close_to_float64(rng, dtype):
    A, _, Y = _problem(rng, 32, 64, 4, 5, noise=0.01)
    for precompute in (True, False):
        X = omp(A.astype(dtype), Y.astype(dtype), n_nonzero_coefs=4, precompute=precompute)
        assert X.dtype == dtype
        ref = omp(A, Y, n_nonzero_coefs=4)
        np.testing.assert_array_equal(X != 0, ref != 0)
        np.testing.assert_allclose(X, ref, atol=1e3 * np.finfo(dtype).eps)
    # mixed dtypes give float64
    assert omp(A.astype(np.float32), Y, n_nonzero_coefs=2).dtype == np.float64


def test_omp_k_equal_to_n_is_least_squares(rng):
    A = rng.standard_normal((20, 8))
    y = rng.standard_normal(20)
    ref = np.linalg.lstsq(A, y, rcond=None)[0]
    for precompute in (True, False):
        x = omp(A, y, n_nonzero_coefs=8, precompute=precompute)
        np.testing.assert_allclose(x, ref, atol=1e-10)


def test_omp_square_k_equal_m_is_exact(rng):
    A = rng.standard_normal((10, 10))
    y = rng.standard_normal(10)
    x = omp(A, y, n_nonzero_coefs=10)
    np.testing.assert_allclose(A @ x, y, atol=1e-9)


def test_omp_zero_signal_gives_zeros(rng):
    A, _, Y = _problem(rng, 16, 32, 3, 3)
    Y[1] = 0
    for precompute in (True, False):
        X, info = omp(A, Y, n_nonzero_coefs=3, precompute=precompute, return_info=True)
        assert not X[1].any() and X[0].any()
        assert info.n_iter[1] == 0 and info.converged[1]


def test_omp_duplicate_atom_not_selected_twice(rng):
    A, _, Y = _problem(rng, 20, 30, 4, 4, noise=0.1)
    A = np.hstack([A, A[:, :3]])  # columns 30..32 duplicate 0..2
    for precompute in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            X = omp(A, Y, n_nonzero_coefs=6, precompute=precompute)
        for y, x in zip(Y, X, strict=True):
            ref, _ = naive.omp_naive(A, y, 6)
            np.testing.assert_allclose(x, ref, atol=1e-9)


def test_omp_dependent_atoms_warn_and_return(rng):
    A = np.eye(4)
    A[:, 2] = [1.0, 1.0, 1e-9, 0.0]  # nearly a1 + a2
    A[:, 3] = [0.0, 0.0, 0.0, 1.0]
    A = A[:, [0, 1, 3, 2]]  # a1, a2, e4, a1 + a2 + 1e-9 e3
    y = np.array([1.0, -1.0, 1.0, 0.5])
    for precompute in (True, False):
        with pytest.warns(DependentAtomsWarning, match="dependent"):
            x, info = omp(A, y, n_nonzero_coefs=4, precompute=precompute, return_info=True)
        assert info.n_iter[0] == 3 and not info.converged[0]
        np.testing.assert_allclose(x[:3], [1.0, -1.0, 0.5], atol=1e-12)


def test_omp_sparsity_is_clipped_with_warning(rng):
    A, _, Y = _problem(rng, 10, 20, 3, 2)
    with pytest.warns(SparsityClippedWarning, match="n_nonzero_coefs=50"):
        X = omp(A, Y, n_nonzero_coefs=50)
    np.testing.assert_allclose(X, omp(A, Y, n_nonzero_coefs=10), atol=1e-12)


def test_omp_default_sparsity_like_scikit_learn(rng):
    A, _, Y = _problem(rng, 30, 40, 3, 2, noise=0.3)
    X = omp(A, Y)
    assert (np.count_nonzero(X, axis=1) == 4).all()


def test_omp_operator_uses_dense_matrix(rng):
    A, _, Y = _problem(rng, 16, 32, 3, 3, noise=0.01)
    np.testing.assert_allclose(omp(MatrixOperator(A), Y, n_nonzero_coefs=3), omp(A, Y, n_nonzero_coefs=3))


def test_omp_gram_float32_float64_batch_and_tol(rng, dtype):
    A, _, Y = _problem(rng, 24, 40, 4, 5, noise=0.05)
    G, AtY, y2 = A.T @ A, Y @ A, np.sum(Y * Y, axis=1)
    X, info = omp_gram(G.astype(dtype), AtY.astype(dtype), n_nonzero_coefs=4, y_norms2=y2, return_info=True)
    assert X.dtype == dtype and X.shape == (5, 40)
    ref = omp(A, Y, n_nonzero_coefs=4)
    np.testing.assert_allclose(X, ref, atol=1e3 * np.finfo(dtype).eps)
    np.testing.assert_allclose(info.resid_norm, np.linalg.norm(Y - ref @ A.T, axis=1), rtol=1e-3)
    Xt = omp_gram(G, AtY, tol=0.1, y_norms2=y2)
    np.testing.assert_allclose(Xt, omp(A, Y, tol=0.1), atol=1e-10)
    x1 = omp_gram(G, AtY[0], n_nonzero_coefs=4)
    np.testing.assert_allclose(x1, ref[0], atol=1e-10)


def test_omp_gram_errors(rng):
    G = np.eye(5)
    with pytest.raises(ValidationError, match="square"):
        omp_gram(np.ones((5, 4)), np.ones(4), n_nonzero_coefs=1)
    with pytest.raises(ValidationError, match="needs y_norms2"):
        omp_gram(G, np.ones((2, 5)), tol=0.1)
    with pytest.raises(ValidationError, match="y_norms2"):
        omp_gram(G, np.ones((2, 5)), n_nonzero_coefs=1, y_norms2=np.ones(3))
    with pytest.raises(ValidationError, match="AtY"):
        omp_gram(G, np.ones((2, 6)), n_nonzero_coefs=1)


@pytest.mark.parametrize("precompute, method", [(True, "omp/batch"), (False, "omp/qr")])
def test_omp_history_and_info(rng, precompute, method):
    A, _, Y = _problem(rng, 16, 32, 3, 4, noise=0.01)
    X, info = omp(A, Y, n_nonzero_coefs=3, precompute=precompute, history=True, return_info=True)
    assert isinstance(info, GreedyInfo)
    assert info.history.shape == (4, 3) and info.n_iter.tolist() == [3] * 4
    assert np.all(np.diff(info.history, axis=1) <= 1e-12)  # residual decreases
    np.testing.assert_allclose(info.history[:, -1], np.linalg.norm(Y - X @ A.T, axis=1), rtol=1e-8)
    assert info.elapsed >= 0 and info.method == method


# ----------------------------------------------------------------------------------------
# shared Cholesky kernels (_chol_numba) and the serial / parallel drivers
# ----------------------------------------------------------------------------------------
def test_chol_add_and_remove_match_numpy_cholesky(rng):
    from cs_toolkit.solvers._chol_numba import _chol_add, _chol_remove, _chol_solve, _rows_gemv

    A = rng.standard_normal((30, 12))
    G = A.T @ A
    act = np.array([7, 2, 9, 0, 11, 4, 5], np.int64)
    p = act.size
    L = np.full((p, p), np.nan)
    for q in range(p):
        assert _chol_add(G, act, q, act[q], L, 1e-10)
    np.testing.assert_allclose(np.tril(L), np.linalg.cholesky(G[np.ix_(act, act)]), rtol=1e-12, atol=1e-12)
    for who in (3, 0, p - 3):  # middle, first, near the end: Givens downdate == refactorisation
        _chol_remove(L, p, who)
        act = np.delete(act, who)
        p -= 1
        np.testing.assert_allclose(np.tril(L[:p, :p]), np.linalg.cholesky(G[np.ix_(act, act)]),
                                   rtol=1e-11, atol=1e-11)
    b = rng.standard_normal(p)
    out, z = np.empty(p), np.empty(p)
    _chol_solve(L, p, b, z, out)
    np.testing.assert_allclose(out, np.linalg.solve(G[np.ix_(act, act)], b), rtol=1e-10)
    v = rng.standard_normal(30)
    for rows in (30, 7, 3):  # the four-row passes and the remainder
        res = np.empty(12)
        _rows_gemv(A, v, rows, res)
        np.testing.assert_allclose(res, v[:rows] @ A[:rows], rtol=1e-12, atol=1e-12)


def test_chol_add_rejects_a_dependent_column(rng):
    from cs_toolkit.solvers._chol_numba import _chol_add

    A = rng.standard_normal((10, 4))
    A[:, 3] = A[:, 0] - 2.0 * A[:, 1]
    G = A.T @ A
    act = np.array([0, 1, 3], np.int64)
    L = np.zeros((3, 3))
    assert _chol_add(G, act, 0, 0, L, 1e-10) and _chol_add(G, act, 1, 1, L, 1e-10)
    assert not _chol_add(G, act, 2, 3, L, 1e-10)


@pytest.mark.parametrize("kernel", ["omp_gram", "omp_y", "omp_qr", "mp_gram", "mp_mat"])
def test_serial_and_parallel_drivers_agree_with_naive(rng, kernel):
    from cs_toolkit.solvers import _mp_numba, _omp_numba
    from cs_toolkit.solvers.omp import _block_size

    A, _, Y = _problem(rng, 24, 60, 4, 70, noise=0.05)
    n, N = A.shape[1], Y.shape[0]
    k = 4
    if kernel.startswith("omp"):
        batch, rng_fn = {"omp_gram": (_omp_numba._omp_gram_batch, _omp_numba._omp_gram_range),
                         "omp_y": (_omp_numba._omp_y_batch, _omp_numba._omp_y_range),
                         "omp_qr": (_omp_numba._omp_qr_batch, _omp_numba._omp_qr_range)}[kernel]
        lead = {"omp_gram": (A.T @ A, Y @ A, np.einsum("ij,ij->i", Y, Y)), "omp_y": (A.T @ A, A, Y),
                "omp_qr": (A, Y)}[kernel]
        head = (*lead, k, 0.0, False, 1e-13, 1e-13)
        tail = (np.empty((1, 0)),)
        ref = np.array([naive.omp_naive(A, y, k)[0] for y in Y])
    else:
        gram = kernel == "mp_gram"
        norms2 = np.einsum("ij,ij->j", A, A)
        lead = (A.T @ A, Y @ A, np.einsum("ij,ij->i", Y, Y)) if gram else (A, Y, np.empty(0))
        batch, rng_fn = _mp_numba._mp_batch, _mp_numba._mp_range
        head = (*lead, norms2, 1.0 / np.sqrt(norms2), 30, n, 0.0, False, 1e-13, gram)
        tail = ()
        ref = np.array([naive.mp_naive(A, y, 30) for y in Y])
    outs = []
    for mode in ("serial", "parallel", "one block"):
        X = np.zeros((N, n))
        args = (*head, X, np.zeros(N, np.int64), np.zeros(N, np.int8), np.empty(N), *tail)
        if mode == "serial":
            rng_fn(*args, 0, N)
        else:
            batch(*args, _block_size(N) if mode == "parallel" else N)
        outs.append(X)
    np.testing.assert_allclose(outs[0], ref, atol=1e-10)
    for other in outs[1:]:
        if kernel == "omp_y":  # A^T Y by blocks of other sizes: the same supports, values to rounding
            np.testing.assert_array_equal(outs[0] != 0, other != 0)
            np.testing.assert_allclose(outs[0], other, rtol=1e-12, atol=1e-14)
        else:
            np.testing.assert_array_equal(outs[0], other)


# ----------------------------------------------------------------------------------------
# MP, CoSaMP, SP, IHT, HTP against naive references
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_signals", [1, 40])  # matrix kernel / parallel Gram kernel
def test_mp_matches_naive(rng, n_signals):
    A, _, Y = _problem(rng, 20, 40, 4, n_signals, noise=0.1, normalize=False)
    X, info = mp(A, Y, max_iter=25, return_info=True)
    Xk = mp(A, Y, max_iter=200, n_nonzero_coefs=6)
    Xt = mp(A, Y, max_iter=200, tol=0.5)
    for i in range(n_signals):
        np.testing.assert_allclose(X[i], naive.mp_naive(A, Y[i], 25), atol=1e-10)
        np.testing.assert_allclose(Xk[i], naive.mp_naive(A, Y[i], 200, k=6), atol=1e-10)
        np.testing.assert_allclose(Xt[i], naive.mp_naive(A, Y[i], 200, tol=0.5), atol=1e-10)
    assert (np.count_nonzero(Xk, axis=1) <= 6).all()
    np.testing.assert_allclose(info.resid_norm, np.linalg.norm(Y - X @ A.T, axis=1), rtol=1e-8)


def test_cosamp_and_sp_match_naive_on_noisy_problems(rng):
    A, _, Y = _problem(rng, 40, 80, 5, 6, noise=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Xc = cosamp(A, Y, n_nonzero_coefs=5, max_iter=8)
    Xs = subspace_pursuit(A, Y, n_nonzero_coefs=5)
    for i in range(6):
        np.testing.assert_allclose(Xc[i], naive.cosamp_naive(A, Y[i], 5, max_iter=8), atol=1e-10)
        np.testing.assert_allclose(Xs[i], naive.sp_naive(A, Y[i], 5), atol=1e-10)


def test_iht_and_htp_match_naive(rng):
    A, _, Y = _problem(rng, 40, 80, 4, 5, noise=0.02)
    Xn = iht(A, Y, n_nonzero_coefs=4, max_iter=60)
    with pytest.warns(ConvergenceWarning, match="iht: 5 signal"):
        Xf = iht(A, Y, n_nonzero_coefs=4, step=0.15, max_iter=60)
    Xh = htp(A, Y, n_nonzero_coefs=4)
    step = 1.0 / np.mean(np.sum(A * A, axis=0))
    for i in range(5):
        np.testing.assert_allclose(Xn[i], naive.niht_naive(A, Y[i], 4, max_iter=60), atol=1e-10)
        np.testing.assert_allclose(Xf[i], naive.iht_naive(A, Y[i], 4, 0.15, max_iter=60), atol=1e-10)
        np.testing.assert_allclose(Xh[i], naive.htp_naive(A, Y[i], 4, step), atol=1e-10)


def test_iht_and_htp_work_matrix_free(rng):
    A, X0, Y = _problem(rng, 64, 128, 4, 4)
    op = MatrixOperator(A)
    np.testing.assert_allclose(iht(op, Y, n_nonzero_coefs=4), iht(A, Y, n_nonzero_coefs=4), atol=1e-10)
    np.testing.assert_allclose(htp(op, Y, n_nonzero_coefs=4), X0, atol=1e-8)


@pytest.mark.parametrize("name, k", [("omp", 10), ("sp", 10), ("cosamp", 10), ("htp", 10), ("iht", 5)])
def test_exact_recovery_of_planted_sparse_signals(name, k):
    rng = np.random.default_rng(7)
    A, X0, Y = _problem(rng, 128, 256, k, 4)
    X = solve(A, Y, method=name, n_nonzero_coefs=k)
    np.testing.assert_allclose(X, X0, atol=1e-6)


@pytest.mark.parametrize("name", MY_SOLVERS)
def test_dtype_zero_signal_and_read_only_inputs(rng, name, dtype):
    A, _, Y = _problem(rng, 24, 48, 3, 3, noise=0.01)
    A, Y = A.astype(dtype), Y.astype(dtype)
    Y[2] = 0
    A.setflags(write=False)
    Y.setflags(write=False)
    A0, Y0 = A.copy(), Y.copy()
    X = solve(A, Y, method=name, n_nonzero_coefs=3)
    assert X.dtype == dtype and X.shape == (3, 48)
    assert not X[2].any() and X[0].any()
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(Y, Y0)
    assert solve(A, Y[0], method=name, n_nonzero_coefs=3).shape == (48,)


@pytest.mark.parametrize("name", ["sp", "cosamp", "htp", "iht"])
def test_k_equal_to_number_of_atoms(rng, name):
    A = rng.standard_normal((12, 6))
    y = rng.standard_normal(12)
    x = solve(A, y, method=name, n_nonzero_coefs=6, max_iter=2000)
    np.testing.assert_allclose(x, np.linalg.lstsq(A, y, rcond=None)[0], atol=1e-6)


# ----------------------------------------------------------------------------------------
# registry and validation
# ----------------------------------------------------------------------------------------
def test_registry_lists_and_rejects_unknown_options(rng):
    assert set(MY_SOLVERS) <= set(list_solvers())
    A, _, Y = _problem(rng, 10, 20, 2, 2)
    with pytest.raises(ValidationError, match="unknown option.*'lam'"):
        solve(A, Y, method="omp", n_nonzero_coefs=2, lam=0.1)


@pytest.mark.parametrize("name", MY_SOLVERS)
def test_bad_inputs_raise_with_messages(rng, name):
    A, _, Y = _problem(rng, 10, 20, 2, 2)
    with pytest.raises(ValidationError, match=r"Dimension mismatch for Y.*got shape \(2, 11\)"):
        solve(A, np.ones((2, 11)), method=name, n_nonzero_coefs=2)
    bad = A.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValidationError, match="A must contain only finite"):
        solve(bad, Y, method=name, n_nonzero_coefs=2)
    with pytest.raises(DTypeError, match="complex"):
        solve(A, Y + 1j, method=name, n_nonzero_coefs=2)
    with pytest.raises(ValidationError, match="n_nonzero_coefs must be >= 1, got 0"):
        solve(A, Y, method=name, n_nonzero_coefs=0)
    with pytest.raises(ValidationError, match="n_nonzero_coefs must be an integer"):
        solve(A, Y, method=name, n_nonzero_coefs=2.5)


def test_option_errors(rng):
    A, _, Y = _problem(rng, 10, 20, 2, 2)
    with pytest.raises(ValidationError, match="precompute must be"):
        omp(A, Y, precompute="yes")
    with pytest.raises(ValidationError, match="tol must be >= 0"):
        omp(A, Y, tol=-1.0)
    with pytest.raises(ValidationError, match="step must be 'normalized'"):
        iht(A, Y, n_nonzero_coefs=2, step="big")
    with pytest.raises(ValidationError, match="step must be >"):
        htp(A, Y, n_nonzero_coefs=2, step=0.0)
    with pytest.raises(ValidationError, match="n_nonzero_coefs is required"):
        cosamp(A, Y, n_nonzero_coefs=None)
    with pytest.raises(ValidationError, match="max_iter must be >= 1"):
        mp(A, Y, max_iter=0)
    with pytest.warns(SparsityClippedWarning):
        subspace_pursuit(A, Y, n_nonzero_coefs=11)


def test_omp_same_codes_at_one_and_two_threads(rng):
    """One thread computes A^T Y in one product, several threads each their own blocks: the codes
    agree (same supports, values to rounding)."""
    import numba

    from cs_toolkit._threads import limit_threads

    A, _, Y = _problem(rng, 40, 120, 6, 300, noise=0.01)
    with limit_threads(1):
        X1, info1 = omp(A, Y, n_nonzero_coefs=6, return_info=True)
    with limit_threads(min(2, numba.config.NUMBA_NUM_THREADS)):
        X2, info2 = omp(A, Y, n_nonzero_coefs=6, return_info=True)
    np.testing.assert_array_equal(X1 != 0, X2 != 0)
    np.testing.assert_allclose(X1, X2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(info1.resid_norm, info2.resid_norm, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_abs_is_the_first_largest_magnitude(rng, dtype):
    from cs_toolkit.solvers._omp_numba import _argmax_abs

    for n in (1, 2, 15, 16, 17, 33, 64, 100):
        for _ in range(20):
            v = rng.integers(-4, 5, n).astype(dtype)  # many ties, of either sign
            j, a = _argmax_abs(v)
            assert j == int(np.argmax(np.abs(v))) and a == np.abs(v).max()
    assert _argmax_abs(np.zeros(5, dtype)) == (0, 0.0)


def test_omp_exhausted_when_the_signal_is_one_atom(rng):
    # after the atom, every correlation is rounding noise (the largest may be the selected
    # atom's own): the pursuit stops as exhausted with the one atom, like the reference
    A = rng.standard_normal((20, 50))
    A /= np.linalg.norm(A, axis=0)
    Y = np.stack([2.5 * A[:, 7], -A[:, 31]])
    for precompute in (True, False):
        X, info = omp(A, Y, n_nonzero_coefs=5, precompute=precompute, return_info=True)
        assert list(np.flatnonzero(X[0])) == [7] and list(np.flatnonzero(X[1])) == [31]
        np.testing.assert_allclose(X[0, 7], 2.5, rtol=1e-12)
        assert np.all(info.n_iter == 1)
