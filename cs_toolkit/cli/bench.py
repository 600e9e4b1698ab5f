"""``cs-toolkit bench`` and ``cs-toolkit phase``: solver benchmarks and phase transition diagrams.

Example config file for ``cs-toolkit bench config.toml``::

    trials = 20          # optional; command-line flags override these
    seed = 0
    jobs = 1
    out = "bench-out"

    [[problems]]
    n = 256
    m = 128
    k = [5, 10, 20]      # a list expands into one problem per value
    matrix = "gaussian"
    distribution = "gaussian"
    snr_db = 30          # omit for noiseless

    [[solvers]]
    name = "omp"         # a registered solver, default options

    [[solvers]]
    name = "fista-1e-3"
    method = "fista"
    options = { lam = 1e-3, max_iter = 1000 }
"""

from __future__ import annotations

import dataclasses
import os

from .._threads import worker_count
from .._validation import check_int, check_scalar
from ..exceptions import ValidationError
from ._paths import check_output_dir

_TOP_KEYS = ("trials", "seed", "jobs", "out", "problems", "solvers")


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time solvers and measure their accuracy on random sparse recovery problems",
        description="Run registered solvers on random problems Y = X A^T (+ noise), print a summary "
                    "table and (with --out) write results.csv, results.json and figures (PNG and SVG).",
    )
    p.add_argument("config", nargs="?", help="TOML file listing [[problems]] and [[solvers]] (optional)")
    p.add_argument("--solvers", help="comma-separated solver names (see 'cs-toolkit solvers')")
    p.add_argument("--n", type=int, default=256, help="signal length (default 256)")
    p.add_argument("--m", type=int, default=128, help="number of measurements (default 128)")
    p.add_argument("--k", default="10", help="sparsity, or a comma-separated list of values (default 10)")
    p.add_argument("--matrix", default="gaussian", help="sensing matrix kind (default gaussian)")
    p.add_argument("--distribution", default="gaussian", help="nonzero values: gaussian, rademacher, uniform")
    p.add_argument("--snr", type=float, default=None, help="measurement SNR in dB (default noiseless)")
    p.add_argument("--trials", type=int, default=None, help="random instances per problem (default 20)")
    p.add_argument("--jobs", type=int, default=None, help="parallel jobs (default 1)")
    p.add_argument("--seed", type=int, default=None, help="root random seed (default 0)")
    p.add_argument("--out", default=None,
                   help="output directory for CSV, JSON and figures; finished trials are kept in "
                        "OUT/trials.jsonl and a rerun resumes from them")
    p.add_argument("--no-resume", action="store_true", help="start over instead of skipping finished trials")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_bench)

    p = sub.add_parser(
        "phase",
        help="empirical phase transition diagram over (delta = m/n, rho = k/m)",
        description="Map the success probability of solvers over a (delta, rho) grid, fit the 50% "
                    "transition per delta and compare with the l1 theory curve. Resumable: finished "
                    "cells are kept in OUT/cells.jsonl.",
    )
    p.add_argument("--solvers", required=True, help="comma-separated solver names, e.g. omp,basis_pursuit")
    p.add_argument("--n", type=int, default=200, help="signal length (default 200)")
    p.add_argument("--trials", type=int, default=20, help="trials per cell (default 20)")
    p.add_argument("--deltas", default="0.1:0.9:9", help="m/n grid, start:stop:num or a,b,c (default 0.1:0.9:9)")
    p.add_argument("--rhos", default="0.05:0.95:19", help="k/m grid (default 0.05:0.95:19)")
    p.add_argument("--matrix", default="gaussian", help="sensing matrix kind (default gaussian)")
    p.add_argument("--distribution", default="gaussian", help="nonzero values: gaussian, rademacher, uniform")
    p.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="parallel jobs over cells (default 1)")
    p.add_argument("--out", default=None, help="output directory (cells.jsonl, phase.csv/json, figures)")
    p.add_argument("--no-resume", action="store_true", help="start over instead of skipping finished cells")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_phase)


def _solver_names(text: str) -> list[str]:
    from ..solvers import list_solvers

    names = [s.strip() for s in (text or "").split(",") if s.strip()]
    if not names:
        raise ValidationError("--solvers must name at least one solver, e.g. --solvers omp,fista.")
    valid = list_solvers()
    bad = [s for s in names if s not in valid]
    if bad:
        raise ValidationError(f"unknown solver(s) {', '.join(bad)}; valid solvers: {', '.join(valid) or '(none)'}.")
    return names


