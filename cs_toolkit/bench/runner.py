"""Run solvers on problem families over many random trials (serial, joblib or Dask)."""

from __future__ import annotations

import os

from .._config import SUCCESS_THRESHOLD
from .._validation import check_bool, check_int
from ..exceptions import ValidationError
from ._engine import (
    _check_parallel,
    _entropy,
    _execute,
    _payload,
    _progress,
    _run_trial,
    compile_times,
    trial_metrics,
)
from .io import machine_info, open_journal, package_versions
from .problems import ProblemFamily, as_solver_configs
from .results import Results

__all__ = ["run_benchmark", "trial_metrics"]


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
    resume = check_bool("resume", resume)
    progress = check_bool("progress", progress)
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
