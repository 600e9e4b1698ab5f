"""Numerical audit of the benchmark layer (cs_toolkit.bench) against independent references.

Every expected value is computed here, by a formula from the literature or a naive
recomputation, not copied from the output of the code under test.
"""

import math

import naive
import numpy as np
import pytest
from scipy import optimize, stats

from cs_toolkit.bench import (
    PhaseResult,
    ProblemFamily,
    fit_logistic_transition,
    l1_statistical_dimension,
    l1_weak_threshold,
    phase_transition,
    run_benchmark,
)
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.solvers import register_solver


# --- solvers registered for these tests -----------------------------------------------------
def _omp_rows(A, Y, k, rows):
    """Plain OMP (the loop reference of tests/naive.py) on the given rows of Y (the other rows stay zero)."""
    Y2 = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    X = np.zeros((Y2.shape[0], np.shape(A)[1]))
    for i in rows:
        X[i] = naive.omp_naive(A, Y2[i], k)[0]
    return X


def _audit_first_row(A, Y, *, n_nonzero_coefs=None, return_info=False):
    """OMP on the first signal of the batch only: half of a 2-signal batch is never recovered."""
    X = _omp_rows(A, Y, n_nonzero_coefs, [0])
    return (X, {"n_iter": np.full(X.shape[0], n_nonzero_coefs)}) if return_info else X


def _audit_omp(A, Y, *, n_nonzero_coefs=None, return_info=False):
    X = _omp_rows(A, Y, n_nonzero_coefs, range(np.atleast_2d(Y).shape[0]))
    return (X, {"n_iter": np.full(X.shape[0], n_nonzero_coefs)}) if return_info else X


def _audit_zero(A, Y, *, n_nonzero_coefs=None):
    return np.zeros((np.atleast_2d(Y).shape[0], np.shape(A)[1]))


register_solver("_audit_first_row", kind="greedy", sparsity_param="n_nonzero_coefs", operator_ok=False,
                summary="audit: OMP on the first signal only")(_audit_first_row)
register_solver("_audit_omp", kind="greedy", sparsity_param="n_nonzero_coefs", operator_ok=False,
                summary="audit: plain OMP")(_audit_omp)
register_solver("_audit_zero", kind="greedy", sparsity_param="n_nonzero_coefs", operator_ok=False,
                summary="audit: all-zero estimate")(_audit_zero)


# --- theory: independent references ---------------------------------------------------------
def _dmm_rho(delta):
    """Donoho, Maleki & Montanari (PNAS 2009), minimax soft threshold state evolution:
    rho_SE(delta) = max_z [1 - (2/delta) t(z)] / [1 + z^2 - 2 t(z)],  t(z) = (1+z^2) Q(z) - z phi(z)."""
    def neg(z):
        t = (1 + z * z) * stats.norm.sf(z) - z * stats.norm.pdf(z)
        return -(1 - 2 * t / delta) / (1 + z * z - 2 * t)

    zmax = max(6.0, 2.0 * math.sqrt(2.0 * math.log(1.0 / delta)))  # the maximiser is ~ sqrt(2 log(1/delta))
    return -optimize.minimize_scalar(neg, bounds=(0.0, zmax), method="bounded", options={"xatol": 1e-13}).fun


def _almt_psi(rho_s):
    """Amelunxen, Lotz, McCoy & Tropp (2014), Prop. 4.5, minimised directly over tau (no root finding)."""
    def obj(tau):
        tail = (1 + tau * tau) * stats.norm.sf(tau) - tau * stats.norm.pdf(tau)
        return rho_s * (1 + tau * tau) + (1 - rho_s) * 2 * tail

    hi = max(6.0, 2.0 * math.sqrt(2.0 * math.log(1.0 / rho_s)))
    return optimize.minimize_scalar(obj, bounds=(0.0, hi), method="bounded", options={"xatol": 1e-13}).fun


def test_weak_threshold_reference_values_and_limits():
    # the DMM closed form and ALMT's statistical dimension are two routes to the same curve:
    # rho(0.5) = 0.38569, rho(0.1) = 0.18943 by the first
    for d in (0.5, 0.1):
        ref = _dmm_rho(d)
        assert l1_weak_threshold(d) == pytest.approx(ref, rel=1e-8)
        assert _almt_psi(ref * d) == pytest.approx(d, rel=1e-8)
    assert _dmm_rho(0.5) == pytest.approx(0.3857, abs=5e-5)
    assert _dmm_rho(0.1) == pytest.approx(0.1894, abs=5e-5)
    assert l1_weak_threshold(1.0) == 1.0
    near_one = l1_weak_threshold([1 - 1e-3, 1 - 1e-6, 1 - 1e-9])
    assert np.all(np.diff(near_one) > 0) and near_one[-1] > 0.999 and np.all(near_one < 1.0)
    # scalar vs vectorised, 2-D shape, dtype
    d = np.array([[0.05, 0.3], [0.7, 0.95]], dtype=np.float32)
    vec = l1_weak_threshold(d)
    assert vec.shape == (2, 2) and vec.dtype == np.float64
    np.testing.assert_allclose(vec, [[l1_weak_threshold(float(x)) for x in row] for row in d], rtol=0, atol=0)
    assert isinstance(l1_weak_threshold(np.float64(0.5)), float)


