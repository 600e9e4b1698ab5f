"""Signals: synthetic sparse-recovery problems, and the image and audio pipelines."""

from .synthetic import (
    DISTRIBUTIONS,
    Problem,
    add_noise,
    bernoulli_gaussian,
    make_problem,
    sparse_signals,
)

__all__ = [
    "DISTRIBUTIONS",
    "Problem",
    "add_noise",
    "bernoulli_gaussian",
    "make_problem",
    "sparse_signals",
]
