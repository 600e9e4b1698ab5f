"""Problem families and solver configurations of the benchmark harness."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .._validation import check_bool, check_int, check_option, check_rng, check_scalar, dense_matrix
from ..exceptions import ValidationError

__all__ = ["ProblemFamily", "SolverConfig", "as_solver_configs", "default_solver_config", "STRUCTURES"]

_DISTRIBUTIONS = ("gaussian", "rademacher", "uniform")
_DTYPES = ("float64", "float32")
#: Support models of :class:`ProblemFamily` (``structure``).
STRUCTURES = ("sparse", "block", "joint", "tree")


@dataclass(frozen=True, kw_only=True)
class ProblemFamily:
    """A family of random sparse recovery problems ``Y = X @ A.T (+ noise)``.

    Parameters
    ----------
    n : int
        Signal length (number of columns of ``A``).
    m : int
        Number of measurements (rows of ``A``).
    k : int
        Number of nonzero entries of each signal, ``0 <= k <= n``.
    matrix : str, default "gaussian"
        Sensing matrix kind, one of :data:`cs_toolkit.sensing.SENSING_KINDS`, built by
        :func:`cs_toolkit.sensing.make_sensing` (operators are made dense).
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
        Distribution of the nonzero entries, drawn by
        :func:`cs_toolkit.signals.synthetic.sparse_signals` (``"rademacher"``: random
        signs, the hardest case for greedy solvers).
    snr_db : float or None, default None
        Measurement signal-to-noise ratio in dB (one noise level per batch,
        :func:`cs_toolkit.signals.synthetic.add_noise`); ``None`` is noiseless.
    normalize : bool, default True
        Scale the columns of ``A`` to unit Euclidean norm.
    n_signals : int, default 1
        Signals per trial sharing one matrix (one solver call solves the batch).
    dtype : {"float64", "float32"}, default "float64"
        Floating point type of ``A`` and ``Y``.
    structure : {"sparse", "block", "joint", "tree"}, default "sparse"
        Support model of the signals: ``"sparse"`` (uniformly random positions),
        ``"block"`` (``k // block_size`` whole blocks of ``np.arange(n) // block_size``,
        :func:`~cs_toolkit.signals.synthetic.block_sparse_signals`), ``"joint"`` (the
        ``n_signals`` rows share one support: one MMV problem per trial) or ``"tree"`` (a
        rooted subtree of the wavelet tree of ``Wavelet(n, wavelet)``; the signal is the
        coefficient vector). Solver options given as the strings ``"groups"``, ``"tree"``
        and ``"k_blocks"`` are resolved from the structure (see :class:`SolverConfig`).
    block_size : int, default 4
        Block length for ``structure="block"`` (``n`` and ``k`` must be multiples).
    wavelet : str, default "haar"
        Wavelet whose tree defines ``structure="tree"`` (default level).
    name : str, optional
        Label in result tables; by default built from the parameters.

    Examples
    --------
    >>> p = ProblemFamily(n=64, m=32, k=4)
    >>> A, X, Y = p.generate(0)
    >>> A.shape, X.shape, Y.shape
    ((32, 64), (1, 64), (1, 32))
    """

    n: int
    m: int
    k: int
    matrix: str = "gaussian"
    distribution: str = "gaussian"
    snr_db: float | None = None
    normalize: bool = True
    n_signals: int = 1
    dtype: str = "float64"
    structure: str = "sparse"
    block_size: int = 4
    wavelet: str = "haar"
    name: str | None = None

    def __post_init__(self):
        check_int("n", self.n, low=1)
        check_int("m", self.m, low=1)
        check_int("k", self.k, low=0, high=self.n)
        check_int("n_signals", self.n_signals, low=1)
        from ..sensing import SENSING_KINDS

        if self.matrix not in (*SENSING_KINDS, "rademacher"):
            raise ValidationError(
                f"matrix must be one of {', '.join(map(repr, SENSING_KINDS))}; got {self.matrix!r}."
            )
        check_option("distribution", self.distribution, _DISTRIBUTIONS)
        check_option("dtype", self.dtype, _DTYPES)
        if self.snr_db is not None:
            check_scalar("snr_db", self.snr_db)
        check_bool("normalize", self.normalize)
        check_option("structure", self.structure, STRUCTURES)
        check_int("block_size", self.block_size, low=1)
        if self.structure == "block" and (self.n % self.block_size or self.k % self.block_size):
            raise ValidationError(
                f"structure='block' needs n and k multiples of block_size={self.block_size}, got n={self.n}, k={self.k}."
            )
        if self.structure == "tree":
            _ = self.tree_parents  # validates the wavelet and n

    @property
    def label(self) -> str:
        """Name used in result tables."""
        if self.name:
            return self.name
        snr = "" if self.snr_db is None else f" snr={self.snr_db:g}dB"
        st = "" if self.structure == "sparse" else f" {self.structure}"
        return f"{self.matrix} n={self.n} m={self.m} k={self.k} {self.distribution}{snr}{st}"

    @property
    def groups(self) -> np.ndarray:
        """Block labels ``np.arange(n) // block_size`` (the ``groups`` of the block solvers)."""
        return np.arange(self.n) // self.block_size

    @property
    def tree_parents(self) -> np.ndarray:
        """Parents of the wavelet tree of ``Wavelet(n, wavelet)`` (the ``tree`` of the tree solvers)."""
        from ..transforms import Wavelet

        return Wavelet(self.n, self.wavelet).tree_parents()

    @property
    def noisy(self) -> bool:
        return self.snr_db is not None

    def to_dict(self) -> dict:
        return asdict(self)

    def generate(self, rng=None):
        """Draw one problem instance.

        Parameters
        ----------
        rng : None, int or numpy.random.Generator
            Source of randomness.

        Returns
        -------
        A : ndarray of shape (m, n)
        X : ndarray of shape (n_signals, n)
            True sparse signals (exactly ``k`` nonzeros each).
        Y : ndarray of shape (n_signals, m)
            Measurements ``X @ A.T`` plus noise when ``snr_db`` is set.
        """
        from ..signals.synthetic import add_noise, sparse_signals

        rng = check_rng(rng)
        dt = np.dtype(self.dtype)
        A = np.asarray(_make_matrix(self.matrix, self.m, self.n, rng), dtype=np.float64)
        if self.normalize:
            norms = np.linalg.norm(A, axis=0)
            A = A / np.where(norms > 0, norms, 1.0)
        if self.structure == "sparse":
            X = sparse_signals(self.n_signals, self.n, self.k, rng=rng, distribution=self.distribution)
        else:
            X = self._structured_signals(rng)
        Y = X @ A.T
        if self.snr_db is not None:
            Y = add_noise(Y, self.snr_db, rng=rng)
        return (np.ascontiguousarray(A, dtype=dt), np.ascontiguousarray(X, dtype=dt),
                np.ascontiguousarray(Y, dtype=dt))

    def _structured_signals(self, rng):
        from ..signals.synthetic import (
            block_sparse_signals,
            jointly_sparse_signals,
            tree_sparse_signals,
        )

        if self.structure == "block":
            return block_sparse_signals(self.n_signals, self.n, self.k, self.block_size, rng=rng,
                                        distribution=self.distribution)
        if self.structure == "joint":
            return jointly_sparse_signals(self.n_signals, self.n, self.k, rng=rng, distribution=self.distribution)
        return tree_sparse_signals(self.n_signals, self.tree_parents, self.k, rng=rng,
                                   distribution=self.distribution)

    def noise_std(self, Y_clean) -> float:
        """Noise standard deviation implied by ``snr_db`` for clean measurements (0 if noiseless).

        The rule of :func:`cs_toolkit.signals.synthetic.add_noise`: ``std(Y) * 10^(-snr_db/20)``.
        """
        if self.snr_db is None:
            return 0.0
        return float(np.std(np.asarray(Y_clean, dtype=np.float64))) * 10.0 ** (-self.snr_db / 20.0)


