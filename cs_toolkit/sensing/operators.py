"""Matrix-free structured sensing operators.

Every class here derives from :class:`cs_toolkit.sensing.LinearOperator`: it
has a maths shape ``(m, n)``, a float32/float64 ``dtype``, ``forward`` on one
signal ``(n,)`` or a batch of rows ``(n_signals, n)`` and ``adjoint`` back, plus
``to_dense()``, ``aslinearoperator()`` and composition ``A @ Psi``. The fast
transforms act along the last axis through :mod:`scipy.fft` (O(n log n) per
signal), which keeps float32 in float32.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
import scipy.sparse as sp

from .._validation import check_array, check_int, check_option, check_rng
from ..exceptions import ValidationError
from ._base import LinearOperator, MatrixOperator
from ._fwht_numba import _fwht_rows
from .matrices import _check_sizes, _float_dtype

__all__ = [
    "PartialDCT",
    "PartialFourier",
    "SubsampledRandomizedTransform",
    "SparseRandom",
    "BlockDiagonal",
]


def _check_m_le_n(m: int, n: int, what: str) -> None:
    if m > n:
        raise ValidationError(f"{what} needs m <= n (it keeps m of n transform rows), got m={m} and n={n}.")


def _random_rows(gen: np.random.Generator, m: int, n: int) -> np.ndarray:
    return np.sort(gen.choice(n, size=m, replace=False)).astype(np.intp)


class _OrthonormalRows(LinearOperator):
    """Operators whose rows are orthonormal (``A A^T = I``): the spectral norm is exactly 1."""

    def norm(self, **kwargs) -> float:
        """Spectral norm, exactly 1 for an operator with orthonormal rows."""
        return 1.0


class PartialDCT(_OrthonormalRows):
    """``m`` rows of the orthonormal DCT-II matrix of size ``n``.

    Parameters
    ----------
    m : int
        Number of measurements, ``1 <= m <= n``.
    n : int
        Signal length.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness for the row choice (ignored when ``rows`` is given).
    rows : array_like of int, optional
        The DCT rows (frequencies) to keep, ``m`` unique integers in ``[0, n)``,
        in the order of the output. By default ``m`` rows drawn uniformly
        without replacement, sorted.
    dtype : {np.float32, np.float64}, default np.float64
        Operator dtype.

    Attributes
    ----------
    rows : ndarray of shape (m,)
        The kept rows.

    Notes
    -----
    ``forward(x) = dct(x, type=2, norm="ortho")[rows]``; the adjoint fills the
    kept rows into a zero spectrum and applies the inverse (DCT-III) transform.
    The rows are orthonormal, so ``A A^T = I`` and ``||A||_2 = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import PartialDCT
    >>> A = PartialDCT(16, 64, rng=0)
    >>> bool(np.allclose(A.to_dense() @ A.to_dense().T, np.eye(16)))
    True
    """

    def __init__(self, m, n, *, rng=None, rows=None, dtype=np.float64):
        m, n = _check_sizes(m, n)
        dt = _float_dtype(dtype)
        _check_m_le_n(m, n, "PartialDCT")
        if rows is None:
            self.rows = _random_rows(check_rng(rng), m, n)
        else:
            self.rows = _check_rows(rows, m, n)
        super().__init__((m, n), dt)

    def _forward(self, X):
        return sfft.dct(X, type=2, norm="ortho", axis=-1)[:, self.rows]

    def _adjoint(self, Y):
        Z = np.zeros((Y.shape[0], self.shape[1]), dtype=self.dtype)
        Z[:, self.rows] = Y
        return sfft.idct(Z, type=2, norm="ortho", axis=-1, overwrite_x=True)


def _check_rows(rows, m: int, n: int) -> np.ndarray:
    arr = np.asarray(rows)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValidationError(
            f"rows must be a 1-D array of integers, got a {arr.ndim}-D array of dtype {arr.dtype}."
        )
    if arr.shape[0] != m:
        raise ValidationError(f"rows must hold m={m} row indices, got {arr.shape[0]}.")
    if arr.min() < 0 or arr.max() >= n:
        raise ValidationError(f"rows must lie in [0, n) = [0, {n}), got values from {arr.min()} to {arr.max()}.")
    if np.unique(arr).size != arr.size:
        raise ValidationError("rows must be unique, got repeated row indices.")
    return arr.astype(np.intp).copy()


class PartialFourier(_OrthonormalRows):
    """Random rows of the orthonormal DFT, made real (cosine and sine rows).

    Parameters
    ----------
    m : int
        Number of (real) measurements, ``1 <= m <= n``.
    n : int
        Signal length.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness for the frequency choice.
    dtype : {np.float32, np.float64}, default np.float64
        Operator dtype.

    Attributes
    ----------
    frequencies : ndarray
        The selected frequencies, ascending.
    row_frequency : ndarray of shape (m,)
        Frequency of each output row.
    row_part : ndarray of shape (m,)
        ``0`` for a cosine (real part) row, ``1`` for a sine (imaginary part) row.

    Notes
    -----
    For a real signal, the orthonormal DFT coefficient at frequency ``f`` is
    ``X_f = n^{-1/2} sum_j x_j exp(-2 pi i f j / n)``. A frequency
    ``0 < f < n/2`` gives two real rows, ``sqrt(2) Re X_f`` and
    ``sqrt(2) Im X_f``, i.e. ``sqrt(2/n) cos(2 pi f j / n)`` and
    ``-sqrt(2/n) sin(2 pi f j / n)``; the DC row (``f = 0``) and, for even
    ``n``, the Nyquist row (``f = n/2``) are real already and give one row
    ``X_f``. These ``n`` rows form an orthonormal basis of ``R^n``, so any
    subset has orthonormal rows (``A A^T = I``).

    Frequencies in ``0 .. n//2`` are drawn uniformly without replacement and
    their rows added until ``m`` rows are reached; if a single row is missing
    and the next frequency has two, only its cosine row is used. Rows are
    ordered by frequency, cosine before sine. The forward map is one
    ``scipy.fft.rfft``; the adjoint writes the scaled measurements into a
    half spectrum and applies ``irfft``.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import PartialFourier
    >>> A = PartialFourier(9, 32, rng=0).to_dense()
    >>> bool(np.allclose(A @ A.T, np.eye(9)))
    True
    """

    def __init__(self, m, n, *, rng=None, dtype=np.float64):
        m, n = _check_sizes(m, n)
        dt = _float_dtype(dtype)
        _check_m_le_n(m, n, "PartialFourier")
        gen = check_rng(rng)
        n_freq = n // 2 + 1
        counts = np.full(n_freq, 2, dtype=np.intp)
        counts[0] = 1
        if n % 2 == 0:
            counts[-1] = 1
        perm = gen.permutation(n_freq)
        csum = np.cumsum(counts[perm])
        last = int(np.searchsorted(csum, m))  # first position where csum >= m
        chosen = perm[: last + 1]
        cos_only = int(perm[last]) if csum[last] == m + 1 else -1
        freqs = np.sort(chosen)
        row_freq, row_part = [], []
        for f in freqs:
            row_freq.append(f)
            row_part.append(0)
            if counts[f] == 2 and f != cos_only:
                row_freq.append(f)
                row_part.append(1)
        self.frequencies = freqs.astype(np.intp)
        self.row_frequency = np.asarray(row_freq, dtype=np.intp)
        self.row_part = np.asarray(row_part, dtype=np.intp)
        scale = np.where(counts[self.row_frequency] == 2, np.sqrt(2.0), 1.0)
        re = self.row_part == 0
        self._re_rows = np.flatnonzero(re)
        self._im_rows = np.flatnonzero(~re)
        self._re_freqs = self.row_frequency[re]
        self._im_freqs = self.row_frequency[~re]
        self._re_scale = scale[re].astype(dt)
        self._im_scale = dt.type(np.sqrt(2.0))
        super().__init__((m, n), dt)

    def _forward(self, X):
        Z = sfft.rfft(X, norm="ortho", axis=-1)
        out = np.empty((X.shape[0], self.shape[0]), dtype=self.dtype)
        out[:, self._re_rows] = Z.real[:, self._re_freqs] * self._re_scale
        out[:, self._im_rows] = Z.imag[:, self._im_freqs] * self._im_scale
        return out

    def _adjoint(self, Y):
        n = self.shape[1]
        cdt = np.complex64 if self.dtype == np.float32 else np.complex128
        Z = np.zeros((Y.shape[0], n // 2 + 1), dtype=cdt)
        Z.real[:, self._re_freqs] = Y[:, self._re_rows] / self._re_scale
        Z.imag[:, self._im_freqs] = Y[:, self._im_rows] / self._im_scale
        return sfft.irfft(Z, n=n, norm="ortho", axis=-1, overwrite_x=True)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


class SubsampledRandomizedTransform(_OrthonormalRows):
    """Subsampled randomized Hadamard (SRHT) or DCT (SRDCT) transform ``A = R F D``.

    Parameters
    ----------
    m : int
        Number of measurements, ``1 <= m <= n``.
    n : int
        Signal length; a power of two for ``transform="hadamard"``.
    transform : {"hadamard", "dct"}, default "hadamard"
        The fast orthonormal transform ``F``: the Sylvester-ordered Walsh-Hadamard
        matrix scaled by ``1/sqrt(n)`` (numba kernel), or the orthonormal DCT-II.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness for the signs and the rows.
    dtype : {np.float32, np.float64}, default np.float64
        Operator dtype.

    Attributes
    ----------
    signs : ndarray of shape (n,)
        The random signs (the diagonal of ``D``).
    rows : ndarray of shape (m,)
        The kept rows of ``F D`` (the selection ``R``), sorted.

    Notes
    -----
    ``D`` is diagonal with i.i.d. +-1 entries, ``F`` orthonormal and ``R``
    keeps ``m`` rows drawn uniformly without replacement, so the rows of ``A``
    are orthonormal (``A A^T = I``, ``||A||_2 = 1``). The random signs spread
    the energy of any fixed sparse vector across all frequencies (Ailon and
    Chazelle, 2009; Tropp, 2011). Multiply by ``sqrt(n/m)`` for the
    norm-preserving (Johnson-Lindenstrauss) scaling.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import SubsampledRandomizedTransform
    >>> A = SubsampledRandomizedTransform(8, 32, rng=0)
    >>> bool(np.allclose(A.to_dense() @ A.to_dense().T, np.eye(8)))
    True
    """

    def __init__(self, m, n, *, transform="hadamard", rng=None, dtype=np.float64):
        m, n = _check_sizes(m, n)
        dt = _float_dtype(dtype)
        self.transform = check_option("transform", transform, ("hadamard", "dct"))
        _check_m_le_n(m, n, "SubsampledRandomizedTransform")
        if transform == "hadamard" and not _is_power_of_two(n):
            raise ValidationError(
                f"n must be a power of two for transform='hadamard', got n={n}; "
                f"use transform='dct' or zero-pad the signal to {1 << (n - 1).bit_length()}."
            )
        gen = check_rng(rng)
        self.signs = (2.0 * gen.integers(0, 2, size=n) - 1.0).astype(dt)
        self.rows = _random_rows(gen, m, n)
        super().__init__((m, n), dt)

    def _transform(self, Z):
        """Orthonormal ``F`` applied in place to the rows of ``Z`` (returns the result)."""
        if self.transform == "hadamard":
            _fwht_rows(Z)
            Z *= self.dtype.type(1.0 / np.sqrt(self.shape[1]))
            return Z
        return sfft.dct(Z, type=2, norm="ortho", axis=-1, overwrite_x=True)

    def _transform_t(self, Z):
        """``F^T`` (the Hadamard matrix is symmetric; DCT-II transposed is DCT-III)."""
        if self.transform == "hadamard":
            return self._transform(Z)
        return sfft.idct(Z, type=2, norm="ortho", axis=-1, overwrite_x=True)

    def _forward(self, X):
        Z = np.ascontiguousarray(X * self.signs, dtype=self.dtype)
        return self._transform(Z)[:, self.rows]

    def _adjoint(self, Y):
        Z = np.zeros((Y.shape[0], self.shape[1]), dtype=self.dtype)
        Z[:, self.rows] = Y
        return self._transform_t(Z) * self.signs


def _column_rows(gen: np.random.Generator, m: int, n: int, d: int) -> np.ndarray:
    """``d`` distinct row indices in ``[0, m)`` for each of ``n`` columns, shape (n, d)."""
    if 2 * d > m:  # dense regime: partial argsort of random keys
        return np.argpartition(gen.random((n, m)), d - 1, axis=1)[:, :d]
    rows = gen.integers(0, m, size=(n, d))
    while True:  # resample the columns that drew a row twice (few when d << m)
        srt = np.sort(rows, axis=1)
        bad = np.flatnonzero(np.any(srt[:, 1:] == srt[:, :-1], axis=1))
        if bad.size == 0:
            return rows
        rows[bad] = gen.integers(0, m, size=(bad.size, d))


class SparseRandom(LinearOperator):
    """Sparse random sensing matrix with ``nnz_per_column`` entries +-1/sqrt(nnz) per column.

    Parameters
    ----------
    m : int
        Number of measurements.
    n : int
        Signal length.
    nnz_per_column : int, default 8
        Non-zeros per column, ``1 <= nnz_per_column <= m``.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness.
    dtype : {np.float32, np.float64}, default np.float64
        Operator dtype.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of shape (m, n)
        The explicit sparse matrix.

    Notes
    -----
    Each column holds ``d = nnz_per_column`` entries at distinct rows drawn
    uniformly, with independent equiprobable signs and magnitude ``1/sqrt(d)``,
    so every column has unit norm (sparse Johnson-Lindenstrauss / expander
    matrices, Berinde et al., 2008; Kane and Nelson, 2014). ``forward`` and
    ``adjoint`` are sparse-dense products, O(d n) per signal.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import SparseRandom
    >>> A = SparseRandom(20, 50, nnz_per_column=4, rng=0)
    >>> bool(np.allclose(np.linalg.norm(A.to_dense(), axis=0), 1.0))
    True
    """

    def __init__(self, m, n, *, nnz_per_column=8, rng=None, dtype=np.float64):
        m, n = _check_sizes(m, n)
        dt = _float_dtype(dtype)
        d = check_int("nnz_per_column", nnz_per_column, low=1)
        if d > m:
            raise ValidationError(f"nnz_per_column must be <= m, got nnz_per_column={d} and m={m}.")
        gen = check_rng(rng)
        rows = _column_rows(gen, m, n, d)
        vals = (2.0 * gen.integers(0, 2, size=(n, d)) - 1.0) / np.sqrt(d)
        cols = np.repeat(np.arange(n), d)
        self.nnz_per_column = d
        self.matrix = sp.csr_matrix((vals.ravel().astype(dt), (rows.ravel(), cols)), shape=(m, n))
        self._matrix_t = self.matrix.T.tocsr()
        super().__init__((m, n), dt)

    def _forward(self, X):  # (k, n) -> (k, m): (S X^T)^T
        return (self.matrix @ X.T).T

    def _adjoint(self, Y):
        return (self._matrix_t @ Y.T).T

    def to_dense(self):
        return np.ascontiguousarray(self.matrix.toarray(), dtype=self.dtype)


class BlockDiagonal(LinearOperator):
    """The same block applied to each of ``n_blocks`` consecutive chunks of a signal.

    Parameters
    ----------
    block : array_like of shape (m_b, n_b) or LinearOperator
        The block (e.g. a sensing matrix for one image block).
    n_blocks : int
        Number of blocks.
    dtype : {np.float32, np.float64}, optional
        Dtype of a dense block; by default float32 stays float32 and anything
        else becomes float64. An operator block keeps its dtype.

    Notes
    -----
    The operator is ``I_{n_blocks} (x) B`` of shape ``(n_blocks m_b, n_blocks n_b)``.
    A batch of rows ``(k, n_blocks n_b)`` is reshaped to ``(k n_blocks, n_b)``
    and multiplied by the block in one product (one GEMM for a dense block),
    so a signal made of concatenated vectorised image blocks is measured block
    by block (block compressed sensing, Gan, 2007).

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import BlockDiagonal
    >>> B = np.arange(6.0).reshape(2, 3)
    >>> op = BlockDiagonal(B, 2)
    >>> op.shape
    (4, 6)
    >>> op.forward(np.ones(6))
    array([ 3., 12.,  3., 12.])
    """

    def __init__(self, block, n_blocks, *, dtype=None):
        n_blocks = check_int("n_blocks", n_blocks, low=1)
        if dtype is not None:
            dtype = _float_dtype(dtype)
        if isinstance(block, LinearOperator):
            self.block = block
        else:
            self.block = MatrixOperator(check_array(block, "block", ndim=2, dtype=dtype))
        self.n_blocks = n_blocks
        mb, nb = self.block.shape
        super().__init__((n_blocks * mb, n_blocks * nb), self.block.dtype)

    def _forward(self, X):
        k = X.shape[0]
        mb, nb = self.block.shape
        Z = np.ascontiguousarray(X, dtype=self.dtype).reshape(k * self.n_blocks, nb)
        return np.asarray(self.block._forward(Z)).reshape(k, self.n_blocks * mb)

    def _adjoint(self, Y):
        k = Y.shape[0]
        mb, nb = self.block.shape
        Z = np.ascontiguousarray(Y, dtype=self.dtype).reshape(k * self.n_blocks, mb)
        return np.asarray(self.block._adjoint(Z)).reshape(k, self.n_blocks * nb)

    def norm(self, **kwargs) -> float:
        """Spectral norm, equal to that of the block."""
        return self.block.norm(**kwargs)
