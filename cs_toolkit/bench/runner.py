"""Run solvers on problem families over many random trials (serial, joblib or Dask)."""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings

import numpy as np

from .._config import SUCCESS_THRESHOLD
from .._threads import limit_threads
from .._validation import check_int
from ..exceptions import ValidationError
from .io import machine_info, open_journal, package_versions
from .problems import ProblemFamily, SolverConfig, as_solver_configs
from .results import Results

__all__ = ["run_benchmark", "trial_metrics"]

_BACKENDS = ("loky", "threading", "multiprocessing", "dask")

#: Solvers already run once in this process: (method, options, dtype) -> first-call seconds.
_WARM: dict[tuple, float] = {}


_NMSE_FLOOR = 1e-30


# --- metrics -------------------------------------------------------------------------------
def trial_metrics(X_true, X_hat, k: int, *, noisy: bool = False, threshold: float = SUCCESS_THRESHOLD) -> dict:
    """Quality of one batch of recovered signals, through :mod:`cs_toolkit.metrics`.

    Parameters
    ----------
    X_true, X_hat : ndarray of shape (n_signals, n)
        True and recovered signals.
    k : int
        Sparsity of the true signals (informative; supports are read from ``X_true``).
    noisy : bool, default False
        Selects the success criterion (see Notes).
    threshold : float, default ``cs_toolkit._config.SUCCESS_THRESHOLD`` (1e-3)
        Relative-error threshold of a noiseless success.

    Returns
    -------
    dict
        ``nmse`` (:func:`cs_toolkit.metrics.nmse`, ratio of sums over the batch),
        ``nmse_db`` (floored at -300 dB and capped at +300 dB so exact recoveries stay
        finite in CSV/JSON), ``relative_error`` (mean over the batch of
        :func:`~cs_toolkit.metrics.relative_error`), ``support_recovery`` (mean fraction of
        the true support among the ``k`` largest entries of ``|x_hat|``,
        :func:`~cs_toolkit.metrics.support_recovery`) and ``success`` (fraction of the batch).
        A non-finite ``X_hat`` (a diverged solver) gives NaN errors and no success.

    Notes
    -----
    A signal counts as a *success* when, noiseless, its relative error is below
    ``threshold`` (:func:`cs_toolkit.metrics.recovery_success`, Donoho & Tanner's
    criterion) and, noisy (exact recovery being impossible), when the ``k`` largest
    entries of ``|x_hat|`` are exactly the true support.
    """
    from .. import metrics

    Xt = np.asarray(X_true, dtype=np.float64)
    Xh = np.asarray(X_hat, dtype=np.float64).reshape(Xt.shape)
    if not np.all(np.isfinite(Xh)):
        nan = float("nan")
        return {"nmse": nan, "nmse_db": nan, "relative_error": nan, "support_recovery": nan, "success": 0.0}
    nmse = float(metrics.nmse(Xt, Xh))
    supp = np.atleast_1d(metrics.support_recovery(Xt, Xh, per_signal=True))
    if noisy:
        success = supp == 1.0
    else:
        success = np.atleast_1d(metrics.recovery_success(Xt, Xh, threshold=threshold))
    return {
        "nmse": nmse,
        "nmse_db": float(np.clip(10.0 * math.log10(max(nmse, _NMSE_FLOOR)), -300.0, 300.0)) if nmse < np.inf
        else 300.0,
        "relative_error": float(np.mean(metrics.relative_error(Xt, Xh))),
        "support_recovery": float(np.mean(supp)),
        "success": float(np.mean(success)),
    }


# --- running one solver ------------------------------------------------------------------
def _payload(configs: list[SolverConfig]) -> list[tuple]:
    """(config, function, accepts return_info) for each solver, resolved in the parent process."""
    out = []
    for cfg in configs:
        spec = cfg.spec()
        out.append((cfg, spec.func, "return_info" in spec.options))
    return out