def _make_matrix(kind, m, n, rng):
    from ..sensing import make_sensing

    return dense_matrix(make_sensing(kind, m, n, rng=rng), "A", copy=False, dtype=None)


@dataclass(frozen=True)
class SolverConfig:
    """A registered solver with fixed options, as one contender of a benchmark.

    Parameters
    ----------
    name : str
        Label in result tables (e.g. ``"fista-lam1e-3"``).
    method : str, optional
        Registry name (:func:`cs_toolkit.solvers.list_solvers`); defaults to ``name``.
    options : dict, optional
        Solver options. Two values are resolved per problem: the string ``"k"``
        becomes the problem's true sparsity (so greedy solvers get
        ``n_nonzero_coefs="k"``), and ``lam="auto"`` becomes
        ``1e-4 * max |A^T y|`` for noiseless problems (close to basis pursuit) and
        ``sigma * sqrt(2 log n)`` (the universal threshold, sigma the noise level
        implied by ``snr_db``) for noisy ones. For structured families the strings
        ``"groups"`` (block labels), ``"tree"`` (wavelet tree parents) and ``"k_blocks"``
        (``max(1, k // block_size)``) are resolved from the problem.

    Examples
    --------
    >>> SolverConfig("omp", options={"n_nonzero_coefs": "k"}).method
    'omp'
    """

    name: str
    method: str | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"SolverConfig name must be a non-empty string, got {self.name!r}.")
        if self.method is None:
            object.__setattr__(self, "method", self.name)
        if not isinstance(self.options, dict):
            raise ValidationError(f"options of solver {self.name!r} must be a dict, got {type(self.options).__name__}.")

    def spec(self):
        """The registry entry, validating the method name and the option names."""
        from ..solvers import get_solver

        spec = get_solver(self.method)
        unknown = sorted(set(self.options) - set(spec.options))
        if unknown:
            raise ValidationError(
                f"unknown option(s) {', '.join(map(repr, unknown))} for solver {self.name!r} "
                f"(method {self.method!r}); valid options: {', '.join(sorted(spec.options))}."
            )
        return spec

    def resolve(self, problem: ProblemFamily, A, Y, X=None) -> dict:
        """Concrete options for one problem instance (see the class docstring)."""
        out = {}
        for key, val in self.options.items():
            if isinstance(val, str) and val == "k":
                val = int(problem.k)
            elif isinstance(val, str) and val == "k_blocks":
                val = max(1, int(problem.k) // int(problem.block_size))
            elif key == "groups" and isinstance(val, str) and val == "groups":
                val = problem.groups
            elif key == "tree" and isinstance(val, str) and val == "tree":
                val = problem.tree_parents
            elif key == "lam" and isinstance(val, str) and val == "auto":
                val = _auto_lam(problem, A, Y, X)
            out[key] = val
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "method": self.method, "options": dict(self.options)}


