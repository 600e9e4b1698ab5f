"""Orthogonal matching pursuit: :func:`omp` on a matrix and :func:`omp_gram` on a Gram matrix.

Also holds what the greedy and thresholding solvers share: the
:class:`GreedyInfo` record returned with ``return_info=True`` and the
validation helpers for ``A``, ``Y`` and the sparsity level.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._config import EPS
from .._threads import blas_single_thread
from .._validation import (
    check_array,
    check_signals,
    result_dtype,
)
from ..exceptions import DependentAtomsWarning, ValidationError
from ._common import GreedyInfo, Status, _check_sparsity, _check_tol
from ._common import prepare as _prepare
from ._registry import register_solver

__all__ = ["omp", "omp_gram", "GreedyInfo"]

#: Batch-OMP is chosen by ``precompute="auto"`` when
#: ``n_signals * n_nonzero_coefs * GRAM_RATIO >= n`` and the Gram matrix is not
#: larger than ``GRAM_MAX_BYTES``. Measured (one thread): on 64x256, k=8 the Gram
#: path wins from about 10 signals on, on 256x1024, k=16 from about 9 (the cost
#: of forming ``G`` is ``m n^2``, that of the QR kernel ``k m n`` per signal).
GRAM_RATIO = 4
GRAM_MAX_BYTES = 512 * 2**20

_EMPTY_HIST = np.empty((1, 0), np.float64)


# ----------------------------------------------------------------------------------------
# helpers shared by omp.py, mp.py, greedy.py and thresholding.py
# ----------------------------------------------------------------------------------------
def _n_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _dynamic():
    """Dynamic scheduling of the ``prange`` blocks (one block per chunk), which keeps
    both threads busy when the machine is shared; see ``numba.parallel_chunksize``."""
    import numba

    return numba.parallel_chunksize(1)


#: Below this many signals the kernels run serially (no thread start-up; on a busy
#: machine waking a second thread costs milliseconds).
SERIAL_MAX_SIGNALS = 32


def _runs_parallel(n_signals: int) -> bool:
    """Whether a batch of ``n_signals`` goes to the ``prange`` driver (several threads, and at
    least ``SERIAL_MAX_SIGNALS`` signals)."""
    return n_signals >= SERIAL_MAX_SIGNALS and _n_threads() > 1


def _run_kernel(batch_fn, range_fn, args, n_signals: int) -> None:
    """Run ``range_fn(*args, 0, N)`` serially for small batches, else ``batch_fn(*args, block)``."""
    if _runs_parallel(n_signals):
        with _dynamic():
            batch_fn(*args, _block_size(n_signals))
    else:
        range_fn(*args, 0, n_signals)


def _block_size(n_signals: int) -> int:
    """Signals per ``prange`` task: about 4 tasks per thread, at most 64 signals each."""
    return max(1, min(64, -(-n_signals // (4 * _n_threads()))))


def _warn_dependent(status: np.ndarray) -> None:
    n_dep = int(np.count_nonzero(status == Status.DEPENDENT))
    if n_dep:
        warnings.warn(
            f"{n_dep} signal(s) stopped early: the next selected atom was numerically dependent on "
            "the atoms already selected (duplicate or collinear atoms); their codes are returned.",
            DependentAtomsWarning,
            stacklevel=3,
        )


def _history_array(n_signals: int, n_cols: int, history: bool):
    if history:
        return np.full((n_signals, max(n_cols, 1)), np.nan)
    return _EMPTY_HIST


def _omp_info(status, n_iter, resid2, t0, method, H, history, k_given):
    conv = status != Status.DEPENDENT
    if not k_given:  # only an error target: converged means the target was met
        conv = (status == Status.CONVERGED) | (status == Status.EXHAUSTED)
    with np.errstate(invalid="ignore"):
        rn = np.sqrt(np.maximum(resid2, 0.0))
        hist = np.sqrt(np.maximum(H, 0.0)) if history else None
    return GreedyInfo(n_iter=n_iter, converged=conv, resid_norm=rn, elapsed=time.perf_counter() - t0,
                      method=method, history=hist)


def _tolerances(dtype):
    e = EPS[np.dtype(dtype)]
    return 100.0 * e, 100.0 * e  # rel_stop, rel_dep


# ----------------------------------------------------------------------------------------
# public solvers
# ----------------------------------------------------------------------------------------
@register_solver(
    "omp",
    kind="greedy",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Orthogonal matching pursuit (Cholesky/QR per signal or Batch-OMP on the Gram matrix).",
)
def omp(A, Y, *, n_nonzero_coefs=None, tol=None, precompute="auto", history=False, return_info=False):
    """Orthogonal matching pursuit.

    Greedily selects, for each signal ``y``, the atom most correlated with the
    residual, then re-fits all selected atoms by least squares, until
    ``n_nonzero_coefs`` atoms are selected or ``||y - A x||_2^2 <= tol``.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix or dictionary (columns need not be normalised). An
        operator is made explicit with ``to_dense()``.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    n_nonzero_coefs : int, optional
        Maximum number of atoms per signal. Default: ``max(1, round(0.1 * n))``
        when ``tol`` is not given either (as scikit-learn), else ``min(m, n)``.
        Values above ``min(m, n)`` are clipped with a ``SparsityClippedWarning``.
    tol : float, optional
        Error target: stop once the *squared* residual norm is ``<= tol``.
    precompute : {"auto", True, False}, default "auto"
        ``True``: Batch-OMP on ``G = A^T A`` and ``A^T Y`` (one GEMM for the
        batch); ``False``: OMP on ``A`` signal by signal (modified Gram-Schmidt,
        i.e. a progressive Cholesky factor of ``A_I^T A_I``); ``"auto"``: the Gram
        path when ``4 * n_signals * n_nonzero_coefs >= n`` and ``G`` fits in 512 MiB
        (the measured crossover, see ``GRAM_RATIO``).
    history : bool, default False
        Record the residual norm after each selected atom in ``info.history``.
    return_info : bool, default False
        Also return a :class:`GreedyInfo`.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        Sparse codes, of the dtype of the inputs (float32 only if ``A`` and ``Y`` are).
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite values, ``n_nonzero_coefs < 1``, ``tol < 0``.
    DTypeError
        Complex input.

    Warns
    -----
    SparsityClippedWarning
        ``n_nonzero_coefs > min(m, n)``.
    DependentAtomsWarning
        A signal's next atom was linearly dependent on its selected atoms; that
        signal keeps the atoms selected so far.

    See Also
    --------
    omp_gram : the same with a precomputed Gram matrix.
    cs_toolkit.solvers.mp : matching pursuit.

    Notes
    -----
    OMP (Pati, Rezaiifar & Krishnaprasad 1993) approximately solves
    ``min ||y - A x||_2 s.t. ||x||_0 <= k``. Batch-OMP follows Rubinstein,
    Zibulevsky & Elad (2008), "Efficient implementation of the K-SVD algorithm
    using batch orthogonal matching pursuit", Algorithms 3 and 5; the update is
    described in :mod:`cs_toolkit.solvers._omp_numba`. Both kernels run in
    parallel over signals (numba ``prange``). A signal stops early when all its
    correlations are numerically zero (``100 eps`` relative to the first).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 40))
    >>> x = np.zeros(40); x[[3, 17]] = [1.0, -2.0]
    >>> np.flatnonzero(np.round(omp(A, A @ x, n_nonzero_coefs=2), 8))
    array([ 3, 17])
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype = _prepare(A, Y, dense=True)
    m, n = A.shape
    N = Y2.shape[0]
    tol = _check_tol(tol)
    k_given = n_nonzero_coefs is not None
    if k_given:
        k = _check_sparsity(n_nonzero_coefs, min(m, n))
    else:
        k = min(m, n) if tol is not None else max(1, min(int(round(0.1 * n)), m))
    if precompute == "auto":
        use_gram = N * k * GRAM_RATIO >= n and n * n * dtype.itemsize <= GRAM_MAX_BYTES
    elif isinstance(precompute, bool | np.bool_):
        use_gram = bool(precompute)
    else:
        raise ValidationError(f"precompute must be 'auto', True or False; got {precompute!r}.")

    from ._omp_numba import _omp_gram_range, _omp_qr_batch, _omp_qr_range, _omp_y_batch

    X = np.zeros((N, n), dtype)
    n_iter = np.zeros(N, np.int64)
    status = np.zeros(N, np.int8)
    resid2 = np.empty(N, np.float64)
    H = _history_array(N, k, history)
    use_tol = tol is not None
    tol_v = float(tol) if use_tol else 0.0
    rel_stop, rel_dep = _tolerances(dtype)
    if use_gram:
        if _runs_parallel(N):
            # each thread computes the correlations A^T y of its own signals (one BLAS thread
            # each, see cs_toolkit._threads): the product scales with the threads
            with blas_single_thread(), _dynamic():
                G = A.T @ A
                _omp_y_batch(G, A, Y2, k, tol_v, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                             _block_size(N))
        else:  # one thread: one product for all signals is faster (the Gram matrix stays in cache)
            G = A.T @ A
            AtY = Y2 @ A
            y2 = np.einsum("ij,ij->i", Y2, Y2, dtype=np.float64)
            _omp_gram_range(G, AtY, y2, k, tol_v, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, 0, N)
        method = "omp/batch"
    else:
        if N == 1:  # the single-signal fast path
            _omp_qr_range(A, Y2, k, tol_v, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, 0, 1)
        else:
            _run_kernel(_omp_qr_batch, _omp_qr_range,
                        (A, Y2, k, tol_v, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H), N)
        method = "omp/qr"
    if status.any():
        _warn_dependent(status)
    out = X[0] if was_1d else X
    if return_info:
        return out, _omp_info(status, n_iter, resid2, t0, method, H, history, k_given)
    return out


