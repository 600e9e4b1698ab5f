"""Tests of the convex solvers: ISTA, FISTA, LARS, basis pursuit, AMP."""

import warnings

import numpy as np
import pytest
from naive_convex import fista_naive, ista_naive, kkt_violation, lasso_cd, lasso_obj

from cs_toolkit.exceptions import ConvergenceWarning, DTypeError, ValidationError
from cs_toolkit.sensing import MatrixOperator
from cs_toolkit.solvers import (
    amp,
    basis_pursuit,
    duality_gap,
    fista,
    ista,
    ista_layer,
    lars,
    lasso_objective,
    solve,
)

LAM = 0.05


def problem(rng, m=30, n=60, k=6, density=0.1, noise=0.01, dtype=np.float64):
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X = rng.standard_normal((k, n)) * (rng.random((k, n)) < density)
    Y = X @ A.T + noise * rng.standard_normal((k, m))
    return A.astype(dtype), Y.astype(dtype), X


def tight(solver, A, Y, **kw):
    return solver(A, Y, lam=LAM, tol=1e-12, max_iter=20000, **kw)


# ---------------------------------------------------------------------------------- ista layer
def test_ista_fixed_iterations_equal_ista_layer_applications(rng, dtype):
    A, Y, _ = problem(rng, dtype=dtype)
    step = 1.0 / np.linalg.norm(A.astype(np.float64), 2) ** 2
    K = 7
    X = ista(A, Y, lam=LAM, step=step, max_iter=K, tol=0)
    W = (step * A.T).astype(dtype)
    S = (np.eye(A.shape[1]) - step * A.T.astype(np.float64) @ A).astype(dtype)
    Z = np.zeros((Y.shape[0], A.shape[1]), dtype=dtype)
    for _ in range(K):
        Z = ista_layer(Z, Y, W, S, step * LAM)
    assert Z.dtype == dtype and X.dtype == dtype
    np.testing.assert_allclose(X, Z, atol=50 * np.finfo(dtype).eps * max(1, np.abs(Z).max()))
    # and the plain loop reference
    ref = np.array([ista_naive(A.astype(float), y.astype(float), LAM, step, K) for y in Y])
    np.testing.assert_allclose(X, ref, atol=1e-4 if dtype == np.float32 else 1e-12)


def test_ista_layer_nonneg_and_validation(rng):
    W, S = rng.standard_normal((4, 3)), rng.standard_normal((4, 4))
    out = ista_layer(np.ones(4), np.ones(3), W, S, 0.1, nonneg=True)
    assert out.shape == (4,) and np.all(out >= 0)
    with pytest.raises(ValidationError, match="S must have shape"):
        ista_layer(np.ones(4), np.ones(3), W, np.eye(3), 0.1)
    with pytest.raises(ValidationError, match="theta must be >= 0"):
        ista_layer(np.ones(4), np.ones(3), W, S, -1.0)


# ---------------------------------------------------------------------------------- optimality
@pytest.mark.parametrize("solver", [ista, fista, lars])
def test_solvers_reach_lasso_optimum_kkt_and_sklearn(rng, solver):
    from sklearn.linear_model import Lasso

    A, Y, _ = problem(rng)
    X = lars(A, Y, lam=LAM) if solver is lars else tight(solver, A, Y)
    for x, y in zip(X, Y):
        assert kkt_violation(A, y, x, LAM) < 1e-5
    m = A.shape[0]
    for x, y in zip(X[:3], Y[:3]):
        sk = Lasso(alpha=LAM / m, fit_intercept=False, tol=1e-12, max_iter=100000).fit(A, y).coef_
        f_sk, f_us = lasso_obj(A, y, sk, LAM), lasso_obj(A, y, x, LAM)
        assert f_us <= f_sk * (1 + 1e-6)
        assert abs(f_us - f_sk) <= 1e-6 * f_sk


def test_lars_equals_fista_and_coordinate_descent(rng):
    A, Y, _ = problem(rng, k=4)
    Xl = lars(A, Y, lam=LAM)
    Xf = tight(fista, A, Y)
    np.testing.assert_allclose(Xl, Xf, atol=1e-7)
    np.testing.assert_allclose(Xl[0], lasso_cd(A, Y[0], LAM), atol=1e-8)
    assert duality_gap(A, Y, Xl, LAM).max() < 1e-10


def test_lars_exact_on_workload_with_drops(rng):
    # many signals at a small lam: the path visits drop events; the result must still be optimal
    A, Y, _ = problem(rng, m=20, n=40, k=40, density=0.3, noise=0.1)
    X, info = lars(A, Y, lam=0.01, return_info=True)
    assert info.converged.all()
    assert max(kkt_violation(A, y, x, 0.01) for x, y in zip(X, Y)) < 1e-8