def test_weak_threshold_accurate_for_small_delta():
    # rho_s = rho * delta is tiny there: the root must be found to a relative, not absolute, tolerance
    deltas = [1e-300, 1e-100, 1e-30, 1e-12, 1e-9, 1e-6, 1e-3]
    got = l1_weak_threshold(deltas)
    np.testing.assert_allclose(got, [_dmm_rho(d) for d in deltas], rtol=1e-7)
    assert np.all(np.diff(got) > 0)
    # delta -> 0: rho ~ 1 / (2 log(1/delta)) (Donoho & Tanner 2009)
    for d, r in zip(deltas[:3], got[:3], strict=True):
        assert 0.95 < r * 2 * math.log(1 / d) < 1.05


def test_weak_threshold_refuses_deltas_it_cannot_compute():
    for d in (5e-324, 1e-310):
        with pytest.raises(ValidationError, match="delta must lie in"):
            l1_weak_threshold(d)


def test_statistical_dimension_matches_direct_minimisation():
    rs = [1e-12, 1e-6, 0.02, 0.1, 0.3, 0.7, 0.999]
    np.testing.assert_allclose(l1_statistical_dimension(rs), [_almt_psi(r) for r in rs], rtol=1e-9)
    p = l1_statistical_dimension(np.linspace(0.0, 1.0, 101))
    assert p[0] == 0.0 and p[-1] == 1.0 and np.all(np.diff(p) > 0)
    assert np.all(p[1:-1] > np.linspace(0.0, 1.0, 101)[1:-1])  # psi(rho) > rho


# --- logistic fit and the 50% transition ------------------------------------------------------
def _mle_reference(rho, s, t, ridge=1e-6):
    """The penalised binomial MLE by a derivative-free search on the raw (a, b), then BFGS."""
    rho, s, t = (np.asarray(v, dtype=float) for v in (rho, s, t))

    def nll(th):
        z = th[0] + th[1] * rho
        return np.sum(s * np.logaddexp(0, -z) + (t - s) * np.logaddexp(0, z)) + ridge * th[1] ** 2

    best = None
    for start in ([0.0, 0.0], [5.0, -10.0], [20.0, -50.0]):
        r = optimize.minimize(nll, start, method="Nelder-Mead",
                              options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000, "maxfev": 40000})
        r = optimize.minimize(nll, r.x, method="BFGS", options={"gtol": 1e-12})
        if best is None or r.fun < best.fun:
            best = r
    a, b = best.x
    return -a / b


def test_logistic_fit_matches_independent_mle():
    gen = np.random.default_rng(3)
    checked = 0
    while checked < 6:
        npt = int(gen.integers(3, 10))
        rho = np.sort(gen.uniform(0.05, 0.95, npt))
        t = gen.integers(1, 25, npt)
        s = gen.binomial(t, 1 / (1 + np.exp(gen.uniform(5, 30) * (rho - gen.uniform(0.25, 0.75)))))
        if s.sum() in (0, t.sum()):
            continue
        fit = fit_logistic_transition(rho, s, t)
        assert fit["rho_50"] == pytest.approx(_mle_reference(rho, s, t), abs=1e-6)
        checked += 1
    # perfectly separated, symmetric data: the 50% point is the midpoint
    sep = fit_logistic_transition([0.1, 0.2, 0.3, 0.4], [7, 7, 0, 0], [7, 7, 7, 7])
    assert sep["rho_50"] == pytest.approx(0.25, abs=1e-6)


def _phase_rows(m, n, rhos, ks, succ, trials):
    rows = []
    for j, (r, k, s) in enumerate(zip(rhos, ks, succ, strict=True)):
        rows.append({"solver": "x", "method": "x", "delta_index": 0, "rho_index": j, "delta": m / n, "rho": r,
                     "n": n, "m": m, "k": k, "delta_actual": m / n, "rho_actual": k / m, "n_trials": trials,
                     "n_success": s, "success_rate": s / trials, "mean_time_s": 0.0, "median_nmse_db": 0.0,
                     "mean_n_iter": 1.0, "n_warnings": 0})
    return rows