def _auto_lam(problem, A, Y, X):
    Y64 = np.asarray(Y, dtype=np.float64)
    if problem.snr_db is None:
        corr = np.abs(Y64 @ np.asarray(A, dtype=np.float64))
        return float(max(1e-4 * corr.max(), 1e-12))
    clean = Y64 if X is None else np.asarray(X, dtype=np.float64) @ np.asarray(A, dtype=np.float64).T
    return float(problem.noise_std(clean) * math.sqrt(2.0 * math.log(problem.n)))


def default_solver_config(method: str) -> SolverConfig:
    """A :class:`SolverConfig` with the options a fair comparison needs.

    Sparsity-driven solvers get the true sparsity (``n_nonzero_coefs="k"``),
    penalty-driven ones ``lam="auto"`` (see :class:`SolverConfig`), and iterative
    convex solvers at least ``max_iter=5000`` (noiseless success needs a converged
    solution; the tolerance still stops them early). Other options keep the
    solver's defaults.
    """
    from ..solvers import get_solver

    spec = get_solver(method)
    opts = {}
    if spec.sparsity_param:
        opts[spec.sparsity_param] = "k_blocks" if spec.sparsity_param == "n_nonzero_blocks" else "k"
    for key in ("groups", "tree"):  # structured solvers: the structure of the problem family
        if key in spec.options and spec.options[key] is None:
            opts[key] = key
    if "lam" in spec.options and spec.options["lam"] is None:
        opts["lam"] = "auto"
    mi = spec.options.get("max_iter")
    if spec.kind == "convex" and isinstance(mi, int) and mi < 5000:
        opts["max_iter"] = 5000
    return SolverConfig(method, method, opts)


def as_solver_configs(solvers) -> list[SolverConfig]:
    """Normalise a solver name, :class:`SolverConfig`, dict or a list of these to configs.

    Names are validated against the registry (the error lists the valid ones)
    and labels must be unique.
    """
    if isinstance(solvers, str | SolverConfig | dict):
        solvers = [solvers]
    try:
        items = list(solvers)
    except TypeError:
        raise ValidationError(
            f"solvers must be a name, a SolverConfig or a list of them, got {type(solvers).__name__}."
        ) from None
    if not items:
        raise ValidationError("solvers must not be empty.")
    out = []
    for s in items:
        if isinstance(s, SolverConfig):
            cfg = s
        elif isinstance(s, str):
            cfg = default_solver_config(s)
        elif isinstance(s, dict):
            unknown = set(s) - {"name", "method", "options"}
            if unknown or "name" not in s and "method" not in s:
                raise ValidationError(
                    f"a solver given as a dict needs 'name' and/or 'method' and optional 'options', got keys {sorted(s)}."
                )
            name = s.get("name") or s["method"]
            method = s.get("method") or name
            base = default_solver_config(method).options
            cfg = SolverConfig(name, method, {**base, **dict(s.get("options", {}))})
        else:
            raise ValidationError(f"solvers entries must be names, SolverConfig or dicts, got {type(s).__name__}.")
        cfg.spec()
        out.append(cfg)
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValidationError(f"solver labels must be unique, got duplicates {dup}; give each a distinct name.")
    return out
