"""Synthetic sparse-recovery problems: sparse signals, noise, and whole problems ``Y = X A^T + E``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    check_array,
    check_float_dtype,
    check_int,
    check_option,
    check_rng,
    check_scalar,
)
from ..exceptions import ValidationError
from ..sensing import make_sensing

__all__ = [
    "sparse_signals",
    "bernoulli_gaussian",
    "add_noise",
    "make_problem",
    "Problem",
    "DISTRIBUTIONS",
    "block_sparse_signals",
    "jointly_sparse_signals",
    "tree_sparse_signals",
]

#: Distributions of the nonzero values understood by :func:`sparse_signals`.
DISTRIBUTIONS = ("gaussian", "rademacher", "uniform")


def sparse_signals(n_signals, n, k, *, rng=None, distribution="gaussian", dtype=np.float64):
    """Random signals with exactly ``k`` nonzeros per row at uniformly random positions.

    Parameters
    ----------
    n_signals : int
        Number of signals (rows).
    n : int
        Signal length.
    k : int
        Nonzeros per signal, ``0 <= k <= n``.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness (same seed, same signals).
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
        Nonzero values: N(0, 1); +-1 with equal probability; uniform on
        ``[-1, -0.1] U [0.1, 1]`` (bounded away from zero so every nonzero
        is detectable).
    dtype : {np.float32, np.float64}, default np.float64

    Returns
    -------
    X : ndarray of shape (n_signals, n)

    Examples
    --------
    >>> from cs_toolkit.signals import sparse_signals
    >>> X = sparse_signals(3, 10, 2, rng=0)
    >>> (X != 0).sum(axis=1).tolist()
    [2, 2, 2]
    """
    n_signals = check_int("n_signals", n_signals)
    n = check_int("n", n)
    k = check_int("k", k, low=0, high=n)
    distribution = check_option("distribution", distribution, DISTRIBUTIONS)
    dt = check_float_dtype("dtype", dtype)
    gen = check_rng(rng)
    X = np.zeros((n_signals, n), dtype=np.float64)
    if k == 0:
        return X.astype(dt)
    # k distinct positions per row: the first k of a random permutation (argsort of uniforms)
    pos = (
        np.argpartition(gen.random((n_signals, n)), k - 1, axis=1)[:, :k]
        if k < n
        else (np.tile(np.arange(n), (n_signals, 1)))
    )
    if distribution == "gaussian":
        vals = gen.standard_normal((n_signals, k))
        vals[vals == 0] = 1.0  # probability zero, but keep "exactly k" exact
    elif distribution == "rademacher":
        vals = gen.choice(np.array([-1.0, 1.0]), size=(n_signals, k))
    else:
        vals = gen.uniform(0.1, 1.0, size=(n_signals, k)) * gen.choice(
            np.array([-1.0, 1.0]), size=(n_signals, k)
        )
    np.put_along_axis(X, pos, vals, axis=1)
    return X.astype(dt)


def bernoulli_gaussian(n_signals, n, p, *, rng=None, dtype=np.float64):
    """Bernoulli-Gaussian signals: each entry is nonzero with probability ``p``, with N(0, 1) value.

    Parameters
    ----------
    n_signals : int
        Number of signals.
    n : int
        Signal length.
    p : float
        Probability of a nonzero, ``0 <= p <= 1`` (the model of the LISTA papers).
    rng : None, int or numpy.random.Generator, default None
    dtype : {np.float32, np.float64}, default np.float64

    Returns
    -------
    X : ndarray of shape (n_signals, n)

    Examples
    --------
    >>> from cs_toolkit.signals import bernoulli_gaussian
    >>> bernoulli_gaussian(2, 5, 0.0, rng=0).tolist()
    [[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
    """
    n_signals = check_int("n_signals", n_signals)
    n = check_int("n", n)
    p = check_scalar("p", p, low=0.0, high=1.0)
    dt = check_float_dtype("dtype", dtype)
    gen = check_rng(rng)
    support = gen.random((n_signals, n)) < p
    return np.where(support, gen.standard_normal((n_signals, n)), 0.0).astype(dt)


def _noise_std(Y: np.ndarray, snr_db: float) -> float:
    return float(np.std(Y.astype(np.float64))) * 10.0 ** (-snr_db / 20.0)


def add_noise(Y, snr_db, *, rng=None, return_std=False):
    """Add white Gaussian noise at a given SNR to clean measurements.

    Parameters
    ----------
    Y : array_like of shape (m,) or (n_signals, m)
        Clean measurements (not modified).
    snr_db : float
        Target signal-to-noise ratio in dB.
    rng : None, int or numpy.random.Generator, default None
    return_std : bool, default False
        Also return the noise standard deviation.

    Returns
    -------
    Y_noisy : ndarray of the shape and float dtype of ``Y``
    noise_std : float
        Only when ``return_std``.

    Notes
    -----
    One noise level for the whole batch, as in the LISTA literature:
    ``sigma = std(Y) * 10^(-snr_db / 20)`` with ``std`` over all entries of
    the clean measurements, so that ``10 log10(var(Y) / sigma^2) = snr_db``.
    An all-zero ``Y`` gets no noise (``sigma = 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.signals import add_noise
    >>> Y = np.random.default_rng(0).standard_normal((200, 100))
    >>> _, s = add_noise(Y, 20.0, rng=1, return_std=True)
    >>> round(s / float(np.std(Y)), 6)
    0.1
    """
    Y = check_array(Y, "Y", ndim=(1, 2))
    snr_db = check_scalar("snr_db", snr_db)
    gen = check_rng(rng)
    sigma = _noise_std(Y, snr_db)
    noisy = (Y + sigma * gen.standard_normal(Y.shape)).astype(Y.dtype)
    return (noisy, sigma) if return_std else noisy


@dataclass(frozen=True)
class Problem:
    """A synthetic sparse recovery problem ``Y = X A^T + E``.

    Attributes
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix.
    X : ndarray of shape (n_signals, n)
        True sparse signals.
    Y : ndarray of shape (n_signals, m)
        Measurements (noisy when ``snr_db`` was given).
    Y_clean : ndarray of shape (n_signals, m)
        Noiseless measurements ``X A^T``.
    noise_std : float
        Standard deviation of the added noise (0 when noiseless).
    """

    A: object
    X: np.ndarray
    Y: np.ndarray
    Y_clean: np.ndarray
    noise_std: float


def make_problem(
    m,
    n,
    k,
    *,
    matrix="gaussian",
    n_signals=1,
    snr_db=None,
    distribution="gaussian",
    rng=None,
    dtype=np.float64,
) -> Problem:
    """Draw a sensing matrix, k-sparse signals and their (noisy) measurements.

    Parameters
    ----------
    m : int
        Number of measurements.
    n : int
        Signal length.
    k : int
        Nonzeros per signal, ``0 <= k <= n``.
    matrix : str, default "gaussian"
        Sensing kind passed to :func:`cs_toolkit.sensing.make_sensing`
        (``"gaussian"``, ``"bernoulli"``, ``"partial_dct"``, ...).
    n_signals : int, default 1
        Number of signals; the arrays are always 2-D batches of rows.
    snr_db : float, optional
        Measurement SNR in dB (see :func:`add_noise`); noiseless when None.
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
        Nonzero values (see :func:`sparse_signals`).
    rng : None, int or numpy.random.Generator, default None
        One generator drives the matrix, the signals and the noise, in that order.
    dtype : {np.float32, np.float64}, default np.float64

    Returns
    -------
    Problem
        Fields ``A, X, Y, Y_clean, noise_std``.

    Examples
    --------
    >>> from cs_toolkit.signals import make_problem
    >>> P = make_problem(20, 50, 3, n_signals=4, snr_db=30, rng=0)
    >>> P.A.shape, P.X.shape, P.Y.shape
    ((20, 50), (4, 50), (4, 20))
    """
    m = check_int("m", m)
    n = check_int("n", n)
    k = check_int("k", k, low=0, high=n)
    n_signals = check_int("n_signals", n_signals)
    check_option("distribution", distribution, DISTRIBUTIONS)
    if not isinstance(matrix, str):
        raise ValidationError(
            f"matrix must be a sensing kind name such as 'gaussian', got {matrix!r}."
        )
    if snr_db is not None:
        snr_db = check_scalar("snr_db", snr_db)
    dt = check_float_dtype("dtype", dtype)
    gen = check_rng(rng)
    A = make_sensing(matrix, m, n, rng=gen, dtype=dt)
    X = sparse_signals(n_signals, n, k, rng=gen, distribution=distribution, dtype=dt)
    if isinstance(A, np.ndarray):
        Y_clean = np.ascontiguousarray(X @ A.T, dtype=dt)
    else:
        Y_clean = np.ascontiguousarray(A.forward(X), dtype=dt)
    if snr_db is None:
        Y, sigma = Y_clean.copy(), 0.0
    else:
        Y, sigma = add_noise(Y_clean, snr_db, rng=gen, return_std=True)
    return Problem(A=A, X=X, Y=Y, Y_clean=Y_clean, noise_std=sigma)


# ----------------------------------------------------------------------------------------
# structured sparsity: blocks, joint supports, trees
# ----------------------------------------------------------------------------------------
def _draw_values(gen, shape, distribution):
    """Nonzero values of the given distribution (see :func:`sparse_signals`), never exactly zero."""
    if distribution == "gaussian":
        vals = gen.standard_normal(shape)
        vals[vals == 0] = 1.0
    elif distribution == "rademacher":
        vals = gen.choice(np.array([-1.0, 1.0]), size=shape)
    else:
        vals = gen.uniform(0.1, 1.0, size=shape) * gen.choice(np.array([-1.0, 1.0]), size=shape)
    return vals


def block_sparse_signals(n_signals, n, k, block_size, *, rng=None, distribution="gaussian", dtype=np.float64):
    """Block-sparse signals: ``k`` nonzeros filling ``k // block_size`` random blocks per row.

    The blocks are the contiguous groups ``np.arange(n) // block_size`` (pass that array as
    ``groups=`` to the block solvers).

    Parameters
    ----------
    n_signals : int
        Number of signals (rows).
    n : int
        Signal length, a multiple of ``block_size``.
    k : int
        Nonzeros per signal, a multiple of ``block_size``, ``0 <= k <= n``.
    block_size : int
        Length of a block.
    rng : None, int or numpy.random.Generator, default None
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
        Nonzero values (see :func:`sparse_signals`).
    dtype : {np.float32, np.float64}, default np.float64

    Returns
    -------
    X : ndarray of shape (n_signals, n)

    Raises
    ------
    ValidationError
        ``n`` or ``k`` not a multiple of ``block_size``, and the usual bad counts.

    Examples
    --------
    >>> from cs_toolkit.signals import block_sparse_signals
    >>> X = block_sparse_signals(2, 12, 6, 3, rng=0)
    >>> (X.reshape(2, 4, 3) != 0).any(axis=2).sum(axis=1).tolist()
    [2, 2]
    """
    n_signals = check_int("n_signals", n_signals)
    n = check_int("n", n)
    block_size = check_int("block_size", block_size, high=n)
    k = check_int("k", k, low=0, high=n)
    if n % block_size:
        raise ValidationError(f"n must be a multiple of block_size={block_size}, got n={n}.")
    if k % block_size:
        raise ValidationError(f"k must be a multiple of block_size={block_size} (whole blocks), got k={k}.")
    distribution = check_option("distribution", distribution, DISTRIBUTIONS)
    dt = check_float_dtype("dtype", dtype)
    gen = check_rng(rng)
    n_blocks, kb = n // block_size, k // block_size
    X = np.zeros((n_signals, n_blocks, block_size))
    if kb:
        pos = np.argsort(gen.random((n_signals, n_blocks)), axis=1)[:, :kb]
        vals = _draw_values(gen, (n_signals, kb, block_size), distribution)
        np.put_along_axis(X, pos[:, :, None], vals, axis=1)
    return X.reshape(n_signals, n).astype(dt)


def jointly_sparse_signals(n_vectors, n, k, *, n_problems=None, rng=None, distribution="gaussian",
                           dtype=np.float64):
    """Jointly sparse vectors: rows with the same ``k`` random nonzero positions (an MMV problem).

    Parameters
    ----------
    n_vectors : int
        Vectors sharing a support (rows of one problem).
    n : int
        Signal length.
    k : int
        Size of the shared support, ``0 <= k <= n``.
    n_problems : int, optional
        Number of independent problems (each with its own support); the result is then 3-D.
    rng : None, int or numpy.random.Generator, default None
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
    dtype : {np.float32, np.float64}, default np.float64

    Returns
    -------
    X : ndarray of shape (n_vectors, n) or (n_problems, n_vectors, n)

    Examples
    --------
    >>> from cs_toolkit.signals import jointly_sparse_signals
    >>> X = jointly_sparse_signals(3, 10, 2, rng=0)
    >>> int((X != 0).any(axis=0).sum()), (X != 0).sum(axis=1).tolist()
    (2, [2, 2, 2])
    """
    n_vectors = check_int("n_vectors", n_vectors)
    n = check_int("n", n)
    k = check_int("k", k, low=0, high=n)
    P = 1 if n_problems is None else check_int("n_problems", n_problems)
    distribution = check_option("distribution", distribution, DISTRIBUTIONS)
    dt = check_float_dtype("dtype", dtype)
    gen = check_rng(rng)
    X = np.zeros((P, n_vectors, n))
    if k:
        pos = np.argsort(gen.random((P, n)), axis=1)[:, :k]
        vals = _draw_values(gen, (P, n_vectors, k), distribution)
        np.put_along_axis(X, np.broadcast_to(pos[:, None, :], (P, n_vectors, k)), vals, axis=2)
    X = X.astype(dt)
    return X[0] if n_problems is None else X


def tree_sparse_signals(n_signals, tree, k, *, rng=None, distribution="gaussian", dtype=np.float64):
    """Tree-sparse signals: ``k`` nonzeros on a random rooted subtree of ``tree`` per row.

    The support is grown from the roots by adding, ``k`` times, a node drawn uniformly among
    those whose parent is already in the support (roots are always available), so every
    nonzero's parent is nonzero: the model of the tree solvers
    (:func:`cs_toolkit.solvers.tree_cosamp`).

    Parameters
    ----------
    n_signals : int
        Number of signals (rows).
    tree : array_like of int, shape (n,), or a transform with ``tree_parents()``
        Parent of each coefficient (``-1`` for roots), e.g. ``Wavelet(1024, "haar")``.
    k : int
        Nonzeros per signal, ``0 <= k <= n``.
    rng : None, int or numpy.random.Generator, default None
    distribution : {"gaussian", "rademacher", "uniform"}, default "gaussian"
    dtype : {np.float32, np.float64}, default np.float64

    Returns
    -------
    X : ndarray of shape (n_signals, n)
        Coefficient vectors (synthesise the signals with the transform, ``W.forward(X)``).

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.signals import tree_sparse_signals
    >>> parents = np.array([-1, 0, 0, 1, 1, 2, 2])
    >>> X = tree_sparse_signals(4, parents, 3, rng=0)
    >>> bool(np.all((X[:, 1:] == 0) | (X[:, parents[1:]] != 0)))
    True
    """
    from ..solvers.tree import check_tree

    n_signals = check_int("n_signals", n_signals)
    if hasattr(tree, "tree_parents"):
        tree = tree.tree_parents()
    arr = np.asarray(tree) if tree is not None else None
    n = int(arr.shape[0]) if arr is not None and arr.ndim == 1 else -1
    parents, _, _ = check_tree(tree, max(n, 0))
    k = check_int("k", k, low=0, high=n)
    distribution = check_option("distribution", distribution, DISTRIBUTIONS)
    dt = check_float_dtype("dtype", dtype)
    gen = check_rng(rng)
    order = np.argsort(parents, kind="stable")
    n_roots = int(np.count_nonzero(parents < 0))
    counts = np.bincount(parents[parents >= 0], minlength=n)
    first = np.concatenate(([0], np.cumsum(counts)))
    kids = order[n_roots:]
    roots = order[:n_roots]
    X = np.zeros((n_signals, n))
    for i in range(n_signals):
        frontier = roots.tolist()
        chosen = []
        for _ in range(k):
            t = int(gen.integers(len(frontier)))
            v = frontier[t]
            frontier[t] = frontier[-1]
            frontier.pop()
            chosen.append(v)
            frontier.extend(kids[first[v]:first[v + 1]].tolist())
        X[i, chosen] = _draw_values(gen, (k,), distribution)
    return X.astype(dt)
