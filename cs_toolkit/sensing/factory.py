"""One entry point, :func:`make_sensing`, for every sensing matrix kind."""

from __future__ import annotations

import numpy as np

from .._validation import check_option
from .matrices import bernoulli, gaussian
from .operators import PartialDCT, PartialFourier, SparseRandom, SubsampledRandomizedTransform

__all__ = ["SENSING_KINDS", "make_sensing"]

#: The sensing kinds understood by :func:`make_sensing`.
SENSING_KINDS = ("gaussian", "bernoulli", "partial_dct", "partial_fourier", "srht", "srdct", "sparse")

_ALIASES = {"rademacher": "bernoulli"}


def make_sensing(kind, m, n, *, rng=None, dtype=np.float64, **kw):
    """Build a sensing matrix or operator of shape ``(m, n)`` by name.

    Parameters
    ----------
    kind : str
        One of :data:`SENSING_KINDS`: ``"gaussian"`` and ``"bernoulli"``
        (``"rademacher"`` is accepted as an alias) return dense ndarrays;
        ``"partial_dct"`` (:class:`PartialDCT`), ``"partial_fourier"``
        (:class:`PartialFourier`), ``"srht"`` and ``"srdct"``
        (:class:`SubsampledRandomizedTransform` with the Hadamard or DCT
        transform) and ``"sparse"`` (:class:`SparseRandom`) return operators.
    m, n : int
        Number of measurements and signal length.
    rng : None, int or numpy.random.Generator, default None
        Source of randomness.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.
    **kw
        Further options of the chosen constructor (``normalize``,
        ``orthonormal_rows``, ``rows``, ``nnz_per_column``).

    Returns
    -------
    ndarray of shape (m, n) or LinearOperator

    Raises
    ------
    ValidationError
        Unknown ``kind`` (the message lists the valid ones) or bad sizes.

    Examples
    --------
    >>> from cs_toolkit.sensing import make_sensing
    >>> make_sensing("srht", 16, 64, rng=0)
    <SubsampledRandomizedTransform shape=(16, 64) dtype=float64>
    """
    kind = _ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    kind = check_option("kind", kind, SENSING_KINDS)
    if kind == "gaussian":
        return gaussian(m, n, rng=rng, dtype=dtype, **kw)
    if kind == "bernoulli":
        return bernoulli(m, n, rng=rng, dtype=dtype, **kw)
    if kind == "partial_dct":
        return PartialDCT(m, n, rng=rng, dtype=dtype, **kw)
    if kind == "partial_fourier":
        return PartialFourier(m, n, rng=rng, dtype=dtype, **kw)
    if kind in ("srht", "srdct"):
        transform = "hadamard" if kind == "srht" else "dct"
        return SubsampledRandomizedTransform(m, n, transform=transform, rng=rng, dtype=dtype, **kw)
    return SparseRandom(m, n, rng=rng, dtype=dtype, **kw)
