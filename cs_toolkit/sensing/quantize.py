"""Quantized measurements: a uniform scalar quantizer (any number of bits, optional dither)
and the one-bit (sign) measurement.

Acquisition hardware quantizes every measurement ``y = A x`` to a finite number of levels.
The decoder knows each measurement only up to its *quantization cell* ``[lower, upper]``;
consistent recovery (:func:`cs_toolkit.solvers.qiht`) looks for a sparse ``x`` whose
measurements fall in those cells, and one-bit recovery (:func:`cs_toolkit.solvers.biht`)
for a unit-norm ``x`` whose measurements have the observed signs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_bool, check_int, check_rng, check_scalar
from ..exceptions import ValidationError

__all__ = ["UniformQuantizer", "QuantizedMeasurements", "quantize", "one_bit"]

#: Largest number of bits of :class:`UniformQuantizer` (codes are stored as int64).
MAX_BITS = 32


@dataclass(frozen=True)
class QuantizedMeasurements:
    """Quantized measurements and the cells they stand for.

    Attributes
    ----------
    codes : ndarray of int64, same shape as the measurements
        Cell index of every measurement, ``0 .. 2**bits - 1`` (in increasing order of value).
    values : ndarray
        Reconstruction points: the cell centres with the dither removed (for the two
        saturation cells, the centre of the bounded part of the cell).
    lower, upper : ndarray
        Bounds of every measurement's cell in the measurement domain (dither removed);
        ``-inf`` / ``+inf`` for the saturation cells, so a measurement outside the range is
        still consistent with its cell.
    bits : int
        Bits per measurement.
    bin_width : float
        Width ``Delta`` of the bounded cells.
    dither : ndarray or None
        The subtractive dither that was added before quantization (known to the decoder).
    """

    codes: np.ndarray
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    bits: int
    bin_width: float
    dither: np.ndarray | None = None

    @property
    def shape(self):
        """Shape of the measurements."""
        return self.codes.shape

    @property
    def total_bits(self) -> int:
        """Bits of all the measurements together."""
        return int(self.codes.size) * self.bits

    def consistent(self, Y, *, atol=0.0):
        """Whether measurements ``Y`` (e.g. ``X_hat @ A.T``) lie in their cells, entry by entry."""
        Y = check_array(Y, "Y", ndim=self.codes.ndim, dtype=np.float64)
        atol = check_scalar("atol", atol, low=0.0)
        if Y.shape != self.codes.shape:
            raise ValidationError(f"Y must have the shape of the measurements {self.codes.shape}, got {Y.shape}.")
        return (Y >= self.lower - atol) & (Y <= self.upper + atol)


class UniformQuantizer:
    """Uniform mid-rise scalar quantizer with ``2**bits`` levels on ``[low, high]``.

    Parameters
    ----------
    bits : int
        Bits per measurement, ``>= 1``. One bit on a symmetric range is the sign.
    y_range : float or (float, float)
        Range ``[low, high]`` covered by the bounded cells; a float ``R`` means ``[-R, R]``.
        Values outside fall in the two saturation cells.
    dither : bool, default False
        Add a subtractive dither, uniform on ``[-Delta/2, Delta/2]`` and drawn from ``rng``
        for every entry, before quantizing; it is removed from ``values`` and the cell
        bounds (the decoder knows it). Dither makes the quantization error independent of
        the signal (Gray & Stockham 1993).
    rng : None, int or numpy.random.Generator
        Source of the dither.

    Raises
    ------
    ValidationError
        ``bits < 1`` (or above 32), an empty or non-finite range.

    Notes
    -----
    ``Delta = (high - low) / 2**bits``; code ``q = clip(floor((y + d - low) / Delta), 0, 2**bits - 1)``
    (moved to the neighbouring cell where rounding at an edge would leave ``y`` just outside, so
    ``y`` always lies in its cell); cell ``[low + q Delta - d, low + (q + 1) Delta - d]`` with the
    outer bounds of codes 0 and ``2**bits - 1`` at ``-inf``/``+inf`` (saturation, Laska et al.
    2011, "Democracy in action: quantization, saturation, and compressive sensing"). The
    quantization-consistent decoders follow Jacques, Hammond & Fadili (2011), "Dequantizing compressed sensing".

    Examples
    --------
    >>> import numpy as np
    >>> q = UniformQuantizer(2, 1.0)
    >>> qm = q.quantize(np.array([-0.9, -0.1, 0.2, 3.0]))
    >>> qm.codes, qm.values
    (array([0, 1, 2, 3]), array([-0.75, -0.25,  0.25,  0.75]))
    """

    def __init__(self, bits, y_range, *, dither=False, rng=None):
        self.bits = check_int("bits", bits, low=1, high=MAX_BITS)
        if isinstance(y_range, numbers.Real | np.floating | np.integer) and not isinstance(y_range, bool):
            r = check_scalar("y_range", y_range, low=0.0, low_inclusive=False)
            low, high = -r, r
        else:
            try:
                low, high = (float(v) for v in y_range)
            except (TypeError, ValueError):
                raise ValidationError(
                    f"y_range must be a positive float R (range [-R, R]) or a pair (low, high), got {y_range!r}."
                ) from None
            if not (np.isfinite(low) and np.isfinite(high) and high > low and np.isfinite(high - low)):
                raise ValidationError(f"y_range must be finite with low < high (and a finite width), "
                                      f"got ({low}, {high}).")
        self.low, self.high = float(low), float(high)
        self.levels = 2 ** self.bits
        self.bin_width = (self.high - self.low) / self.levels
        self.dither = check_bool("dither", dither)
        self._rng = check_rng(rng)

    def __repr__(self):
        return (f"UniformQuantizer(bits={self.bits}, y_range=({self.low:g}, {self.high:g}), "
                f"dither={self.dither})")

    def quantize(self, Y) -> QuantizedMeasurements:
        """Quantize measurements ``Y`` (any shape; float32 stays float32 in ``values`` and the bounds)."""
        Y = check_array(Y, "Y", ndim=(1, 2))
        d = None
        Yd = Y.astype(np.float64)
        if self.dither:
            d = (self._rng.random(Y.shape) - 0.5) * self.bin_width
            Yd = Yd + d
        codes = np.clip(np.floor((Yd - self.low) / self.bin_width), 0, self.levels - 1).astype(np.int64)
        Ym = Y.astype(np.float64)
        while True:  # rounding at a cell edge can leave y an ulp outside the cell floor() chose
            values, lower, upper = self._cells(codes, d)
            move = (Ym > upper).astype(np.int64) - (Ym < lower)
            if not move.any():
                break
            codes += move  # neighbouring cells share their edge bit for bit: this ends
        dt = Y.dtype
        return QuantizedMeasurements(codes=codes, values=values.astype(dt), lower=lower.astype(dt),
                                     upper=upper.astype(dt), bits=self.bits, bin_width=self.bin_width, dither=d)

    __call__ = quantize

    def _cells(self, codes, d):
        lower = self.low + codes * self.bin_width
        upper = self.low + (codes + 1) * self.bin_width  # the next cell's lower edge, bit for bit
        values = lower + 0.5 * self.bin_width
        if d is not None:
            lower, upper, values = lower - d, upper - d, values - d
        lower = np.where(codes == 0, -np.inf, lower)
        upper = np.where(codes == self.levels - 1, np.inf, upper)
        return values, lower, upper

    def dequantize(self, codes, dither=None):
        """Reconstruction points of ``codes`` (the cell centres, less the dither if one was used)."""
        codes = self._check_codes(codes)
        d = None if dither is None else check_array(dither, "dither", ndim=codes.ndim, dtype=np.float64)
        if d is not None and d.shape != codes.shape:
            raise ValidationError(f"dither must have the shape of codes {codes.shape}, got {d.shape}.")
        return self._cells(codes, d)[0]

    def _check_codes(self, codes):
        c = np.asarray(codes)
        if c.dtype.kind not in "iu" or c.ndim not in (1, 2):
            raise ValidationError(f"codes must be a 1-D or 2-D integer array, got dtype {c.dtype}, shape {c.shape}.")
        if c.size and (c.min() < 0 or c.max() >= self.levels):
            raise ValidationError(f"codes must lie in [0, {self.levels - 1}] for {self.bits} bits, "
                                  f"got values in [{c.min()}, {c.max()}].")
        return c.astype(np.int64)


def quantize(Y, bits, *, y_range=None, dither=False, rng=None) -> QuantizedMeasurements:
    """Quantize measurements uniformly with ``bits`` bits each.

    Parameters
    ----------
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, e.g. ``X @ A.T``.
    bits : int
        Bits per measurement, ``>= 1``.
    y_range : float or (float, float), optional
        Range of the bounded cells; default ``[-R, R]`` with ``R = max |Y|`` (no saturation).
    dither : bool, default False
        Subtractive uniform dither (see :class:`UniformQuantizer`).
    rng : None, int or numpy.random.Generator
        Source of the dither.

    Returns
    -------
    QuantizedMeasurements

    See Also
    --------
    UniformQuantizer, one_bit

    Examples
    --------
    >>> import numpy as np
    >>> qm = quantize(np.array([0.1, -0.5, 0.9]), 3, y_range=1.0)
    >>> bool(np.all(qm.consistent([0.1, -0.5, 0.9])))
    True
    """
    Y = check_array(Y, "Y", ndim=(1, 2))
    if y_range is None:
        r = float(np.max(np.abs(Y)))
        y_range = r if r > 0 else 1.0
    return UniformQuantizer(bits, y_range, dither=dither, rng=rng).quantize(Y)


def one_bit(Y):
    """One-bit measurements: the signs of ``Y`` as ``+1``/``-1`` (``sign(0) = +1``), dtype of ``Y``.

    Parameters
    ----------
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, e.g. ``X @ A.T``.

    Returns
    -------
    ndarray
        ``+1`` where ``Y >= 0``, ``-1`` elsewhere.

    Notes
    -----
    The 1-bit compressed sensing model of Boufounos & Baraniuk (2008), "1-bit compressive
    sensing": ``y = sign(A x)`` keeps no amplitude, so ``x`` is recovered up to a positive
    scale (on the unit sphere) by :func:`cs_toolkit.solvers.biht`.

    Examples
    --------
    >>> import numpy as np
    >>> one_bit(np.array([-0.3, 0.0, 2.0]))
    array([-1.,  1.,  1.])
    """
    Y = check_array(Y, "Y", ndim=(1, 2))
    return np.where(Y >= 0, 1, -1).astype(Y.dtype)
