"""Sparse recovery solvers (numba kernels behind validated functions).

Every solver registers itself in the registry; :func:`solve` dispatches by name.
"""

from ._prox import hard_threshold, keep_largest, nonneg_soft_threshold, soft_threshold
from ._prox import shrink as shrink  # the learned layers' nonlinearity
from ._prox import shrink_thresh_grad as shrink_thresh_grad
from ._registry import SolverSpec, get_solver, list_solvers, register_solver, solve
from .amp import amp
from .bp import basis_pursuit
from .greedy import cosamp, subspace_pursuit
from .group import (
    block_cosamp,
    block_iht,
    block_omp,
    group_hard_threshold,
    group_lasso,
    group_soft_threshold,
)

# Solver modules (each registers its solvers on import). Add one import line per module.
from .ista import SolverInfo, duality_gap, fista, ista, ista_layer, lasso_objective
from .lars import LassoPath, lars
from .mmv import mmv_cosamp, mmv_fista, mmv_sp, somp
from .mp import mp
from .omp import GreedyInfo, omp, omp_gram
from .onebit import biht, qiht
from .thresholding import htp, iht
from .tree import tree_cosamp, tree_iht, tree_l0_prox, tree_projection

__all__ = [
    "solve",
    "list_solvers",
    "get_solver",
    "register_solver",
    "SolverSpec",
    "soft_threshold",
    "nonneg_soft_threshold",
    "hard_threshold",
    "keep_largest",
    "ista", "fista", "ista_layer", "lasso_objective", "duality_gap", "SolverInfo",
    "lars", "LassoPath", "basis_pursuit", "amp",
    "omp", "omp_gram", "GreedyInfo",
    "mp", "cosamp", "subspace_pursuit", "iht", "htp",
    "biht", "qiht",
    "group_soft_threshold", "group_hard_threshold", "group_lasso", "block_omp", "block_cosamp", "block_iht",
    "somp", "mmv_fista", "mmv_cosamp", "mmv_sp",
    "tree_projection", "tree_l0_prox", "tree_cosamp", "tree_iht",
]