def test_transition_counts_cells_with_the_same_k_once():
    # m = 10: the nominal rhos 0.05 ... 0.95 round to k = 1..10 with repeats; phase_transition runs a
    # repeated (m, k) cell on the same seeded trials, so the repeat is one experiment, not new data
    n, m, trials = 40, 10, 10
    rhos = np.round(np.linspace(0.05, 0.95, 19), 10)
    ks = [min(m, max(1, int(round(r * m)))) for r in rhos]
    per_k = {1: 10, 2: 10, 3: 9, 4: 8, 5: 5, 6: 3, 7: 1, 8: 0, 9: 0, 10: 0}
    res = PhaseResult(_phase_rows(m, n, rhos, ks, [per_k[k] for k in ks], trials))
    uk = sorted(per_k)
    ref = fit_logistic_transition([k / m for k in uk], [per_k[k] for k in uk], [trials] * len(uk))["rho_50"]
    assert len(set(ks)) < len(ks)
    assert res.transition("x")[0] == pytest.approx(ref, abs=1e-6)


def test_transition_of_degenerate_rows():
    n, m = 40, 10
    all_ok = PhaseResult(_phase_rows(m, n, [0.1, 0.5], [1, 5], [4, 4], 4))
    none_ok = PhaseResult(_phase_rows(m, n, [0.1, 0.5], [1, 5], [0, 0], 4))
    one = PhaseResult(_phase_rows(m, n, [0.3], [3], [2], 4))
    for r in (all_ok, none_ok, one):
        assert math.isnan(r.transition("x")[0])


# --- phase_transition: grid and success counting ----------------------------------------------
def test_phase_grid_follows_the_documented_rounding():
    n = 30
    deltas = [0.1, 0.25, 0.5, 0.85, 1.0]
    rhos = [0.02, 0.3, 0.55, 1.0]
    res = phase_transition("_audit_zero", n=n, deltas=deltas, rhos=rhos, n_trials=1, progress=False)
    assert len(res) == len(deltas) * len(rhos)
    cells = {(r["delta_index"], r["rho_index"]) for r in res.rows}
    assert len(cells) == len(res)  # one row per (delta, rho)
    for r in res.rows:
        m = max(1, int(round(deltas[r["delta_index"]] * n)))
        k = min(m, max(1, int(round(rhos[r["rho_index"]] * m))))
        assert (r["m"], r["k"]) == (m, k) and 1 <= r["k"] <= r["m"] <= n
        assert r["delta_actual"] == m / n and r["rho_actual"] == k / m
        assert r["n_success"] == 0 and r["success_rate"] == 0.0
    blk = phase_transition("_audit_zero", n=32, deltas=[0.25, 0.5], rhos=[0.1, 0.6, 1.0], n_trials=1,
                           progress=False, problem_options={"structure": "block", "block_size": 4})
    for r in blk.rows:
        assert r["k"] % 4 == 0 and 4 <= r["k"] <= r["m"]


def test_phase_success_rate_is_the_mean_recovered_fraction(tmp_path):
    # one trial = a batch of 2 signals of which the solver recovers only the first: the success rate
    # must be the mean recovered fraction (naively recomputed here), not a rounded count of trials
    n, m, k, n_trials, seed = 40, 20, 2, 3, 5
    kw = dict(n=n, deltas=[m / n], rhos=[k / m], n_trials=n_trials, rng=seed, progress=False,
              problem_options={"n_signals": 2}, out=tmp_path)
    res = phase_transition("_audit_first_row", **kw)
    fracs = []
    for t in range(n_trials):
        gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(n, m, k, t)))
        A, X, Y = ProblemFamily(n=n, m=m, k=k, n_signals=2).generate(gen)
        Xh = _audit_first_row(A, Y, n_nonzero_coefs=k)
        rel = np.linalg.norm(Xh - X, axis=1) / np.linalg.norm(X, axis=1)
        fracs.append(np.mean(rel < 1e-3))
    row = res.rows[0]
    assert row["success_rate"] == pytest.approx(np.mean(fracs))
    assert res.success_grid("_audit_first_row")[0, 0] == pytest.approx(np.mean(fracs))
    again = phase_transition("_audit_first_row", **kw)  # read back from the journal
    assert again.rows[0]["success_rate"] == row["success_rate"]


