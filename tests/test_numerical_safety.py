"""Numerical safety of the convex solvers: divergence is caught and reported, never returned as garbage;
float32 problems that are too ill-conditioned warn; regressions found by the property tests."""

import warnings

import numpy as np
import pytest
from naive_convex import kkt_violation

from cs_toolkit.exceptions import ConvergenceWarning, DivergenceWarning, IllConditionedWarning
from cs_toolkit.sensing import MatrixOperator
from cs_toolkit.solvers import amp, fista, ista, lars
from cs_toolkit.solvers.amp import DIVERGENCE_RATIO

LAM = 0.05


def problem(rng, m=30, n=60, k=3, dtype=np.float64):
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X = rng.standard_normal((k, n)) * (rng.random((k, n)) < 0.1)
    Y = X @ A.T + 0.01 * rng.standard_normal((k, m))
    return A.astype(dtype), Y.astype(dtype)


def no_divergence_warning():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", DivergenceWarning)
    warnings.simplefilter("ignore", ConvergenceWarning)
    return ctx


# ------------------------------------------------------------------------ ISTA / FISTA divergence
@pytest.mark.parametrize("solver", [ista, fista])
def test_too_large_step_warns_stops_and_returns_bounded_finite_iterate(rng, dtype, solver):
    A, Y = problem(rng, dtype=dtype)
    L = np.linalg.norm(A.astype(np.float64), 2) ** 2
    with pytest.warns(DivergenceWarning, match=rf"{solver.__name__} diverged for 3 of 3 signal\(s\)"):
        X, info = solver(A, Y, lam=LAM, step=10.0 / L, max_iter=1000, return_info=True)
    assert X.dtype == dtype and np.isfinite(X).all()
    assert info.diverged.all() and not info.converged.any()
    assert info.n_iter.max() <= 20  # stopped early, not after max_iter
    # the returned iterate respects the bound of a convergent run: ||x|| <= 2 (2 F(0) / lam)
    bound = 4 * 0.5 * np.sum(Y.astype(np.float64) ** 2, axis=1) / LAM
    assert np.all(np.linalg.norm(X.astype(np.float64), axis=1) <= bound)


def test_ista_change_test_fires_before_the_iterates_blow_up(rng):
    A, Y = problem(rng)
    L = np.linalg.norm(A, 2) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(DivergenceWarning, match="growing beyond the bound"):
            X, info = ista(A, Y, lam=LAM, step=2.5 / L, tol=1e-12, max_iter=3000, return_info=True)
    ref = lars(A, Y, lam=LAM)
    d = info.diverged
    assert d.any()
    # at step 2.5 / L the change grows by about 1.5 per iteration: caught within a few steps,
    # while the iterate is still of the size of the solution
    assert info.n_iter[d].max() <= 10 and np.abs(X[d]).max() < 2 * np.abs(ref).max()
    # a signal whose support keeps ||A_S||^2 < 2 / step may legitimately converge: then it is optimal
    for x, y in zip(X[~d], Y[~d]):
        assert kkt_violation(A, y, x, LAM) < 1e-6


def test_least_squares_divergence_is_caught_as_non_finite(rng):
    # lam = 0: no norm bound exists; FISTA must still stop on overflow and return finite values
    A, Y = problem(rng, k=2)
    L = np.linalg.norm(A, 2) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(DivergenceWarning, match="2 with non-finite values"):
            X, info = fista(A, Y, lam=0.0, step=10.0 / L, max_iter=5000, return_info=True)
    assert np.isfinite(X).all() and info.diverged.all()


@pytest.mark.slow
@pytest.mark.parametrize("step_factor", [1.0, 1.9])
def test_valid_steps_never_report_divergence(rng, dtype, step_factor):
    A, Y = problem(rng, k=4, dtype=dtype)
    L = np.linalg.norm(A.astype(np.float64), 2) ** 2
    ref = lars(A.astype(np.float64), Y.astype(np.float64), lam=LAM)
    ctx = no_divergence_warning()
    try:
        X, info = ista(A, Y, lam=LAM, step=step_factor / L, tol=1e-10, max_iter=20000, return_info=True)
        assert not info.diverged.any()
        np.testing.assert_allclose(X, ref, atol=1e-3 if dtype == np.float32 else 1e-7)
        if step_factor == 1.0:
            X, info = fista(A, Y, lam=LAM, step=1.0 / L, tol=1e-10, max_iter=20000, return_info=True)
            assert not info.diverged.any()
            np.testing.assert_allclose(X, ref, atol=1e-3 if dtype == np.float32 else 1e-7)
    finally:
        ctx.__exit__(None, None, None)


def test_warm_start_far_away_is_not_mistaken_for_divergence(rng):
    A, Y = problem(rng)
    ref = lars(A, Y, lam=LAM)
    x0 = rng.standard_normal((Y.shape[0], A.shape[1]))
    ctx = no_divergence_warning()
    try:
        for solver, scale in ((ista, 10.0), (fista, 1e3)):  # ISTA shrinks a far start slowly
            X, info = solver(A, Y, lam=LAM, x0=scale * x0, tol=1e-12, max_iter=50000, return_info=True)
            assert not info.diverged.any()
            np.testing.assert_allclose(X, ref, atol=1e-6)
    finally:
        ctx.__exit__(None, None, None)


