"""Frame-based compressive sensing of audio.

The signal is cut into windowed frames (default 256 samples, hop 128, sine
window), every frame is measured with the same ``(m, frame_length)`` matrix,
``m = round(ratio * frame_length)``, and the signal is rebuilt by weighted
overlap-add after recovery:

``"joint"`` (the default, best quality)
    All frames are recovered together against the whole signal: the unknowns are
    the DCT (or dictionary) codes of every frame, the signal is their windowed
    overlap-add, and the measurements are those of the re-cut frames. With a 50 %
    overlap every sample is seen by two frames, so at ratio 0.5 there are as many
    measurements as samples. Solved as one LASSO by FISTA.
any solver name (``"omp"``, ``"fista"``, ...)
    Each frame is recovered on its own in ``basis`` (a batch solve).
``"joint_learned"``
    The deep-unrolled version of ``"joint"`` (:class:`cs_toolkit.learned.JointAudioNet`): a fixed
    number of joint-recovery iterations with learned per-frequency thresholds, steps and momenta,
    trained on speakers other than the test speakers (``benchmarks/joint_audio.py``); the bundled
    network serves frames of 256, hop 128, the sine window and Gaussian matrices with orthonormal
    rows (any seed) at ratios 0.25 to 0.5.
``"lista"``
    A learned reconstructor (:func:`cs_toolkit.learned.load_model`) per frame.

Frames whose measurement energy is below a floor (silence) are returned as zeros.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int, check_option, check_scalar
from ..exceptions import ConvergenceWarning, ValidationError
from ..sensing import LinearOperator
from ._denoisers import single_thread_blas
from ._learned import apply_block_model
from ._measure_checks import check_audio_measurements
from .methods import MODELS_DIR, check_method_options, list_methods

__all__ = [
    "AudioMeasurements",
    "measure_audio",
    "reconstruct_audio",
    "compressive_audio",
    "audio_quality",
    "AUDIO_METHODS",
    "DEFAULT_AUDIO_METHOD",
    "joint_penalty",
]

#: The best-quality method (top of the README table); used when no method is given.
DEFAULT_AUDIO_METHOD = "joint"
#: Methods besides the registered per-frame solvers.
AUDIO_METHODS = tuple(list_methods("audio"))
#: The bundled network of method ``"joint_learned"`` (package data, trained by ``benchmarks/joint_audio.py``).
DEFAULT_JOINT_AUDIO_MODEL = MODELS_DIR / "joint_audio.npz"
#: Frames whose measurement norm is below this fraction of the largest one are silent.
SILENCE_FLOOR = 1e-4


@dataclass
class AudioMeasurements:
    """Frame-CS measurements of a mono or multichannel signal.

    Attributes
    ----------
    Y : ndarray of shape (n_channels, n_frames, n_measurements)
        Measurements of the windowed frames.
    A : ndarray of shape (n_measurements, frame_length)
        The sensing matrix shared by all frames.
    frame_length, hop : int
    window : ndarray of shape (frame_length,)
        Analysis (and synthesis) window.
    length : int
        Number of samples of the signal.
    n_channels : int
    ratio : float
    matrix : str
    input_dtype : numpy.dtype
        dtype of the original signal: float32 input is reconstructed as float32.

    ``Y``, ``A`` and ``window`` are checked (shapes against ``frame_length``, ``hop``, ``length``
    and ``n_channels``; NaN, Inf) on construction, ``dataclasses.replace`` included, and by
    :func:`reconstruct_audio` (``ValidationError``).
    """

    Y: np.ndarray
    A: np.ndarray
    frame_length: int
    hop: int
    window: np.ndarray
    length: int
    n_channels: int
    ratio: float
    matrix: str
    input_dtype: np.dtype

    def __post_init__(self):
        check_audio_measurements(self)


def _check_audio(signal):
    raw = np.asarray(signal) if signal is not None else None
    if raw is None:
        raise ValidationError("signal must be an array, got None.")
    in_dtype = raw.dtype
    if in_dtype.kind in "iu":
        scale = float(np.iinfo(in_dtype).max) + 1.0
        x = raw.astype(np.float64) / scale
    else:
        x = check_array(raw, "signal", ndim=(1, 2), dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValidationError(f"signal must be 1-D (mono) or 2-D (n_samples, n_channels), got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValidationError("signal must contain only finite values.")
    return (x[:, None] if x.ndim == 1 else x), in_dtype


@single_thread_blas
def measure_audio(signal, ratio: float, *, frame_length: int = 256, hop: int = 128, window="sine",
                  matrix="gaussian", rng=None) -> AudioMeasurements:
    """Measure an audio signal frame by frame with one shared sensing matrix.

    Parameters
    ----------
    signal : ndarray of shape (n_samples,) or (n_samples, n_channels)
        Float samples (any range), or integer PCM (scaled to [-1, 1)).
    ratio : float in (0, 1]
        Measurements per frame over ``frame_length``; a ratio giving no measurement
        (``round(ratio * frame_length) == 0``) is refused.
    frame_length : int, default 256
        At most the number of samples (a longer frame is refused).
    hop : int, default 128
    window : {"sine", "hann", "rect"} or ndarray, default "sine"
    matrix : {"gaussian", "bernoulli"} or ndarray, default "gaussian"
        ``"gaussian"`` has orthonormal rows.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    AudioMeasurements

    Raises
    ------
    ValidationError
        Ratio outside (0, 1], bad sizes or values.

    Examples
    --------
    >>> import numpy as np
    >>> meas = measure_audio(np.zeros(1000), 0.5, rng=0)
    >>> meas.Y.shape
    (1, 9, 128)
    """
    from ..transforms import frames, get_window
    from .image import pipeline_matrix

    ratio = check_scalar("ratio", ratio, low=0.0, high=1.0, low_inclusive=False)
    N = check_int("frame_length", frame_length, low=4)
    hop = check_int("hop", hop, low=1, high=N)
    x, in_dtype = _check_audio(signal)
    if N > x.shape[0]:  # refused before any frame or matrix of that size is made
        raise ValidationError(f"frame_length={N} is longer than the signal ({x.shape[0]} samples); "
                              f"use a frame_length of at most {x.shape[0]}.")
    m = int(round(ratio * N))
    if m < 1:
        raise ValidationError(f"ratio={ratio:g} gives no measurement per frame of {N} samples; "
                              f"the smallest usable ratio for frame_length={N} is {1 / N:.3g}.")
    w = get_window(window, N)
    A, kind = pipeline_matrix(matrix, m, N, rng)
    Ys = [frames(x[:, c], N, hop, window=w) @ A.T for c in range(x.shape[1])]
    n_ch = x.shape[1] if np.ndim(signal) == 2 else 1
    return AudioMeasurements(np.stack(Ys), A, N, hop, w, x.shape[0], n_ch, ratio, kind, in_dtype)


class _FramesOperator(LinearOperator):
    """Codes of all frames ``C (n_frames, K)`` -> measurements of the re-cut frames.

    ``s = OLA_w(C D^T)`` (windowed overlap-add of the synthesised frames, no
    normalisation), ``Y = frames_w(s) A^T``. Acts on one flattened signal.
    """

    def __init__(self, A, D, w, hop, n_frames):
        self.M, self.D, self.w, self.hop, self.nf = A, D, w, hop, n_frames
        self.N = D.shape[0]
        self.total = (n_frames - 1) * hop + self.N
        super().__init__((n_frames * A.shape[0], n_frames * D.shape[1]), np.float64)

    def ola(self, F):
        return _ola(F * self.w, self.hop, self.total)

    def cut(self, s):
        return _cut(s, self.w, self.hop, self.nf)

    def _forward(self, X):
        out = []
        for row in X:
            C = row.reshape(self.nf, -1)
            out.append((self.cut(self.ola(C @ self.D.T)) @ self.M.T).ravel())
        return np.array(out)

    def _adjoint(self, Y):
        out = []
        for row in Y:
            R = row.reshape(self.nf, -1)
            out.append((self.cut(self.ola(R @ self.M)) @ self.D).ravel())
        return np.array(out)


def _cut(s, w, hop, n_frames):
    """The ``n_frames`` windowed frames of the (padded) signal ``s``, every ``hop`` samples."""
    return np.lib.stride_tricks.sliding_window_view(s, w.shape[0])[::hop][:n_frames] * w


def _ola(WF, hop, total):
    """Plain overlap-add of the rows of ``WF`` placed every ``hop`` samples."""
    nf, N = WF.shape
    s = np.zeros(total)
    if N % hop == 0:  # hop-long pieces of all frames land on disjoint slots: one add per piece
        for g in range(N // hop):
            s[g * hop: g * hop + nf * hop].reshape(nf, hop)[:] += WF[:, g * hop:(g + 1) * hop]
        return s
    for i in range(nf):
        s[i * hop: i * hop + N] += WF[i]
    return s


def _basis(basis, N):
    if isinstance(basis, str):
        check_option("basis", basis, ("dct",))
        from ..transforms import DCT

        return np.ascontiguousarray(DCT(N).to_dense())
    D = check_array(basis, "basis", ndim=2, dtype=np.float64)
    if D.shape[0] != N:
        raise ValidationError(f"basis must be a dictionary of shape ({N}, n_atoms), got shape {D.shape}.")
    return D


def _joint(Y, A, D, w, hop, *, lam_rel, max_iter):
    from ..solvers import fista

    op = _FramesOperator(A, D, w, hop, Y.shape[0])
    y = Y.ravel()
    corr = float(np.abs(op.adjoint(y)).max())
    if corr == 0.0:
        return np.zeros(op.total)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c = fista(op, y, lam=lam_rel * corr, max_iter=max_iter, tol=1e-6)
    return op.ola(c.reshape(Y.shape[0], -1) @ D.T)


def _normal_band(A, w, hop, n_frames, front, length):
    """``M^T M`` in upper banded storage (``scipy.linalg.solveh_banded``), ``M`` the map from the
    ``length`` samples of a clip to the measurements of its frames: the frames start every ``hop``
    samples, ``front`` samples before the clip (zeros there and after its end), windowed by ``w``
    and measured by ``A``. Every frame adds ``G = diag(w) A^T A diag(w)`` on the diagonal at its
    start (clipped to the clip), so the matrix is banded with ``N - 1`` super-diagonals."""
    N = A.shape[1]
    G = (w[:, None] * (A.T @ A)) * w[None, :]

    def band(Gc):
        ab = np.zeros((N, Gc.shape[0]))
        for d in range(min(N, Gc.shape[0])):
            ab[N - 1 - d, d:] = np.diagonal(Gc, d)
        return ab

    inner = band(G)
    ab = np.zeros((N, length))
    for f in range(n_frames):
        o = f * hop - front
        lo, hi = max(0, -o), min(N, length - o)
        if hi <= lo:
            continue
        ab[:, o + lo: o + hi] += inner if (lo, hi) == (0, N) else band(G[lo:hi, lo:hi])
    return ab


#: The largest banded normal matrix (entries: frame length x clip samples) the least-squares step
#: of ``joint`` factorises: 2**24 (128 MiB per copy; about 65,000 samples with 256-sample frames).
LS_MAX_BAND = 1 << 24


def _least_squares_finish(x, Y, A, w, hop, front):
    """Where the measurements determine the clip (``m >= hop``: at least one measurement per
    sample, and ``M^T M`` positive definite), the least-squares step ``x + (M^T M)^{-1} M^T (y -
    M x)`` from the estimate ``x`` (the clip's samples) to the one clip that fits ``Y`` (exactly,
    for noiseless measurements); else ``x`` unchanged. One banded Cholesky solve (bandwidth
    ``frame_length``) and one refinement step; a clip whose band would exceed
    :data:`LS_MAX_BAND` entries keeps ``x`` (memory stays bounded)."""
    from scipy.linalg import LinAlgError, cho_solve_banded, cholesky_banded

    N, m, L = A.shape[1], A.shape[0], x.shape[0]
    if m < hop or Y.size < L or N * L > LS_MAX_BAND:
        return x
    nf = Y.shape[0]
    total = (nf - 1) * hop + N

    def forward(v):
        s = np.zeros(total)
        s[front: front + L] = v
        return _cut(s, w, hop, nf) @ A.T

    def adjoint(R):
        return _ola((R @ A) * w, hop, total)[front: front + L]

    try:
        c = cholesky_banded(_normal_band(A, w, hop, nf, front, L))
    except LinAlgError:  # not determined after all (e.g. a window with zeros)
        return x
    r0 = float(np.linalg.norm(Y - forward(x)))
    out = x
    for _ in range(2):  # the solve, then one step of iterative refinement
        out = out + cho_solve_banded((c, False), adjoint(Y - forward(out)))
    return out if float(np.linalg.norm(Y - forward(out))) <= r0 else x


def joint_penalty(m: int, frame_length: int, hop: int) -> float:
    """The default relative l1 penalty of method ``"joint"``, from the measurements per sample.

    The joint recovery sees ``rho = m / hop`` measurements per signal sample (every sample lies in
    ``frame_length / hop`` frames). At ``rho >= 1`` the clip is determined by its measurements and
    the penalty only biases it; at ``rho <= 0.5`` sparsity must do the work. The penalty is
    interpolated (in its logarithm) through the values chosen on held-back clips of the training
    speakers george and lucas, never the test speakers (half-frame hop; mean SNR, penalties
    1e-5..1e-3 tried): ratio 0.25 (``rho = 0.5``): 1e-3; 0.375 (0.75): 1e-3 and 1e-4 alike
    (19.2 / 19.1 dB), 10**-3.5 taken; 0.45 (0.9): 1e-4; 0.5 and 0.75 (1, 1.5): 1e-5. A small
    penalty converges more slowly: keep the default 300 iterations there (100 give a pure tone
    18 dB instead of 45 dB at ratio 0.5).
    """
    rho = m / hop
    return float(10.0 ** np.interp(rho, (0.5, 0.75, 0.9, 1.0), (-3.0, -3.5, -4.0, -5.0)))


def _per_frame(Y, A, D, method, options):
    from ..solvers import get_solver, solve

    M = A @ D
    spec = get_solver(method)
    opts = dict(options)
    lam_rel = opts.pop("lam_rel", 0.01)
    if spec.sparsity_param is None and "lam" in spec.options and "lam" not in opts:
        opts["lam"] = lam_rel * np.maximum(np.abs(Y @ M).max(axis=1), 1e-300)
    if spec.sparsity_param and spec.sparsity_param not in opts:
        opts[spec.sparsity_param] = max(1, int(0.4 * A.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        C = solve(M, Y, method, **opts)
    return C @ D.T


@single_thread_blas
def reconstruct_audio(meas: AudioMeasurements, *, method: str = DEFAULT_AUDIO_METHOD, basis="dct",
                      lam: float | None = None, max_iter: int | None = None, model=None,
                      progress: bool = False, **solver_options):
    """Reconstruct an audio signal from its frame measurements.

    Parameters
    ----------
    meas : AudioMeasurements
        Output of :func:`measure_audio`.
    method : str, default ``DEFAULT_AUDIO_METHOD`` ("joint")
        ``"joint"``, ``"lista"`` or a registered solver name (per frame).
    basis : "dct" or ndarray of shape (frame_length, n_atoms), default "dct"
        Sparsifying basis or learned dictionary.
    lam : float, optional
        l1 penalty relative to the largest correlation (default for "joint":
        :func:`joint_penalty` of the measurements; 0.01 for per-frame penalty solvers).
    max_iter : int, optional
        FISTA iterations of "joint" (default 300).
    model : str, path or model object, optional
        Learned reconstructor for ``method="lista"``.
    progress : bool, default False
        Show a tqdm progress bar over channels.
    **solver_options
        Passed to per-frame solvers (e.g. ``n_nonzero_coefs`` for OMP; default 40 % of ``m``).

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, n_channels)
        The signal on the scale of the input: float32 for float32 input, else float64 (integer PCM
        input: scaled to [-1, 1)).
    """
    if not isinstance(meas, AudioMeasurements):
        raise ValidationError(f"meas must be an AudioMeasurements (from measure_audio), got {type(meas).__name__}.")
    check_audio_measurements(meas)  # fields may have been set after construction
    lam, max_iter = check_method_options("audio", method, lam=lam, max_iter=max_iter,
                                         solver_options=solver_options)
    N, hop, w, A = meas.frame_length, meas.hop, meas.window, meas.A
    D = _basis(basis, N)
    if method == "joint_learned":  # loaded and checked once, before anything runs
        net = _joint_audio_model(model, meas)
    front = N - hop
    chans = []
    it = range(meas.Y.shape[0])
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"reconstruct ({method})", unit="channel", leave=False)
    for c in it:
        Y = meas.Y[c]
        norms = np.linalg.norm(Y, axis=1)
        silent = norms <= SILENCE_FLOOR * max(float(norms.max()), 1e-300)
        if not np.any(~silent):
            chans.append(np.zeros(meas.length))
            continue
        if method == "joint":
            Yz = np.where(silent[:, None], 0.0, Y)
            s = _joint(Yz, A, D, w, hop, lam_rel=joint_penalty(A.shape[0], N, hop) if lam is None else lam,
                       max_iter=max_iter or 300)
        elif method == "joint_learned":
            Yz = np.where(silent[:, None], 0.0, Y)
            s = net.reconstruct(Yz, A, ratio=meas.ratio)
        else:
            F = np.zeros((Y.shape[0], N))
            if method == "lista":
                F[~silent] = apply_block_model(Y[~silent], A, model, "audio")
            else:
                opts = dict(solver_options)
                if lam is not None:
                    opts["lam_rel"] = lam
                F[~silent] = _per_frame(Y[~silent], A, D, method, opts)
            total = (Y.shape[0] - 1) * hop + N
            s = _ola(F * w, hop, total)
            norm = _ola(np.broadcast_to(w * w, F.shape), hop, total)
            s = np.divide(s, norm, out=np.zeros_like(s), where=norm > 1e-12)
        s = s[front: front + meas.length]
        if method in ("joint", "joint_learned"):  # determined measurements: the one clip that fits them
            s = _least_squares_finish(s, Y, A, w, hop, front)
        chans.append(s)
    out = np.stack(chans, axis=1)
    out = out.astype(np.float32 if np.dtype(meas.input_dtype) == np.float32 else np.float64, copy=False)
    return out[:, 0] if meas.n_channels == 1 and out.shape[1] == 1 else out


def _joint_audio_model(model, meas):
    """The network of method ``"joint_learned"`` (``model``, a file, or the bundled one), checked
    against the measurements' frame length, hop, window and ratio."""
    from ..learned.joint_audio import JointAudioNet, load_joint_audio
    from ..transforms import get_window

    if model is None:
        if not DEFAULT_JOINT_AUDIO_MODEL.is_file():
            raise ValidationError("method 'joint_learned' needs a model: none is bundled with this install "
                                  "(train one with benchmarks/joint_audio.py --train).")
        model = DEFAULT_JOINT_AUDIO_MODEL
    net = model if isinstance(model, JointAudioNet) else load_joint_audio(model)
    N = meas.frame_length
    if N != net.frame_length or meas.hop * 2 != N or not np.allclose(meas.window, get_window("sine", N)):
        raise ValidationError(f"the joint_learned network was trained for frames of {net.frame_length} samples, "
                              f"hop {net.frame_length // 2} and the sine window; these measurements have frames "
                              f"of {N}, hop {meas.hop}" + ("" if np.allclose(meas.window, get_window("sine", N))
                                                           else " and another window") + ".")
    net.stages_for(meas.ratio)  # refuses a ratio outside the trained range
    return net


