"""Building blocks of the unrolled networks (:mod:`cs_toolkit.learned.lista`).

The analytic ALISTA weights, the FISTA momentum schedule, and the array glue of the models
(dense float64 copies, dtype check, the SHA-256 of a model's matrices). The layer
nonlinearity and its derivative are the solvers' (:func:`cs_toolkit.solvers.shrink`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.linalg

from .._validation import dense_matrix
from ..exceptions import ValidationError

__all__ = ["alista_weights", "fista_momentum", "sha256_of"]


def sha256_of(*arrays) -> str:
    """SHA-256 hex digest of the arrays' values as float64 C-order bytes, in order (the model-file hash)."""
    h = hashlib.sha256()
    for M in arrays:
        h.update(np.ascontiguousarray(M, dtype=np.float64).tobytes())
    return h.hexdigest()


def _check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValidationError(f"dtype must be float32 or float64, got {dt}.")
    return dt


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

