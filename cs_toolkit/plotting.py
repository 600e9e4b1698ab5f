"""Figures of benchmarks and phase transitions (matplotlib).

Every function draws on the ``ax`` it is given, or on a new
:class:`matplotlib.figure.Figure` created without pyplot, so nothing here
changes global state (backend, rcParams, current figure) and everything works
headless. Each returns the axes; ``ax.figure`` is the figure to save with
:func:`save_figure`.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable

import numpy as np

from ._atomic import atomic_path
from ._validation import check_array, check_bool
from .exceptions import ValidationError

__all__ = [
    "plot_phase_transition",
    "plot_phase_curves",
    "plot_time_accuracy",
    "plot_success_vs_sparsity",
    "plot_nmse_per_iteration",
    "save_figure",
]


def _new_axes(ax, figsize=(6.4, 4.8)):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if ax is not None:
        if not isinstance(ax, Axes):
            raise ValidationError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")
        return ax

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _label(name) -> str:
    """Legend label; matplotlib hides labels that start with an underscore, so pad those."""
    name = str(name)
    return " " + name if name.startswith("_") else name


def _edges(centres):
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.05, c[0] + 0.05])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _check_phase(result):
    from .bench.phase import PhaseResult

    if not isinstance(result, PhaseResult):
        raise ValidationError(f"result must be a PhaseResult (from phase_transition), got {type(result).__name__}.")
    if not len(result):
        raise ValidationError("result has no rows to plot.")


def _theory_curve(ax, deltas, **kw):
    from .bench.theory import l1_weak_threshold

    lo, hi = max(float(np.min(deltas)), 1e-3), min(float(np.max(deltas)), 1.0)
    d = np.linspace(lo, hi, 100)
    ax.plot(d, l1_weak_threshold(d), **kw)


def plot_phase_transition(result, solver=None, *, ax=None, theory=True, fit=True):
    """Heat map of the empirical success probability over (delta, rho).

    Parameters
    ----------
    result : PhaseResult
        Output of :func:`cs_toolkit.bench.phase_transition`.
    solver : str, optional
        Solver label; default the first one.
    ax : matplotlib Axes, optional
        Axes to draw on; by default a new figure.
    theory : bool, default True
        Overlay the asymptotic l1 weak threshold (:func:`cs_toolkit.bench.l1_weak_threshold`).
    fit : bool, default True
        Overlay the fitted 50% transition (logistic regression per delta).

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_phase(result)
    theory, fit = check_bool("theory", theory), check_bool("fit", fit)
    solver = result.solvers[0] if solver is None else solver
    grid = result.success_grid(solver)  # validates the name
    ax = _new_axes(ax)
    deltas, rhos = result.deltas, result.rhos
    mesh = ax.pcolormesh(_edges(deltas), _edges(rhos), grid.T, cmap="viridis", vmin=0.0, vmax=1.0,
                         shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label="empirical success probability")
    if fit:
        r50 = result.transition(solver)
        ok = np.isfinite(r50)
        ax.plot(result.deltas_actual[ok], r50[ok], "o-", color="white", mec="black", lw=2,
                label="fitted 50% transition")
    if theory:
        _theory_curve(ax, deltas, color="red", ls="--", lw=2, label="l1 theory (Donoho-Tanner)")
    ax.set_xlabel(r"$\delta = m/n$ (undersampling)")
    ax.set_ylabel(r"$\rho = k/m$ (sparsity)")
    ax.set_title(f"Phase transition: {solver} (n = {result.n})")
    ax.set_xlim(_edges(deltas)[[0, -1]])
    ax.set_ylim(_edges(rhos)[[0, -1]])
    if fit or theory:
        ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_phase_curves(result, *, ax=None, theory=True):
    """Fitted 50% transition curves of every solver, with the l1 theory curve.

    Parameters
    ----------
    result : PhaseResult
    ax : matplotlib Axes, optional
    theory : bool, default True

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_phase(result)
    theory = check_bool("theory", theory)
    ax = _new_axes(ax)
    for s in result.solvers:
        r50 = result.transition(s)
        ok = np.isfinite(r50)
        ax.plot(result.deltas_actual[ok], r50[ok], "o-", label=_label(s))
    if theory:
        _theory_curve(ax, result.deltas, color="black", ls="--", label="l1 theory")
    ax.set_xlabel(r"$\delta = m/n$")
    ax.set_ylabel(r"$\rho_{50} = k/m$ at 50% success")
    ax.set_title(f"Phase transitions (n = {result.n})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _check_results(results):
    from .bench.results import Results

    if not isinstance(results, Results):
        raise ValidationError(f"results must be a Results (from run_benchmark), got {type(results).__name__}.")
    if not len(results):
        raise ValidationError("results has no rows to plot.")


def plot_time_accuracy(results, *, ax=None):
    """Mean time per call (log scale) against median NMSE (dB), one point per (solver, problem).

    Parameters
    ----------
    results : Results
        Output of :func:`cs_toolkit.bench.run_benchmark`.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_results(results)
    ax = _new_axes(ax, figsize=(8.0, 4.8))
    summary = results.summary()
    problems = list(dict.fromkeys(r["problem"] for r in summary))
    markers = "osD^v<>ph*"
    for s in dict.fromkeys(r["solver"] for r in summary):
        rows = [r for r in summary if r["solver"] == s]
        line = None
        for r in rows:
            mk = markers[problems.index(r["problem"]) % len(markers)]
            kw = {} if line is None else {"color": line.get_color()}
            (line,) = ax.plot([r["mean_time_s"]], [r["median_nmse_db"]], mk, ms=8,
                              label=_label(s) if line is None else None, **kw)
    ax.set_xscale("log")
    ax.set_xlabel("mean time per call (s)")
    ax.set_ylabel("median NMSE (dB)")
    ax.set_title("Time vs accuracy")
    ax.grid(alpha=0.3, which="both")
    solver_legend = ax.legend(fontsize="small", title="solver", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if len(problems) > 1:  # a second legend: marker shape -> problem
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="", marker=markers[i % len(markers)], color="gray", label=p)
                   for i, p in enumerate(problems)]
        ax.add_artist(solver_legend)
        ax.legend(handles=handles, fontsize="x-small", title="problem", loc="lower left",
                  bbox_to_anchor=(1.02, 0.0))
    return ax


