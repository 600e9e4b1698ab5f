"""Building blocks of the unrolled networks (:mod:`cs_toolkit.learned.lista`).

The analytic ALISTA weights, the FISTA momentum schedule, and the array glue of the models
(dense float64 copies, dtype check, the SHA-256 of a model's matrices). The layer
nonlinearity and its derivative are the solvers' (:func:`cs_toolkit.solvers.shrink`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import numpy as np
import scipy.linalg

from .._atomic import with_npz_suffix
from .._validation import check_float_dtype, dense_matrix
from ..exceptions import ValidationError

__all__ = ["alista_weights", "fista_momentum", "sha256_of", "npz_path", "as_sequence"]


def sha256_of(*arrays) -> str:
    """SHA-256 hex digest of the arrays' values as float64 C-order bytes, in order (the model-file hash)."""
    h = hashlib.sha256()
    for M in arrays:
        h.update(np.ascontiguousarray(M, dtype=np.float64).tobytes())
    return h.hexdigest()


def npz_path(path) -> str:
    """The file a loader reads for ``path``: ``path`` itself, or ``path + ".npz"`` when ``path``
    does not exist, has no ``.npz`` suffix and that file does (the name a save of ``path`` wrote:
    :func:`cs_toolkit._atomic.atomic_savez` appends ``.npz`` when it is missing)."""
    p = os.fspath(path)
    q = with_npz_suffix(p)
    if q != p and not os.path.exists(p) and os.path.exists(q):
        return q
    return p


def as_sequence(name, values, what) -> list:
    """``values`` (a list, tuple, 1-D array or other iterable of ``what``) as a list; a lone number, a
    string or a multi-dimensional array is a ``ValidationError`` naming ``name``. The items are left
    to the caller to check."""
    if (isinstance(values, str | bytes | dict) or (isinstance(values, np.ndarray) and values.ndim != 1)
            or not isinstance(values, Iterable)):
        raise ValidationError(f"{name} must be a sequence (tuple or list) of {what}, got {values!r} of type "
                              f"{type(values).__name__}; pass ({values!r},) for a single one.")
    return list(values)


def _check_dtype(dtype) -> np.dtype:
    return check_float_dtype("dtype", dtype)


def alista_weights(A) -> np.ndarray:
    """Analytic ALISTA weight matrix: ``argmin ||W^T A||_F`` subject to ``diag(W^T A) = 1``.

    Parameters
    ----------
    A : array_like of shape (m, n)
        Sensing matrix (full row rank, ``m <= n``).

    Returns
    -------
    W : ndarray of shape (m, n), float64

    Notes
    -----
    The problem splits over the columns ``w_i``: minimise ``||A^T w_i||^2``
    subject to ``a_i^T w_i = 1``. Its Lagrange conditions give the closed form
    ``w_i = G^+ a_i / (a_i^T G^+ a_i)`` with ``G = A A^T``, i.e.
    ``W = G^+ A D^{-1}``, ``D = diag(A^T G^+ A)`` (Liu et al. 2019 solve the same
    problem by projected gradient descent).

    Examples
    --------
    >>> A = np.random.default_rng(0).standard_normal((20, 40))
    >>> W = alista_weights(A)
    >>> bool(np.allclose(np.diag(W.T @ A), 1.0))
    True
    """
    A = dense_matrix(A, "A")
    G = A @ A.T
    try:
        GA = scipy.linalg.solve(G, A, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        GA = np.linalg.pinv(G) @ A
    d = np.einsum("ij,ij->j", A, GA)
    if np.any(d <= 1e-12 * np.max(np.abs(d))):
        raise ValidationError("A has a zero column (or one in the null space of A A^T); ALISTA weights are undefined.")
    return np.ascontiguousarray(GA / d)


def fista_momentum(n_layers) -> np.ndarray:
    """FISTA momentum ``beta_t = (s_t - 1) / s_{t+1}``, ``s_0 = 1``, ``s_{t+1} = (1 + sqrt(1 + 4 s_t^2)) / 2``."""
    s, out = 1.0, []
    for _ in range(n_layers):
        s_next = (1.0 + np.sqrt(1.0 + 4.0 * s * s)) / 2.0
        out.append((s - 1.0) / s_next)
        s = s_next
    return np.array(out)