def _call(func, accepts_info, A, Y, opts):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        out = func(A, Y, return_info=True, **opts) if accepts_info else func(A, Y, **opts)
        elapsed = time.perf_counter() - t0
    X_hat, info = (out if accepts_info else (out, {}))
    n_iter = info.get("n_iter") if isinstance(info, dict) else getattr(info, "n_iter", None)
    n_iter = float("nan") if n_iter is None else float(np.mean(np.asarray(n_iter, dtype=float)))
    return X_hat, elapsed, n_iter, len(caught)


def _warm_key(cfg, dtype):
    return (cfg.method, repr(sorted(cfg.options.items())), str(dtype))


def _ensure_warm(cfg: SolverConfig, func, accepts_info, dtype) -> float:
    """Run the solver once on a tiny problem (JIT compile / cache load); return that time."""
    key = _warm_key(cfg, dtype)
    if key not in _WARM:
        elapsed = 0.0
        for n_signals in (2, 1):  # batch and single-signal code paths
            tiny = ProblemFamily(n=32, m=16, k=2, n_signals=n_signals, dtype=str(dtype))
            A, X, Y = tiny.generate(12345)
            elapsed += _call(func, accepts_info, A, Y, cfg.resolve(tiny, A, Y, X))[1]
        _WARM[key] = elapsed
    return _WARM[key]


