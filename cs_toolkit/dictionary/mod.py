"""Method of Optimal Directions (Engan, Aase & Husoy, 1999)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._common import COMMON_PARAMS_DOC, alternate
from ._ksvd_numba import _accumulate_stats
from .ksvd import check_update_arrays

__all__ = ["mod", "mod_update"]


def mod_update(D, C, X):
    """MOD dictionary update with fixed codes, in place on ``D`` and ``C``.

    ``D = X^T C (C^T C)^{-1}`` restricted to the used atoms, then each column is
    normalised and the matching code column rescaled, so ``C @ D.T`` is the
    least-squares fit and ``||X - C D^T||_F`` never increases. Unused atoms are left
    unchanged.

    Parameters
    ----------
    D : ndarray of shape (n_features, n_atoms)
        Dictionary, C-contiguous, updated in place.
    C : ndarray of shape (n_signals, n_atoms)
        Codes of the dtype of ``D``, C-contiguous, rescaled in place.
    X : array_like of shape (n_signals, n_features)
        Training signals (only read).

    Returns
    -------
    counts : ndarray of shape (n_atoms,)
        Number of signals using each atom.

    Raises
    ------
    ValidationError
        ``D`` or ``C`` not a finite, 2-D, C-contiguous, writeable float32/float64 NumPy
        array, non-finite ``X``, inconsistent shapes or dtypes.
    """
    X = check_update_arrays(D, C, X, "X", z_inplace=False)
    return _mod_update(D, C, X)


def _mod_update(D, C, X):
    """:func:`mod_update` without the checks (the training loop's fast path)."""
    counts = np.count_nonzero(C, axis=0)
    used = np.flatnonzero(counts)
    if used.size == 0:
        return counts
    K = C.shape[1]
    CtC = np.zeros((K, K), dtype=np.float64 if C.dtype == np.float64 else C.dtype)
    XtC = np.zeros((X.shape[1], K), dtype=CtC.dtype)
    _accumulate_stats(X, C, CtC, XtC, 1.0)  # C^T C and X^T C from the sparse codes
    CtC = CtC[np.ix_(used, used)]
    CtX = XtC[:, used].T
    try:
        Dt = scipy.linalg.solve(CtC, CtX, assume_a="pos", check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        Dt = scipy.linalg.lstsq(CtC, CtX, check_finite=False)[0]
    Dt = np.asarray(Dt, dtype=D.dtype)
    norms = np.linalg.norm(Dt, axis=1)
    ok = norms > 0
    cols = used[ok]
    D[:, cols] = (Dt[ok] / norms[ok, None]).T
    scale = np.ones(K, dtype=C.dtype)
    scale[cols] = norms[ok]
    C *= scale
    return counts


def _update(D, C, R, X, counts):
    from ._common import relative_error

    _mod_update(D, C, X)
    return relative_error(X, C, D, 1.0)[0]


def mod(X, n_atoms, *, n_nonzero_coefs=None, max_iter=30, tol=None, rel_tol=None, coder="omp",
        lam=None, init="data", rng=None, callback=None, progress=False, replace_dead=True,
        coder_options=None, checkpoint=None, checkpoint_every=1):
    """Learn a dictionary by the Method of Optimal Directions (MOD).

    Alternates sparse coding with the least-squares dictionary
    ``D = X^T C (C^T C)^{-1}`` (then unit-norm columns).

    Parameters
    ----------
    {params}

    Returns
    -------
    DictionaryLearningResult

    See Also
    --------
    ksvd, approx_ksvd, online_dictionary_learning

    Notes
    -----
    K. Engan, S. O. Aase, J. H. Husoy, "Method of optimal directions for frame design",
    ICASSP 1999.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((200, 16))
    >>> res = mod(X, 24, n_nonzero_coefs=3, max_iter=3, rng=0)
    >>> bool(np.allclose(np.linalg.norm(res.dictionary, axis=0), 1))
    True
    """
    return alternate(X, n_atoms, _update, n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter, tol=tol,
                     rel_tol=rel_tol, coder=coder, lam=lam, init=init, rng=rng, callback=callback,
                     progress=progress, replace_dead=replace_dead, coder_options=coder_options,
                     method="mod", checkpoint=checkpoint, checkpoint_every=checkpoint_every)


mod.__doc__ = mod.__doc__.replace("{params}", COMMON_PARAMS_DOC)