def test_lars_path_breakpoints(rng):
    A, Y, _ = problem(rng, k=1)
    x, path = lars(A, Y[0], lam=LAM, return_path=True)
    assert path.lambdas[0] == pytest.approx(np.abs(A.T @ Y[0]).max())
    assert path.lambdas[-1] == pytest.approx(LAM)
    assert np.all(np.diff(path.lambdas) < 0)
    np.testing.assert_allclose(path.coefs[-1], x)
    for lam_b, xb in zip(path.lambdas[1:-1], path.coefs[1:-1]):  # each breakpoint is itself optimal
        assert kkt_violation(A, Y[0], xb, lam_b) < 1e-8
    with pytest.raises(ValidationError, match="single signal"):
        lars(A, np.vstack([Y, Y]), lam=LAM, return_path=True)


def test_nonneg_variants_are_nonneg_and_optimal(rng):
    A, Y, _ = problem(rng, k=4)
    Xl = lars(A, Y, lam=LAM, nonneg=True)
    Xf = tight(fista, A, Y, nonneg=True)
    Xi = ista(A, Y, lam=LAM, nonneg=True, tol=1e-12, max_iter=50000)
    for X in (Xl, Xf, Xi):
        assert np.all(X >= 0)
        for x, y in zip(X, Y):
            assert kkt_violation(A, y, x, LAM, nonneg=True) < 1e-5
    np.testing.assert_allclose(Xl, Xf, atol=1e-7)
    np.testing.assert_allclose(Xl[0], lasso_cd(A, Y[0], LAM, nonneg=True), atol=1e-8)


def test_fista_without_restart_matches_naive_loop(rng):
    A, Y, _ = problem(rng, k=3)
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    X = fista(A, Y, lam=LAM, max_iter=25, tol=0, restart=None)
    ref = np.array([fista_naive(A, y, LAM, step, 25) for y in Y])
    np.testing.assert_allclose(X, ref, atol=1e-12)


def test_restart_and_gap_stopping(rng):
    A, Y, _ = problem(rng, k=3)
    _, i_r = fista(A, Y, lam=LAM, tol=1e-10, max_iter=5000, return_info=True)
    _, i_n = fista(A, Y, lam=LAM, tol=1e-10, max_iter=5000, restart=None, return_info=True)
    assert i_r.n_iter.sum() < i_n.n_iter.sum()
    X, info = fista(A, Y, lam=LAM, tol=1e-9, max_iter=5000, stopping="gap", return_info=True)
    assert info.converged.all()
    primal = lasso_objective(A, Y, X, LAM)
    assert np.all(info.gap <= 1e-9 * primal)


def test_batch_equals_loop_and_per_signal_lam(rng):
    A, Y, _ = problem(rng, k=4)
    lams = np.array([0.01, 0.05, 0.1, 0.2])
    for solver in (fista, lars):
        kw = {} if solver is lars else dict(tol=1e-12, max_iter=20000)
        Xb = solver(A, Y, lam=lams, **kw)
        Xs = np.array([solver(A, y, lam=lam, **kw) for y, lam in zip(Y, lams)])
        np.testing.assert_allclose(Xb, Xs, atol=1e-9)


def test_float32_close_to_float64(rng):
    A, Y, _ = problem(rng, k=3)
    X64 = lars(A, Y, lam=LAM)
    for solver in (fista, lars):
        kw = {} if solver is lars else dict(tol=1e-6, max_iter=5000)
        X32 = solver(A.astype(np.float32), Y.astype(np.float32), lam=LAM, **kw)
        assert X32.dtype == np.float32
        np.testing.assert_allclose(X32, X64, atol=2e-4)


def test_warm_start_from_optimum_stops_at_once(rng):
    A, Y, _ = problem(rng, k=3)
    Xopt = lars(A, Y, lam=LAM)
    X, info = fista(A, Y, lam=LAM, x0=Xopt, tol=1e-8, return_info=True)
    assert info.n_iter.max() <= 3
    np.testing.assert_allclose(X, Xopt, atol=1e-8)


def test_backtracking_on_operator_reaches_optimum(rng):
    A, Y, _ = problem(rng, k=3)
    op = MatrixOperator(A)
    Xopt = lars(A, Y, lam=LAM)
    for solver in (ista, fista):
        X = solver(op, Y, lam=LAM, backtracking=True, tol=1e-12, max_iter=50000)
        np.testing.assert_allclose(X, Xopt, atol=1e-7)


