"""A deep-unrolled reconstructor for speech: the joint overlapping-frame recovery with learned stages.

The classical ``"joint"`` audio method (:mod:`cs_toolkit.signals.audio`) recovers the DCT codes
``C`` (one row per frame) of all overlapping frames of a clip at once by FISTA on

    min_C 1/2 ||M(C) - Y||^2 + lam ||C||_1,
    M(C) = frames_w(OLA_w(C D^T)) A^T,

``D`` the orthonormal DCT, ``w`` the sine window, ``OLA_w`` the windowed overlap-add, ``frames_w``
the windowed re-cut and ``A`` the per-frame sensing matrix. :class:`JointAudioNet` unrolls ``T``
of those iterations and learns, for every iteration ``t``, a threshold per DCT frequency
``theta_t[k]`` (speech has far more energy at low frequencies: one ``lam`` for all is the weak
point of the classical method), a step per DCT frequency ``gamma_t[k]`` (a diagonal
preconditioner of the gradient step) and the momentum ``beta_t``:

    z_t = C_t + beta_t (C_t - C_{t-1})
    C_{t+1} = soft(z_t - gamma_t * M^T(M z_t - Y), theta_t),          C_0 = C_{-1} = 0,

then ``n_tail`` more iterations with one tied penalty (step 1, which ``||M|| <= 1`` makes safe;
FISTA restarted from ``C_T``) on the per-frequency penalty the last layer learned, times a factor
per ratio chosen on validation clips (:func:`tune_tail`), and the clip is ``OLA_w(C D^T)``. The
tail matters most where the joint problem is close to determined (ratio 0.5 with a half-frame hop
gives about as many measurements as samples): the learned layers give a warm start and the
penalty's shape, the tail converges. Nothing in a stage depends on ``A``: the network is trained
with a fresh random matrix for every batch and serves any Gaussian matrix with orthonormal rows
(any seed). It keeps one set of stages per training ratio and interpolates them (thresholds
geometrically) for ratios in between.

Measurements are brought to the training scale by the loudest-frame scale of
:func:`cs_toolkit.learned.acquisition.measurement_scale`; the thresholds are absolute numbers on
that scale. Untrained, the network is ``T`` iterations of FISTA on the weighted LASSO its
initial thresholds define (``theta_t = gamma lam_k``); training (Adam on the mean SNR of whole
clips, analytic gradients, best validation weights kept) can only keep or improve that start.

Files: ``.npz`` with a JSON ``__metadata__`` record and float64 arrays, read with
``allow_pickle=False`` and checked field by field (:func:`load_joint_audio`).
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from .._atomic import atomic_savez, with_npz_suffix
from .._validation import check_bool, check_int, check_scalar
from .._version import __version__
from ..exceptions import ModelFileError, ValidationError
from ._joint_checkpoint import joint_fingerprint, resume_joint_checkpoint, save_joint_checkpoint

__all__ = ["JointAudioNet", "load_joint_audio", "train_joint_audio", "tune_tail", "record_default_ratios", "FORMAT",
           "FORMAT_VERSION"]

FORMAT = "cs-toolkit-joint-audio"
FORMAT_VERSION = 1
_MAX_META_BYTES = 1 << 16
_DB = 10.0 / math.log(10.0)


def _dct_synthesis(N):
    from scipy.fft import dct

    return np.ascontiguousarray(dct(np.eye(N), norm="ortho", axis=0).T)


def _sine(N):
    return np.sin(np.pi * (np.arange(N) + 0.5) / N)


class _Frames:
    """The joint operator of a batch of clips, frames of ``N = 2 hop`` samples.

    Arrays are ``(n_clips, n_frames, .)``. ``H(G)`` is the re-cut of the overlap-add of the rows
    of ``G`` (``frames(OLA(G))``: every frame gets its neighbours' overlapping halves); it is
    self-adjoint, so ``M^T = D^T w H(w (R A))``.
    """

    def __init__(self, A, N):
        self.A, self.N, self.hop = A, N, N // 2
        self.D = _dct_synthesis(N)
        self.w = _sine(N)

    def _h(self, G):
        h = self.hop
        out = G.copy()
        out[:, 1:, :h] += G[:, :-1, h:]
        out[:, :-1, h:] += G[:, 1:, :h]
        return out

    def forward(self, C):
        return (self._h((C @ self.D.T) * self.w) * self.w) @ self.A.T

    def adjoint(self, R):
        return (self._h((R @ self.A) * self.w) * self.w) @ self.D

    def signal(self, C):
        """The clips ``OLA_w(C D^T)``, shape ``(n_clips, (n_frames + 1) hop)``."""
        G = (C @ self.D.T) * self.w
        b, nf, _ = G.shape
        s = np.zeros((b, nf + 1, self.hop))
        s[:, :nf] += G[:, :, : self.hop]
        s[:, 1:] += G[:, :, self.hop:]
        return s.reshape(b, -1)

    def signal_adjoint(self, g):
        b = g.shape[0]
        g = g.reshape(b, -1, self.hop)
        G = np.concatenate([g[:, :-1], g[:, 1:]], axis=2)
        return (G * self.w) @ self.D


def _mean_snr(op, C, X) -> float:
    """Mean SNR (dB) over the clips of ``op.signal(C)`` against the placed clips ``X``."""
    E = op.signal(C) - X
    return float(np.mean(_DB * (np.log(np.einsum("ij,ij->i", X, X)) - np.log(np.einsum("ij,ij->i", E, E)))))


def _soft(V, theta):
    return np.sign(V) * np.maximum(np.abs(V) - theta, 0.0)


class JointAudioNet:
    """Unrolled joint FISTA with learned per-frequency thresholds (see the module docstring).

    Parameters
    ----------
    n_layers : int, default 40
    frame_length : int, default 256
        Frame length ``N``; the hop is ``N / 2`` (sine window), as in the audio pipeline.
    ratios : sequence of float, default (0.25, 0.5)
        The measurement ratios with their own stages; other ratios between the smallest and the
        largest are served by interpolation.
    lam : ndarray of shape (len(ratios), frame_length), optional
        The initial per-frequency penalties ``lam_k`` (thresholds ``theta_t = gamma lam``); default
        ``1e-3`` for every frequency.

    Attributes
    ----------
    log_theta, gamma : ndarray of shape (n_ratios, n_layers, frame_length)
    beta : ndarray of shape (n_ratios, n_layers)
    training_record : dict or None
    """

    def __init__(self, n_layers=40, *, frame_length=256, ratios=(0.25, 0.5), lam=None):
        self.n_layers = check_int("n_layers", n_layers, low=1, high=10_000)
        N = check_int("frame_length", frame_length, low=4, high=1 << 14)
        if N % 2:
            raise ValidationError(f"frame_length must be even (the hop is half a frame), got {N}.")
        self.frame_length = N
        r = [float(check_scalar("ratios", v, low=0.0, high=1.0, low_inclusive=False)) for v in ratios]
        if not r or sorted(set(r)) != r:
            raise ValidationError(f"ratios must be a non-empty increasing sequence, got {list(ratios)}.")
        self.ratios = np.array(r)
        R, T = len(r), self.n_layers
        if lam is None:
            lam = np.full((R, N), 1e-3)
        lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (R, N))
        if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise ValidationError("lam must hold positive finite numbers.")
        self.gamma = np.ones((R, T, N))
        k = np.arange(T, dtype=np.float64)  # FISTA's momentum t_k: beta_k = (t_{k-1} - 1) / t_k
        tk = np.ones(T + 1)
        for i in range(1, T + 1):
            tk[i] = (1 + math.sqrt(1 + 4 * tk[i - 1] ** 2)) / 2
        self.beta = np.tile(np.where(k == 0, 0.0, (tk[:-1] - 1) / tk[1:]), (R, 1))
        self.log_theta = np.log(np.repeat(lam[:, None, :], T, axis=1) * self.gamma)
        #: tied tail iterations after the learned layers, and their penalty factor per ratio
        self.n_tail = 0
        self.tail_scale = np.ones(R)
        self.training_record = None

    # -- parameters ----------------------------------------------------------------
    def parameters(self) -> dict:
        """The trainable arrays (views): ``log_theta``, ``gamma``, ``beta``."""
        return {"log_theta": self.log_theta, "gamma": self.gamma, "beta": self.beta}

    def copy(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        for k, v in self.parameters().items():
            setattr(new, k, v.copy())
        return new

    def tail_for(self, ratio) -> float:
        """The tail's penalty factor for ``ratio`` (geometric interpolation between trained ratios)."""
        r = self.ratios
        if len(r) == 1:
            return float(self.tail_scale[0])
        return float(np.exp(np.interp(float(ratio), r, np.log(self.tail_scale))))

    def stages_for(self, ratio):
        """``(log_theta, gamma, beta)`` for ``ratio``: a trained set, or the interpolation of the two
        around it. Raises :class:`ValidationError` outside the trained range."""
        ratio = float(ratio)
        r = self.ratios
        if ratio < r[0] - 1e-9 or ratio > r[-1] + 1e-9:
            raise ValidationError(f"the model serves ratios {r[0]:g} to {r[-1]:g}, got ratio {ratio:g}.")
        if len(r) == 1:
            return self.log_theta[0], self.gamma[0], self.beta[0]
        j = int(np.clip(np.searchsorted(r, ratio), 1, len(r) - 1))
        a = (ratio - r[j - 1]) / (r[j] - r[j - 1])
        mix = [(1 - a) * p[j - 1] + a * p[j] for p in (self.log_theta, self.gamma, self.beta)]
        return tuple(mix)

    # -- inference -----------------------------------------------------------------
    def _run(self, Y, A, stages, keep=False):
        """Forward pass on a batch ``Y (n_clips, n_frames, m)`` on the training scale."""
        log_theta, gamma, beta = stages
        op = _Frames(A, self.frame_length)
        C_prev = C = np.zeros(Y.shape[:2] + (self.frame_length,))
        cache = []
        for t in range(self.n_layers):
            Z = C + beta[t] * (C - C_prev)
            U = op.adjoint(op.forward(Z) - Y)
            V = Z - gamma[t] * U
            theta = np.exp(log_theta[t])
            C_prev, C = C, _soft(V, theta)
            if keep:
                cache.append((C_prev, Z, U, V))
        return op, C, cache

    def _tail(self, op, C, Y, log_theta, gamma, scale, n):
        """``n`` FISTA iterations (step 1, restarted at ``C``) with the penalty ``scale * theta_T / gamma_T``."""
        lam = scale * np.exp(log_theta[-1]) / gamma[-1]
        C_prev, t = C, 1.0
        for _ in range(n):
            t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            Z = C + ((t - 1.0) / t_next) * (C - C_prev)
            t = t_next
            C_prev, C = C, _soft(Z - op.adjoint(op.forward(Z) - Y), lam)
        return C

    def reconstruct(self, Y, A, ratio=None):
        """The clip from its frame measurements ``Y (n_frames, m)`` (any scale), taken with ``A``.

        Returns the overlap-added signal of ``(n_frames + 1) * hop`` samples, on the scale of ``Y``
        (cut it like :func:`cs_toolkit.signals.reconstruct_audio` does).
        """
        from .acquisition import make_acquisition, measurement_scale

        Y = np.asarray(Y, dtype=np.float64)
        A = np.asarray(A, dtype=np.float64)
        if Y.ndim != 2 or A.ndim != 2 or Y.shape[1] != A.shape[0] or A.shape[1] != self.frame_length:
            raise ValidationError(f"Y must have shape (n_frames, m) and A shape (m, {self.frame_length}); "
                                  f"got {Y.shape} and {A.shape}.")
        if not np.allclose(A @ A.T, np.eye(A.shape[0]), atol=1e-6):
            raise ValidationError("the joint audio network serves sensing matrices with orthonormal rows "
                                  "(matrix 'gaussian' of the audio pipeline).")
        ratio = A.shape[0] / self.frame_length if ratio is None else ratio
        c = measurement_scale(Y, make_acquisition("audio", block_size=self.frame_length, ratio=min(ratio, 1.0)))
        stages = self.stages_for(ratio)
        op, C, _ = self._run(Y[None] / c, A, stages)
        if self.n_tail:
            C = self._tail(op, C, Y[None] / c, stages[0], stages[1], self.tail_for(ratio), self.n_tail)
        return op.signal(C)[0] * c

    # -- training ------------------------------------------------------------------
    def loss_and_grad(self, Y, X, A, ratio_index, lengths=None):
        """Mean over clips of ``-SNR`` (dB) of the output, and its gradient.

        ``Y (n_clips, n_frames, m)`` on the training scale, ``X (n_clips, (n_frames + 1) hop)`` the
        clips placed as the pipeline places them. Returns ``(loss, grads)`` with grads for the
        stages of ``ratios[ratio_index]`` (dict of arrays shaped like one ratio's parameters).
        """
        i = ratio_index
        stages = (self.log_theta[i], self.gamma[i], self.beta[i])
        op, C, cache = self._run(Y, A, stages, keep=True)
        S = op.signal(C)
        E = S - X
        err = np.einsum("ij,ij->i", E, E)
        ref = np.einsum("ij,ij->i", X, X)
        n = X.shape[0]
        loss = float(np.mean(_DB * (np.log(err) - np.log(ref))))
        gS = (_DB * 2.0 / n) * E / err[:, None]
        gC = op.signal_adjoint(gS)
        g_next = np.zeros_like(gC)  # dL/dC_{t-1} coming from layer t+1's momentum term
        g_lt = np.zeros_like(self.log_theta[i])
        g_g = np.zeros_like(self.gamma[i])
        g_b = np.zeros_like(self.beta[i])
        log_theta, gamma, beta = stages
        for t in range(self.n_layers - 1, -1, -1):
            C_prev, Z, U, V = cache[t]
            theta = np.exp(log_theta[t])
            mask = np.abs(V) > theta
            gV = gC * mask
            g_lt[t] = -np.sum(np.sign(V) * gV, axis=(0, 1)) * theta
            g_g[t] = -np.sum(gV * U, axis=(0, 1))
            gZ = gV - op.adjoint(op.forward(gamma[t] * gV))  # (I - Gamma M^T M)^T gV
            C_prev_prev = cache[t - 1][0] if t > 0 else np.zeros_like(C_prev)
            g_b[t] = np.sum(gZ * (C_prev - C_prev_prev))
            # Z_t = (1 + beta_t) C_t - beta_t C_{t-1}  (C_t is cache[t][0] = C_prev here)
            gC, g_next = g_next + (1.0 + beta[t]) * gZ, -beta[t] * gZ
        return loss, {"log_theta": g_lt, "gamma": g_g, "beta": g_b}

    # -- files ---------------------------------------------------------------------
    def save(self, path) -> str:
        """Write the network to ``path`` (``.npz``, atomically); returns the path written."""
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "toolkit_version": __version__,
                "n_layers": self.n_layers, "frame_length": self.frame_length, "n_tail": self.n_tail,
                "ratios": [float(r) for r in self.ratios], "training": self.training_record}
        return atomic_savez(path, {
            "__metadata__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            **{k: np.ascontiguousarray(v, dtype=np.float64) for k, v in self.parameters().items()},
            "tail_scale": np.ascontiguousarray(self.tail_scale, dtype=np.float64),
        })

    def __repr__(self):
        return (f"JointAudioNet(n_layers={self.n_layers}, frame_length={self.frame_length}, "
                f"ratios={[float(r) for r in self.ratios]})")


