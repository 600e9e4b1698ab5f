"""K-SVD (Aharon, Elad & Bruckstein, 2006) and approximate K-SVD (Rubinstein, Zibulevsky & Elad, 2008)."""

from __future__ import annotations

import contextlib

import numpy as np

from .._validation import check_array, check_bool, check_float_dtype
from ..exceptions import ValidationError
from ._common import COMMON_PARAMS_DOC, alternate
from ._ksvd_numba import _ksvd_sweep, _users_by_atom

__all__ = ["ksvd", "approx_ksvd", "ksvd_update"]


def _serial_blas():
    """Single-threaded BLAS/LAPACK for the many small products of the exact sweep: a
    64 x 64 Gram matrix gains nothing from threads, and on a busy machine threaded
    BLAS calls from inside the kernel are ~10x slower (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _check_inplace(a, name, shape):
    """Check ``a``, an array an update writes into, without copying it: a finite, non-empty,
    2-D, C-contiguous, writeable float32/float64 NumPy array (``shape`` names its axes)."""
    why = "it is updated in place, so it is never converted or copied"
    if not isinstance(a, np.ndarray):
        raise ValidationError(f"{name} must be a NumPy array of shape {shape} ({why}), "
                              f"got {type(a).__name__}.")
    check_float_dtype(f"{name}.dtype", a.dtype, expected=f"float32 or float64 ({why})")
    if a.ndim == 2 and not a.flags.c_contiguous:
        raise ValidationError(f"{name} must be C-contiguous ({why}); pass np.ascontiguousarray({name}) "
                              f"and keep that array.")
    if not a.flags.writeable:
        raise ValidationError(f"{name} must be writeable ({why}), got a read-only array; pass a copy.")
    check_array(a, name, ndim=2)  # no copy now: rank, emptiness and finiteness


def check_update_arrays(D, C, Z, zname, *, z_inplace):
    """Validate the arguments of a dictionary update (:func:`ksvd_update`, :func:`mod_update`)
    before any kernel runs: ``D`` (n_features, n_atoms) and ``C`` (n_signals, n_atoms) are
    updated in place, as ``Z`` (n_signals, n_features) when ``z_inplace`` (the residual ``R``);
    otherwise ``Z`` (the data ``X``) is only read and is returned as a float array."""
    _check_inplace(D, "D", "(n_features, n_atoms)")
    _check_inplace(C, "C", "(n_signals, n_atoms)")
    if z_inplace:
        _check_inplace(Z, zname, "(n_signals, n_features)")
    else:
        Z = check_array(Z, zname, ndim=2)
    (n_features, n_atoms), n_signals = D.shape, C.shape[0]
    if C.shape[1] != n_atoms:
        raise ValidationError(f"C must have shape (n_signals, {n_atoms}) (one column per atom of D, of "
                              f"shape {D.shape}), got {C.shape}.")
    if Z.shape != (n_signals, n_features):
        raise ValidationError(f"{zname} must have shape (n_signals, n_features) = ({n_signals}, {n_features}) "
                              f"(C has {n_signals} rows, D {n_features} rows), got {Z.shape}.")
    same = (D, C, Z) if z_inplace else (D, C)
    if any(a.dtype != D.dtype for a in same):
        names = "D, C and " + zname if z_inplace else "D and C"
        raise ValidationError(f"{names} must have the same dtype, got "
                              f"{', '.join(str(a.dtype) for a in same)}.")
    return Z


def ksvd_update(D, C, R, *, exact=True):
    """One K-SVD dictionary sweep with fixed supports, in place.

    Parameters
    ----------
    D : ndarray of shape (n_features, n_atoms)
        Dictionary, C-contiguous, updated in place (unit-norm columns on exit for
        every used atom).
    C : ndarray of shape (n_signals, n_atoms)
        Codes, updated in place on their support (the support never grows).
    R : ndarray of shape (n_signals, n_features)
        Residual ``X - C @ D.T``, kept up to date in place.
    exact : bool, default True
        Exact rank-1 SVD update of each atom (K-SVD) or one power-iteration step
        (approximate K-SVD).

    Returns
    -------
    counts : ndarray of shape (n_atoms,)
        Number of signals using each atom (0 = unused, left unchanged).

    Raises
    ------
    ValidationError
        ``D``, ``C`` or ``R`` not a finite, 2-D, C-contiguous, writeable float32/float64
        NumPy array, their shapes or dtypes inconsistent, ``exact`` not a bool.

    Notes
    -----
    For atom ``j`` with users ``I = {i : C[i, j] != 0}``, ``E_j = R[I] + C[I, j] d_j^T``
    is the error without atom ``j``; K-SVD replaces ``(d_j, C[I, j])`` by the best
    rank-1 approximation of ``E_j``. Each atom step minimises ``||X - C D^T||_F`` over
    ``(d_j, C[I, j])`` (exact) or does not increase it (one power step), so the sweep
    never increases the representation error.
    """
    exact = check_bool("exact", exact)
    check_update_arrays(D, C, R, "R", z_inplace=True)
    return _ksvd_update(D, C, R, exact)


def _ksvd_update(D, C, R, exact):
    """:func:`ksvd_update` without the checks (the training loop's fast path)."""
    counts = np.count_nonzero(C, axis=0).astype(np.int64)
    indptr = np.zeros(C.shape[1] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    users = np.empty(int(indptr[-1]), dtype=np.int64)
    _users_by_atom(C, indptr, users)
    # eigen-residual tolerance of the exact update (power iteration; eigh where it is not met):
    # about 5e3 eps in float64, 8 eps in float32 (near what float32 products can resolve)
    tol = 1e-12 if D.dtype == np.float64 else 1e-6
    if exact:
        with _serial_blas():
            _ksvd_sweep(D, C, R, indptr, users, True, tol)
    else:
        _ksvd_sweep(D, C, R, indptr, users, False, tol)
    return counts


def _make_update(exact):
    def update(D, C, R, X, counts):
        _ksvd_update(D, C, R, exact)
        return R
    return update


def ksvd(X, n_atoms, *, n_nonzero_coefs=None, max_iter=30, tol=None, rel_tol=None, coder="omp",
         lam=None, init="data", rng=None, callback=None, progress=False, replace_dead=True,
         coder_options=None, checkpoint=None, checkpoint_every=1):
    """Learn a dictionary by K-SVD.

    Alternates sparse coding of every signal (Batch-OMP by default) with a sweep over
    the atoms that replaces each atom and its coefficients by the best rank-1
    approximation (SVD) of the representation error of the signals that use it.

    Parameters
    ----------
    {params}

    Returns
    -------
    DictionaryLearningResult
        ``dictionary`` (n_features, n_atoms) with unit-norm columns, ``codes``,
        ``history``, ``n_iter``, ``replaced_atoms``.

    Raises
    ------
    ValidationError
        Bad shapes, values, non-finite ``X``, unknown coder or init.

    See Also
    --------
    approx_ksvd, mod, online_dictionary_learning, DictionaryLearner

    Notes
    -----
    Minimises ``||X - C D^T||_F^2`` subject to ``||c_i||_0 <= k`` and ``||d_j||_2 = 1``.
    M. Aharon, M. Elad, A. Bruckstein, "K-SVD: An algorithm for designing overcomplete
    dictionaries for sparse representation", IEEE TSP 54(11), 2006.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 16))
    >>> res = ksvd(X, 24, n_nonzero_coefs=3, max_iter=3, rng=0)
    >>> res.dictionary.shape, res.codes.shape
    ((16, 24), (200, 24))
    >>> res.history["error"][-1] < res.history["error"][0]
    True
    """
    return alternate(X, n_atoms, _make_update(True), n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter,
                     tol=tol, rel_tol=rel_tol, coder=coder, lam=lam, init=init, rng=rng, callback=callback,
                     progress=progress, replace_dead=replace_dead, coder_options=coder_options,
                     method="ksvd", checkpoint=checkpoint, checkpoint_every=checkpoint_every)


def approx_ksvd(X, n_atoms, *, n_nonzero_coefs=None, max_iter=30, tol=None, rel_tol=None, coder="omp",
                lam=None, init="data", rng=None, callback=None, progress=False, replace_dead=True,
                coder_options=None, checkpoint=None, checkpoint_every=1):
    """Learn a dictionary by approximate K-SVD.

    As :func:`ksvd`, but each atom update is a single power-iteration step started from
    the current coefficients ``g``: ``d = E^T g / ||E^T g||``, ``g = E d`` (never
    increases the error, much cheaper than an SVD).

    Parameters
    ----------
    {params}

    Returns
    -------
    DictionaryLearningResult

    See Also
    --------
    ksvd, mod

    Notes
    -----
    R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient implementation of the K-SVD
    algorithm using batch orthogonal matching pursuit", Technion CS-2008-08, 2008.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((200, 16))
    >>> approx_ksvd(X, 24, n_nonzero_coefs=3, max_iter=2, rng=0).n_iter
    2
    """
    return alternate(X, n_atoms, _make_update(False), n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter,
                     tol=tol, rel_tol=rel_tol, coder=coder, lam=lam, init=init, rng=rng, callback=callback,
                     progress=progress, replace_dead=replace_dead, coder_options=coder_options,
                     method="approx_ksvd", checkpoint=checkpoint, checkpoint_every=checkpoint_every)


ksvd.__doc__ = ksvd.__doc__.replace("{params}", COMMON_PARAMS_DOC)
approx_ksvd.__doc__ = approx_ksvd.__doc__.replace("{params}", COMMON_PARAMS_DOC)
