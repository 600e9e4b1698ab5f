"""Diagnostics of sensing matrices: coherence, Welch bound, spectral norm, empirical RIP, dot test.

Every function accepts a dense ndarray of shape ``(m, n)`` or a
:class:`~cs_toolkit.sensing.LinearOperator`. Functions that need explicit
entries (coherence, RIP, the exact norm) densify an operator with
``to_dense()`` only when it has at most ``max_size`` entries (default
``2**24``, 128 MiB in float64) and raise otherwise, so a huge matrix-free
operator never silently allocates gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    check_array,
    check_int,
    check_option,
    check_rng,
    check_scalar,
    dense_matrix,
)
from ..exceptions import ValidationError
from ._base import LinearOperator, MatrixOperator, power_iteration

__all__ = ["mutual_coherence", "welch_bound", "spectral_norm", "rip_estimate", "RIPEstimate", "dot_test"]

#: Largest number of entries an operator is densified to by default.
MAX_DENSE_SIZE = 2**24

#: Default relative tolerances of :func:`dot_test`, by dtype.
DOT_TEST_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def mutual_coherence(A, *, max_size=MAX_DENSE_SIZE) -> float:
    """Mutual coherence ``max_{i != j} |<a_i, a_j>| / (||a_i|| ||a_j||)`` of the columns.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        The matrix; an operator is densified with ``to_dense()`` (see ``max_size``).
    max_size : int, default 2**24
        Largest number of entries ``m * n`` an operator may have to be densified.

    Returns
    -------
    float
        The coherence, in ``[0, 1]``.

    Raises
    ------
    ValidationError
        Non-finite entries, fewer than two columns, a zero column, or an
        operator larger than ``max_size``.

    Notes
    -----
    Computed in float64 from the normalised Gram matrix, in blocks of columns
    (at most 2**22 Gram entries, 32 MB, at a time), so the memory is O(m n) plus
    that block, never the n x n Gram matrix. It is bounded below by :func:`welch_bound`
    (Donoho and Elad, 2003; Welch, 1974).

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import mutual_coherence
    >>> mutual_coherence(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
    0.7071067811865475
    """
    A = dense_matrix(A, "A", copy=False, max_size=max_size)
    m, n = A.shape
    if n < 2:
        raise ValidationError(f"A must have at least 2 columns for a coherence, got shape {A.shape}.")
    norms = np.linalg.norm(A, axis=0)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValidationError(
            f"A has {zero.size} zero column(s) (first at index {zero[0]}); the coherence is undefined."
        )
    An = A / norms
    chunk = max(1, min(n, 2**22 // n))
    best = 0.0
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        G = np.abs(An[:, start:stop].T @ An)  # (c, n)
        G[np.arange(stop - start), np.arange(start, stop)] = 0.0
        best = max(best, float(G.max()))
    return min(best, 1.0)


def welch_bound(m, n) -> float:
    """Welch lower bound ``sqrt((n - m) / (m (n - 1)))`` on the coherence of an ``m x n`` matrix.

    Parameters
    ----------
    m : int
        Number of rows, ``m >= 1``.
    n : int
        Number of columns, ``n >= 2``.

    Returns
    -------
    float
        The bound; 0 when ``m >= n`` (orthogonal columns are then possible).

    Raises
    ------
    ValidationError
        Non-integer sizes, ``m < 1`` or ``n < 2``.

    Examples
    --------
    >>> from cs_toolkit.sensing import welch_bound
    >>> round(welch_bound(64, 256), 4)
    0.1085
    """
    m = check_int("m", m, low=1)
    n = check_int("n", n, low=2)
    if m >= n:
        return 0.0
    return float(np.sqrt((n - m) / (m * (n - 1.0))))


def spectral_norm(A, *, method="auto", max_iter=500, tol=1e-9, rng=None, max_size=MAX_DENSE_SIZE) -> float:
    """Spectral norm ``||A||_2`` (largest singular value).

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        The matrix or operator.
    method : {"auto", "exact", "power"}, default "auto"
        ``"exact"``: ``np.linalg.norm(A, 2)`` in float64 (an operator is densified,
        see ``max_size``). ``"power"``: power iteration on ``A^T A``.
        ``"auto"``: exact for arrays, ``A.norm()`` for operators (exact where the
        operator knows its norm, e.g. dense or orthonormal-row operators, power
        iteration otherwise; the value is cached on the operator).
    max_iter : int, default 500
        Iterations of the power method.
    tol : float, default 1e-9
        Relative change of the estimate of ``||A||^2`` that stops the power method.
    rng : None, int or numpy.random.Generator, default None
        Start vector of the power method.
    max_size : int, default 2**24
        Largest number of entries an operator may have to be densified.

    Returns
    -------
    float

    Raises
    ------
    ValidationError
        Unknown ``method``, non-finite entries, bad ``max_iter``/``tol``.

    Notes
    -----
    Power iteration converges from below at a rate set by the ratio of the two
    largest singular values; it is the only choice for large matrix-free operators.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import spectral_norm
    >>> spectral_norm(np.diag([3.0, 1.0]))
    3.0
    """
    method = check_option("method", method, ("auto", "exact", "power"))
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0, low_inclusive=False)
    if isinstance(A, LinearOperator):
        if method == "auto":
            return float(A.norm())
        if method == "power":
            return power_iteration(A, max_iter=max_iter, tol=tol, rng=rng)
        return float(np.linalg.norm(dense_matrix(A, "A", copy=False, max_size=max_size), 2))
    A = check_array(A, "A", ndim=2)
    if method == "power":
        return power_iteration(MatrixOperator(A), max_iter=max_iter, tol=tol, rng=rng)
    return float(np.linalg.norm(A.astype(np.float64, copy=False), 2))


@dataclass(frozen=True)
class RIPEstimate:
    """Result of :func:`rip_estimate`.

    Attributes
    ----------
    k : int
        Sparsity level.
    delta : float
        ``max(lower, upper)``: empirical restricted isometry constant.
    lower : float
        ``max over trials of 1 - sigma_min(A_S)^2``.
    upper : float
        ``max over trials of sigma_max(A_S)^2 - 1``.
    lower_trials, upper_trials : ndarray of shape (n_trials,)
        Per-trial values of the two deviations.
    """

    k: int
    delta: float
    lower: float
    upper: float
    lower_trials: np.ndarray
    upper_trials: np.ndarray

    def as_dict(self) -> dict:
        """The fields as a plain dict."""
        return {
            "k": self.k,
            "delta": self.delta,
            "lower": self.lower,
            "upper": self.upper,
            "lower_trials": self.lower_trials,
            "upper_trials": self.upper_trials,
        }


def rip_estimate(A, k, *, n_trials=1000, rng=None, max_size=MAX_DENSE_SIZE) -> RIPEstimate:
    """Empirical restricted isometry constant of order ``k`` over random supports.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        The matrix (usually with unit-norm columns in expectation, e.g.
        Gaussian N(0, 1/m)); an operator is densified (see ``max_size``).
    k : int
        Support size, ``1 <= k <= n``.
    n_trials : int, default 1000
        Number of random supports ``S`` (``k`` distinct columns, uniform).
    rng : None, int or numpy.random.Generator, default None
        Source of randomness for the supports.
    max_size : int, default 2**24
        Largest number of entries an operator may have to be densified.

    Returns
    -------
    RIPEstimate
        ``delta``, ``lower``, ``upper`` and the per-trial values.

    Raises
    ------
    ValidationError
        ``k`` outside ``[1, n]``, bad ``n_trials``, non-finite entries.

    Notes
    -----
    The RIP constant ``delta_k`` is the smallest ``delta`` with
    ``(1 - delta) ||x||^2 <= ||A x||^2 <= (1 + delta) ||x||^2`` for every
    ``k``-sparse ``x`` (Candes and Tao, 2005). For each sampled support the
    extreme eigenvalues of the Gram matrix ``A_S^T A_S`` (the squared extreme
    singular values of ``A_S``) give ``1 - sigma_min^2`` and
    ``sigma_max^2 - 1``. Only a sample of the ``C(n, k)`` supports is
    examined, so the result is a **lower bound** on the true ``delta_k``
    (computing it exactly is NP-hard).

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import rip_estimate
    >>> rip_estimate(np.eye(8), 3, n_trials=10, rng=0).delta
    0.0
    """
    A = dense_matrix(A, "A", copy=False, max_size=max_size)
    m, n = A.shape
    k = check_int("k", k, low=1, high=n)
    n_trials = check_int("n_trials", n_trials, low=1)
    gen = check_rng(rng)
    AT = np.ascontiguousarray(A.T)  # (n, m): rows are columns of A
    lower = np.empty(n_trials)
    upper = np.empty(n_trials)
    chunk = max(1, min(n_trials, 2**22 // max(1, n + m * k)))
    for start in range(0, n_trials, chunk):
        c = min(chunk, n_trials - start)
        if k == n:
            S = np.broadcast_to(np.arange(n), (c, n))
        else:
            S = np.argpartition(gen.random((c, n)), k - 1, axis=1)[:, :k]
        AS = AT[S]  # (c, k, m)
        G = AS @ AS.transpose(0, 2, 1)  # (c, k, k)
        ev = np.linalg.eigvalsh(G)
        lower[start:start + c] = 1.0 - np.maximum(ev[:, 0], 0.0)
        upper[start:start + c] = ev[:, -1] - 1.0
    lo, up = float(lower.max()), float(upper.max())
    return RIPEstimate(k=k, delta=max(lo, up), lower=lo, upper=up, lower_trials=lower, upper_trials=upper)


def dot_test(op, *, rng=None, n_trials=3, rtol=None) -> bool:
    """Adjoint (dot) test: ``<A x, y> == <x, A^T y>`` for random ``x``, ``y``.

    Parameters
    ----------
    op : LinearOperator or ndarray of shape (m, n)
        The operator to test (an array is wrapped in :class:`MatrixOperator`).
    rng : None, int or numpy.random.Generator, default None
        Source of the random vectors.
    n_trials : int, default 3
        Number of random pairs ``(x, y)``.
    rtol : float, optional
        Tolerance on ``|<Ax, y> - <x, A^T y>|`` relative to
        ``||Ax|| ||y|| + ||x|| ||A^T y||``; by default 1e-4 for float32 and
        1e-10 for float64 operators.

    Returns
    -------
    bool
        True when every trial passes.

    Raises
    ------
    AssertionError
        A trial failed; the message gives both inner products and the tolerance.
    ValidationError
        ``op`` is neither an operator nor a matrix, or bad ``n_trials``/``rtol``.

    Notes
    -----
    The standard test of a hand-written adjoint (Claerbout's dot-product test,
    PyLops ``dottest``); the inner products are accumulated in float64.

    Examples
    --------
    >>> from cs_toolkit.sensing import PartialDCT, dot_test
    >>> dot_test(PartialDCT(8, 32, rng=0), rng=0)
    True
    """
    if not isinstance(op, LinearOperator):
        if not isinstance(op, np.ndarray | list | tuple):
            raise ValidationError(
                f"op must be a LinearOperator or a 2-D array, got {type(op).__name__}."
            )
        op = MatrixOperator(op)
    n_trials = check_int("n_trials", n_trials, low=1)
    rtol = DOT_TEST_RTOL[op.dtype] if rtol is None else check_scalar("rtol", rtol, low=0.0)
    gen = check_rng(rng)
    m, n = op.shape
    for trial in range(n_trials):
        x = gen.standard_normal(n).astype(op.dtype)
        y = gen.standard_normal(m).astype(op.dtype)
        Ax = np.asarray(op.forward(x), dtype=np.float64)
        ATy = np.asarray(op.adjoint(y), dtype=np.float64)
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        lhs = float(Ax @ y64)
        rhs = float(x64 @ ATy)
        scale = float(np.linalg.norm(Ax) * np.linalg.norm(y64) + np.linalg.norm(x64) * np.linalg.norm(ATy))
        err = abs(lhs - rhs)
        if not err <= rtol * scale:
            raise AssertionError(
                f"dot test failed for {op!r} (trial {trial}): <Ax, y> = {lhs!r}, <x, A^T y> = {rhs!r}, "
                f"|difference| = {err:.3e} > rtol * scale = {rtol:.1e} * {scale:.3e}."
            )
    return True
