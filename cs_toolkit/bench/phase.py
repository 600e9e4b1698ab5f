"""Empirical phase transitions over the (delta = m/n, rho = k/m) plane, resumable."""

from __future__ import annotations

import os

import numpy as np
from scipy import optimize

from .._config import SUCCESS_THRESHOLD
from .._validation import check_array, check_bool, check_int, check_option, check_scalar
from ..exceptions import ModelFileError, ValidationError
from ._engine import (
    _check_parallel,
    _entropy,
    _execute,
    _payload,
    _progress,
    _run_trial,
    compile_times,
)
from .io import machine_info, open_journal, package_versions, settings_hash
from .problems import ProblemFamily, as_solver_configs
from .results import _Table, format_table
from .theory import l1_weak_threshold

__all__ = ["phase_transition", "PhaseResult", "fit_logistic_transition", "parse_grid"]

DEFAULT_DELTAS = tuple(np.round(np.linspace(0.1, 0.9, 9), 10))
DEFAULT_RHOS = tuple(np.round(np.linspace(0.05, 0.95, 19), 10))


# --- logistic fit ------------------------------------------------------------------------
def fit_logistic_transition(rho, successes, trials=None, *, ridge=1e-6) -> dict:
    """Fit ``P(success) = 1 / (1 + exp(-(a + b rho)))`` by maximum likelihood.

    Parameters
    ----------
    rho : array_like of shape (n_points,)
        Sparsity ratios ``k/m``.
    successes : array_like of shape (n_points,)
        Number of successes at each ``rho`` (or 0/1 outcomes when ``trials`` is None).
    trials : array_like of shape (n_points,), optional
        Number of trials at each ``rho``; default one each.
    ridge : float, default 1e-6
        Tiny penalty ``ridge * b^2`` (finite, ``>= 0``) that keeps the slope finite when the data
        are perfectly separated (a sharp transition between two grid points).

    Returns
    -------
    dict
        ``rho_50`` (the 50% point ``-a/b``; NaN when the data hold no success or no
        failure, or success does not decrease with ``rho``), ``a``, ``b`` and ``converged``.

    Raises
    ------
    ValidationError
        Mismatched lengths, negative counts, more successes than trials, or a negative ridge.

    Notes
    -----
    Binomial log-likelihood, as in Donoho & Tanner, "Observed universality of phase
    transitions in high-dimensional geometry" (2009), minimised with L-BFGS-B
    on the convex negative log-likelihood (rho is centred for conditioning).

    Examples
    --------
    >>> r = fit_logistic_transition([0.1, 0.2, 0.3, 0.4, 0.5], [10, 9, 5, 1, 0], [10] * 5)
    >>> round(r["rho_50"], 2)
    0.3
    """
    ridge = check_scalar("ridge", ridge, low=0.0)
    rho = check_array(rho, "rho", ndim=1, dtype=np.float64)
    s = check_array(successes, "successes", ndim=1, dtype=np.float64)
    t = np.ones_like(s) if trials is None else check_array(trials, "trials", ndim=1, dtype=np.float64)
    if not (rho.shape == s.shape == t.shape):
        raise ValidationError(
            f"rho, successes and trials must have the same length, got {rho.shape}, {s.shape}, {t.shape}."
        )
    if np.any(s < 0) or np.any(t < s):
        raise ValidationError("successes must satisfy 0 <= successes <= trials for every point.")
    f = t - s
    nan = {"rho_50": float("nan"), "a": float("nan"), "b": float("nan"), "converged": False}
    if s.sum() == 0 or f.sum() == 0:
        return nan
    c = float(np.average(rho, weights=t)) if t.sum() > 0 else 0.0
    r = rho - c

    def nll(theta):
        a, b = theta
        z = a + b * r
        val = np.sum(s * np.logaddexp(0.0, -z) + f * np.logaddexp(0.0, z)) + ridge * b * b
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # stable sigmoid
        g = f * p - s * (1.0 - p)
        return val, np.array([g.sum(), (g * r).sum() + 2.0 * ridge * b])

    res = optimize.minimize(nll, np.zeros(2), jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-15})
    a0, b = (float(v) for v in res.x)
    a = a0 - b * c
    # L-BFGS-B can end on a failed line search at the optimum itself (rounding): the gradient says
    converged = bool(res.success or np.max(np.abs(res.jac)) <= 1e-8 * max(1.0, float(t.sum())))
    if not b < 0:
        return {**nan, "a": a, "b": b, "converged": converged}
    return {"rho_50": -a / b, "a": a, "b": b, "converged": converged}


