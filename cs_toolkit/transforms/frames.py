"""Audio signals <-> rows of windowed frames, with perfect weighted overlap-add."""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_option, check_scalar
from ..exceptions import ValidationError

__all__ = ["get_window", "frames", "overlap_add", "frames_from_audio"]

_WINDOWS = ("sine", "hann", "rect")


def get_window(window, frame_length, dtype=np.float64) -> np.ndarray:
    """The analysis/synthesis window of a frame.

    Parameters
    ----------
    window : {"sine", "hann", "rect"} or array_like of shape (frame_length,)
        ``"sine"``: ``sin(pi (t + 1/2) / N)``; ``"hann"``: the periodic Hann
        window ``sin^2(pi t / N)`` (zero at ``t = 0``); ``"rect"``: ones; or any
        finite array of the frame length.
    frame_length : int
        Frame length ``N``.
    dtype : dtype, default np.float64

    Returns
    -------
    ndarray of shape (frame_length,)
    """
    N = check_int("frame_length", frame_length)
    if isinstance(window, str):
        window = check_option("window", window, _WINDOWS)
        t = np.arange(N, dtype=np.float64)
        if window == "sine":
            w = np.sin(np.pi * (t + 0.5) / N)
        elif window == "hann":
            w = np.sin(np.pi * t / N) ** 2
        else:
            w = np.ones(N)
        return w.astype(dtype)
    w = check_array(window, "window", ndim=1, dtype=np.float64)
    if w.shape[0] != N:
        raise ValidationError(
            f"window must have frame_length={N} samples, got an array of shape {w.shape}."
        )
    if not np.any(w):
        raise ValidationError("window must not be all zeros.")
    return w.astype(dtype)


def _check_hop(hop, N: int) -> int:
    return check_int("hop", hop, low=1, high=N)