def test_backtracking_recovers_from_a_huge_initial_step(rng):
    A, Y = problem(rng)
    L = np.linalg.norm(A, 2) ** 2
    ctx = no_divergence_warning()
    try:
        X, info = fista(MatrixOperator(A), Y, lam=LAM, step=1e4 / L, backtracking=True, tol=1e-12,
                        max_iter=50000, return_info=True)
    finally:
        ctx.__exit__(None, None, None)
    assert info.converged.all() and not info.diverged.any()
    np.testing.assert_allclose(X, lars(A, Y, lam=LAM), atol=1e-7)


def test_divergence_only_stops_the_bad_signals(rng):
    # per-signal lam: a huge lam keeps x = 0 (no growth) while the others diverge
    A, Y = problem(rng)
    L = np.linalg.norm(A, 2) ** 2
    lam = np.array([LAM, 1e6, LAM])
    with pytest.warns(DivergenceWarning, match="2 of 3"):
        X, info = ista(A, Y, lam=lam, step=10.0 / L, max_iter=100, return_info=True)
    assert info.diverged.tolist() == [True, False, True]
    assert not X[1].any()


# ------------------------------------------------------------------------ AMP divergence
def _ill_conditioned(rng, m=50, n=100, cond=1e4):
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0, -np.log10(cond), m)
    return (U * s) @ V[:m] * np.sqrt(n / np.sum(s**2))


@pytest.mark.parametrize("kind", ["ill_conditioned", "nonzero_mean", "low_rank"])
def test_amp_on_non_gaussian_matrices_reports_divergence_and_stays_finite(rng, kind, dtype):
    m, n = 50, 100
    if kind == "ill_conditioned":
        A = _ill_conditioned(rng, m, n)
    elif kind == "nonzero_mean":
        A = rng.standard_normal((m, n)) / np.sqrt(m) + 0.5
    else:
        A = rng.standard_normal((m, 5)) @ rng.standard_normal((5, n)) / np.sqrt(5 * m)
    X0 = np.zeros((2, n))
    X0[:, rng.choice(n, 5, replace=False)] = 1.0
    Y = (X0 @ A.T).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(DivergenceWarning, match="amp diverged"):
            X, info = amp(A.astype(dtype), Y, max_iter=200, return_info=True)
    assert X.dtype == dtype and np.isfinite(X).all() and info.diverged.all()
    # the returned estimate is the best one seen: its residual is at most ||y||
    R = Y.astype(np.float64) - X.astype(np.float64) @ A.T
    assert np.all(np.linalg.norm(R, axis=1) <= np.linalg.norm(Y.astype(np.float64), axis=1) * (1 + 1e-5))


def test_amp_on_gaussian_matrix_does_not_report_divergence(rng):
    m, n = 100, 200
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X0 = np.zeros((3, n))
    for row in X0:
        row[rng.choice(n, 10, replace=False)] = rng.standard_normal(10)
    ctx = no_divergence_warning()
    try:
        X, info = amp(A, X0 @ A.T, max_iter=300, tol=1e-10, return_info=True)
    finally:
        ctx.__exit__(None, None, None)
    assert not info.diverged.any() and info.converged.all()
    assert np.linalg.norm(X - X0) / np.linalg.norm(X0) < 1e-4
    assert DIVERGENCE_RATIO >= 100  # documented margin over the observed transient growth


# ------------------------------------------------------------------------ LARS conditioning
def _near_dependent(rng, delta, m=60, n=20):
    A = rng.standard_normal((m, n))
    A /= np.linalg.norm(A, axis=0)
    A[:, 1] = A[:, 0] + delta * rng.standard_normal(m)
    A[:, 1] /= np.linalg.norm(A[:, 1])
    x = np.zeros(n)
    x[[0, 1, 5]] = [1.0, -1.0, 0.5]
    return A, A @ x


def test_lars_float32_warns_when_active_set_is_too_ill_conditioned(rng):
    A, y = _near_dependent(rng, 3e-5)
    with pytest.warns(IllConditionedWarning, match="too ill-conditioned for float32"):
        x32, info = lars(A.astype(np.float32), y.astype(np.float32), lam=1e-8, return_info=True)
    assert info.pivot_ratio[0] < np.sqrt(np.finfo(np.float32).eps)
    assert np.isfinite(x32).all()
    # float64 computes the same factor and does not warn (sqrt(eps64) is far smaller)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        x64, info64 = lars(A, y, lam=1e-8, return_info=True)
    assert info64.pivot_ratio[0] == pytest.approx(info.pivot_ratio[0], rel=1e-3)
    # the documented meaning: cond(A_S with unit columns) >= 1 / pivot_ratio
    S = np.flatnonzero(x64)
    assert np.linalg.cond(A[:, S]) >= 1.0 / info64.pivot_ratio[0] * (1 - 1e-9)


