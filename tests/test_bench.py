"""Tests of the benchmark harness, phase transitions, plots and the bench/phase CLI."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from cs_toolkit.bench import (
    PhaseResult,
    ProblemFamily,
    Results,
    SolverConfig,
    fit_logistic_transition,
    l1_statistical_dimension,
    l1_weak_threshold,
    load_results,
    parse_grid,
    phase_transition,
    run_benchmark,
    trial_metrics,
)
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.solvers import list_solvers, register_solver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- small numpy solvers registered for these tests -----------------------------------------
def _np_omp(A, Y, *, n_nonzero_coefs=None, return_info=False):
    """Plain orthogonal matching pursuit (reference implementation for the harness tests)."""
    A = np.asarray(A, dtype=np.float64)
    Y2 = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    X = np.zeros((Y2.shape[0], A.shape[1]))
    for i, y in enumerate(Y2):
        r, supp, coef = y.copy(), [], np.zeros(0)
        for _ in range(n_nonzero_coefs):
            j = int(np.argmax(np.abs(A.T @ r)))
            if j in supp:
                break
            supp.append(j)
            coef = np.linalg.lstsq(A[:, supp], y, rcond=None)[0]
            r = y - A[:, supp] @ coef
        X[i, supp] = coef
    return (X, {"n_iter": np.full(len(Y2), n_nonzero_coefs)}) if return_info else X


def _np_bp(A, Y, *, return_info=False):
    """Basis pursuit min ||x||_1 s.t. Ax = y as a linear program (x = u - v, u, v >= 0)."""
    A = np.asarray(A, dtype=np.float64)
    Y2 = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    m, n = A.shape
    X = np.zeros((Y2.shape[0], n))
    for i, y in enumerate(Y2):
        res = optimize.linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs")
        X[i] = res.x[:n] - res.x[n:]
    return (X, {"n_iter": None}) if return_info else X


CALLS = {"n": 0, "raise_after": None}


def _counting(A, Y, *, n_nonzero_coefs=None, return_info=False):
    if np.shape(A)[1] == 40:  # count only the test problems, not the warm-up (n=32)
        CALLS["n"] += 1
        if CALLS["raise_after"] is not None and CALLS["n"] > CALLS["raise_after"]:
            raise KeyboardInterrupt
    return _np_omp(A, Y, n_nonzero_coefs=n_nonzero_coefs, return_info=return_info)


register_solver("_t_omp", kind="greedy", sparsity_param="n_nonzero_coefs", operator_ok=False,
                summary="test OMP")(_np_omp)
register_solver("_t_bp", kind="exact", sparsity_param=None, operator_ok=False, summary="test BP")(_np_bp)
register_solver("_t_count", kind="greedy", sparsity_param="n_nonzero_coefs", operator_ok=False,
                summary="counting test OMP")(_counting)

OMP = "omp" if "omp" in list_solvers() else "_t_omp"
BP = "basis_pursuit" if "basis_pursuit" in list_solvers() else "_t_bp"


def _strip_times(rows):
    return [{k: v for k, v in r.items() if "time" not in k} for r in rows]


def _rows_equal(a, b):
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if set(ra) != set(rb):
            return False
        for k in ra:
            va, vb = ra[k], rb[k]
            if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
                continue
            if va != vb:
                return False
    return True


# --- theory -------------------------------------------------------------------------------
def _dmm_threshold(delta):
    """Donoho-Maleki-Montanari (2009) closed form of the same l1 curve: a second, independent method."""
    def neg(z):
        t = (1 + z * z) * stats.norm.cdf(-z) - z * stats.norm.pdf(z)
        return -(1 - 2 * t / delta) / (1 + z * z - 2 * t)

    return -optimize.minimize_scalar(neg, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}).fun


def _psi_by_quadrature(rho_s):
    def obj(tau):
        tail = integrate.quad(lambda u: (u - tau) ** 2 * stats.norm.pdf(u), tau, np.inf)[0]
        return rho_s * (1 + tau * tau) + (1 - rho_s) * 2 * tail

    return optimize.minimize_scalar(obj, bounds=(0, 8), method="bounded", options={"xatol": 1e-10}).fun


def test_l1_weak_threshold_known_values():
    assert abs(l1_weak_threshold(0.5) - 0.385) < 0.01
    assert abs(l1_weak_threshold(0.1) - 0.189) < 0.005
    assert abs(l1_weak_threshold(0.25) - 0.267) < 0.005
    assert l1_weak_threshold(1.0) == 1.0
    d = np.linspace(0.05, 0.95, 19)
    rho = l1_weak_threshold(d)
    assert rho.shape == d.shape and np.all(np.diff(rho) > 0)
    np.testing.assert_allclose(rho, [_dmm_threshold(x) for x in d], rtol=1e-6)


@pytest.mark.slow
def test_statistical_dimension_matches_quadrature():
    for r in (0.02, 0.1, 0.3, 0.7):
        assert abs(l1_statistical_dimension(r) - _psi_by_quadrature(r)) < 1e-7
    assert l1_statistical_dimension(0.0) == 0.0 and l1_statistical_dimension(1.0) == 1.0
    # consistency of the two forms: delta = psi(rho * delta)
    for d in (0.2, 0.6):
        assert abs(l1_statistical_dimension(l1_weak_threshold(d) * d) - d) < 1e-9


def test_theory_rejects_bad_values():
    with pytest.raises(ValidationError, match="delta must lie in"):
        l1_weak_threshold(0.0)
    with pytest.raises(ValidationError, match="delta must lie in"):
        l1_weak_threshold([0.5, 1.5])
    with pytest.raises(ValidationError, match="rho_s must lie in"):
        l1_statistical_dimension(-0.1)


# --- logistic fit -----------------------------------------------------------------------------
def test_logistic_fit_recovers_known_transition():
    rng = np.random.default_rng(1)
    rho = np.linspace(0.05, 0.95, 19)
    trials = np.full(rho.size, 400)
    p = 1 / (1 + np.exp(25 * (rho - 0.42)))
    succ = rng.binomial(trials, p)
    fit = fit_logistic_transition(rho, succ, trials)
    assert abs(fit["rho_50"] - 0.42) < 0.01
    assert abs(fit["b"] + 25) < 3  # slope recovered too
    # 0/1 outcomes, one per point
    r = np.repeat(rho, 50)
    out = (rng.random(r.size) < 1 / (1 + np.exp(25 * (r - 0.42)))).astype(float)
    assert abs(fit_logistic_transition(r, out)["rho_50"] - 0.42) < 0.03


def test_logistic_fit_edge_cases():
    sep = fit_logistic_transition([0.1, 0.2, 0.3, 0.4], [5, 5, 0, 0], [5, 5, 5, 5])
    assert 0.2 < sep["rho_50"] < 0.3
    assert math.isnan(fit_logistic_transition([0.1, 0.2], [3, 3], [3, 3])["rho_50"])
    assert math.isnan(fit_logistic_transition([0.1, 0.2], [0, 0], [3, 3])["rho_50"])
    with pytest.raises(ValidationError, match="0 <= successes <= trials"):
        fit_logistic_transition([0.1, 0.2], [4, 0], [3, 3])
    with pytest.raises(ValidationError, match="same length"):
        fit_logistic_transition([0.1, 0.2], [1], [3])


# --- problems, metrics, configs ---------------------------------------------------------------
def test_problem_family_generates_consistent_instances():
    p = ProblemFamily(n=40, m=20, k=3, n_signals=4, distribution="rademacher")
    A, X, Y = p.generate(7)
    assert A.shape == (20, 40) and X.shape == (4, 40) and Y.shape == (4, 20)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0)
    assert np.all(np.count_nonzero(X, axis=1) == 3)
    np.testing.assert_allclose(np.abs(X[X != 0]), 1.0)
    np.testing.assert_allclose(Y, X @ A.T)
    A2, X2, Y2 = p.generate(7)
    np.testing.assert_array_equal(Y, Y2)
    A3, X3, Y3 = ProblemFamily(n=40, m=20, k=3, snr_db=20, dtype="float32").generate(7)
    assert Y3.dtype == np.float32
    noise = Y3 - X3 @ A3.T
    snr = 10 * np.log10(np.sum((X3 @ A3.T) ** 2) / np.sum(noise**2))
    assert 12 < snr < 28


def test_problem_and_config_validation():
    with pytest.raises(ValidationError, match="k must be <= 10"):
        ProblemFamily(n=10, m=5, k=11)
    with pytest.raises(ValidationError, match="distribution must be one of"):
        ProblemFamily(n=10, m=5, k=1, distribution="cauchy")
    with pytest.raises(ValidationError, match="unknown option"):
        run_benchmark(ProblemFamily(n=10, m=5, k=1), SolverConfig("x", "_t_omp", {"lam": 1}), progress=False)
    with pytest.raises(ValidationError, match="method must be one of"):
        run_benchmark(ProblemFamily(n=10, m=5, k=1), "no_such_solver", progress=False)
    with pytest.raises(ValidationError, match="backend must be"):
        run_benchmark(ProblemFamily(n=10, m=5, k=1), "_t_omp", backend="mpi", progress=False)
    with pytest.raises(ValidationError, match="n_jobs"):
        run_benchmark(ProblemFamily(n=10, m=5, k=1), "_t_omp", n_jobs=0, progress=False)
    with pytest.raises(ValidationError, match="labels must be unique"):
        run_benchmark([ProblemFamily(n=10, m=5, k=1)] * 2, "_t_omp", progress=False)


def test_trial_metrics_against_naive_reference(rng):
    X = np.zeros((3, 20))
    X[:, [2, 5, 11]] = rng.standard_normal((3, 3))
    Xh = X + 1e-2 * rng.standard_normal(X.shape)
    Xh[2] = 0.0
    Xh[2, [2, 5, 12]] = 1.0
    m = trial_metrics(X, Xh, 3)
    rel = [np.sqrt(np.sum((Xh[i] - X[i]) ** 2) / np.sum(X[i] ** 2)) for i in range(3)]
    assert m["relative_error"] == pytest.approx(np.mean(rel))
    ratio_of_sums = np.sum((Xh - X) ** 2) / np.sum(X**2)  # batch NMSE, as in cs_toolkit.metrics
    assert m["nmse"] == pytest.approx(ratio_of_sums)
    assert m["nmse_db"] == pytest.approx(10 * np.log10(ratio_of_sums))
    assert m["support_recovery"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert m["success"] == 0.0  # errors ~1e-2 > 1e-3
    assert trial_metrics(X, X, 3)["success"] == 1.0
    assert trial_metrics(X, X, 3)["nmse_db"] == -300.0
    bad = trial_metrics(X, np.full_like(X, np.nan), 3)
    assert bad["success"] == 0.0 and math.isnan(bad["nmse"])
    assert trial_metrics(X, Xh, 3, noisy=True)["success"] == pytest.approx(2 / 3)


def test_greedy_options_get_true_sparsity():
    cfg = SolverConfig("omp-k", "_t_omp", {"n_nonzero_coefs": "k"})
    p = ProblemFamily(n=30, m=15, k=4)
    A, X, Y = p.generate(0)
    assert cfg.resolve(p, A, Y, X) == {"n_nonzero_coefs": 4}
    lam_cfg = SolverConfig("l", "_t_omp", {"lam": "auto"})
    assert lam_cfg.resolve(p, A, Y, X)["lam"] == pytest.approx(1e-4 * np.abs(Y @ A).max())


# --- run_benchmark -----------------------------------------------------------------------------
def test_run_benchmark_table_and_summary(tmp_path):
    probs = [ProblemFamily(n=40, m=20, k=2), ProblemFamily(n=40, m=20, k=15, snr_db=40)]
    res = run_benchmark(probs, ["_t_omp", "_t_bp"], n_trials=3, rng=3, progress=False, out=tmp_path)
    assert len(res) == 2 * 3 * 2
    easy = res.filter(problem=probs[0].label)
    assert all(r["success"] == 1.0 and r["nmse_db"] < -100 for r in easy)
    assert all(r["success"] == 0.0 for r in res.filter(problem=probs[1].label))
    s = {(r["problem"], r["solver"]): r for r in res.summary()}
    assert s[(probs[0].label, "_t_omp")]["success_rate"] == 1.0
    assert s[(probs[0].label, "_t_omp")]["mean_n_iter"] == 2.0
    assert math.isnan(s[(probs[0].label, "_t_bp")]["mean_n_iter"])
    assert set(res.meta["compile_time_s"]) == {"_t_omp", "_t_bp"}
    assert res.meta["machine"]["cpu_count"] >= 1 and "numpy" in res.meta["versions"]
    assert (tmp_path / "results.csv").exists() and (tmp_path / "results.json").exists()
    text = res.format_summary()
    assert "success_rate" in text and "_t_bp" in text


def test_results_csv_json_round_trip(tmp_path):
    res = run_benchmark([ProblemFamily(n=40, m=20, k=3), ProblemFamily(n=40, m=20, k=3, snr_db=30)],
                        ["_t_omp", "_t_bp"], n_trials=2, progress=False)
    res.to_csv(tmp_path / "r.csv")
    res.to_json(tmp_path / "r.json")
    a, b = Results.from_csv(tmp_path / "r.csv"), Results.from_json(tmp_path / "r.json")
    assert _rows_equal(a.rows, res.rows) and _rows_equal(b.rows, res.rows)
    assert a.columns == res.columns
    assert b.meta["settings"]["n_trials"] == 2
    assert isinstance(load_results(tmp_path / "r.json"), Results)
    assert _rows_equal(Results.load(tmp_path / "r.csv").rows, res.rows)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["kind"] == "benchmark" and "load_average" in doc["meta"]["machine"]
    with pytest.raises(ValidationError, match=r"\.csv or \.json"):
        Results.load(tmp_path / "r.txt")


@pytest.mark.slow
def test_parallel_joblib_matches_serial():
    probs = [ProblemFamily(n=40, m=20, k=4, snr_db=30)]
    a = run_benchmark(probs, ["_t_omp"], n_trials=4, rng=11, progress=False)
    b = run_benchmark(probs, ["_t_omp"], n_trials=4, rng=11, n_jobs=2, progress=False)
    assert _rows_equal(_strip_times(a.rows), _strip_times(b.rows))
    c = run_benchmark(probs, ["_t_omp"], n_trials=4, rng=12, progress=False)
    assert not _rows_equal(_strip_times(a.rows), _strip_times(c.rows))


@pytest.mark.slow
def test_dask_local_cluster_matches_serial():
    pytest.importorskip("distributed")
    probs = [ProblemFamily(n=40, m=20, k=4, snr_db=30)]
    a = run_benchmark(probs, ["_t_omp"], n_trials=3, rng=5, progress=False)
    b = run_benchmark(probs, ["_t_omp"], n_trials=3, rng=5, backend="dask", scheduler="local", progress=False)
    assert _rows_equal(_strip_times(a.rows), _strip_times(b.rows))
    with pytest.raises(ValidationError, match="distributed.Client"):
        run_benchmark(probs, ["_t_omp"], n_trials=1, backend="dask", progress=False)


# --- phase transitions ---------------------------------------------------------------------------
def test_phase_success_below_and_above_transition():
    res = phase_transition([OMP, BP], n=50, deltas=[0.5], rhos=[0.1, 0.9], n_trials=4, progress=False)
    for s in (OMP, BP):
        grid = res.success_grid(s)
        assert grid.shape == (1, 2)
        assert grid[0, 0] == 1.0 and grid[0, 1] == 0.0
    assert res.solvers == [OMP, BP]
    np.testing.assert_allclose(res.deltas, [0.5])


@pytest.mark.slow
def test_phase_bp_transition_near_theory():
    res = phase_transition(BP, n=40, deltas=[0.5], rhos=np.linspace(0.1, 0.7, 7), n_trials=6, rng=2,
                           progress=False)
    r50 = res.transition(BP)[0]
    assert abs(r50 - l1_weak_threshold(0.5)) < 0.12  # finite-size error at n = 40
    summ = res.summary()[0]
    assert summ["l1_theory"] == pytest.approx(l1_weak_threshold(0.5))


def _phase_kwargs(out, **kw):
    args = dict(n=40, deltas=[0.3, 0.6], rhos=[0.1, 0.5, 0.9], n_trials=2, rng=4, progress=False, out=out)
    args.update(kw)
    return args


def test_phase_resume_skips_done_cells(tmp_path):
    CALLS.update(n=0, raise_after=None)
    full = phase_transition("_t_count", **_phase_kwargs(tmp_path))
    assert CALLS["n"] == 6 * 2
    CALLS["n"] = 0
    again = phase_transition("_t_count", **_phase_kwargs(tmp_path))
    assert CALLS["n"] == 0
    assert _rows_equal(_strip_times(again.rows), _strip_times(full.rows))
    # drop two finished cells and leave a truncated line, as an interrupted run would
    log = tmp_path / "cells.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-2]) + lines[-2][:20])
    CALLS["n"] = 0
    resumed = phase_transition("_t_count", **_phase_kwargs(tmp_path))
    assert CALLS["n"] == 2 * 2
    assert _rows_equal(_strip_times(resumed.rows), _strip_times(full.rows))
    assert len(log.read_text().splitlines()) == 1 + 6
    loaded = load_results(tmp_path / "phase.json")
    assert isinstance(loaded, PhaseResult)
    assert _rows_equal(loaded.rows, resumed.rows)
    assert _rows_equal(PhaseResult.from_csv(tmp_path / "phase.csv").rows, resumed.rows)
    np.testing.assert_allclose(loaded.success_grid("_t_count"), resumed.success_grid("_t_count"))


def test_phase_settings_change_detected(tmp_path):
    phase_transition("_t_omp", **_phase_kwargs(tmp_path))
    with pytest.raises(ValidationError, match=r"different settings \(n_trials differ"):
        phase_transition("_t_omp", **_phase_kwargs(tmp_path, n_trials=3))
    res = phase_transition("_t_omp", **_phase_kwargs(tmp_path, n_trials=3, resume=False))
    assert all(r["n_trials"] == 3 for r in res.rows)
    header = json.loads((tmp_path / "cells.jsonl").read_text().splitlines()[0])
    assert header["settings"]["n_trials"] == 3


def test_phase_interrupt_leaves_no_partial_output(tmp_path):
    CALLS.update(n=0, raise_after=5)  # interrupted during the third cell
    with pytest.raises(KeyboardInterrupt):
        phase_transition("_t_count", **_phase_kwargs(tmp_path))
    assert not (tmp_path / "phase.csv").exists() and not (tmp_path / "phase.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cells.jsonl"]  # no temporary files left
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 2 and all(json.loads(x) for x in lines)
    CALLS.update(n=0, raise_after=None)
    res = phase_transition("_t_count", **_phase_kwargs(tmp_path))
    assert CALLS["n"] == 4 * 2 and len(res) == 6


@pytest.mark.slow
def test_phase_parallel_matches_serial():
    a = phase_transition("_t_omp", **_phase_kwargs(None))
    b = phase_transition("_t_omp", **_phase_kwargs(None, n_jobs=2))
    assert _rows_equal(_strip_times(a.rows), _strip_times(b.rows))


def test_phase_grid_validation():
    with pytest.raises(ValidationError, match="deltas must lie in"):
        phase_transition("_t_omp", n=20, deltas=[0.0, 0.5], progress=False)
    with pytest.raises(ValidationError, match="rhos must not contain duplicates"):
        phase_transition("_t_omp", n=20, rhos=[0.2, 0.2], progress=False)
    np.testing.assert_allclose(parse_grid("0.1:0.9:9", "deltas"), np.linspace(0.1, 0.9, 9))
    np.testing.assert_allclose(parse_grid("0.2,0.4", "rhos"), [0.2, 0.4])
    with pytest.raises(ValidationError, match="start:stop:num"):
        parse_grid("0.1:0.9", "deltas")


# --- plots ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_plots_write_png_and_svg(tmp_path):
    from cs_toolkit import plotting

    ph = phase_transition(["_t_omp", "_t_bp"], n=30, deltas=[0.4, 0.7], rhos=[0.1, 0.4, 0.8], n_trials=2,
                          progress=False)
    bench = run_benchmark([ProblemFamily(n=30, m=15, k=k) for k in (1, 3, 8)], ["_t_omp", "_t_bp"],
                          n_trials=2, progress=False)
    ax = plotting.plot_phase_transition(ph, "_t_bp")
    assert "m/n" in ax.get_xlabel() and "k/m" in ax.get_ylabel()
    assert len(ax.figure.axes) == 2  # heat map + colorbar
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert any("theory" in s for s in labels) and any("50%" in s for s in labels)
    figs = {
        "phase": ax,
        "curves": plotting.plot_phase_curves(ph),
        "time": plotting.plot_time_accuracy(bench),
        "succ": plotting.plot_success_vs_sparsity(bench),
        "conv": plotting.plot_nmse_per_iteration({"a": np.logspace(0, -3, 20), "b": np.ones((3, 5))}),
    }
    for name, a in figs.items():
        paths = plotting.save_figure(a.figure, tmp_path / name, dpi=50)
        assert [os.path.basename(p) for p in paths] == [f"{name}.png", f"{name}.svg"]
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]
    with pytest.raises(ValidationError, match="solver must be one of"):
        plotting.plot_phase_transition(ph, "nope")
    with pytest.raises(ValidationError, match="PhaseResult"):
        plotting.plot_phase_curves(bench)


# --- CLI -----------------------------------------------------------------------------------------
CLI_SOLVER = next((s for s in ("omp", "fista", "ista") if s in list_solvers()), None)
needs_cli_solver = pytest.mark.skipif(CLI_SOLVER is None, reason="no package solver registered yet")


def _cli(*args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "cs_toolkit.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=120)


@pytest.mark.slow
@needs_cli_solver
def test_cli_phase_writes_outputs(tmp_path):
    out = tmp_path / "ph"
    r = _cli("phase", "--solvers", CLI_SOLVER, "--n", 30, "--trials", 2, "--deltas", "0.4,0.8",
             "--rhos", "0.1:0.7:2", "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "rho_50" in r.stdout and "l1_theory" in r.stdout and "load average" in r.stdout
    for f in ("cells.jsonl", "phase.csv", "phase.json", f"phase_{CLI_SOLVER}.png", f"phase_{CLI_SOLVER}.svg",
              "phase_curves.png", "phase_curves.svg"):
        assert (out / f).exists(), f
    res = PhaseResult.load(out / "phase.csv")
    assert res.success_grid(CLI_SOLVER).shape == (2, 2)


@pytest.mark.slow
@needs_cli_solver
def test_cli_bench_with_config_file(tmp_path):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(
        'trials = 2\nseed = 1\n\n[[problems]]\nn = 32\nm = 16\nk = [1, 3]\n\n'
        f'[[solvers]]\nname = "{CLI_SOLVER}"\n'
    )
    out = tmp_path / "b"
    r = _cli("bench", cfg, "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["problem", "solver", "trials"] and set(lines[1]) <= {"-", " "}
    assert "first call" in r.stdout
    for f in ("results.csv", "results.json", "time_accuracy.png", "time_accuracy.svg",
              "success_vs_sparsity.png", "success_vs_sparsity.svg"):
        assert (out / f).exists(), f
    assert len(Results.load(out / "results.json")) == 2 * 2


@pytest.mark.slow
def test_cli_bad_solver_exits_2_with_one_line(tmp_path):
    r = _cli("phase", "--solvers", "nosuch", "--n", "20", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "unknown solver(s) nosuch; valid solvers:" in err[0], r.stderr
    assert "_t_omp" not in err[0]  # the subprocess only knows the package's solvers


@pytest.mark.parametrize("args, message", [
    (["phase", "--solvers", "_t_omp", "--deltas", "0.1:0.9"], "start:stop:num"),
    (["phase", "--solvers", "_t_omp", "--rhos", "0.5,1.5"], "rhos must lie in"),
    (["phase", "--solvers", "_t_omp", "--jobs", "0"], "--jobs"),
    (["bench", "missing-config.toml"], "cannot read config file"),
    (["bench", "--solvers", "nosuch,_t_omp"], "unknown solver(s) nosuch"),
    (["bench", "--solvers", "_t_omp", "--k", "3,x"], "--k must be an integer"),
    (["bench", "--solvers", "_t_omp", "--n", "10", "--k", "20"], "k must be <= 10"),
])
def test_cli_user_errors_exit_2_one_line(args, message, tmp_path, capsys, monkeypatch):
    from cs_toolkit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0] and err[0].startswith(f"cs-toolkit {args[0]}: error:")


def test_cli_bad_config_contents(tmp_path, capsys):
    from cs_toolkit.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("[[problems]]\nn = 10\nm = 5\nk = 2\nsize = 3\n[[solvers]]\nname = '_t_omp'\n")
    assert main(["bench", str(bad)]) == 2
    assert "unknown problem key(s) ['size']" in capsys.readouterr().err
    bad.write_text("trials = [\n")
    assert main(["bench", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


# --- resumable benchmarks --------------------------------------------------------------------
def _bench_kwargs(out, **kw):
    args = dict(n_trials=3, rng=6, progress=False, out=out)
    args.update(kw)
    return [ProblemFamily(n=40, m=20, k=3), ProblemFamily(n=40, m=20, k=5, snr_db=30)], args


def test_benchmark_interrupted_then_resumed_equals_fresh_run(tmp_path):
    probs, kw = _bench_kwargs(None)
    CALLS.update(n=0, raise_after=None)
    fresh = run_benchmark(probs, ["_t_count", "_t_omp"], **kw)
    out = tmp_path / "b"
    probs, kw = _bench_kwargs(out)
    CALLS.update(n=0, raise_after=4)  # interrupted during the fifth of six trials
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(probs, ["_t_count", "_t_omp"], **kw)
    assert sorted(p.name for p in out.iterdir()) == ["trials.jsonl"]  # no results, no temporary files
    lines = (out / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 4 and all(json.loads(x) for x in lines)
    CALLS.update(n=0, raise_after=None)
    resumed = run_benchmark(probs, ["_t_count", "_t_omp"], **kw)
    assert CALLS["n"] == 2  # only the two unfinished trials ran
    assert resumed.meta["resumed_trials"] == 4
    assert _rows_equal(_strip_times(resumed.rows), _strip_times(fresh.rows))
    assert [list(r) for r in resumed.rows] == [list(r) for r in fresh.rows]  # same column order
    assert _rows_equal(Results.load(out / "results.json").rows, resumed.rows)
    CALLS.update(n=0)
    again = run_benchmark(probs, ["_t_count", "_t_omp"], **kw)  # everything done: nothing runs
    assert CALLS["n"] == 0 and _rows_equal(again.rows, resumed.rows)


def test_benchmark_resume_with_other_settings_is_refused(tmp_path):
    probs, kw = _bench_kwargs(tmp_path, n_trials=1)
    run_benchmark(probs, ["_t_omp"], **kw)
    with pytest.raises(ValidationError, match=r"different settings \(n_trials differ.*--no-resume"):
        run_benchmark(probs, ["_t_omp"], **dict(kw, n_trials=2))
    with pytest.raises(ValidationError, match=r"different settings \(solvers differ"):
        run_benchmark(probs, ["_t_omp", "_t_bp"], **kw)
    res = run_benchmark(probs, ["_t_omp"], **dict(kw, n_trials=2, resume=False))
    assert len(res) == 2 * 2 and res.meta["resumed_trials"] == 0
    header = json.loads((tmp_path / "trials.jsonl").read_text().splitlines()[0])
    assert header["settings"]["n_trials"] == 2


def test_benchmark_resume_reuses_entropy_when_rng_is_not_a_seed(tmp_path):
    probs, kw = _bench_kwargs(tmp_path, rng=None, n_trials=2)
    CALLS.update(n=0, raise_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(probs, ["_t_count"], **kw)
    CALLS.update(n=0, raise_after=None)
    resumed = run_benchmark(probs, ["_t_count"], **kw)
    entropy = int(json.loads((tmp_path / "trials.jsonl").read_text().splitlines()[0])["entropy"])
    fresh = run_benchmark(probs, ["_t_count"], **dict(kw, rng=entropy, out=None))
    assert _rows_equal(_strip_times(resumed.rows), _strip_times(fresh.rows))


@pytest.mark.slow
def test_cli_bench_says_when_it_resumes(tmp_path, capsys, monkeypatch):
    from cs_toolkit.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["bench", "--solvers", "_t_omp", "--n", "32", "--m", "16", "--k", "2", "--trials", "2",
            "--out", "o", "--no-progress"]
    assert main(args) == 0
    assert "resumed" not in capsys.readouterr().out
    lines = (tmp_path / "o" / "trials.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "o" / "trials.jsonl").write_text("".join(lines[:2]))  # as if interrupted after one trial
    assert main(args) == 0
    assert f"resumed: 1 of 2 trials read from {os.path.join('o', 'trials.jsonl')}" in capsys.readouterr().out
    assert main([*args, "--no-resume"]) == 0
    assert "resumed" not in capsys.readouterr().out


def test_worker_count_caps_at_cores_and_tasks(monkeypatch):
    from cs_toolkit._threads import worker_count

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert [worker_count(j) for j in (1, 3, 4, 9, -1, -3)] == [1, 3, 4, 4, 4, 4]
    assert [worker_count(j, tasks) for j, tasks in ((9, 2), (-1, 3), (2, 0), (3, 10))] == [2, 3, 1, 3]
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: one worker
    assert worker_count(-1) == 1 and worker_count(5) == 1
