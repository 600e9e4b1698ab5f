"""The linear-operator base class shared by sensing matrices and transforms.

Conventions (``ARCHITECTURE.md``, Conventions): an operator keeps its maths shape
``(m, n)``; ``forward`` takes one signal ``(n,)`` or a batch of rows
``(n_signals, n)`` and returns ``(m,)`` or ``(n_signals, m)``, i.e. the batch
is measured as ``Y = X @ A.T``. ``adjoint`` maps ``(.., m)`` back to ``(.., n)``.

Subclasses implement two batch methods on C-contiguous 2-D arrays of the
operator's dtype, ``_forward(X)`` and ``_adjoint(Y)``; validation, rank
handling and dtype are done here once.
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_float_dtype,
    check_int,
    check_rng,
    check_scalar,
    check_signals,
    restore_rank,
)
from ..exceptions import ValidationError

__all__ = ["LinearOperator", "MatrixOperator", "ComposedOperator", "AdjointOperator", "aslinearoperator"]


class LinearOperator:
    """Abstract real linear map of maths shape ``(m, n)`` acting on rows.

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``: ``n`` inputs, ``m`` outputs.
    dtype : {np.float32, np.float64}
        Floating dtype of outputs.

    Notes
    -----
    ``op @ x`` with a 1-D ``x`` is ``op.forward(x)``; ``op @ M`` with a 2-D
    array ``M`` of shape ``(n, k)`` is the matrix product (maths semantics);
    ``op @ other_op`` composes. ``np.asarray(op)`` gives the dense matrix;
    ``Y @ op`` with an array ``Y`` stays matrix-free (the adjoint), it never densifies.
    """

    #: NumPy defers ``ndarray @ op`` to :meth:`__rmatmul__` instead of densifying ``op``.
    __array_ufunc__ = None

    def __init__(self, shape, dtype=np.float64):
        if not isinstance(shape, tuple | list) or len(shape) != 2:
            raise ValidationError(f"shape must be a pair (m, n), got {shape!r}.")
        m, n = shape
        self.shape = (check_int("shape[0]", m), check_int("shape[1]", n))
        self.dtype = check_float_dtype("dtype", dtype)
        self._norm_cache: float | None = None

    # -- to be implemented by subclasses -------------------------------------------------
    def _forward(self, X: np.ndarray) -> np.ndarray:  # (k, n) -> (k, m)
        raise NotImplementedError

    def _adjoint(self, Y: np.ndarray) -> np.ndarray:  # (k, m) -> (k, n)
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------
    def forward(self, x):
        """Apply the operator to one signal ``(n,)`` or a batch ``(n_signals, n)``."""
        X2, was_1d = check_signals(x, "x", n_features=self.shape[1], dtype=self.dtype)
        out = self._forward(X2)
        return restore_rank(np.ascontiguousarray(out, dtype=self.dtype), was_1d)

    def adjoint(self, y):
        """Apply the adjoint to one measurement ``(m,)`` or a batch ``(n_signals, m)``."""
        Y2, was_1d = check_signals(y, "y", n_features=self.shape[0], dtype=self.dtype)
        out = self._adjoint(Y2)
        return restore_rank(np.ascontiguousarray(out, dtype=self.dtype), was_1d)

    __call__ = forward

    def matvec(self, x):
        """Alias of :meth:`forward` for one signal (PyLops / SciPy naming)."""
        return self.forward(x)

    def rmatvec(self, y):
        """Alias of :meth:`adjoint` for one measurement (PyLops / SciPy naming)."""
        return self.adjoint(y)

    @property
    def T(self) -> LinearOperator:
        """The adjoint as an operator of shape ``(n, m)``."""
        return AdjointOperator(self)

    H = T

    def to_dense(self) -> np.ndarray:
        """The explicit matrix of shape ``(m, n)``.

        Applied to the smaller identity (``A^T I_m`` when ``m < n``, else ``A I_n``), so the
        memory stays O(m n), never O(n^2) for a wide operator.
        """
        m, n = self.shape
        if m < n:
            return np.ascontiguousarray(self._adjoint(np.eye(m, dtype=self.dtype)), dtype=self.dtype)
        return np.ascontiguousarray(self._forward(np.eye(n, dtype=self.dtype)).T, dtype=self.dtype)

    def __array__(self, dtype=None, copy=None):
        d = self.to_dense()
        return d if dtype is None else d.astype(dtype)

    def aslinearoperator(self):
        """A :class:`scipy.sparse.linalg.LinearOperator` view (column-vector semantics)."""
        from scipy.sparse.linalg import LinearOperator as SpLinOp

        def matmat(M):  # (n, k) columns
            return self._forward(np.ascontiguousarray(np.asarray(M, dtype=self.dtype).T)).T

        def rmatmat(M):  # (m, k)
            return self._adjoint(np.ascontiguousarray(np.asarray(M, dtype=self.dtype).T)).T

        return SpLinOp(
            shape=self.shape,
            dtype=self.dtype,
            matvec=lambda v: self.forward(np.ravel(v)),
            rmatvec=lambda v: self.adjoint(np.ravel(v)),
            matmat=matmat,
            rmatmat=rmatmat,
        )

    def norm(self, *, max_iter: int = 200, tol: float = 1e-7, rng=0) -> float:
        """Spectral norm ``||A||_2`` by power iteration on ``A^T A`` (cached).

        Used for step sizes (``1/||A||^2``). Dense subclasses may override it
        with an exact computation.
        """
        if self._norm_cache is None:
            self._norm_cache = power_iteration(self, max_iter=max_iter, tol=tol, rng=rng)
        return self._norm_cache

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return ComposedOperator(self, other)
        arr = np.asarray(other)
        if arr.ndim == 1:
            return self.forward(arr)
        if arr.ndim == 2:
            if arr.shape[0] != self.shape[1]:
                raise ValidationError(
                    f"Dimension mismatch: operator of shape {self.shape} @ array of shape {arr.shape}."
                )
            return self.forward(np.ascontiguousarray(arr.T)).T
        raise ValidationError(f"cannot multiply an operator by a {arr.ndim}-D array.")

    def __rmatmul__(self, other):
        if isinstance(other, LinearOperator):
            return ComposedOperator(other, self)
        arr = np.asarray(other)
        if arr.ndim == 2:  # (k, m) @ A = rows through the adjoint
            return self.adjoint(arr)
        if arr.ndim == 1:
            return self.adjoint(arr)
        raise ValidationError(f"cannot multiply a {arr.ndim}-D array by an operator.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={self.dtype.name}>"


def power_iteration(op: LinearOperator, *, max_iter: int = 200, tol: float = 1e-7, rng=0) -> float:
    """Largest singular value of ``op`` by power iteration on ``op^T op``."""
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0, low_inclusive=False)
    gen = check_rng(rng)
    v = gen.standard_normal(op.shape[1]).astype(op.dtype)
    v /= np.linalg.norm(v)
    sigma2 = 0.0
    for _ in range(max_iter):
        w = op._adjoint(op._forward(v[None, :]))[0]
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0
        v = (w / new).astype(op.dtype, copy=False)
        if abs(new - sigma2) <= tol * new:
            sigma2 = new
            break
        sigma2 = new
    return float(np.sqrt(sigma2))


class MatrixOperator(LinearOperator):
    """A dense matrix of shape ``(m, n)`` seen as an operator."""

    def __init__(self, A, dtype=None):
        from .._validation import check_array

        A = check_array(A, "A", ndim=2, dtype=dtype)
        super().__init__(A.shape, A.dtype)
        self.A = A

    def _forward(self, X):
        return X @ self.A.T

    def _adjoint(self, Y):
        return Y @ self.A

    def to_dense(self):
        return self.A.copy()

    def norm(self, **kwargs) -> float:
        if self._norm_cache is None:
            self._norm_cache = float(np.linalg.norm(self.A.astype(np.float64), 2))
        return self._norm_cache


class AdjointOperator(LinearOperator):
    """The adjoint ``A^T`` of an operator, shape ``(n, m)``."""

    def __init__(self, op: LinearOperator):
        super().__init__((op.shape[1], op.shape[0]), op.dtype)
        self.op = op

    def _forward(self, X):
        return self.op._adjoint(X)

    def _adjoint(self, Y):
        return self.op._forward(Y)

    @property
    def T(self):
        return self.op


class ComposedOperator(LinearOperator):
    """The product ``A B`` of two operators (e.g. a sensing matrix and a synthesis transform)."""

    def __init__(self, A: LinearOperator, B: LinearOperator):
        if A.shape[1] != B.shape[0]:
            raise ValidationError(
                f"Dimension mismatch: cannot compose an operator of shape {A.shape} with one of shape {B.shape}."
            )
        dt = np.result_type(A.dtype, B.dtype)
        super().__init__((A.shape[0], B.shape[1]), dt)
        self.A, self.B = A, B

    def _forward(self, X):
        return self.A._forward(np.ascontiguousarray(self.B._forward(X), dtype=self.A.dtype))

    def _adjoint(self, Y):
        return self.B._adjoint(np.ascontiguousarray(self.A._adjoint(Y), dtype=self.B.dtype))


def aslinearoperator(A) -> LinearOperator:
    """Return ``A`` if it is already an operator, else wrap a dense array in :class:`MatrixOperator`."""
    if isinstance(A, LinearOperator):
        return A
    return MatrixOperator(A)