def _bad(path, why):
    return ModelFileError(f"{os.fspath(path)!s} is not a valid joint-audio network file: {why}")


def load_joint_audio(path) -> JointAudioNet:
    """Load a network written by :meth:`JointAudioNet.save` (no pickle; every field checked).

    Raises
    ------
    ModelFileError
        Not such a file, or a corrupt one (bad zip, JSON, keys, shapes, dtypes, non-finite values).
    """
    from .._archive import meta_int, read_record

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelFileError(f"joint-audio network file {p!s} does not exist.")
    with read_record(p, _bad, fmt=FORMAT, version=FORMAT_VERSION, arrays=("log_theta", "gamma", "beta", "tail_scale"),
                     max_meta_bytes=_MAX_META_BYTES) as (meta, read):
        dims = {key: meta_int(meta, key, low, high, p, _bad) for key, low, high in (
            ("n_layers", 1, 10_000), ("frame_length", 1, 1 << 14), ("n_tail", 0, 100_000))}
        ratios = meta.get("ratios")
        if not isinstance(ratios, list) or not ratios or len(ratios) > 64 or not all(
                isinstance(r, int | float) and not isinstance(r, bool) for r in ratios):
            raise _bad(p, f"metadata 'ratios' must be a list of numbers, got {ratios!r}")
        try:
            net = JointAudioNet(dims["n_layers"], frame_length=dims["frame_length"], ratios=ratios)
        except ValidationError as exc:
            raise _bad(p, str(exc)) from None
        net.n_tail = dims["n_tail"]
        for name, ref in dict(net.parameters(), tail_scale=net.tail_scale).items():
            setattr(net, name, read(name, ref.shape))
        if np.any(net.tail_scale <= 0):
            raise _bad(p, "array 'tail_scale' must hold positive factors")
    net.training_record = meta.get("training") if isinstance(meta.get("training"), dict) else None
    return net


