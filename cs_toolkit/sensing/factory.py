"""One entry point, :func:`make_sensing`, for every sensing matrix kind."""

from __future__ import annotations

import inspect

import numpy as np

from .._validation import check_option
from ..exceptions import ValidationError
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
        Unknown ``kind`` (the message lists the valid ones), an option the chosen kind does not
        take (the message lists those it does) or bad sizes.

    Examples
    --------
    >>> from cs_toolkit.sensing import make_sensing
    >>> make_sensing("srht", 16, 64, rng=0)
    <SubsampledRandomizedTransform shape=(16, 64) dtype=float64>
    """
    kind = _ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    kind = check_option("kind", kind, SENSING_KINDS)
    build = _BUILDERS[kind]
    fixed = {"rng": rng, "dtype": dtype}
    if kind in ("srht", "srdct"):
        fixed["transform"] = "hadamard" if kind == "srht" else "dct"
    params = inspect.signature(build).parameters
    options = sorted(p for p, v in params.items() if v.kind is v.KEYWORD_ONLY and p not in fixed)
    if "transform" in kw and "transform" in fixed:
        raise ValidationError(f"make_sensing({kind!r}) sets transform itself ({fixed['transform']!r}); "
                              "choose kind='srht' (Hadamard) or 'srdct' (DCT) instead of passing transform.")
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise ValidationError(f"make_sensing({kind!r}) got unknown option(s) {', '.join(unknown)}; "
                              f"its options: {', '.join(options) or '(none)'}.")
    return build(m, n, **fixed, **kw)


_BUILDERS = {"gaussian": gaussian, "bernoulli": bernoulli, "partial_dct": PartialDCT,
             "partial_fourier": PartialFourier, "srht": SubsampledRandomizedTransform,
             "srdct": SubsampledRandomizedTransform, "sparse": SparseRandom}
