"""Checks of the measurement records of the image and audio pipelines, and the sensing operator
of :func:`~cs_toolkit.signals.whole_image_cs`.

:class:`~cs_toolkit.signals.BlockMeasurements` and :class:`~cs_toolkit.signals.AudioMeasurements`
are public dataclasses a user may build (or ``dataclasses.replace``) by hand; their
``__post_init__`` and the ``reconstruct_*`` functions run these checks so that inconsistent
shapes or non-finite values raise a :class:`~cs_toolkit.exceptions.ValidationError` naming the
field, before any reshape or product fails with a NumPy message.
"""

from __future__ import annotations

import numpy as np

from .. import sensing
from .._validation import check_array, check_int, check_rng
from ..exceptions import ValidationError
from ..transforms import padded_frame_count

__all__ = ["check_block_measurements", "check_audio_measurements", "whole_image_operator",
           "WHOLE_IMAGE_DENSE_MAX"]

#: The most entries (``m * n``) of a dense ``"gaussian"``/``"bernoulli"`` whole-image matrix
#: (2**27: 1 GiB in float64, about a 128 x 128 image at ratio 0.5); larger ones are refused.
WHOLE_IMAGE_DENSE_MAX = 1 << 27


def _shape_ints(value, name: str, lengths: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or len(value) not in lengths:
        want = " or ".join(f"{k} integers" for k in lengths)
        raise ValidationError(f"{name} must be a tuple of {want}, got {value!r}.")
    return tuple(check_int(f"{name}[{i}]", v, low=1) for i, v in enumerate(value))


def _check_dtype(value, name: str) -> None:
    try:
        np.dtype(value)
    except TypeError:
        raise ValidationError(f"{name} must be a NumPy dtype, got {value!r}.") from None


def _check_YA(meas, n_channels: int, n_rows: int, n_cols: int, rows: str, cols: str) -> None:
    """``meas.A`` finite of shape ``(m, n_cols)``, ``m >= 1``; ``meas.Y`` finite of shape
    ``(n_channels, n_rows, m)``. The arrays are only read."""
    A = check_array(meas.A, "meas.A", ndim=2)
    if A.shape[1] != n_cols:
        raise ValidationError(f"meas.A must have shape (n_measurements, {n_cols}) ({cols}), got {A.shape}.")
    Y = check_array(meas.Y, "meas.Y", ndim=3, allow_empty=True)  # a wrong shape is reported below
    want = (n_channels, n_rows, A.shape[0])
    if Y.shape != want:
        raise ValidationError(f"meas.Y must have shape {want} (n_channels, {rows}, n_measurements of meas.A), "
                              f"got {Y.shape}.")


def check_block_measurements(meas) -> None:
    """Validate the fields of a ``BlockMeasurements`` against each other (see the module doc)."""
    B = check_int("meas.block_size", meas.block_size, low=1)
    shape = _shape_ints(meas.image_shape, "meas.image_shape", (2, 3))
    padded = _shape_ints(meas.padded_shape, "meas.padded_shape", (2,))
    want = (-(-shape[0] // B) * B, -(-shape[1] // B) * B)
    if padded != want:
        raise ValidationError(f"meas.padded_shape must be {want} (image_shape {shape[:2]} rounded up to "
                              f"multiples of block_size={B}), got {tuple(meas.padded_shape)}.")
    _check_dtype(meas.input_dtype, "meas.input_dtype")
    n_ch = 1 if len(shape) == 2 else shape[2]
    _check_YA(meas, n_ch, (want[0] // B) * (want[1] // B), B * B, "n_blocks", f"block_size**2 for block_size={B}")


def check_audio_measurements(meas) -> None:
    """Validate the fields of an ``AudioMeasurements`` against each other (see the module doc)."""
    N = check_int("meas.frame_length", meas.frame_length, low=1)
    hop = check_int("meas.hop", meas.hop, low=1, high=N)
    L = check_int("meas.length", meas.length, low=1)
    n_ch = check_int("meas.n_channels", meas.n_channels, low=1)
    w = check_array(meas.window, "meas.window", ndim=1)
    if w.shape != (N,):
        raise ValidationError(f"meas.window must have shape ({N},) (frame_length), got {w.shape}.")
    _check_dtype(meas.input_dtype, "meas.input_dtype")
    _check_YA(meas, n_ch, padded_frame_count(L, N, hop), N, f"n_frames for {L} samples", f"frame_length={N}")


def whole_image_operator(operator, m: int, n: int, rng) -> sensing.LinearOperator:
    """The ``(m, n)`` sensing operator of ``make_sensing(operator, ...)``; a dense kind's matrix
    (``"gaussian"``, ``"bernoulli"``) is wrapped as a :class:`~cs_toolkit.sensing.MatrixOperator`
    and refused above :data:`WHOLE_IMAGE_DENSE_MAX` entries, before it is drawn."""
    if isinstance(operator, str) and operator in ("gaussian", "bernoulli", "rademacher") and m * n > WHOLE_IMAGE_DENSE_MAX:
        raise ValidationError(f"operator={operator!r} would be a dense {m} x {n} matrix ({m * n} entries, more "
                              f"than {WHOLE_IMAGE_DENSE_MAX}); use a structured operator such as 'srdct'.")
    try:
        return sensing.aslinearoperator(sensing.make_sensing(operator, m, n, rng=check_rng(rng)))
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("kind must", "operator must", 1)) from None