# --- run_benchmark: per-trial metrics against a naive recomputation ----------------------------
def test_benchmark_metrics_match_naive_recomputation(tmp_path):
    probs = [ProblemFamily(n=40, m=20, k=3, n_signals=2), ProblemFamily(n=40, m=12, k=6, snr_db=25)]
    seed, n_trials = 9, 3
    res = run_benchmark(probs, "_audit_omp", n_trials=n_trials, rng=seed, progress=False, out=tmp_path)
    assert len(res) == len(probs) * n_trials
    for row in res.rows:
        p = probs[row["problem_id"]]
        gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(row["problem_id"], row["trial"])))
        A, X, Y = p.generate(gen)
        Xh = _audit_omp(A, Y, n_nonzero_coefs=p.k)
        err2 = np.sum((Xh - X) ** 2, axis=1)
        ref2 = np.sum(X**2, axis=1)
        nmse = err2.sum() / ref2.sum()
        rel = np.sqrt(err2 / ref2)
        top = np.argsort(-np.abs(Xh), axis=1)[:, : p.k]
        supp = np.array([np.isin(np.flatnonzero(X[i]), top[i]).mean() for i in range(X.shape[0])])
        success = np.mean(supp == 1.0) if p.snr_db is not None else np.mean(rel < 1e-3)
        assert row["nmse"] == pytest.approx(nmse, rel=1e-9, abs=1e-300)
        assert row["nmse_db"] == pytest.approx(max(-300.0, 10 * np.log10(max(nmse, 1e-30))), rel=1e-9)
        assert row["relative_error"] == pytest.approx(np.mean(rel), rel=1e-9, abs=1e-300)
        assert row["support_recovery"] == pytest.approx(np.mean(supp))
        assert row["success"] == pytest.approx(success)
        assert row["n_iter"] == p.k
    resumed = run_benchmark(probs, "_audit_omp", n_trials=n_trials, rng=seed, progress=False, out=tmp_path)
    assert resumed.meta["resumed_trials"] == len(probs) * n_trials
    for a, b in zip(res.rows, resumed.rows, strict=True):
        assert set(a) == set(b)
        for c in a:
            same_nan = isinstance(a[c], float) and math.isnan(a[c]) and math.isnan(b[c])
            assert c == "time_s" or same_nan or a[c] == b[c]


# --- problem families -------------------------------------------------------------------------
def test_problem_family_distribution_and_normalisation():
    A, X, Y = ProblemFamily(n=200, m=50, k=50, n_signals=40).generate(1)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0, rtol=1e-12)
    assert np.all(np.count_nonzero(X, axis=1) == 50)
    np.testing.assert_allclose(Y, X @ A.T, rtol=1e-12, atol=1e-12)
    assert stats.kstest(X[X != 0], "norm").pvalue > 1e-3
    _, Xu, _ = ProblemFamily(n=200, m=50, k=50, n_signals=40, distribution="uniform").generate(1)
    v = Xu[Xu != 0]
    assert stats.kstest(np.abs(v), stats.uniform(0.1, 0.9).cdf).pvalue > 1e-3
    assert abs(np.mean(v > 0) - 0.5) < 0.05
    Araw, _, _ = ProblemFamily(n=200, m=50, k=5, normalize=False).generate(2)
    assert stats.kstest(Araw.ravel() * np.sqrt(50), "norm").pvalue > 1e-3  # N(0, 1/m) entries
    a1 = ProblemFamily(n=30, m=15, k=4, dtype="float32").generate(7)
    a2 = ProblemFamily(n=30, m=15, k=4, dtype="float32").generate(7)
    a3 = ProblemFamily(n=30, m=15, k=4, dtype="float32").generate(8)
    assert all(x.dtype == np.float32 for x in a1)
    for x, y in zip(a1, a2, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a1[0], a3[0]) and not np.array_equal(a1[1], a3[1])


def test_logistic_fit_reports_converged_at_its_optimum():
    """L-BFGS-B may end on a failed line search at the optimum itself; the fit is converged when the
    likelihood's gradient at the returned point vanishes (checked here independently)."""
    from cs_toolkit.bench.phase import fit_logistic_transition

    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        n = int(rng.integers(3, 15))
        rho = np.sort(rng.random(n))
        t = rng.integers(1, 30, n).astype(float)
        p = 1 / (1 + np.exp(-(rng.normal(0, 5) - rng.uniform(1, 40) * (rho - 0.5))))
        s = rng.binomial(t.astype(int), p).astype(float)
        r = fit_logistic_transition(rho, s, t, ridge=1e-6)
        if not np.isfinite(r["a"]):
            continue
        z = r["a"] + r["b"] * rho
        q = 1 / (1 + np.exp(-z))
        g = (t - s) * q - s * (1 - q)  # d nll / dz
        grad = np.array([g.sum(), (g * rho).sum() + 2e-6 * r["b"]])
        if np.max(np.abs(grad)) <= 1e-6 * t.sum():
            checked += 1
            assert r["converged"], (rho, s, t, r)
    assert checked > 250
