"""What a learned reconstructor was trained to see: the signal kind, the sensing settings, the scale.

A network's thresholds are absolute numbers, so it only works on measurements taken the way its
training measurements were: the same sensing matrix, block (or frame) size and ratio, and signals on
the same scale. A model therefore carries an *acquisition record*, a small JSON-safe dict saved with
it, and the image and audio pipelines rebuild the measurement from it (or say which setting differs).

Fields
------
``signal``
    ``"image"`` (square blocks of ``block_size``) or ``"audio"`` (windowed frames).
``block_size``
    Image block side ``B`` (the rows are ``B*B`` pixels, raveled row-major); audio: the frame length.
``hop``, ``window``
    Audio only: frame hop and analysis window name (``"sine"``, ``"hann"``, ``"rect"``).
``ratio``, ``matrix``, ``seed``
    The sensing matrix is ``cs_toolkit.signals.image.pipeline_matrix(matrix, m, n, seed)`` with
    ``m = max(1, round(ratio * n))``: Gaussian with orthonormal rows for ``"gaussian"``.
``scale``
    How measurements are brought to the training scale, :func:`measurement_scale`:
    ``"pixel"``: images on [0, 1] (the pipelines work on [0, 255], so measurements are divided by
    255); ``"loudest_frame"``: each clip is divided by ``max_f ||y_f|| / sqrt(m / n)``, the
    root-energy of its loudest frame as the measurements see it, so the loudest frame of every
    clip has (about) unit energy in training and in use alike.
"""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import ValidationError

__all__ = ["make_acquisition", "check_acquisition", "measurement_scale", "acquisition_mismatch",
           "describe_acquisition", "SIGNALS", "SCALES"]

SIGNALS = ("image", "audio")
SCALES = {"image": "pixel", "audio": "loudest_frame"}
WINDOWS = ("sine", "hann", "rect")
_KEYS = {"signal", "block_size", "ratio", "matrix", "seed", "scale"}
_AUDIO_KEYS = {"hop", "window"}


def make_acquisition(signal, *, block_size, ratio, matrix="gaussian", seed=0, hop=None, window="sine") -> dict:
    """A checked acquisition record (see the module docstring)."""
    rec = {"signal": signal, "block_size": block_size, "ratio": ratio, "matrix": matrix, "seed": seed,
           "scale": SCALES.get(signal)}
    if signal == "audio":
        rec.update(hop=block_size // 2 if hop is None else hop, window=window)
    return check_acquisition(rec)


def check_acquisition(rec, bad=None, *, n_features=None) -> dict:
    """Validate a record (from a file or a caller); returns a normalised copy.

    ``bad(why)`` makes the exception raised (default :class:`ValidationError`). With ``n_features``
    (the length of a model's signals), the record must also be for signals of that length:
    ``block_size ** 2`` samples for an image block, ``block_size`` for an audio frame (the one rule
    of :func:`cs_toolkit.learned.save_model` and :func:`cs_toolkit.learned.load_model`).
    """
    def fail(why):
        return bad(why) if bad is not None else ValidationError(f"acquisition record: {why}")

    if not isinstance(rec, dict):
        raise fail(f"must be a dict, got {type(rec).__name__}")
    signal = rec.get("signal")
    if signal not in SIGNALS:
        raise fail(f"'signal' must be one of {SIGNALS}, got {signal!r}")
    keys = _KEYS | (_AUDIO_KEYS if signal == "audio" else set())
    if set(rec) != keys:
        raise fail(f"must hold exactly the keys {sorted(keys)}, got {sorted(rec)}")

    def integer(name, low, high):
        v = rec[name]
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or not low <= v <= high:
            raise fail(f"{name!r} must be an integer in [{low}, {high}], got {v!r}")
        return int(v)

    out = {"signal": signal, "block_size": integer("block_size", 2, 1 << 16), "seed": integer("seed", 0, 2**63 - 1)}
    r = rec["ratio"]
    if isinstance(r, bool) or not isinstance(r, int | float | np.floating) or not (0.0 < float(r) <= 1.0):
        raise fail(f"'ratio' must be a number in (0, 1], got {r!r}")
    out["ratio"] = float(r)
    if not isinstance(rec["matrix"], str) or not rec["matrix"]:
        raise fail(f"'matrix' must be the name of a sensing matrix kind, got {rec['matrix']!r}")
    out["matrix"] = rec["matrix"]
    if rec["scale"] != SCALES[signal]:
        raise fail(f"'scale' of a {signal} model must be {SCALES[signal]!r}, got {rec['scale']!r}")
    out["scale"] = rec["scale"]
    if signal == "audio":
        out["hop"] = integer("hop", 1, out["block_size"])
        if rec["window"] not in WINDOWS:
            raise fail(f"'window' must be one of {WINDOWS}, got {rec['window']!r}")
        out["window"] = rec["window"]
    if n_features is not None:
        n = out["block_size"] ** 2 if signal == "image" else out["block_size"]
        if n != n_features:
            raise fail(f"it is for signals of {n} samples ({describe_acquisition(out)}), the model for signals "
                       f"of {n_features}")
    return out


def measurement_scale(Y, rec) -> float:
    """The number the measurements ``Y`` (rows, pipeline scale) are divided by before the network,
    and its output multiplied by after it (see ``scale`` in the module docstring)."""
    if rec["scale"] == "pixel":
        return 255.0
    Y = np.asarray(Y, dtype=np.float64)
    if Y.size == 0:
        return 1.0
    n = rec["block_size"]
    peak = float(np.sqrt(np.max(np.einsum("ij,ij->i", Y, Y)))) / math.sqrt(Y.shape[-1] / n)
    return peak if peak > 0.0 else 1.0


def acquisition_mismatch(rec, **given) -> list[tuple[str, object, object]]:
    """``(setting, model's value, given value)`` for every given setting that differs from ``rec``."""
    out = []
    for key, value in given.items():
        if value is None or key not in rec:
            continue
        mine = rec[key]
        same = math.isclose(float(mine), float(value), rel_tol=0, abs_tol=1e-12) if key == "ratio" else mine == value
        if not same:
            out.append((key, mine, value))
    return out


def describe_acquisition(rec) -> str:
    """One line: ``image blocks 16x16, ratio 0.5, gaussian matrix (seed 0)``."""
    if rec["signal"] == "image":
        what = f"image blocks {rec['block_size']}x{rec['block_size']}"
    else:
        what = f"audio frames of {rec['block_size']} (hop {rec['hop']}, {rec['window']} window)"
    return f"{what}, ratio {rec['ratio']:g}, {rec['matrix']} matrix (seed {rec['seed']})"
