"""Benchmark harness: problem families, solver comparisons and phase transitions.

:func:`run_benchmark` times solvers and measures their accuracy on random
problem families; :func:`phase_transition` maps the empirical success
probability over the Donoho-Tanner (delta = m/n, rho = k/m) plane, resumably,
and :func:`l1_weak_threshold` gives the asymptotic l1 curve to compare with.
Figures are drawn by :mod:`cs_toolkit.plotting`.
"""

from .phase import PhaseResult, fit_logistic_transition, parse_grid, phase_transition
from .problems import ProblemFamily, SolverConfig, as_solver_configs, default_solver_config
from .results import Results, format_table, load_results
from .runner import run_benchmark, trial_metrics
from .theory import l1_statistical_dimension, l1_weak_threshold

__all__ = [
    "ProblemFamily",
    "SolverConfig",
    "as_solver_configs",
    "default_solver_config",
    "run_benchmark",
    "trial_metrics",
    "Results",
    "load_results",
    "format_table",
    "phase_transition",
    "PhaseResult",
    "fit_logistic_transition",
    "parse_grid",
    "l1_weak_threshold",
    "l1_statistical_dimension",
]