def _n_frames_padded(L: int, N: int, hop: int) -> tuple[int, int, int]:
    """Number of frames, front pad and back pad for a padded signal of length L."""
    front = N - hop
    need = L + 2 * front  # the tail gets the same coverage as the head
    n_frames = max(1, -(-(need - N) // hop) + 1) if need > N else 1
    total = (n_frames - 1) * hop + N
    return n_frames, front, total - L - front


def padded_frame_count(length: int, frame_length: int, hop: int) -> int:
    """How many frames :func:`frames` cuts (``pad=True``) from a signal of ``length`` samples."""
    N = check_int("frame_length", frame_length, low=1)
    return _n_frames_padded(check_int("length", length, low=1), N, _check_hop(hop, N))[0]


def frames(signal, frame_length, hop, *, window="sine", pad=True):
    """Cut a 1-D signal into windowed, overlapping frames stacked as rows.

    Parameters
    ----------
    signal : array_like of shape (n_samples,)
        The signal.
    frame_length : int
        Frame length ``N``.
    hop : int
        Distance between the starts of neighbouring frames, ``1 <= hop <= N``.
    window : {"sine", "hann", "rect"} or array_like, default "sine"
        Analysis window multiplied into every frame (see :func:`get_window`).
    pad : bool, default True
        Pad ``N - hop`` zeros in front and enough zeros at the end that every
        sample, the first and last included, is covered by as many frames as in
        the middle, so that :func:`overlap_add` with ``pad=True`` reconstructs
        the whole signal. Without padding, the frames cover
        ``signal[: (n_frames - 1) * hop + N]`` and the tail is dropped.

    Returns
    -------
    ndarray of shape (n_frames, frame_length)
        Windowed frames; float32 stays float32, else float64.

    Raises
    ------
    ValidationError
        Bad sizes, ``hop > frame_length``, or a signal shorter than a frame with ``pad=False``.

    See Also
    --------
    overlap_add, frames_from_audio

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import frames, overlap_add
    >>> x = np.random.default_rng(0).standard_normal(1000)
    >>> F = frames(x, 256, 128, window="hann")
    >>> F.shape
    (9, 256)
    >>> bool(np.allclose(overlap_add(F, 128, window="hann", length=1000), x))
    True
    """
    x = check_array(signal, "signal", ndim=1)
    N = check_int("frame_length", frame_length)
    hop = _check_hop(hop, N)
    w = get_window(window, N, x.dtype)
    L = x.shape[0]
    if pad:
        _, front, back = _n_frames_padded(L, N, hop)
        x = np.concatenate([np.zeros(front, x.dtype), x, np.zeros(back, x.dtype)])
    elif L < N:
        raise ValidationError(f"signal has {L} samples, fewer than frame_length={N}; use pad=True.")
    F = np.lib.stride_tricks.sliding_window_view(x, N)[::hop]
    return np.ascontiguousarray(F * w)


def overlap_add(frames, hop, *, window="sine", length=None, pad=True):
    """Rebuild a signal from frames by weighted overlap-add.

    Parameters
    ----------
    frames : array_like of shape (n_frames, frame_length)
        Frames, e.g. from :func:`frames` (possibly processed).
    hop : int
        The hop used to cut them.
    window : {"sine", "hann", "rect"} or array_like, default "sine"
        The window used to cut them; it is applied again as synthesis window.
    length : int, optional
        Length of the output (the original signal length). Default: everything
        the frames cover (after removing the front padding when ``pad``).
    pad : bool, default True
        Whether the frames were cut with ``pad=True`` (the front padding of
        ``frame_length - hop`` samples is then removed).

    Returns
    -------
    ndarray of shape (length,)

    Raises
    ------
    ValidationError
        Some output sample is covered only by zeros of the window (for example
        the Hann window with ``hop == frame_length``), bad sizes, or ``length``
        longer than what the frames cover.

    Notes
    -----
    With analysis and synthesis window ``w`` the output is

    .. math:: \\hat x[t] = \\frac{\\sum_i w[t - i h]\\, f_i[t - i h]}{\\sum_i w[t - i h]^2},

    which gives back the signal exactly for unmodified frames for any window
    and hop that cover every sample (Griffin and Lim, 1984), and is the least
    squares signal for modified frames.
    """
    F = check_array(frames, "frames", ndim=2)
    n_frames, N = F.shape
    hop = _check_hop(hop, N)
    w = get_window(window, N, np.float64)
    total = (n_frames - 1) * hop + N
    n_groups = -(-N // hop)
    size = (n_frames + n_groups) * hop
    num = np.zeros(size, dtype=np.float64)
    den = np.zeros(size, dtype=np.float64)
    w2 = w * w
    WF = F * w
    # split every frame into hop-long pieces: piece g of all frames lands on
    # disjoint hop-long slots, so each group is one vectorised addition
    for g in range(n_groups):
        lo, hi = g * hop, min((g + 1) * hop, N)
        width = hi - lo
        num[lo : lo + n_frames * hop].reshape(n_frames, hop)[:, :width] += WF[:, lo:hi]
        den[lo : lo + n_frames * hop].reshape(n_frames, hop)[:, :width] += w2[lo:hi]
    start = N - hop if pad else 0
    avail = total - start
    if length is None:
        length = avail
    else:
        length = check_int("length", length)
        if length > avail:
            raise ValidationError(
                f"length={length} is longer than the {avail} samples covered by the frames."
            )
    den = den[start : start + length]
    num = num[start : start + length]
    if np.any(den <= 1e-12 * den.max()):
        bad = int(np.argmax(den <= 1e-12 * den.max()))
        raise ValidationError(
            f"window and hop={hop} leave output sample {bad} with zero window weight, so it cannot be "
            f"reconstructed; use a smaller hop or a window without zeros (e.g. 'sine')."
        )
    return (num / den).astype(F.dtype)


def frames_from_audio(
    signals,
    frame_length=256,
    hop=128,
    *,
    window="sine",
    remove_mean=False,
    drop_silent=None,
    pad=False,
):
    """Stack the frames of several 1-D signals as rows (training data for audio dictionaries).

    Parameters
    ----------
    signals : array_like of shape (n_samples,) or list of 1-D arrays
        One signal or a list of signals (of any lengths).
    frame_length : int, default 256
        Frame length.
    hop : int, default 128
        Hop between frames.
    window : {"sine", "hann", "rect"} or array_like, default "sine"
        Analysis window (use the same one when coding and overlap-adding).
    remove_mean : bool, default False
        Subtract each frame's mean; the means are returned too.
    drop_silent : float, optional
        Drop frames whose RMS is below ``drop_silent`` times the largest frame
        RMS of the same signal (e.g. ``0.05``), ``0 <= drop_silent < 1``.
        Keep every frame when None.
    pad : bool, default False
        Passed to :func:`frames`; a signal shorter than one frame is always
        zero-padded to a frame.

    Returns
    -------
    frames : ndarray of shape (n_frames, frame_length)
        The frames of all signals, in order.
    means : ndarray of shape (n_frames,)
        Frame means, only when ``remove_mean`` is true.

    Raises
    ------
    ValidationError
        Empty list, non-1-D signal, bad parameters, or every frame dropped as silent.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import frames_from_audio
    >>> sigs = [np.ones(512), np.ones(300)]
    >>> frames_from_audio(sigs, 256, 128).shape
    (4, 256)
    """
    if isinstance(signals, list | tuple):
        if len(signals) == 0:
            raise ValidationError("signals must not be an empty list.")
        sigs = [check_array(s, f"signals[{i}]", ndim=1) for i, s in enumerate(signals)]
    else:
        sigs = [check_array(signals, "signals", ndim=1)]
    N = check_int("frame_length", frame_length)
    hop = _check_hop(hop, N)
    if drop_silent is not None:
        drop_silent = check_scalar(
            "drop_silent", drop_silent, low=0.0, high=1.0, high_inclusive=False
        )
    dt = np.float32 if all(s.dtype == np.float32 for s in sigs) else np.float64
    out = []
    for s in sigs:
        if s.shape[0] < N and not pad:
            s = np.concatenate([s, np.zeros(N - s.shape[0], s.dtype)])
        F = frames(s.astype(dt, copy=False), N, hop, window=window, pad=pad)
        if drop_silent is not None:
            rms = np.sqrt(np.mean(F.astype(np.float64) ** 2, axis=1))
            keep = rms >= drop_silent * rms.max() if rms.max() > 0 else np.zeros(len(F), bool)
            F = F[keep]
        out.append(F)
    allF = np.ascontiguousarray(np.concatenate(out, axis=0))
    if allF.shape[0] == 0:
        raise ValidationError(f"every frame was dropped as silent with drop_silent={drop_silent}.")
    if not remove_mean:
        return allF
    means = allF.mean(axis=1)
    allF -= means[:, None]
    return allF, means