def _read_toml(path: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValidationError("reading a config file on Python 3.10 needs the 'tomli' package.") from None
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ValidationError(f"cannot read config file {path!r}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"config file {path!r} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError as exc:  # an image or any binary file given as the config
        raise ValidationError(f"config file {path!r} is not valid TOML: it is not UTF-8 text "
                              f"(byte {exc.object[exc.start]:#04x} at offset {exc.start}).") from None
    unknown = sorted(set(doc) - set(_TOP_KEYS))
    if unknown:
        raise ValidationError(f"config file {path!r}: unknown key(s) {unknown}; valid keys: {list(_TOP_KEYS)}.")
    return doc


def _problems_from_config(doc, path):
    from ..bench import ProblemFamily

    keys = [f.name for f in dataclasses.fields(ProblemFamily)]
    items = doc.get("problems")
    if not isinstance(items, list) or not items or not all(isinstance(p, dict) for p in items):
        raise ValidationError(f"config file {path!r} needs at least one [[problems]] table.")
    required = [f.name for f in dataclasses.fields(ProblemFamily)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    out = []
    for i, p in enumerate(items, 1):
        where = f"config file {path!r}, [[problems]] table {i}"
        unknown = sorted(set(p) - set(keys))
        if unknown:
            raise ValidationError(f"{where}: unknown problem key(s) {unknown}; valid: {keys}.")
        missing = [key for key in required if key not in p]
        if missing:
            raise ValidationError(f"{where}: missing key(s) {missing} (required: {required}).")
        ks = p.get("k")
        if isinstance(ks, list) and not ks:
            raise ValidationError(f"{where}: k must be an integer or a non-empty list of integers, got [].")
        for k in ks if isinstance(ks, list) else [ks]:
            out.append(ProblemFamily(**{**p, "k": k}))
    return out


def _int_list(text: str, name: str, low=None, high=None) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValidationError(f"{name} must be an integer or a comma-separated list of integers, got {text!r}.") from None
    if not vals:
        raise ValidationError(f"{name} must not be empty.")
    return [check_int(name, v, low=low, high=high) for v in vals]


def _check_solver_tables(solvers, path) -> None:
    """The ``[[solvers]]`` tables of a config file: ``options``, when given, must be a table."""
    for s in solvers:
        if isinstance(s, dict) and "options" in s and not isinstance(s["options"], dict):
            raise ValidationError(f"config file {path!r}: options of the solver {s.get('name', s.get('method'))!r} "
                                  f"must be a table (e.g. options = {{ lam = 1e-3 }}), got {s['options']!r}.")


def _check_jobs(jobs, name, tasks=None) -> int:
    """``jobs`` checked (>= 1, or -1 for all cores) and clamped to the cores (and to ``tasks``, if given)."""
    jobs = check_int(name, jobs, low=-1)
    if jobs == 0:
        raise ValidationError(f"{name} must be a positive integer or -1 (all cores), got 0.")
    return worker_count(jobs, tasks)


#: Memory held per result record (one trial of one solver, one cell of one solver: the row as a dict,
#: the journal's copy, the table built from them; about 1.7 kB measured) and per trial or cell (its
#: key and task), in float64 values, with a margin.
_FLOATS_PER_RECORD = 512
_FLOATS_PER_TASK = 64


def _check_problem_memory(sizes, jobs, what, *, tasks=0, records=0):
    """Refuse up front a run whose largest problem, once per parallel job, cannot fit in memory:
    ``sizes`` are ``(m, n, n_signals)``, ``jobs`` the workers (checked by :func:`_check_jobs`); a job holds the sensing matrix and the solvers' copies of it,
    the Gram matrix some solvers form, and the signals (about ``4 m n + n^2 + 8 s (m + n)`` floats).
    The results are all kept: ``tasks`` trials (or cells), ``records`` rows (trials times solvers)."""
    from .signals import _check_memory

    per_job = max(4 * m * n + n * n + 8 * s * (m + n) for m, n, s in sizes)
    _check_memory(per_job * jobs + _FLOATS_PER_TASK * tasks + _FLOATS_PER_RECORD * records, what)


def _load_line() -> str:
    try:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return "load average: n/a"


def _bench(args) -> int:
    from .. import plotting
    from ..bench import ProblemFamily, as_solver_configs, run_benchmark

    doc = _read_toml(args.config) if args.config else {}

    def setting(key, flag):  # the flag's value, else the config file's (named as such), else None
        given = getattr(args, key)
        if given is not None:
            return given, flag
        return doc.get(key), f"{key} (config file {args.config!r})"

    trials, jobs, seed = (setting(k, f"--{k}") for k in ("trials", "jobs", "seed"))
    trials = check_int(trials[1], 20 if trials[0] is None else trials[0], low=1)
    seed = check_int(seed[1], 0 if seed[0] is None else seed[0], low=0)
    if args.solvers:
        solvers = _solver_names(args.solvers)
    elif "solvers" in doc:
        solvers = doc["solvers"]
        if not isinstance(solvers, list) or not all(isinstance(s, dict | str) for s in solvers):
            raise ValidationError(f"config file {args.config!r}: solvers must be a list of [[solvers]] tables.")
        _check_solver_tables(solvers, args.config)
    else:
        raise ValidationError("give --solvers (e.g. --solvers omp,fista) or a config file with [[solvers]].")
    configs = as_solver_configs(solvers)
    if args.config and "problems" in doc:
        problems = _problems_from_config(doc, args.config)
    else:
        n, m = check_int("--n", args.n, low=1), check_int("--m", args.m, low=1)
        snr = None if args.snr is None else check_scalar("--snr", args.snr)
        problems = [ProblemFamily(n=n, m=m, k=k, matrix=args.matrix, distribution=args.distribution,
                                  snr_db=snr) for k in _int_list(args.k, "--k", low=1, high=n)]
    jobs = _check_jobs(1 if jobs[0] is None else jobs[0], jobs[1], len(problems) * trials)  # no more workers than trials
    out = args.out if args.out is not None else doc.get("out")
    big = max(problems, key=lambda p: p.m * p.n)
    _check_problem_memory([(p.m, p.n, p.n_signals) for p in problems], jobs,
                          f"the benchmark's largest problem (m = {big.m}, n = {big.n}) with --jobs {jobs}, "
                          f"{len(problems)} problem(s) x {trials} --trials x {len(configs)} solver(s)",
                          tasks=len(problems) * trials, records=len(problems) * trials * len(configs))
    if out is not None:  # checked before any trial runs (cli/_paths.py)
        if not isinstance(out, str):
            raise ValidationError(f"config file {args.config!r}: out must be a folder name, got {out!r}.")
        check_output_dir(out, "--out" if args.out is not None else f"out (config file {args.config!r})")

    res = run_benchmark(problems, configs, n_trials=trials, rng=seed, n_jobs=jobs, out=out,
                        resume=not args.no_resume, progress=not args.no_progress)
    if res.meta.get("resumed_trials"):
        n_total = len(problems) * res.meta["settings"]["n_trials"]
        print(f"resumed: {res.meta['resumed_trials']} of {n_total} trials read from "
              f"{os.path.join(out, 'trials.jsonl')}")
    print(res.format_summary())
    print()
    print("first call (JIT compile / cache load): "
          + ", ".join(f"{k} {v:.3g} s" for k, v in res.meta["compile_time_s"].items()))
    print(_load_line())
    if out:
        written = [os.path.join(out, f) for f in ("trials.jsonl", "results.csv", "results.json")]
        written += plotting.save_figure(plotting.plot_time_accuracy(res), os.path.join(out, "time_accuracy"))
        if len({p.k for p in problems}) > 1:
            written += plotting.save_figure(plotting.plot_success_vs_sparsity(res),
                                            os.path.join(out, "success_vs_sparsity"))
        print("wrote " + ", ".join(written))
    return 0


def _grid_count(text) -> int:
    """How many values the grid ``text`` (``start:stop:num`` or ``a,b,c``) holds, without building it
    (``parse_grid`` refuses what is not a grid)."""
    parts = str(text).split(":")
    if len(parts) == 3:
        try:
            return max(0, int(parts[2]))
        except ValueError:
            return 0
    return len(str(text).split(","))


def _grid(text, flag):
    """The values of ``--deltas`` or ``--rhos``, each a number in (0, 1] (NaN refused here, naming the
    option, before any size is computed from it)."""
    from ..bench import parse_grid

    values = parse_grid(text, flag)
    bad = [v for v in values.tolist() if not 0.0 < v <= 1.0]  # NaN fails the comparison too
    if values.size == 0 or bad:
        raise ValidationError(f"{flag} must lie in (0, 1], got {text!r}" + (f" (value {bad[0]})." if bad else "."))
    return values


def _phase(args) -> int:
    from .. import plotting
    from ..bench import phase_transition

    if args.out is not None:
        check_output_dir(args.out, "--out")
    solvers = _solver_names(args.solvers)
    n = check_int("--n", args.n, low=2)
    check_int("--trials", args.trials, low=1)
    check_int("--seed", args.seed, low=0)
    counts = [_grid_count(args.deltas), _grid_count(args.rhos)]
    jobs = _check_jobs(args.jobs, "--jobs", counts[0] * counts[1])
    # the grid's cells (each with a row per solver) are all kept: bounded before the grid is built
    _check_problem_memory([(1, 1, 1)], 1, f"a phase diagram of {counts[0]:,} --deltas x {counts[1]:,} --rhos "
                          f"cells x {len(solvers)} solver(s)", tasks=counts[0] * counts[1],
                          records=counts[0] * counts[1] * len(solvers))
    deltas = _grid(args.deltas, "--deltas")
    rhos = _grid(args.rhos, "--rhos")
    m = max(1, int(round(max(deltas) * n)))
    _check_problem_memory([(m, n, 1)], jobs,
                          f"the phase diagram's largest cell (m = {m}, n = {n}) with --jobs {jobs}")
    res = phase_transition(solvers, n=args.n, deltas=deltas, rhos=rhos, n_trials=args.trials,
                           matrix=args.matrix, distribution=args.distribution, rng=args.seed, n_jobs=jobs,
                           out=args.out, resume=not args.no_resume, progress=not args.no_progress)
    print(res.format_summary())
    print()
    print(_load_line())
    if args.out:
        written = [os.path.join(args.out, f) for f in ("cells.jsonl", "phase.csv", "phase.json")]
        for s in res.solvers:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in s)
            written += plotting.save_figure(plotting.plot_phase_transition(res, s),
                                            os.path.join(args.out, f"phase_{safe}"))
        written += plotting.save_figure(plotting.plot_phase_curves(res), os.path.join(args.out, "phase_curves"))
        print("wrote " + ", ".join(written))
    return 0