def omp_gram(G, AtY, *, n_nonzero_coefs=None, tol=None, y_norms2=None, history=False, return_info=False):
    """Batch-OMP from a precomputed Gram matrix and correlations.

    For callers that already hold ``G = A^T A`` and ``A^T Y`` (K-SVD's sparse
    coding step, repeated solves with one dictionary).

    Parameters
    ----------
    G : ndarray of shape (n_atoms, n_atoms)
        Gram matrix ``A^T A`` (symmetric positive semi-definite; symmetry is not
        checked, row ``i`` is used as column ``i``).
    AtY : ndarray of shape (n_atoms,) or (n_signals, n_atoms)
        Correlations ``A^T y`` of each signal, i.e. ``Y @ A`` for a batch of rows.
    n_nonzero_coefs : int, optional
        Maximum atoms per signal; default as :func:`omp` (``max(1, round(0.1 n))``
        without ``tol``, all atoms with it). Values above ``n_atoms`` are clipped
        with a ``SparsityClippedWarning``.
    tol : float, optional
        Error target on the squared residual norm; needs ``y_norms2``.
    y_norms2 : float or ndarray of shape (n_signals,), optional
        Squared norms ``||y||^2`` of the signals (for ``tol`` and for
        ``info.resid_norm``).
    history : bool, default False
        Record residual norms per atom in ``info.history`` (needs ``y_norms2``).
    return_info : bool, default False
        Also return a :class:`GreedyInfo`.

    Returns
    -------
    X : ndarray of shape (n_atoms,) or (n_signals, n_atoms)
        Codes; float32 only if ``G`` and ``AtY`` are float32.
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shapes that do not match, non-finite values, ``tol`` without ``y_norms2``,
        negative ``y_norms2``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20, 40)); x = np.zeros(40); x[5] = 3.0
    >>> y = A @ x
    >>> np.flatnonzero(omp_gram(A.T @ A, A.T @ y, n_nonzero_coefs=1))
    array([5])
    """
    t0 = time.perf_counter()
    G = check_array(G, "G", ndim=2)
    if G.shape[0] != G.shape[1]:
        raise ValidationError(f"G must be a square Gram matrix (n_atoms, n_atoms), got shape {G.shape}.")
    n = G.shape[0]
    AtY2, was_1d = check_signals(AtY, "AtY", n_features=n)
    dtype = result_dtype(G.dtype, AtY2.dtype)
    G = G.astype(dtype, copy=False)
    AtY2 = AtY2.astype(dtype, copy=False)
    N = AtY2.shape[0]
    tol = _check_tol(tol)
    if y_norms2 is not None:
        y2 = check_array(np.atleast_1d(np.asarray(y_norms2)), "y_norms2", ndim=1, dtype=np.float64)
        if y2.shape[0] != N:
            raise ValidationError(
                f"Dimension mismatch for y_norms2: expected shape ({N},) (one per signal), got {y2.shape}."
            )
        if np.any(y2 < 0):
            raise ValidationError("y_norms2 must be non-negative (squared norms of the signals).")
        known = True
    else:
        if tol is not None:
            raise ValidationError("tol (an error target) needs y_norms2, the squared norms ||y||^2 of the signals.")
        y2 = np.zeros(N, np.float64)
        known = False
    k_given = n_nonzero_coefs is not None
    if k_given:
        k = _check_sparsity(n_nonzero_coefs, n, what="n_atoms")
    else:
        k = n if tol is not None else max(1, int(round(0.1 * n)))

    from ._omp_numba import _omp_gram_batch, _omp_gram_range

    X = np.zeros((N, n), dtype)
    n_iter = np.zeros(N, np.int64)
    status = np.zeros(N, np.int8)
    resid2 = np.empty(N, np.float64)
    H = _history_array(N, k, history and known)
    use_tol = tol is not None
    rel_stop, rel_dep = _tolerances(dtype)
    _run_kernel(_omp_gram_batch, _omp_gram_range,
                (G, AtY2, y2, k, float(tol) if use_tol else 0.0, use_tol, rel_stop, rel_dep,
                 X, n_iter, status, resid2, H), N)
    if status.any():
        _warn_dependent(status)
    if not known:
        resid2[:] = np.nan
    out = X[0] if was_1d else X
    if return_info:
        return out, _omp_info(status, n_iter, resid2, t0, "omp_gram", H, history and known, k_given)
    return out