# ----------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------
def _clip_batch(clips, A, N, rng=None):
    """Measurements (training scale) and placed targets of a list of clips with matrix ``A``.

    Every clip is framed like :func:`cs_toolkit.signals.measure_audio` (sine window, hop ``N/2``,
    padded), measured, divided by its loudest-frame scale, and zero-padded to the longest clip.
    """
    from ..signals.audio import SILENCE_FLOOR
    from ..transforms import frames
    from .acquisition import make_acquisition, measurement_scale

    hop = N // 2
    rec = make_acquisition("audio", block_size=N, ratio=min(A.shape[0] / N, 1.0))
    Ys, Xs = [], []
    for x in clips:
        F = frames(x, N, hop, window="sine")
        Y = F @ A.T
        norms = np.linalg.norm(Y, axis=1)
        Y[norms <= SILENCE_FLOOR * max(float(norms.max()), 1e-300)] = 0.0
        c = measurement_scale(Y, rec)
        Xp = np.zeros((F.shape[0] + 1) * hop)
        Xp[hop: hop + len(x)] = x
        Ys.append(Y / c)
        Xs.append(Xp / c)
    nf = max(Y.shape[0] for Y in Ys)
    Yb = np.zeros((len(Ys), nf, A.shape[0]))
    Xb = np.zeros((len(Ys), (nf + 1) * hop))
    for i, (Y, X) in enumerate(zip(Ys, Xs, strict=True)):
        Yb[i, : Y.shape[0]] = Y
        Xb[i, : X.shape[0]] = X
    return Yb, Xb