def _run_trial(problem: ProblemFamily, payload, entropy: int, spawn_key: tuple, n_threads=None) -> list[dict]:
    """Draw one problem instance (seeded by ``entropy`` and ``spawn_key``) and run every solver on it."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=tuple(int(s) for s in spawn_key)))
    A, X, Y = problem.generate(rng)
    rows = []
    with limit_threads(n_threads):
        for cfg, func, accepts_info in payload:
            _ensure_warm(cfg, func, accepts_info, problem.dtype)
            opts = cfg.resolve(problem, A, Y, X)
            X_hat, elapsed, n_iter, n_warn = _call(func, accepts_info, A, Y, opts)
            row = {"solver": cfg.name, "method": cfg.method, "time_s": elapsed, "n_iter": n_iter}
            row.update(trial_metrics(X, X_hat, problem.k, noisy=problem.noisy))
            row["n_warnings"] = n_warn
            rows.append(row)
    return rows


# --- execution engines -------------------------------------------------------------------
def _entropy(rng) -> tuple[int, int | None]:
    """Root entropy of the per-trial seed sequences, and the int seed when ``rng`` is one."""
    if rng is None:
        return int(np.random.SeedSequence().entropy), None
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise ValidationError(f"rng seed must be non-negative, got {rng}.")
        return int(rng), int(rng)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1)), None
    raise ValidationError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}.")


def _check_parallel(n_jobs, backend, scheduler):
    if n_jobs is None:
        n_jobs = 1
    n_jobs = check_int("n_jobs", n_jobs, low=-1)
    if n_jobs == 0:
        raise ValidationError("n_jobs must be a positive integer or -1 (all cores), got 0.")
    if backend is not None and backend not in _BACKENDS:
        raise ValidationError(f"backend must be None or one of {', '.join(map(repr, _BACKENDS))}; got {backend!r}.")
    if scheduler is not None and backend != "dask":
        raise ValidationError(f"scheduler is only used with backend='dask', got backend={backend!r}.")
    return n_jobs


@contextlib.contextmanager
def _dask_client(scheduler, n_jobs):
    try:
        import distributed
    except ImportError:
        raise ValidationError(
            "backend='dask' needs dask.distributed; install it with pip install 'dask[distributed]'."
        ) from None
    if scheduler is None:
        try:
            client = distributed.get_client()
        except ValueError:
            raise ValidationError(
                "backend='dask' needs a running distributed.Client: create one "
                "(client = distributed.Client(...)) or pass scheduler='local'."
            ) from None
        yield client
    elif isinstance(scheduler, distributed.Client):
        yield scheduler
    elif scheduler == "local":
        workers = max(1, n_jobs if n_jobs > 0 else (os.cpu_count() or 1))
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            yield client
    elif isinstance(scheduler, str):
        with distributed.Client(scheduler) as client:
            yield client
    else:
        raise ValidationError(
            f"scheduler must be None, 'local', a scheduler address or a distributed.Client, got {scheduler!r}."
        )


def _execute(func, tasks, *, n_jobs, backend, scheduler):
    """Yield ``func(*task)`` for each task, in order, serially or through joblib/Dask."""
    if n_jobs == 1 and backend is None:
        for t in tasks:
            yield func(*t)
        return
    import joblib

    if backend == "dask":
        with _dask_client(scheduler, n_jobs) as client, joblib.parallel_config(backend="dask", client=client):
            yield from joblib.Parallel(n_jobs=-1, return_as="generator")(joblib.delayed(func)(*t) for t in tasks)
        return
    threads = 1 if backend in (None, "loky", "multiprocessing") else None
    par = joblib.Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")
    yield from par(joblib.delayed(func)(*t, threads) for t in tasks)


def _progress(total, desc, enabled, initial=0):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


def _as_problems(problems) -> list[ProblemFamily]:
    if isinstance(problems, ProblemFamily):
        problems = [problems]
    try:
        items = list(problems)
    except TypeError:
        raise ValidationError(
            f"problems must be a ProblemFamily or a list of them, got {type(problems).__name__}."
        ) from None
    if not items:
        raise ValidationError("problems must not be empty.")
    for p in items:
        if not isinstance(p, ProblemFamily):
            raise ValidationError(f"problems must contain ProblemFamily objects, got {type(p).__name__}.")
    labels = [p.label for p in items]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValidationError(f"problem labels must be unique, got duplicates {dup}; set name=... on each.")
    return items


def compile_times(payload, dtypes) -> dict:
    """Warm every solver up in this process; first-call seconds by solver name."""
    out = {}
    for cfg, func, accepts_info in payload:
        out[cfg.name] = max(_ensure_warm(cfg, func, accepts_info, dt) for dt in dtypes)
    return out


def run_benchmark(problems, solvers, *, n_trials=10, rng=0, n_jobs=1, backend=None, scheduler=None,
                  out=None, resume=True, progress=True) -> Results:
    """Run solvers on random instances of problem families and tabulate time and accuracy.

    Every trial draws one instance (matrix, signals, noise) from a seed derived
    from ``rng`` and the (problem, trial) pair, and every solver runs on that same
    instance, so results do not depend on ``n_jobs`` or the backend (times aside).

    Parameters
    ----------
    problems : ProblemFamily or list of ProblemFamily
        Problem families (labels must be unique).
    solvers : str, SolverConfig, dict or list of these
        Registered solver names (with default options, see
        :func:`~cs_toolkit.bench.default_solver_config`) or configurations.
    n_trials : int, default 10
        Random instances per problem.
    rng : None, int or numpy.random.Generator, default 0
        Root of the per-trial seeds (``numpy.random.SeedSequence(rng, spawn_key=(problem, trial))``).
    n_jobs : int, default 1
        Parallel jobs over trials (joblib); ``-1`` uses every core. Parallel workers
        limit numba and BLAS to one thread each; timings then compete for cores.
    backend : {None, "loky", "threading", "multiprocessing", "dask"}, default None
        joblib backend; ``"dask"`` runs on a ``distributed.Client`` (see ``scheduler``).
    scheduler : None, "local", str or distributed.Client, default None
        With ``backend="dask"``: ``None`` uses the client the caller created,
        ``"local"`` starts (and closes) an in-process ``LocalCluster`` with ``n_jobs``
        single-thread workers, a string is a scheduler address.
    out : str or path-like, optional
        Directory. Finished (problem, trial) pairs are appended to ``out/trials.jsonl``
        (one flushed JSON line each, after a header holding the settings and their hash);
        at the end ``results.csv`` and ``results.json`` are written atomically.
    resume : bool, default True
        Skip the trials already in ``out/trials.jsonl``, so a rerun after an interruption
        gives the table of an uninterrupted run (times aside). If that file was written
        with other settings (problems, solvers, ``n_trials``, an int ``rng``), a
        ``ValidationError`` says so; ``resume=False`` starts over. When ``rng`` is not an
        int, the resumed run reuses the root entropy stored in the journal.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    Results
        One row per (problem, trial, solver); see :class:`Results` for the columns.
        ``meta`` has the settings, versions, machine, ``compile_time_s`` and
        ``resumed_trials`` (trials read from the journal instead of run).

    Notes
    -----
    Each solver is first run on a tiny problem so that numba compile time (or the
    cache load) is not counted in ``time_s``; that first-call time is reported
    separately in ``meta["compile_time_s"]``. Success (see :func:`trial_metrics`):
    relative error below ``1e-3`` for noiseless problems, exact recovery of the
    support (``k`` largest entries) for noisy ones.

    Examples
    --------
    >>> from cs_toolkit.bench import ProblemFamily, run_benchmark
    >>> res = run_benchmark(ProblemFamily(n=64, m=32, k=4), ["omp"], n_trials=2,
    ...                     progress=False)  # doctest: +SKIP
    >>> res.summary()[0]["success_rate"]  # doctest: +SKIP
    1.0
    """
    problems = _as_problems(problems)
    configs = as_solver_configs(solvers)
    n_trials = check_int("n_trials", n_trials, low=1)
    n_jobs = _check_parallel(n_jobs, backend, scheduler)
    entropy, seed = _entropy(rng)
    payload = _payload(configs)

    settings = {"problems": [p.to_dict() for p in problems], "solvers": [c.to_dict() for c in configs],
                "n_trials": n_trials, "seed": seed, "success_threshold": SUCCESS_THRESHOLD}
    keys = [(pid, t) for pid in range(len(problems)) for t in range(n_trials)]
    done: dict[tuple, list] = {}
    log = None
    if out is not None:
        log, shash, entropy, records = open_journal(os.path.join(out, "trials.jsonl"), settings, resume=resume,
                                                    what="a benchmark", command="cs-toolkit bench",
                                                    entropy=entropy, seed=seed)
        valid = set(keys)
        for rec in records:
            key = (rec.get("problem_id"), rec.get("trial"))
            rs = rec.get("rows")
            if key in valid and isinstance(rs, list) and len(rs) == len(configs) and all(
                    isinstance(r, dict) for r in rs):
                done[key] = rs
        log.start({"settings_hash": shash, "settings": settings, "entropy": str(entropy)},
                  [{"problem_id": k[0], "trial": k[1], "rows": rs} for k, rs in done.items()])
    tasks = [(problems[pid], payload, entropy, (pid, t)) for pid, t in keys if (pid, t) not in done]
    ctimes = compile_times(payload, sorted({p.dtype for p in problems})) if tasks else {}
    n_resumed = len(done)
    try:
        with _progress(len(keys), "benchmark", progress, initial=n_resumed) as bar:
            for (_, _, _, key), trial_rows in zip(
                tasks, _execute(_run_trial, tasks, n_jobs=n_jobs, backend=backend, scheduler=scheduler), strict=True
            ):
                done[key] = trial_rows
                if log is not None:
                    log.append({"problem_id": key[0], "trial": key[1], "rows": trial_rows})
                bar.update(1)
    finally:
        if log is not None:
            log.close()
    rows = []
    order = list(Results.schema)
    for pid, t in keys:
        p = problems[pid]
        base = {"problem": p.label, "problem_id": pid, "matrix": p.matrix, "distribution": p.distribution,
                "n": p.n, "m": p.m, "k": p.k, "snr_db": float("nan") if p.snr_db is None else float(p.snr_db),
                "n_signals": p.n_signals, "trial": t}
        for r in done[(pid, t)]:
            row = {**base, **r}
            rows.append({**{c: row[c] for c in order if c in row}, **row})  # journal rows have sorted keys
    rows = Results._fix_types(rows)  # None (from JSON lines) -> NaN
    meta = {
        "settings": {"problems": [p.to_dict() for p in problems], "solvers": [c.to_dict() for c in configs],
                     "n_trials": n_trials, "seed": seed, "entropy": str(entropy), "n_jobs": n_jobs,
                     "backend": backend, "success_threshold": SUCCESS_THRESHOLD},
        "compile_time_s": ctimes,
        "resumed_trials": n_resumed,
        "versions": package_versions(),
        "machine": machine_info(),
    }
    res = Results(rows, meta)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        res.to_csv(os.path.join(out, "results.csv"))
        res.to_json(os.path.join(out, "results.json"))
    return res