# --- result ------------------------------------------------------------------------------
class PhaseResult(_Table):
    """Result of :func:`phase_transition`: one row per (solver, delta, rho) cell.

    Columns: ``solver``, ``method``, ``delta_index``, ``rho_index``, ``delta`` and ``rho``
    (the nominal grid), ``n``, ``m``, ``k``, ``delta_actual = m/n``, ``rho_actual = k/m``,
    ``n_trials``, ``n_success``, ``success_rate``, ``mean_time_s``, ``median_nmse_db``,
    ``mean_n_iter``, ``n_warnings``. With several signals per trial (``n_signals``), ``success_rate`` is the
    mean fraction of each batch recovered and ``n_success`` its rounded count ``success_rate * n_trials``.
    """

    kind = "phase"
    schema = {
        "solver": "str", "method": "str", "delta_index": "int", "rho_index": "int", "delta": "float",
        "rho": "float", "n": "int", "m": "int", "k": "int", "delta_actual": "float", "rho_actual": "float",
        "n_trials": "int", "n_success": "int", "success_rate": "float", "mean_time_s": "float",
        "median_nmse_db": "float", "mean_n_iter": "float", "n_warnings": "int",
    }
    required = ("solver", "delta_index", "rho_index", "delta", "rho", "n", "m", "k", "delta_actual",
                "rho_actual", "n_trials", "n_success", "success_rate")

    @classmethod
    def _check_rows(cls, rows, where):
        for index in ("delta_index", "rho_index"):
            got = sorted({r[index] for r in rows})
            if got != list(range(len(got))):
                raise ModelFileError(f"{where}: column {index!r} must number the grid 0, 1, ..., got {got}.")
        for i, r in enumerate(rows):
            if not 0 <= r["n_success"] <= r["n_trials"]:
                raise ModelFileError(f"{where}: row {i} must have 0 <= n_success <= n_trials, got "
                                     f"{r['n_success']} and {r['n_trials']}.")

    @property
    def solvers(self) -> list[str]:
        """Solver labels, in order of appearance."""
        return list(dict.fromkeys(r["solver"] for r in self.rows))

    def _axis(self, index, value):
        d = {}
        for r in self.rows:
            d.setdefault(r[index], r[value])
        return np.array([d[i] for i in sorted(d)], dtype=float)

    @property
    def deltas(self) -> np.ndarray:
        """Nominal delta grid."""
        return self._axis("delta_index", "delta")

    @property
    def rhos(self) -> np.ndarray:
        """Nominal rho grid."""
        return self._axis("rho_index", "rho")

    @property
    def deltas_actual(self) -> np.ndarray:
        """``m/n`` for each delta of the grid (m is rounded to an integer)."""
        return self._axis("delta_index", "delta_actual")

    @property
    def n(self) -> int:
        return int(self.rows[0]["n"]) if self.rows else 0

    def _grid(self, solver, column):
        if solver not in self.solvers:
            raise ValidationError(f"solver must be one of {self.solvers}; got {solver!r}.")
        out = np.full((len(self.deltas), len(self.rhos)), np.nan)
        for r in self.rows:
            if r["solver"] == solver:
                out[r["delta_index"], r["rho_index"]] = r[column]
        return out

    def success_grid(self, solver) -> np.ndarray:
        """Empirical success probability, shape ``(n_deltas, n_rhos)`` (NaN for missing cells)."""
        return self._grid(solver, "success_rate")

    def rho_actual_grid(self, solver) -> np.ndarray:
        """``k/m`` of each cell, shape ``(n_deltas, n_rhos)``."""
        return self._grid(solver, "rho_actual")

    def transition(self, solver) -> np.ndarray:
        """Fitted 50% transition ``rho_50`` for each delta (see :func:`fit_logistic_transition`).

        Cells of one delta that round to the same ``k`` are one experiment (the same seeded trials) and
        are counted once; successes are ``success_rate * n_trials`` (fractions for batches of signals).
        """
        rate, trials, rho = (self._grid(solver, c) for c in ("success_rate", "n_trials", "rho_actual"))
        out = np.full(len(self.deltas), np.nan)
        for i in range(len(out)):
            ok = np.flatnonzero(np.isfinite(trials[i]) & np.isfinite(rate[i]))
            ok = ok[np.unique(rho[i, ok], return_index=True)[1]]  # distinct k/m only
            if ok.size:
                t = trials[i, ok]
                out[i] = fit_logistic_transition(rho[i, ok], np.clip(rate[i, ok] * t, 0.0, t), t)["rho_50"]
        return out

    def theory(self) -> np.ndarray:
        """Asymptotic l1 weak threshold at each ``delta_actual`` (:func:`l1_weak_threshold`)."""
        return np.asarray(l1_weak_threshold(np.clip(self.deltas_actual, 1e-12, 1.0)), dtype=float)

    def summary(self) -> list[dict]:
        """One row per (solver, delta): fitted ``rho_50``, the l1 theory value and mean success."""
        theory = self.theory()
        out = []
        for s in self.solvers:
            r50 = self.transition(s)
            grid = self.success_grid(s)
            for i, d in enumerate(self.deltas_actual):
                out.append({"solver": s, "delta": float(d), "rho_50": float(r50[i]),
                            "l1_theory": float(theory[i]), "mean_success": float(np.nanmean(grid[i]))})
        return out

    def format_summary(self) -> str:
        """:meth:`summary` as an aligned text table."""
        return format_table(self.summary())