def test_lars_pivot_ratio_is_one_for_orthogonal_atoms_and_no_warning_when_well_conditioned(rng):
    Q, _ = np.linalg.qr(rng.standard_normal((20, 8)))
    y = Q @ np.arange(1.0, 9.0)
    _, info = lars(Q * 3.0, y, lam=0.1, return_info=True)  # column scaling does not matter
    assert info.pivot_ratio[0] == pytest.approx(1.0)
    A, y = _near_dependent(rng, 1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        _, info = lars(A.astype(np.float32), y.astype(np.float32), lam=1e-6, return_info=True)
    assert np.sqrt(np.finfo(np.float32).eps) < info.pivot_ratio[0] < 1.0


# ------------------------------------------------------------------------ regression: LARS sign flips
@pytest.mark.parametrize("seed", [21, 27, 29, 37, 95, 99])
def test_lars_lets_a_dropped_variable_re_enter_with_the_opposite_sign(seed):
    """Found by the property tests: after a variable left the active set, the homotopy ignored it
    for the whole next segment, so it could not re-enter with the opposite sign and the result
    violated the KKT conditions (12 of 20 such 8x5 Gaussian problems)."""
    g = np.random.default_rng(seed)
    A, y = g.standard_normal((8, 5)), g.standard_normal(8)
    lam = 0.05 * np.abs(A.T @ y).max()
    x, path = lars(A, y, lam=lam, return_path=True)
    assert kkt_violation(A, y, x, lam) < 1e-9
    for lam_b, xb in zip(path.lambdas, path.coefs):
        assert kkt_violation(A, y, xb, lam_b) < 1e-8
    # the scenario is exercised: some coefficient changes sign along the path
    assert any(path.coefs[:, j].max() > 0 > path.coefs[:, j].min() for j in range(5))


# ------------------------------------------------------------------------ ISTA/FISTA float32 conditioning
@pytest.mark.filterwarnings("ignore::cs_toolkit.exceptions.ConvergenceWarning")  # tol=1e-12: checked, not met
@pytest.mark.parametrize("solver", [fista, ista])
def test_pg_float32_warns_when_active_set_is_too_ill_conditioned(rng, solver):
    A, _ = _near_dependent(rng, 3e-5)
    x = np.zeros(A.shape[1])
    x[[0, 1, 5]] = [1.0, 1.0, 0.5]  # the two near-copies share the weight: both stay active
    y = A @ x
    with pytest.warns(IllConditionedWarning, match="too ill-conditioned for float32"):
        x32, info = solver(A.astype(np.float32), y.astype(np.float32), lam=1e-3, max_iter=300, tol=1e-12,
                           return_info=True)
    assert np.isfinite(x32).all()
    S = np.flatnonzero(x32)
    assert {0, 1} <= set(S.tolist())
    assert info.pivot_ratio[0] < np.sqrt(np.finfo(np.float32).eps)
    # the documented meaning: cond(A_S with unit columns) >= 1 / pivot_ratio
    assert np.linalg.cond(A[:, S]) >= 1.0 / info.pivot_ratio[0] * (1 - 1e-6)
    # float64 input is not checked against sqrt(eps32): silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        solver(A, y, lam=1e-3, max_iter=300, tol=0)


@pytest.mark.parametrize("solver", [fista, ista])
def test_pg_float32_fixed_iterations_are_not_checked(rng, solver):
    A, _ = _near_dependent(rng, 3e-5)
    x = np.zeros(A.shape[1])
    x[[0, 1, 5]] = [1.0, 1.0, 0.5]
    y = (A @ x).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        _, info = solver(A.astype(np.float32), y, lam=1e-3, max_iter=300, tol=0, return_info=True)
    assert np.isnan(info.pivot_ratio).all()


@pytest.mark.filterwarnings("ignore::cs_toolkit.exceptions.ConvergenceWarning")  # tol=1e-12: checked, not met
@pytest.mark.parametrize("solver", [fista, ista])
def test_pg_float32_silent_and_pivot_one_when_well_conditioned(rng, solver):
    Q, _ = np.linalg.qr(rng.standard_normal((20, 8)))
    y = (Q @ np.arange(1.0, 9.0)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        _, info = solver((Q * 3.0).astype(np.float32), y, lam=0.1, return_info=True)
    assert info.pivot_ratio[0] == pytest.approx(1.0, abs=1e-6)
    A, y = _near_dependent(rng, 1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        x, info = solver(A.astype(np.float32), y.astype(np.float32), lam=1e-3, max_iter=300, tol=1e-12,
                         return_info=True)
    assert np.sqrt(np.finfo(np.float32).eps) < info.pivot_ratio[0] < 1.0
    # the check is batch-consistent: a row's ratio does not depend on the other rows
    _, info2 = solver(A.astype(np.float32), np.stack([y, 0 * y, 2 * y]).astype(np.float32), lam=1e-3,
                      max_iter=300, tol=1e-12, return_info=True)
    assert info2.pivot_ratio[1] == 1.0
