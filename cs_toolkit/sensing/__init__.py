"""Sensing matrices and matrix-free operators."""

from ._base import AdjointOperator, ComposedOperator, LinearOperator, MatrixOperator, aslinearoperator

__all__ = ["LinearOperator", "MatrixOperator", "ComposedOperator", "AdjointOperator", "aslinearoperator"]