def plot_success_vs_sparsity(results, *, ax=None):
    """Success rate against sparsity ``k`` for each solver (and each (n, m) setting).

    Parameters
    ----------
    results : Results
        A benchmark over problems that differ in ``k``.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    _check_results(results)
    ax = _new_axes(ax)
    groups: dict[tuple, dict[int, list[float]]] = {}
    for r in results.rows:
        key = (r["solver"], r["n"], r["m"])
        groups.setdefault(key, {}).setdefault(int(r["k"]), []).append(float(r["success"]))
    several = len({(n, m) for _, n, m in groups}) > 1
    for (s, n, m), by_k in groups.items():
        ks = sorted(by_k)
        ax.plot(ks, [np.mean(by_k[k]) for k in ks], "o-", label=_label(f"{s} (n={n}, m={m})" if several else s))
    ax.set_xlabel("sparsity k (nonzeros)")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Success rate vs sparsity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_nmse_per_iteration(histories, *, ax=None, db=True):
    """NMSE per iteration of iterative solvers.

    Parameters
    ----------
    histories : dict of str -> array_like, or array_like
        NMSE values (linear scale) per iteration, shape ``(n_iter,)`` or
        ``(n_signals, n_iter)`` (averaged over signals); a single array is labelled "solver".
    ax : matplotlib Axes, optional
    db : bool, default True
        Plot ``10 log10(NMSE)``.

    Returns
    -------
    ax : matplotlib Axes
    """
    if not isinstance(histories, dict):
        histories = {"solver": histories}
    if not histories:
        raise ValidationError("histories must not be empty.")
    db = check_bool("db", db)
    curves = {}
    for name, h in histories.items():  # every history checked before anything is drawn
        arr = check_array(h, f"histories[{name!r}]", ndim=(1, 2), dtype=np.float64, finite=False)
        if np.any(arr < 0):
            raise ValidationError(f"histories[{name!r}] must hold NMSE values >= 0.")
        curves[name] = arr.mean(axis=0) if arr.ndim == 2 else arr
    ax = _new_axes(ax)
    for name, curve in curves.items():
        y = 10.0 * np.log10(np.maximum(curve, 1e-30)) if db else curve
        ax.plot(np.arange(1, curve.size + 1), y, label=_label(name))
    ax.set_xlabel("iteration")
    ax.set_ylabel("NMSE (dB)" if db else "NMSE")
    if not db:
        ax.set_yscale("log")
    ax.set_title("Convergence")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def save_figure(fig, path_without_ext, formats=("png", "svg"), *, dpi=150) -> list[str]:
    """Save a figure (or the figure of an axes) in several formats, each written atomically.

    Parameters
    ----------
    fig : matplotlib Figure or Axes
    path_without_ext : str or path-like
        Target path without extension; ``.png``, ``.svg``, ... are appended. It must name a
        file, not a folder (no trailing separator), and not end with one of the formats'
        extensions (``fig.png`` is refused rather than written as ``fig.png.png``).
    formats : str or sequence of str, default ("png", "svg")
        Each written once, in order.
    dpi : int or float, default 150
        Resolution of raster formats, positive.

    Returns
    -------
    list of str
        The written paths.
    """
    fig = getattr(fig, "figure", fig) if not hasattr(fig, "savefig") else fig
    if not hasattr(fig, "savefig"):
        raise ValidationError(f"fig must be a matplotlib Figure or Axes, got {type(fig).__name__}.")
    if isinstance(formats, str):
        formats = (formats,)
    allowed = ("png", "svg", "pdf", "eps", "jpg", "jpeg")
    fmts = list(formats) if isinstance(formats, Iterable) else []
    if not fmts or not all(isinstance(f, str) and f in allowed for f in fmts):
        raise ValidationError(f"formats must be a non-empty list from {allowed}, got {formats!r}.")
    fmts = list(dict.fromkeys(fmts))
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Real) or not np.isfinite(dpi) or dpi <= 0:
        raise ValidationError(f"dpi must be a positive number (dots per inch), got {dpi!r}.")
    if not isinstance(path_without_ext, str | os.PathLike):
        raise ValidationError(f"path_without_ext must be a str or path-like, got {type(path_without_ext).__name__}.")
    base = os.fsdecode(path_without_ext)
    if not os.path.basename(base):
        raise ValidationError(f"path_without_ext must name a file, got the folder {base!r}; "
                              "e.g. pass 'results/figure' to write 'results/figure.png'.")
    ext = os.path.splitext(base)[1].lstrip(".").lower()
    if ext in allowed:  # "fig.png" would be written as "fig.png.png"
        raise ValidationError(f"path_without_ext must not end with a format's extension, got {base!r}: the "
                              f"formats are appended; pass {base[:-len(ext) - 1]!r} with formats=({ext!r},).")
    paths = []
    for fmt in fmts:
        target = f"{base}.{fmt}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        paths.append(target)
    return paths
