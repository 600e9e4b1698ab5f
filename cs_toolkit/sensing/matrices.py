"""Dense random sensing matrices: Gaussian and Bernoulli (Rademacher).

Both return C-contiguous ndarrays of maths shape ``(m, n)``; a batch of rows
``X`` is measured as ``Y = X @ A.T`` (``ARCHITECTURE.md``, Conventions). The random numbers
are always drawn in float64 and then cast, so the same seed gives the same
matrix (up to rounding) in float32 and float64.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_float_dtype, check_int, check_rng
from ..exceptions import DTypeError, ValidationError

__all__ = ["gaussian", "bernoulli"]


def _float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Validate a float32/float64 dtype argument (anything else is a DTypeError)."""
    return check_float_dtype(name, dtype, error=DTypeError, expected="np.float32 or np.float64")


def _check_sizes(m, n) -> tuple[int, int]:
    return check_int("m", m, low=1), check_int("n", n, low=1)


def _normalize_columns(A: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(A, axis=0)
    return A / np.where(norms > 0, norms, 1.0)


def gaussian(m, n, *, rng=None, dtype=np.float64, normalize=False, orthonormal_rows=False):
    """Gaussian sensing matrix with i.i.d. N(0, 1/m) entries.

    Parameters
    ----------
    m : int
        Number of measurements (rows), ``m >= 1``.
    n : int
        Signal length (columns), ``n >= 1``.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.
    normalize : bool, default False
        Scale every column to unit Euclidean norm.
    orthonormal_rows : bool, default False
        Return the Q factor of the QR decomposition of the transposed Gaussian
        matrix (signs fixed so that the result is Haar-distributed), so that
        ``A @ A.T = I``. Requires ``m <= n``; cannot be combined with ``normalize``.

    Returns
    -------
    A : ndarray of shape (m, n)
        The sensing matrix.

    Raises
    ------
    ValidationError
        Non-positive or non-integer sizes, ``m > n`` with ``orthonormal_rows``,
        both ``normalize`` and ``orthonormal_rows``, or a flag that is not a bool.
    DTypeError
        ``dtype`` other than float32/float64.

    Notes
    -----
    With variance ``1/m`` every column has expected squared norm 1, the usual
    scaling for the restricted isometry property (Candes and Tao, 2006).

    Examples
    --------
    >>> from cs_toolkit.sensing import gaussian
    >>> A = gaussian(32, 128, rng=0)
    >>> A.shape, A.dtype.name
    ((32, 128), 'float64')
    """
    m, n = _check_sizes(m, n)
    dt = _float_dtype(dtype)
    gen = check_rng(rng)
    normalize = check_bool("normalize", normalize)
    orthonormal_rows = check_bool("orthonormal_rows", orthonormal_rows)
    if normalize and orthonormal_rows:
        raise ValidationError(
            "normalize and orthonormal_rows cannot both be True: unit-norm columns "
            "would destroy the orthonormal rows."
        )
    if orthonormal_rows and m > n:
        raise ValidationError(f"orthonormal_rows=True requires m <= n, got m={m} and n={n}.")
    G = gen.standard_normal((m, n))
    if orthonormal_rows:
        Q, R = np.linalg.qr(G.T)  # (n, m), (m, m)
        signs = np.sign(np.diag(R))
        signs[signs == 0] = 1.0
        A = (Q * signs).T
    else:
        A = G / np.sqrt(m)
        if normalize:
            A = _normalize_columns(A)
    return np.ascontiguousarray(A, dtype=dt)


def bernoulli(m, n, *, rng=None, dtype=np.float64, normalize=False):
    """Bernoulli (Rademacher) sensing matrix with entries +-1/sqrt(m), equiprobable.

    Parameters
    ----------
    m : int
        Number of measurements (rows), ``m >= 1``.
    n : int
        Signal length (columns), ``n >= 1``.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.
    normalize : bool, default False
        Scale every column to unit norm. The columns already have norm exactly
        1, so this only removes rounding differences.

    Returns
    -------
    A : ndarray of shape (m, n)
        The sensing matrix.

    Raises
    ------
    ValidationError
        Non-positive or non-integer sizes, ``normalize`` not a bool.
    DTypeError
        ``dtype`` other than float32/float64.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import bernoulli
    >>> A = bernoulli(4, 10, rng=0)
    >>> bool(np.all(np.abs(A) == 0.5))
    True
    """
    m, n = _check_sizes(m, n)
    dt = _float_dtype(dtype)
    gen = check_rng(rng)
    normalize = check_bool("normalize", normalize)
    A = (2.0 * gen.integers(0, 2, size=(m, n)) - 1.0) / np.sqrt(m)
    if normalize:
        A = _normalize_columns(A)
    return np.ascontiguousarray(A, dtype=dt)
