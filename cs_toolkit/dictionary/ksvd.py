"""K-SVD (Aharon, Elad & Bruckstein, 2006) and approximate K-SVD (Rubinstein, Zibulevsky & Elad, 2008)."""

from __future__ import annotations

import contextlib

import numpy as np

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

    Notes
    -----
    For atom ``j`` with users ``I = {i : C[i, j] != 0}``, ``E_j = R[I] + C[I, j] d_j^T``
    is the error without atom ``j``; K-SVD replaces ``(d_j, C[I, j])`` by the best
    rank-1 approximation of ``E_j``. Each atom step minimises ``||X - C D^T||_F`` over
    ``(d_j, C[I, j])`` (exact) or does not increase it (one power step), so the sweep
    never increases the representation error.
    """
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
        ksvd_update(D, C, R, exact=exact)
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
