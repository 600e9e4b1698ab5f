"""Sensing matrices, matrix-free operators and their diagnostics.

Dense random matrices (:func:`gaussian`, :func:`bernoulli`) are ndarrays of
maths shape ``(m, n)``; structured operators (:class:`PartialDCT`,
:class:`PartialFourier`, :class:`SubsampledRandomizedTransform`,
:class:`SparseRandom`, :class:`BlockDiagonal`) are :class:`LinearOperator`
objects with ``forward``/``adjoint`` on one signal or a batch of rows.
:func:`make_sensing` builds any kind by name; :func:`dot_test` checks an
adjoint. :func:`optimize_sensing` designs a matrix for a dictionary; :func:`quantize`
and :func:`one_bit` model quantized acquisition.
"""

from ._base import (
    AdjointOperator,
    ComposedOperator,
    LinearOperator,
    MatrixOperator,
    aslinearoperator,
)
from .design import (
    DESIGN_METHODS,
    SensingDesign,
    effective_coherence,
    gram_entries,
    optimize_sensing,
    plot_gram_histogram,
    t_averaged_coherence,
)
from .diagnostics import (
    RIPEstimate,
    dot_test,
    mutual_coherence,
    rip_estimate,
    spectral_norm,
    welch_bound,
)
from .factory import SENSING_KINDS, make_sensing
from .matrices import bernoulli, gaussian
from .operators import (
    BlockDiagonal,
    PartialDCT,
    PartialFourier,
    SparseRandom,
    SubsampledRandomizedTransform,
)
from .quantize import QuantizedMeasurements, UniformQuantizer, one_bit, quantize

__all__ = [
    # base
    "LinearOperator",
    "MatrixOperator",
    "ComposedOperator",
    "AdjointOperator",
    "aslinearoperator",
    # dense matrices
    "gaussian",
    "bernoulli",
    # operators
    "PartialDCT",
    "PartialFourier",
    "SubsampledRandomizedTransform",
    "SparseRandom",
    "BlockDiagonal",
    # factory
    "SENSING_KINDS",
    "make_sensing",
    # diagnostics
    "mutual_coherence",
    "welch_bound",
    "spectral_norm",
    "rip_estimate",
    "RIPEstimate",
    "dot_test",
    # designed matrices (design.py)
    "optimize_sensing",
    "SensingDesign",
    "DESIGN_METHODS",
    "t_averaged_coherence",
    "effective_coherence",
    "gram_entries",
    "plot_gram_histogram",
    # quantized measurements (quantize.py)
    "UniformQuantizer",
    "QuantizedMeasurements",
    "quantize",
    "one_bit",
]