def audio_quality(reference, estimate, *, frame_length: int = 256) -> dict:
    """SNR and segmental SNR (dB) of ``estimate`` against ``reference``.

    Segmental SNR averages the per-frame SNR over non-overlapping frames of
    ``frame_length`` samples that are not silent (energy above 1e-6 of the mean
    frame energy), each clipped to [-10, 35] dB (Hansen & Pellom 1998).
    """
    ref, _ = _check_audio(reference)
    est, _ = _check_audio(estimate)
    if ref.shape != est.shape:
        raise ValidationError(f"Dimension mismatch: reference has shape {ref.shape}, estimate {est.shape}.")
    err = float(np.sum((ref - est) ** 2))
    sig = float(np.sum(ref**2))
    snr = float("inf") if err == 0 else (float(10 * np.log10(sig / err)) if sig > 0 else -float("inf"))
    frame_length = min(check_int("frame_length", frame_length), max(ref.shape[0], 1))  # a short clip: one frame
    L = (ref.shape[0] // frame_length) * frame_length
    segs = []
    for c in range(ref.shape[1]):
        R = ref[:L, c].reshape(-1, frame_length)
        E = (ref[:L, c] - est[:L, c]).reshape(-1, frame_length)
        pr, pe = np.sum(R**2, axis=1), np.sum(E**2, axis=1)
        keep = pr > 1e-6 * max(pr.mean(), 1e-300)
        with np.errstate(divide="ignore"):
            v = 10 * np.log10(np.maximum(pr[keep], 1e-300) / np.maximum(pe[keep], 1e-300))
        segs.extend(np.clip(v, -10, 35))
    seg = float(np.mean(segs)) if segs else float("nan")
    return {"snr": snr, "seg_snr": seg}


def compressive_audio(signal, ratio: float, *, method: str = DEFAULT_AUDIO_METHOD, frame_length: int = 256,
                      hop: int = 128, window="sine", matrix="gaussian", rng=None, **options):
    """Measure and reconstruct an audio signal in one call.

    Returns
    -------
    recon : ndarray
        As :func:`reconstruct_audio` (float32 for float32 input, else float64).
    quality : dict
        ``snr``, ``seg_snr`` (dB), ``time`` (s), ``ratio``, ``method``, ``n_measurements``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2048)
    >>> x = np.sin(2 * np.pi * 0.05 * t)
    >>> rec, q = compressive_audio(x, 0.5, rng=0)
    >>> q["snr"] > 20
    True
    """
    meas = measure_audio(signal, ratio, frame_length=frame_length, hop=hop, window=window, matrix=matrix, rng=rng)
    t0 = time.perf_counter()
    rec = reconstruct_audio(meas, method=method, **options)
    elapsed = time.perf_counter() - t0
    x, _ = _check_audio(signal)
    q = audio_quality(x[:, 0] if np.ndim(signal) == 1 else x, rec)
    q.update(time=elapsed, ratio=float(ratio), method=method, n_measurements=int(meas.A.shape[0]))
    return rec, q