def test_matrix_free_path_equals_dense_path(rng):
    A, Y, _ = problem(rng, k=3)
    Xd = fista(A, Y, lam=LAM, max_iter=40, tol=0)
    Xo = fista(MatrixOperator(A), Y, lam=LAM, max_iter=40, tol=0)
    np.testing.assert_allclose(Xo, Xd, atol=1e-10)
    A2, Y2, _ = problem(rng, m=10, n=40, k=2)  # n >= 2m: the two-GEMM dense path
    np.testing.assert_allclose(fista(MatrixOperator(A2), Y2, lam=LAM, max_iter=40, tol=0),
                               fista(A2, Y2, lam=LAM, max_iter=40, tol=0), atol=1e-10)


def test_zero_signal_read_only_and_no_mutation(rng):
    A, Y, _ = problem(rng, k=3)
    Y[1] = 0.0
    A.setflags(write=False)
    Y.setflags(write=False)
    A0, Y0 = A.copy(), Y.copy()
    for solver in (ista, fista, lars):
        X = solver(A, Y, lam=LAM)
        assert not X[1].any()
    assert not amp(A, Y)[1].any()
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(Y, Y0)


def test_convergence_warning_and_info(rng):
    A, Y, _ = problem(rng, k=2)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        X, info = fista(A, Y, lam=LAM, max_iter=2, return_info=True, history=True)
    assert not info.converged.any() and np.all(info.n_iter == 2)
    assert info.objective.shape == (3, 2) and np.all(info.objective[-1] < info.objective[0])
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        lars(A, Y, lam=1e-4, max_iter=2)


@pytest.mark.parametrize("solver", [ista, fista, lars, amp, basis_pursuit])
def test_bad_input_messages(rng, solver):
    A, Y, _ = problem(rng, k=2)
    kw = {"lam": LAM} if solver in (ista, fista, lars) else {}
    with pytest.raises(ValidationError, match=r"Dimension mismatch for Y.*30"):
        solver(A, Y[:, :-1], **kw)
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValidationError, match="Y must contain only finite"):
        solver(A, bad, **kw)
    badA = A.copy()
    badA[0, 0] = np.inf
    with pytest.raises(ValidationError, match="A must contain only finite"):
        solver(badA, Y, **kw)
    with pytest.raises(DTypeError, match="complex"):
        solver(A.astype(complex), Y, **kw)
    if kw:
        with pytest.raises(ValidationError, match="lam must be >= 0"):
            solver(A, Y, lam=-1.0)
        with pytest.raises(ValidationError, match="one value per signal"):
            solver(A, Y, lam=[0.1, 0.2, 0.3])


def test_int_input_becomes_float64_and_bad_options(rng):
    A = rng.integers(-3, 4, size=(5, 8))
    y = rng.integers(-3, 4, size=5)
    assert fista(A, y, lam=0.1).dtype == np.float64
    with pytest.raises(ValidationError, match="restart must be one of 'adaptive'"):
        fista(A, y, lam=0.1, restart="always")
    with pytest.raises(ValidationError, match="stopping must be one of"):
        fista(A, y, lam=0.1, stopping="never")
    with pytest.raises(ValidationError, match="max_iter must be >= 1"):
        ista(A, y, lam=0.1, max_iter=0)
    with pytest.raises(ValidationError, match="x0 must hold one start per signal"):
        fista(A, np.vstack([y, y, y]), lam=0.1, x0=np.zeros((2, 8)))


def test_registry_dispatch(rng):
    A, Y, _ = problem(rng, k=2)
    np.testing.assert_allclose(solve(A, Y, method="fista", lam=LAM, tol=1e-12, max_iter=20000),
                               lars(A, Y, lam=LAM), atol=1e-7)
    np.testing.assert_allclose(solve(A, Y, method="lars", lam=LAM), lars(A, Y, lam=LAM))
    with pytest.raises(ValidationError, match="unknown option"):
        solve(A, Y, method="fista", lam=LAM, n_nonzero_coefs=3)


