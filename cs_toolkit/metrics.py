"""Quality measures of a recovery: errors, SNRs, image quality, support recovery.

All functions take the reference first (``x_true``) and the estimate second,
accept one signal (1-D) or a batch of rows (2-D; images are 2-D arrays), check
that both have the same shape, and compute in float64.

Conventions for a zero reference (``||x|| = 0``): a relative error is ``0``
when the estimate is also exactly zero and ``inf`` otherwise, so an SNR is
``inf`` or ``-inf`` accordingly; no warning is raised.
"""

from __future__ import annotations

import numpy as np

from ._config import SUCCESS_THRESHOLD
from ._validation import check_array, check_bool, check_int, check_scalar
from .exceptions import ValidationError

__all__ = [
    "nmse",
    "nmse_per_signal",
    "snr",
    "segmental_snr",
    "psnr",
    "ssim",
    "support_recovery",
    "relative_error",
    "recovery_success",
    "normalized_error",
    "bit_rate",
]


def _pair(x_true, x_est, ndim=(1, 2), names=("x_true", "x_est"), finite_est=True):
    a = check_array(x_true, names[0], ndim=ndim, dtype=np.float64)
    b = check_array(x_est, names[1], ndim=ndim, dtype=np.float64, finite=finite_est)
    if a.shape != b.shape:
        raise ValidationError(
            f"{names[0]} and {names[1]} must have the same shape, got {names[0]} of shape {a.shape} "
            f"and {names[1]} of shape {b.shape}."
        )
    return a, b


def _rescaled_pair(x_true, x_est, finite_est=True):
    """The validated pair divided by a common scale, so squared norms neither under- nor overflow.

    Every ratio metric (nmse, snr, relative error) is invariant to that scale. A non-finite
    estimate (``finite_est=False``) is left unscaled.
    """
    a, b = _pair(x_true, x_est, finite_est=finite_est)
    s = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    if 0.0 < s < np.inf and not (1e-100 < s < 1e100):
        a, b = a / s, b / s
    return a, b