def train_joint_audio(clips, *, validation=(), ratios=(0.25, 0.5), n_layers=40, frame_length=256,
                      max_steps=600, batch_size=8, lr=0.01, eval_every=25, lam=None, continuation=10.0,
                      rng=None, verbose=False, callback=None, checkpoint=None):
    """Train a :class:`JointAudioNet` on speech clips; returns ``(net, history)``.

    Every step draws ``batch_size`` clips, a ratio and a fresh Gaussian matrix with orthonormal
    rows (so the network serves any seed), and takes one Adam step on that ratio's stages (mean
    ``-SNR`` of the clips). Every ``eval_every`` steps the mean SNR on the ``validation`` clips
    (fixed matrices) is measured per ratio; each ratio keeps its best stages.

    Parameters
    ----------
    clips, validation : list of 1-D ndarray
        Training and validation clips (float samples). Keep the speakers you evaluate on out of both.
    ratios : sequence of float, default (0.25, 0.5)
    n_layers, frame_length : int, default 40, 256
    max_steps, batch_size, eval_every : int
    lr : float, default 0.01
        Adam learning rate (the parameters are log-thresholds, steps and momenta, all of order 1).
    lam : ndarray of shape (len(ratios), frame_length), optional
        Initial per-frequency penalties (default: fitted to the training clips, see Notes).
    continuation : float, default 10
        The initial thresholds fall geometrically from ``continuation`` times the last layer's
        to the last layer's (continuation, as in homotopy solvers: far fewer layers are needed).
    rng : None, int or numpy.random.Generator
    verbose : bool
    callback : callable, optional
        ``callback(step, net, history)`` after every evaluation.
    checkpoint : str or path, optional
        A file written atomically after every evaluation (``.npz`` appended when missing, no pickle); when it exists, the run
        goes on from it and ends with the same network as a run that was never stopped (the same
        clips, settings and ``rng`` seed; a checkpoint of other settings is refused).

    Notes
    -----
    The default initial penalty of frequency ``k`` is ``1e-3 max|M^T y| / s_k`` with ``s_k`` the mean
    magnitude of DCT coefficient ``k`` over the training frames (relative to the largest), the
    weighted LASSO of a Laplacian prior with a per-frequency scale.
    """
    from .._validation import check_rng
    from ..signals.image import pipeline_matrix
    from ..transforms import DCT, frames_from_audio
    from .train import Adam

    rng, verbose = check_rng(rng), check_bool("verbose", verbose)
    clips = [np.asarray(c, dtype=np.float64) for c in clips]
    if not clips:
        raise ValidationError("clips must hold at least one clip.")
    N = check_int("frame_length", frame_length, low=4)
    ratios = tuple(float(r) for r in ratios)
    max_steps = check_int("max_steps", max_steps, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    eval_every = check_int("eval_every", eval_every, low=1)
    if lam is None:
        F = frames_from_audio(clips, N, N // 2, drop_silent=1e-3)
        F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-300)
        s = np.abs(F @ DCT(N).to_dense()).mean(axis=0)
        s /= s.max()
        lam = []
        for r in ratios:
            A, _ = pipeline_matrix("gaussian", max(1, round(r * N)), N, rng)
            Y, _ = _clip_batch(clips[: min(len(clips), 32)], A, N)
            corr = np.median([np.abs(_Frames(A, N).adjoint(Y[i:i + 1]) * s).max() for i in range(Y.shape[0])])
            lam.append(1e-3 * corr / s)
        lam = np.array(lam)
    net = JointAudioNet(n_layers, frame_length=N, ratios=ratios, lam=lam)
    continuation = check_scalar("continuation", continuation, low=1.0)
    net.log_theta += math.log(continuation) * np.linspace(1.0, 0.0, n_layers)[None, :, None]
    val = []
    for j, r in enumerate(ratios):
        vrng = np.random.default_rng(1000 + j)
        A, _ = pipeline_matrix("gaussian", max(1, round(r * N)), N, vrng)
        if validation:
            val.append((A,) + _clip_batch(list(validation), A, N))

    def val_snr(j):
        A, Y, X = val[j]
        op, C, _ = net._run(Y, A, (net.log_theta[j], net.gamma[j], net.beta[j]))
        return _mean_snr(op, C, X)

    hist = {"step": [], "val_snr_db": [], "train_loss": [], "time_s": 0.0}
    best = [val_snr(j) for j in range(len(ratios))] if val else None
    best_params = [{k: v[j].copy() for k, v in net.parameters().items()} for j in range(len(ratios))]
    if verbose and best:
        print("start: validation SNR " + ", ".join(f"{r:g}: {b:.2f} dB" for r, b in zip(ratios, best, strict=True)),
              flush=True)
    hist["start_val_snr_db"] = list(best) if best else None
    opt = Adam(net.parameters(), lr=lr)
    t0 = time.perf_counter()
    losses, first, fp, before = [], 1, None, 0.0
    if checkpoint is not None:
        fp = joint_fingerprint(net, clips, list(validation), ratios=[float(r) for r in ratios], n_layers=n_layers,
                               frame_length=N, max_steps=max_steps, batch_size=batch_size, lr=float(lr),
                               eval_every=eval_every, continuation=float(continuation))
        checkpoint = os.fspath(checkpoint)
        checkpoint = with_npz_suffix(checkpoint)  # the name the checkpoint is written under
        if os.path.exists(checkpoint):
            best, losses, first, before = resume_joint_checkpoint(checkpoint, net, fp, rng, opt, best_params, hist)
            if verbose:
                print(f"resumed from {checkpoint} after step {first - 1}", flush=True)
    for step in range(first, max_steps + 1):
        j = int(rng.integers(len(ratios)))
        A, _ = pipeline_matrix("gaussian", max(1, round(ratios[j] * N)), N, rng)
        idx = rng.choice(len(clips), size=min(batch_size, len(clips)), replace=False)
        Y, X = _clip_batch([clips[i] for i in idx], A, N)
        loss, g = net.loss_and_grad(Y, X, A, j)
        losses.append(loss)
        full = {k: np.zeros_like(v) for k, v in net.parameters().items()}
        for k in full:
            full[k][j] = g[k]
        opt.step(net.parameters(), full, layers=slice(j, j + 1))
        np.clip(net.gamma, 0.05, 2.0, out=net.gamma)
        np.clip(net.beta, -0.5, 1.5, out=net.beta)
        if not (step % eval_every == 0 or step == max_steps):
            continue
        if val:
            snrs = [val_snr(jj) for jj in range(len(ratios))]
            for jj, v in enumerate(snrs):
                if v > best[jj]:
                    best[jj] = v
                    best_params[jj] = {k: p[jj].copy() for k, p in net.parameters().items()}
            hist["step"].append(step)
            hist["val_snr_db"].append(snrs)
            hist["train_loss"].append(float(np.mean(losses[-eval_every:])))
            if verbose:
                print(f"step {step}: train -SNR {hist['train_loss'][-1]:.2f} dB; validation SNR "
                      + ", ".join(f"{v:.2f}" for v in snrs) + f" dB ({time.perf_counter() - t0:.0f} s)", flush=True)
        if checkpoint is not None:  # after every evaluation (every eval_every steps, with or without validation)
            save_joint_checkpoint(checkpoint, net, fp, step=step, rng=rng, opt=opt, best=best, best_params=best_params,
                                  hist=hist, recent_losses=losses[-eval_every:],
                                  elapsed_s=before + time.perf_counter() - t0)
        if val and callback is not None:
            callback(step, net, hist)
    if val:
        for jj in range(len(ratios)):
            for k, p in net.parameters().items():
                p[jj] = best_params[jj][k]
    hist["time_s"] = before + time.perf_counter() - t0
    hist["best_val_snr_db"] = best
    net.training_record = {"ratios": list(ratios), "n_clips": len(clips), "n_validation": len(validation),
                           "steps": max_steps, "batch_size": batch_size, "lr": lr,
                           "time_s": hist["time_s"], "best_val_snr_db": best,
                           "start_val_snr_db": hist["start_val_snr_db"]}
    return net, hist


def tune_tail(net, clips, *, n_tail=100, scales=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4),
              verbose=False):
    """Choose, per ratio, the tail's penalty factor that gives the best mean SNR on ``clips``
    (validation clips: never the clips you evaluate on), and set ``net.n_tail = n_tail``.

    Every clip is measured with one fixed Gaussian matrix per ratio (seed ``2000 + ratio index``);
    ``scales`` are tried in turn (the network's layers run once). Returns ``{ratio: (scale, SNR dB)}``
    with the SNR without a tail under the key ``"no tail"``, and records it in ``net.training_record``.
    """
    from ..signals.image import pipeline_matrix

    n_tail, verbose = check_int("n_tail", n_tail, low=0), check_bool("verbose", verbose)
    N = net.frame_length
    out = {}
    for j, r in enumerate(net.ratios):
        A, _ = pipeline_matrix("gaussian", max(1, round(r * N)), N, np.random.default_rng(2000 + j))
        Y, X = _clip_batch(list(clips), A, N)
        stages = (net.log_theta[j], net.gamma[j], net.beta[j])
        op, C, _ = net._run(Y, A, stages)
        tried = {"no tail": _mean_snr(op, C, X)}
        for sc in scales:
            tried[float(sc)] = _mean_snr(op, net._tail(op, C, Y, stages[0], stages[1], sc, n_tail), X)
        best = max((k for k in tried if k != "no tail"), key=lambda k: tried[k], default=None)
        if best is not None:
            net.tail_scale[j] = best
        out[float(r)] = {"scale": best, "snr_db": tried[best] if best is not None else None,
                         "no_tail_snr_db": tried["no tail"]}
        if verbose:
            print(f"ratio {r:g}: tail of {n_tail} iterations: " + ", ".join(
                f"{k}: {v:.2f} dB" for k, v in tried.items()), flush=True)
    net.n_tail = n_tail
    if net.training_record is None:
        net.training_record = {}
    net.training_record["tail"] = {"n_tail": n_tail, **{f"{r:g}": v for r, v in out.items()}}
    return out