# --- grid parsing --------------------------------------------------------------------------
def parse_grid(text: str, name: str) -> np.ndarray:
    """Parse ``"start:stop:num"`` (inclusive, like ``numpy.linspace``) or ``"a,b,c"`` into values.

    Examples
    --------
    >>> parse_grid("0.1:0.5:5", "deltas").tolist()
    [0.1, 0.2, 0.3, 0.4, 0.5]
    """
    if not isinstance(text, str):
        raise ValidationError(f"{name} must be a string like '0.1:0.9:9' or '0.1,0.2', got {text!r}.")
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1:
                raise ValueError
            return np.round(np.linspace(start, stop, num), 10)
        return np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise ValidationError(
            f"{name} must be 'start:stop:num' (e.g. 0.1:0.9:9) or a comma-separated list, got {text!r}."
        ) from None


def _check_grid(values, name, low, high):
    arr = check_array(values, name, ndim=1, dtype=np.float64)
    if np.any(arr <= low) or np.any(arr > high):
        raise ValidationError(f"{name} must lie in ({low}, {high}], got values in [{arr.min():g}, {arr.max():g}].")
    if len(np.unique(arr)) != len(arr):
        raise ValidationError(f"{name} must not contain duplicates, got {arr.tolist()}.")
    return np.sort(arr)


# --- the sweep ---------------------------------------------------------------------------
_PROBLEM_OPTIONS = ("structure", "block_size", "wavelet", "n_signals")