def _ratio(err, ref):
    """err / ref elementwise with 0/0 = 0 and e/0 = inf."""
    err = np.asarray(err, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = err / ref
    r = np.where(ref == 0, np.where(err == 0, 0.0, np.inf), r)
    return r


def _db(ratio):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(ratio)


def nmse(x_true, x_est, *, db=False, finite=True):
    """Normalised mean squared error over a whole batch.

    Parameters
    ----------
    x_true : array_like of shape (n_features,) or (n_signals, n_features)
        Reference signals.
    x_est : array_like of the same shape
        Estimates.
    db : bool, default False
        Return ``10 log10(NMSE)`` instead.
    finite : bool, default True
        Reject NaN and Inf in ``x_est``. With ``False`` a non-finite estimate gives a NaN or
        ``inf`` NMSE instead of an error (the validation score of a diverged model in training).

    Returns
    -------
    float
        ``sum_i ||x_est_i - x_true_i||^2 / sum_i ||x_true_i||^2`` (one ratio of
        sums over the batch, as in the LISTA literature, not a mean of ratios;
        see :func:`nmse_per_signal`). A zero reference gives ``0`` for a zero
        estimate and ``inf`` otherwise (``-inf``/``inf`` dB).

    Raises
    ------
    ValidationError
        Shapes differ, wrong rank, or non-finite values.

    Examples
    --------
    >>> from cs_toolkit.metrics import nmse
    >>> nmse([1.0, 0.0], [1.0, 0.1])
    0.010000000000000002
    >>> round(nmse([1.0, 0.0], [1.0, 0.1], db=True), 6)
    -20.0
    """
    db = check_bool("db", db)
    a, b = _rescaled_pair(x_true, x_est, finite_est=check_bool("finite", finite))
    r = float(_ratio(np.sum((b - a) ** 2), np.sum(a**2)))
    return float(_db(r)) if db else r


def nmse_per_signal(x_true, x_est, *, db=False):
    """Normalised squared error of each signal, ``||x_est_i - x_true_i||^2 / ||x_true_i||^2``.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_features,) or (n_signals, n_features)
        Reference and estimate, same shape.
    db : bool, default False
        Return the values in dB.

    Returns
    -------
    ndarray of shape (n_signals,), or float for 1-D input
        Zero references follow the module convention (0 or inf).
    """
    db = check_bool("db", db)
    a, b = _rescaled_pair(x_true, x_est)
    r = _ratio(np.sum((b - a) ** 2, axis=-1), np.sum(a**2, axis=-1))
    if db:
        r = _db(r)
    return float(r) if a.ndim == 1 else r


def snr(x_true, x_est, *, per_signal=False):
    """Signal-to-noise ratio of an estimate in dB.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_features,) or (n_signals, n_features)
        Reference and estimate, same shape.
    per_signal : bool, default False
        Return one SNR per row instead of the SNR of the whole batch.

    Returns
    -------
    float or ndarray of shape (n_signals,)
        ``10 log10(sum ||x_true||^2 / sum ||x_est - x_true||^2)``, i.e.
        ``-nmse(x_true, x_est, db=True)``; ``inf`` for an exact estimate.

    Examples
    --------
    >>> from cs_toolkit.metrics import snr
    >>> round(snr([3.0, 4.0], [3.0, 4.5]), 4)
    20.0
    """
    if check_bool("per_signal", per_signal):
        return -nmse_per_signal(x_true, x_est, db=True)
    return -nmse(x_true, x_est, db=True)


def segmental_snr(
    x_true, x_est, frame_length=256, hop=None, clamp=(-10.0, 35.0), *, silence_db=-40.0
):
    """Segmental SNR of audio in dB: the mean of clamped per-frame SNRs over non-silent frames.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_samples,) or (n_signals, n_samples)
        Reference and estimate, same shape.
    frame_length : int, default 256
        Frame length in samples (32 ms at 8 kHz). A signal shorter than a
        frame is one frame.
    hop : int, optional
        Hop between frames; defaults to ``frame_length`` (no overlap). The
        tail shorter than a frame is ignored.
    clamp : tuple of float, default (-10, 35)
        Each frame SNR is clipped to this interval before averaging (the usual
        limits: below -10 dB nothing is left, above 35 dB differences are inaudible).
    silence_db : float, default -40
        Frames whose reference energy is more than ``-silence_db`` dB below the
        most energetic frame of the same signal (or zero) are silent and excluded;
        ``0`` keeps only the most energetic frames.

    Returns
    -------
    float, or ndarray of shape (n_signals,) for a batch
        ``mean over non-silent frames j of clip(10 log10(||x_j||^2 / ||x_j - xhat_j||^2), *clamp)``.
        An all-zero reference has no non-silent frame and gives ``nan``. Like
        :func:`snr`, the value does not change when both signals are scaled together.

    Notes
    -----
    Hansen and Pellom, "An effective quality evaluation protocol for speech
    enhancement algorithms", ICSLP 1998.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.metrics import segmental_snr
    >>> x = np.sin(np.arange(1024) / 5.0)
    >>> float(segmental_snr(x, x))
    35.0
    """
    a, b = _rescaled_pair(x_true, x_est)  # frame energies neither under- nor overflow
    N = check_int("frame_length", frame_length)
    hop = N if hop is None else check_int("hop", hop)
    if not isinstance(clamp, tuple | list) or len(clamp) != 2:
        raise ValidationError(f"clamp must be a pair (low, high), got {clamp!r}.")
    lo = check_scalar("clamp[0]", clamp[0])
    hi = check_scalar("clamp[1]", clamp[1], low=lo, low_inclusive=False)
    silence_db = check_scalar("silence_db", silence_db, high=0.0)
    a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
    L = a2.shape[1]
    Nf = min(N, L)
    starts = np.arange(0, L - Nf + 1, hop)
    idx = starts[:, None] + np.arange(Nf)[None, :]
    out = np.empty(a2.shape[0])
    for i in range(a2.shape[0]):
        fa, fb = a2[i, idx], b2[i, idx]
        sig = np.sum(fa**2, axis=1)
        err = np.sum((fb - fa) ** 2, axis=1)
        if sig.max() == 0:
            out[i] = np.nan
            continue
        active = (sig > 0) & (sig >= sig.max() * 10.0 ** (silence_db / 10.0))
        with np.errstate(divide="ignore"):
            seg = 10.0 * np.log10(sig[active]) - 10.0 * np.log10(err[active])
        out[i] = np.mean(np.clip(seg, lo, hi))
    return float(out[0]) if a.ndim == 1 else out


def _image_pair(img_true, img_est, data_range, min_side=1):
    """The validated image pair and its data range (given, or inferred as :func:`psnr` documents)."""
    a, b = _pair(img_true, img_est, ndim=2, names=("img_true", "img_est"))
    if min(a.shape) < min_side:
        raise ValidationError(
            f"img_true must be at least {min_side}x{min_side} pixels for SSIM, got shape {a.shape}."
        )
    if data_range is not None:
        return a, b, check_scalar("data_range", data_range, low=0.0, low_inclusive=False)
    dt = np.asarray(img_true).dtype  # an array already: _pair converted it
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return a, b, float(info.max - info.min) if info.min < 0 else float(info.max)
    if a.min() >= 0.0 and a.max() <= 1.0:
        return a, b, 1.0
    rng = float(a.max() - a.min())
    if rng == 0:
        raise ValidationError(
            f"img_true is constant ({float(a.flat[0])}, outside [0, 1]), so its data range cannot be "
            f"inferred; pass data_range."
        )
    return a, b, rng


def psnr(img_true, img_est, data_range=None):
    """Peak signal-to-noise ratio of an image in dB (``skimage.metrics.peak_signal_noise_ratio``).

    Parameters
    ----------
    img_true, img_est : array_like of shape (height, width)
        Reference and estimate, same shape.
    data_range : float, optional
        Peak-to-peak range of the pixel values. Default: ``255`` for uint8
        (the dtype's maximum for unsigned and ``max - min`` for signed integer
        references), ``1`` for floating images with values in ``[0, 1]``, else
        ``img_true.max() - img_true.min()`` (a constant reference outside ``[0, 1]``
        has none: pass ``data_range``).

    Returns
    -------
    float
        ``10 log10(data_range^2 / MSE)``; ``inf`` when the images are equal.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.metrics import psnr
    >>> a = np.zeros((4, 4)); b = a.copy(); b[0, 0] = 0.4
    >>> round(psnr(a, b, data_range=1.0), 6)
    20.0
    """
    from skimage.metrics import peak_signal_noise_ratio

    a, b, dr = _image_pair(img_true, img_est, data_range)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=dr))