# ---------------------------------------------------------------------------------- BP and AMP
def test_basis_pursuit_recovers_planted_sparse_signals(rng):
    m, n, k = 128, 256, 10
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X = np.zeros((2, n))
    for row in X:
        row[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    Y = X @ A.T
    Xh, info = basis_pursuit(A, Y, return_info=True)
    assert info.converged.all()
    np.testing.assert_allclose(Xh, X, atol=1e-7)
    np.testing.assert_allclose(Xh @ A.T, Y, atol=1e-8)
    Xp = basis_pursuit(A, np.abs(X) @ A.T, nonneg=True)
    np.testing.assert_allclose(Xp, np.abs(X), atol=1e-7)


def test_basis_pursuit_infeasible_warns_and_returns_zeros():
    A = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.warns(ConvergenceWarning, match="infeasible"):
        x, info = basis_pursuit(A, np.array([1.0, 2.0]), return_info=True)
    assert not info.converged[0] and np.all(x == 0)


def test_amp_recovers_planted_signal_and_operator_path(rng):
    m, n, k = 250, 500, 25
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X = np.zeros((3, n))
    for row in X:
        row[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    Y = X @ A.T
    Xh, info = amp(A, Y, max_iter=200, tol=1e-10, return_info=True)
    assert np.linalg.norm(Xh - X) / np.linalg.norm(X) < 1e-4
    assert info.converged.all()
    np.testing.assert_allclose(amp(MatrixOperator(A), Y, max_iter=20, tol=0),
                               amp(A, Y, max_iter=20, tol=0), atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert amp(A.astype(np.float32), Y.astype(np.float32), max_iter=5).dtype == np.float32


# ------------------------------------------------------------------------ matrix-free greedy solvers
# (kept here with the other operator checks of the solvers this file's owner maintains)
@pytest.mark.parametrize("name", ["cosamp", "sp", "iht", "htp"])
def test_greedy_and_thresholding_on_an_operator_equal_its_dense_matrix(name):
    from cs_toolkit.sensing import PartialDCT
    from cs_toolkit.solvers import solve

    g = np.random.default_rng(3)
    m, n, k = 64, 128, 6
    op = PartialDCT(m, n, rng=g)
    D = op.to_dense()
    X0 = np.zeros((12, n))
    for row in X0:
        row[g.choice(n, k, replace=False)] = g.standard_normal(k)
    Y = X0 @ D.T + 1e-3 * g.standard_normal((12, m))  # noisy: several iterations, real supports
    Xo = solve(op, Y, method=name, n_nonzero_coefs=k)
    Xd = solve(D, Y, method=name, n_nonzero_coefs=k)
    assert np.array_equal(Xo != 0, Xd != 0)
    np.testing.assert_allclose(Xo, Xd, atol=1e-10)
    assert np.linalg.norm(Xo - X0) / np.linalg.norm(X0) < 0.05


def test_cosamp_on_an_operator_never_forms_the_dense_matrix(monkeypatch):
    from cs_toolkit.sensing import PartialDCT
    from cs_toolkit.solvers import cosamp, subspace_pursuit

    g = np.random.default_rng(4)
    op = PartialDCT(40, 200, rng=g)
    monkeypatch.setattr(type(op), "to_dense", lambda self: pytest.fail("to_dense called"))
    x = np.zeros(200)
    x[[3, 70, 150]] = [1.0, -2.0, 0.5]
    y = op.forward(x)
    for f in (cosamp, subspace_pursuit):
        np.testing.assert_allclose(f(op, y, n_nonzero_coefs=3), x, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backtracking_keeps_its_constant_below_twice_the_lipschitz_constant(dtype):
    """The backtracking test is ``||A d||^2 <= L ||d||^2`` (exact for least squares); computed as
    ``f(x) - f(z)`` it cancelled when ``||A x - y|| << ||y||``, failed on rounding near the optimum
    and doubled L to 4e10 (``||A||^2`` = 5.8): the steps stalled and the gap stop never came."""
    from cs_toolkit.solvers import _pg

    rng = np.random.default_rng(0)
    m, n = 64, 128
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x = np.zeros(n)
    x[rng.choice(n, 10, replace=False)] = 10 * rng.standard_normal(10)
    y = A @ x + 0.01 * rng.standard_normal(m)
    Ls = []
    orig = _pg._backtrack

    def spy(*args, **kwargs):
        out = orig(*args, **kwargs)
        Ls.append(float(np.max(args[3])))
        return out

    _pg._backtrack = spy
    try:
        tol, stopping = (1e-12, "gap") if dtype == np.float64 else (1e-6, "change")
        xh, info = fista(A.astype(dtype), y.astype(dtype), lam=0.01, tol=tol, stopping=stopping, backtracking=True,
                         max_iter=3000, return_info=True)
    finally:
        _pg._backtrack = orig
    assert Ls and max(Ls) <= 2 * np.linalg.norm(A, 2) ** 2
    assert bool(np.all(info.converged))
    xopt = fista(A, y, lam=0.01, tol=0, max_iter=20000)
    assert np.abs(xh - xopt).max() < (1e-10 if dtype == np.float64 else 1e-3)
