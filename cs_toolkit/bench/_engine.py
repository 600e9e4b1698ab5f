"""The trial engine shared by :func:`~cs_toolkit.bench.run_benchmark` (``runner.py``) and
:func:`~cs_toolkit.bench.phase_transition` (``phase.py``): the metrics of one trial, the solver
payload and its warm-up, one trial in a worker, the entropy of a run, and the serial, joblib
and Dask executors with their progress bar.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings

import numpy as np

from .._config import SUCCESS_THRESHOLD
from .._threads import limit_threads, worker_count
from .._validation import check_int
from ..exceptions import ValidationError
from .problems import ProblemFamily, SolverConfig

__all__ = ["trial_metrics"]

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
        True and recovered signals (``X_hat`` of the same size; a ``ValidationError`` otherwise).
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
    Xh = np.asarray(X_hat, dtype=np.float64)
    if Xh.size != Xt.size:  # a single signal may come back 1-D for a (1, n) batch, or the other way
        raise ValidationError(f"Dimension mismatch for X_hat: expected the shape of X_true {Xt.shape} "
                              f"({Xt.size} entries), got shape {Xh.shape}.")
    Xh = Xh.reshape(Xt.shape)
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
        workers = worker_count(n_jobs)
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
    """Yield ``func(*task)`` for each task, in order, serially or through joblib/Dask (at most one
    worker per core and per task)."""
    n_jobs = worker_count(n_jobs, len(tasks))
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


def compile_times(payload, dtypes) -> dict:
    """Warm every solver up in this process; first-call seconds by solver name."""
    out = {}
    for cfg, func, accepts_info in payload:
        out[cfg.name] = max(_ensure_warm(cfg, func, accepts_info, dt) for dt in dtypes)
    return out