def _check_problem_options(options) -> dict:
    """``problem_options`` as a plain dict of the :class:`ProblemFamily` fields a sweep may set."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValidationError(f"problem_options must be a dict or None, got {type(options).__name__}.")
    unknown = sorted(set(options) - set(_PROBLEM_OPTIONS))
    if unknown:
        raise ValidationError(
            f"problem_options got unknown key(s) {unknown}; valid keys: {', '.join(_PROBLEM_OPTIONS)}."
        )
    return dict(options)


def _run_cell(n, m, k, n_trials, matrix, distribution, payload, entropy, problem_options=None,
              n_threads=None) -> list[dict]:
    """All trials of one (m, k) cell, every solver; per-solver aggregates."""
    problem = ProblemFamily(n=n, m=m, k=k, matrix=matrix, distribution=distribution, **(problem_options or {}))
    per = {cfg.name: [] for cfg, _, _ in payload}
    for t in range(n_trials):
        for r in _run_trial(problem, payload, entropy, (n, m, k, t), n_threads):
            per[r["solver"]].append(r)
    out = []
    for cfg, _, _ in payload:
        rs = per[cfg.name]
        it = np.array([r["n_iter"] for r in rs], dtype=float)
        it = it[np.isfinite(it)]
        # a trial's "success" is the fraction of its batch recovered (n_signals > 1): the rate is their mean,
        # n_success its rounded count
        total = float(sum(r["success"] for r in rs))
        out.append({
            "solver": cfg.name, "method": cfg.method, "n_trials": n_trials, "n_success": int(round(total)),
            "success_rate": total / n_trials,
            "mean_time_s": float(np.mean([r["time_s"] for r in rs])),
            "median_nmse_db": float(np.median([r["nmse_db"] for r in rs])),
            "mean_n_iter": float(np.mean(it)) if it.size else float("nan"),
            "n_warnings": int(sum(r["n_warnings"] for r in rs)),
        })
    return out


def phase_transition(solvers, *, n=200, deltas=None, rhos=None, n_trials=20, matrix="gaussian",
                     distribution="gaussian", rng=0, n_jobs=1, backend=None, scheduler=None, out=None,
                     resume=True, progress=True, problem_options=None) -> PhaseResult:
    """Empirical phase transition of sparse recovery over a (delta, rho) grid.

    For each ``delta = m/n`` and ``rho = k/m`` of the grid, ``n_trials`` noiseless
    problems (a fresh Gaussian-type matrix with unit-norm columns and a fresh
    k-sparse signal each) are solved by every solver; a trial succeeds when the
    relative error is below ``1e-3``. The 50% transition per delta is then fitted by
    logistic regression (:func:`fit_logistic_transition`).

    Parameters
    ----------
    solvers : str, SolverConfig, dict or list of these
        Solvers to compare. Names get default options
        (:func:`~cs_toolkit.bench.default_solver_config`): greedy solvers the true
        sparsity, penalised ones ``lam="auto"`` = ``1e-4 * max |A^T y|`` (near basis
        pursuit); ``"basis_pursuit"`` is the exact l1 reference.
    n : int, default 200
        Signal length.
    deltas : array_like, default ``0.1, 0.2, ..., 0.9``
        Values of ``m/n`` in ``(0, 1]``; ``m = round(delta n)``.
    rhos : array_like, default ``0.05, 0.10, ..., 0.95``
        Values of ``k/m`` in ``(0, 1]``; ``k = max(1, round(rho m))``.
    n_trials : int, default 20
        Trials per cell.
    matrix : str, default "gaussian"
        Sensing matrix kind (:func:`cs_toolkit.sensing.make_sensing`).
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
        Nonzero values of the signals.
    rng : None, int or numpy.random.Generator, default 0
        Root seed; trial ``t`` of a cell uses ``SeedSequence(rng, spawn_key=(n, m, k, t))``,
        so results do not depend on ``n_jobs``, the backend or on resuming.
        When ``rng`` is not an int, a resumed sweep reuses the root entropy stored in
        ``out/cells.jsonl``.
    n_jobs, backend, scheduler
        Parallel execution over cells, as in :func:`~cs_toolkit.bench.run_benchmark`.
    out : str or path-like, optional
        Output directory. Finished cells are appended to ``out/cells.jsonl`` (one
        flushed JSON line each, after a header holding the settings and their hash);
        at the end ``phase.csv`` and ``phase.json`` are written atomically.
    resume : bool, default True
        Skip the cells already in ``out/cells.jsonl``. If that file was written with
        other settings, a ``ValidationError`` says so; ``resume=False`` starts over.
    progress : bool, default True
        tqdm progress bar over cells.
    problem_options : dict, optional
        More :class:`~cs_toolkit.bench.ProblemFamily` fields for every cell, for phase
        diagrams of structured signals: e.g. ``{"structure": "tree"}``,
        ``{"structure": "block", "block_size": 4}`` (``k`` is then rounded to whole blocks, at
        most ``m``: every ``m = round(delta n)`` must hold one block, ``m >= block_size``)
        or ``{"structure": "joint", "n_signals": 4}``. Put the unstructured solver beside
        the structured one (``["cosamp", "tree_cosamp"]``) to compare them.

    Returns
    -------
    PhaseResult

    Raises
    ------
    ValidationError
        Bad grids or counts (a block-sparse sweep with a ``delta`` whose ``m`` is smaller than
        ``block_size``), unknown solvers, or a settings mismatch when resuming.

    Notes
    -----
    Donoho & Tanner (2009) measured these diagrams for many matrix ensembles; for l1
    minimisation the 50% curve approaches :func:`l1_weak_threshold` as ``n`` grows.

    Examples
    --------
    >>> res = phase_transition("omp", n=40, deltas=[0.5], rhos=[0.1, 0.9],
    ...                        n_trials=3, progress=False)  # doctest: +SKIP
    >>> res.success_grid("omp")  # doctest: +SKIP
    array([[1., 0.]])
    """
    configs = as_solver_configs(solvers)
    n = check_int("n", n, low=2)
    n_trials = check_int("n_trials", n_trials, low=1)
    resume = check_bool("resume", resume)
    progress = check_bool("progress", progress)
    deltas = _check_grid(DEFAULT_DELTAS if deltas is None else deltas, "deltas", 0.0, 1.0)
    rhos = _check_grid(DEFAULT_RHOS if rhos is None else rhos, "rhos", 0.0, 1.0)
    check_option("distribution", distribution, ("gaussian", "rademacher", "uniform"))
    n_jobs = _check_parallel(n_jobs, backend, scheduler)
    entropy, seed = _entropy(rng)
    payload = _payload(configs)
    popts = _check_problem_options(problem_options)
    ProblemFamily(n=n, m=1, k=0, matrix=matrix, distribution=distribution, **popts)  # validates early
    bs = int(popts.get("block_size", 4)) if popts.get("structure") == "block" else 1

    cells = []
    for i, d in enumerate(deltas):
        m = max(1, int(round(d * n)))
        if m < bs:
            raise ValidationError(
                f"deltas must give m = round(delta * n) >= block_size = {bs} for block-sparse signals (k <= m "
                f"in whole blocks), got delta = {d:g}, m = {m}; use deltas >= {bs / n:g}."
            )
        for j, r in enumerate(rhos):
            k = min(m, max(1, int(round(r * m))))
            if bs > 1:  # whole blocks, at most m
                k = min(n // bs, m // bs, max(1, int(round(k / bs)))) * bs
            cells.append((i, j, float(d), float(r), m, k))

    settings = {"n": n, "deltas": deltas.tolist(), "rhos": rhos.tolist(), "n_trials": n_trials,
                "matrix": matrix, "distribution": distribution, "seed": seed,
                "solvers": [c.to_dict() for c in configs], "success_threshold": SUCCESS_THRESHOLD}
    if popts:  # only when given, so that journals of plain sweeps keep their hash
        settings["problem_options"] = popts
    shash = settings_hash(settings)
    done: dict[tuple, dict] = {}
    log = None
    if out is not None:
        log, shash, entropy, records = open_journal(os.path.join(out, "cells.jsonl"), settings, resume=resume,
                                                    what="a sweep", command="cs-toolkit phase",
                                                    entropy=entropy, seed=seed)
        valid = {(i, j) for i, j, *_ in cells}
        for rec in records:
            key = (rec.get("delta_index"), rec.get("rho_index"))
            if key in valid and isinstance(rec.get("rows"), list):
                done[key] = rec
        log.start({"settings_hash": shash, "settings": settings, "entropy": str(entropy)}, list(done.values()))

    todo = [c for c in cells if (c[0], c[1]) not in done]
    ctimes = compile_times(payload, ["float64"]) if todo else {}
    tasks = [(n, m, k, n_trials, matrix, distribution, payload, entropy, popts) for (_, _, _, _, m, k) in todo]
    try:
        with _progress(len(cells), "phase", progress, initial=len(done)) as bar:
            results = _execute(_run_cell, tasks, n_jobs=n_jobs, backend=backend, scheduler=scheduler)
            for (i, j, d, r, m, k), cell_rows in zip(todo, results, strict=True):
                rec = {"delta_index": i, "rho_index": j, "delta": d, "rho": r, "m": m, "k": k, "rows": cell_rows}
                done[(i, j)] = rec
                if log is not None:
                    log.append(rec)
                bar.update(1)
    finally:
        if log is not None:
            log.close()

    rows = []
    for i, j, d, r, m, k in cells:
        rec = done[(i, j)]
        for cr in rec["rows"]:
            rows.append({"solver": cr["solver"], "method": cr["method"], "delta_index": i, "rho_index": j,
                         "delta": d, "rho": r, "n": n, "m": m, "k": k, "delta_actual": m / n, "rho_actual": k / m,
                         **{c: cr[c] for c in ("n_trials", "n_success", "success_rate", "mean_time_s",
                                               "median_nmse_db", "mean_n_iter", "n_warnings")}})
    rows = PhaseResult._fix_types(rows)  # None (from JSON lines) -> NaN
    meta = {"settings": settings, "settings_hash": shash, "compile_time_s": ctimes,
            "versions": package_versions(), "machine": machine_info()}
    res = PhaseResult(rows, meta)
    if out is not None:
        res.to_csv(os.path.join(out, "phase.csv"))
        res.to_json(os.path.join(out, "phase.json"))
    return res