def record_default_ratios(net, clips, *, verbose=False) -> list:
    """Record in ``net.training_record`` the mean SNR of the classical method ``"joint"`` on ``clips``
    per ratio (matrix seed = clip index) and the ratios at which the network beat it there
    (``default_ratios``: the network's best validation SNR, with its tail when :func:`tune_tail` set
    one); returns those ratios. ``cs-toolkit reconstruct`` makes a bundled network its default only
    at them. ``clips``: validation clips, never the ones you evaluate on."""
    from ..signals.audio import audio_quality, measure_audio, reconstruct_audio

    if not isinstance(net, JointAudioNet):
        raise ValidationError(f"net must be a JointAudioNet, got {type(net).__name__}.")
    if isinstance(clips, np.ndarray) or len(clips) == 0:
        raise ValidationError("clips must be a non-empty list of 1-D clips (the validation clips).")
    N, verbose = net.frame_length, check_bool("verbose", verbose)
    joint = [float(np.mean([audio_quality(x, reconstruct_audio(measure_audio(x, float(r), frame_length=N, hop=N // 2,
                                                                             rng=i), method="joint"))["snr"]
                            for i, x in enumerate(clips)])) for r in net.ratios]
    rec = net.training_record if isinstance(net.training_record, dict) else {}
    tail = rec.get("tail") or {}
    best = [tail[f"{r:g}"]["snr_db"] if net.n_tail and f"{r:g}" in tail else b  # what reconstruct runs
            for r, b in zip(net.ratios, rec.get("best_val_snr_db") or [-np.inf] * len(net.ratios), strict=True)]
    rec["joint_val_snr_db"] = joint
    rec["default_ratios"] = [float(r) for r, b, j in zip(net.ratios, best, joint, strict=True) if b > j]
    net.training_record = rec
    if verbose:
        print("validation SNR, network vs joint: " + ", ".join(
            f"{r:g}: {b:.2f} vs {j:.2f} dB" for r, b, j in zip(net.ratios, best, joint, strict=True)), flush=True)
    return rec["default_ratios"]