def ssim(img_true, img_est, data_range=None):
    """Structural similarity index of an image (``skimage.metrics.structural_similarity``).

    Parameters
    ----------
    img_true, img_est : array_like of shape (height, width)
        Reference and estimate, same shape, at least 7x7 pixels.
    data_range : float, optional
        Pixel range, inferred as in :func:`psnr`.

    Returns
    -------
    float
        Mean SSIM in ``[-1, 1]`` with scikit-image's default 7x7 uniform window.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.metrics import ssim
    >>> img = np.random.default_rng(0).random((16, 16))
    >>> ssim(img, img)
    1.0
    """
    from skimage.metrics import structural_similarity

    a, b, dr = _image_pair(img_true, img_est, data_range, min_side=7)
    return float(structural_similarity(a, b, data_range=dr))


def support_recovery(x_true, x_est, *, tol=None, per_signal=False):
    """Fraction of the true support found by an estimate.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_features,) or (n_signals, n_features)
        Reference (sparse) and estimate, same shape.
    tol : float, optional
        None (default): the true support is the set of nonzero entries of
        ``x_true`` (``k_i`` of them) and the estimated support the ``k_i``
        largest ``|x_est|`` entries (ties broken by index order). A float
        ``tol >= 0``: both supports are the entries with magnitude above ``tol``.
    per_signal : bool, default False
        Return one fraction per signal instead of their mean.

    Returns
    -------
    float or ndarray of shape (n_signals,)
        ``|supp(x_true) ∩ supp(x_est)| / |supp(x_true)|`` per signal (1 for an
        empty true support), or its mean over the batch. With ``tol=None`` this
        is both recall and precision of the top-k support.

    Examples
    --------
    >>> from cs_toolkit.metrics import support_recovery
    >>> support_recovery([0, 2.0, 0, -1.0], [0.5, 1.9, 0.1, 0])
    0.5
    """
    per_signal = check_bool("per_signal", per_signal)
    a, b = _pair(x_true, x_est)
    a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
    if tol is None:
        true_s = a2 != 0
        k = true_s.sum(axis=1)
        order = np.argsort(-np.abs(b2), axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(
            ranks, order, np.arange(a2.shape[1])[None, :].repeat(a2.shape[0], 0), axis=1
        )
        est_s = ranks < k[:, None]
    else:
        tol = check_scalar("tol", tol, low=0.0)
        true_s = np.abs(a2) > tol
        est_s = np.abs(b2) > tol
        k = true_s.sum(axis=1)
    hit = np.sum(true_s & est_s, axis=1)
    frac = np.where(k == 0, 1.0, hit / np.maximum(k, 1))
    if per_signal:
        return float(frac[0]) if a.ndim == 1 else frac
    return float(np.mean(frac))


def relative_error(x_true, x_est):
    """Relative error of each signal, ``||x_est_i - x_true_i||_2 / ||x_true_i||_2``.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_features,) or (n_signals, n_features)
        Reference and estimate, same shape.

    Returns
    -------
    float or ndarray of shape (n_signals,)
        Zero reference: 0 for a zero estimate, inf otherwise.

    Examples
    --------
    >>> from cs_toolkit.metrics import relative_error
    >>> relative_error([[3.0, 4.0], [1.0, 0.0]], [[3.0, 4.5], [1.0, 0.0]])
    array([0.1, 0. ])
    """
    a, b = _rescaled_pair(x_true, x_est)
    r = _ratio(np.linalg.norm(b - a, axis=-1), np.linalg.norm(a, axis=-1))
    return float(r) if a.ndim == 1 else r


def recovery_success(x_true, x_est, threshold=SUCCESS_THRESHOLD):
    """Whether each signal was recovered: THE success criterion of recovery experiments.

    A recovery succeeds when its relative error
    ``||x_est - x_true||_2 / ||x_true||_2`` is strictly below ``threshold``
    (default :data:`cs_toolkit._config.SUCCESS_THRESHOLD` = 1e-3, meant for
    noiseless problems). Phase-transition diagrams and benchmarks count
    successes with this function.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_features,) or (n_signals, n_features)
        Reference and estimate, same shape.
    threshold : float, default 1e-3
        Relative-error threshold, ``> 0``.

    Returns
    -------
    bool or ndarray of bool of shape (n_signals,)

    Examples
    --------
    >>> from cs_toolkit.metrics import recovery_success
    >>> recovery_success([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1e-4], [1.0, 1e-2]])
    array([ True, False])
    """
    t = check_scalar("threshold", threshold, low=0.0, low_inclusive=False)
    r = relative_error(x_true, x_est)
    return bool(r < t) if np.ndim(r) == 0 else r < t


def normalized_error(x_true, x_est, *, db=False):
    """Error between the directions of the signals, ``||x / ||x|| - x_est / ||x_est||||_2``.

    The measure of one-bit compressed sensing, where ``sign(A x)`` keeps no amplitude and
    the signal is recovered on the unit sphere only.

    Parameters
    ----------
    x_true, x_est : array_like of shape (n_features,) or (n_signals, n_features)
        Reference and estimate, same shape.
    db : bool, default False
        Return ``20 log10`` of the error (as the normalised SNR of Jacques et al. with the
        opposite sign).

    Returns
    -------
    float or ndarray of shape (n_signals,)
        In ``[0, 2]``: 0 for the same direction, ``sqrt(2)`` for orthogonal signals, 2 for
        opposite ones. A zero vector has no direction and counts as the zero vector: a zero
        estimate of a non-zero signal gives 1, and two zero vectors give 0.

    Notes
    -----
    Jacques, Laska, Boufounos & Baraniuk (2013), "Robust 1-bit compressive sensing via
    binary stable embeddings of sparse vectors", section VI.

    Examples
    --------
    >>> from cs_toolkit.metrics import normalized_error
    >>> normalized_error([[3.0, 4.0], [1.0, 0.0]], [[0.6, 0.8], [0.0, 2.0]]).round(4)
    array([0.    , 1.4142])
    """
    db = check_bool("db", db)
    a, b = _rescaled_pair(x_true, x_est)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    ua = a / np.where(na > 0, na, 1.0)
    ub = b / np.where(nb > 0, nb, 1.0)
    e = np.linalg.norm(ua - ub, axis=-1)
    if db:
        e = 2.0 * _db(e)
    return float(e) if a.ndim == 1 else e


def bit_rate(n_measurements, bits, n_features):
    """Bits spent per signal sample: ``n_measurements * bits / n_features``.

    The x-axis of the rate-quality trade-off of quantized compressed sensing: at a fixed
    budget, more measurements of fewer bits or fewer measurements of more bits.

    Parameters
    ----------
    n_measurements : int
        Measurements per signal, ``m >= 1``.
    bits : int
        Bits per measurement, ``>= 1``.
    n_features : int
        Signal length, ``n >= 1``.

    Returns
    -------
    float

    Examples
    --------
    >>> from cs_toolkit.metrics import bit_rate
    >>> bit_rate(64, 4, 256)
    1.0
    """
    m = check_int("n_measurements", n_measurements, low=1)
    b = check_int("bits", bits, low=1)
    n = check_int("n_features", n_features, low=1)
    return m * b / n
