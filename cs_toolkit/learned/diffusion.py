"""Trained nonlinear diffusion stages for images, with a projection onto the measurements.

A learned image prior in the style of TNRD (Chen & Pock 2017, "Trainable nonlinear
reaction diffusion"), made for compressive sensing: every stage ``t`` computes

    u = x - sum_i K_i^T phi_ti(K_i x),        x <- P(u)

with ``K_i`` the correlation with a learned zero-mean ``s x s`` filter (symmetric
padding; ``K_i^T`` its exact adjoint), ``phi_ti`` a learned piecewise-linear
influence function, and ``P`` the projection onto the set of images that agree
with the measurements (for block CS, ``x + A^+ (y - A x)`` on every block). The
stages are trained end to end (analytic gradients through the filters, the
influence functions and the projections; L-BFGS) to minimise the mean squared
error of the last stage on training images, starting from the output of a
classical reconstruction. Without a constraint they are a plain denoiser.

Files: ``.npz`` with a JSON ``__metadata__`` record and two float64 arrays, read
with ``allow_pickle=False`` and checked field by field (:func:`load_diffusion`).
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from .._atomic import atomic_savez
from .._validation import check_bool, check_int, check_option, check_scalar
from .._version import __version__
from ..exceptions import ModelFileError, ValidationError
from ._layers import npz_path

__all__ = ["DiffusionStages", "load_diffusion", "train_diffusion", "FORMAT", "FORMAT_VERSION"]

FORMAT = "cs-toolkit-diffusion-stages"
FORMAT_VERSION = 1
_MAX_META_BYTES = 1 << 16


def _pad(x, r):
    return np.pad(x, r, mode="symmetric")


def _pad_adjoint(g, r):
    """Adjoint of ``np.pad(x, r, mode="symmetric")``: fold the border back onto the image."""
    if r == 0:
        return g.copy()
    out = g[r:-r].copy()
    out[:r] += g[:r][::-1]
    out[-r:] += g[-r:][::-1]
    res = out[:, r:-r].copy()
    res[:, :r] += out[:, :r][:, ::-1]
    res[:, -r:] += out[:, -r:][:, ::-1]
    return res


def _windows_adjoint(E, shape, s):
    """Adjoint of ``_windows(_pad(x, s // 2), s)``: every row of ``E`` added back as an ``s x s``
    window of a padded image, whose border is then folded back onto the ``shape`` image."""
    from ._diffusion_numba import _col2im

    r = s // 2
    acc = np.zeros((shape[0] + 2 * r, shape[1] + 2 * r))
    _col2im(E, shape[1], s, acc)
    return _pad_adjoint(acc, r)


def _windows(xp, s):
    """All ``s x s`` windows of the padded image ``xp`` as rows (row-major positions)."""
    return np.lib.stride_tricks.sliding_window_view(xp, (s, s)).reshape(-1, s * s)


def _dct_filters(s):
    """The ``s * s - 1`` non-constant atoms of the orthonormal 2-D DCT of ``s x s`` windows, as columns."""
    from scipy.fft import dct

    c = dct(np.eye(s), norm="ortho", axis=0)
    return np.kron(c, c)[1:].T.copy()


class DiffusionStages:
    """``n_stages`` trained diffusion stages (see the module docstring).

    Parameters
    ----------
    n_stages : int, default 5
    filter_size : int, default 5
        Odd side ``s`` of the filters.
    n_filters : int, optional
        Filters per stage, default ``s * s - 1`` (initialised as the non-constant 2-D DCT atoms).
    n_knots : int, default 41
        Knots of each influence function, equally spaced on ``[-response_range, response_range]``.
    response_range : float, default 160.0
        Filter responses (images on the [0, 255] scale) beyond it see the end values.

    Attributes
    ----------
    filters : ndarray of shape (n_stages, s * s, n_filters)
        Raw filter weights (columns; the zero-mean part is used).
    knots : ndarray of shape (n_stages, n_filters, n_knots)
        Influence-function values at the knots (all zero at first: every stage is the identity).

    Notes
    -----
    Stage ``t`` maps ``x`` to ``P(x - sum_i K_ti^T phi_ti(K_ti x))``: one gradient step on the
    energy ``sum_i sum_pixels rho_ti(K_ti x)`` with ``phi = rho'`` learned freely (Chen & Pock
    2017, "Trainable nonlinear reaction diffusion", IEEE TPAMI), whose data term ``lam (x - f)``
    is replaced by the exact projection ``P`` onto the measurement set.

    Examples
    --------
    >>> import numpy as np
    >>> m = DiffusionStages(2, filter_size=3)
    >>> x = np.random.default_rng(0).uniform(0, 255, (16, 16))
    >>> bool(np.allclose(m.forward(x), x))  # untrained stages are the identity
    True
    """

    def __init__(self, n_stages=5, *, filter_size=5, n_filters=None, n_knots=41, response_range=160.0):
        self.n_stages = check_int("n_stages", n_stages, low=1, high=100)
        s = check_int("filter_size", filter_size, low=3, high=15)
        if s % 2 == 0:
            raise ValidationError(f"filter_size must be odd, got {s}.")
        self.filter_size = s
        self.n_filters = check_int("n_filters", s * s - 1 if n_filters is None else n_filters, low=1, high=256)
        self.n_knots = check_int("n_knots", n_knots, low=3, high=1001)
        self.response_range = float(check_scalar("response_range", response_range, low=0.0, low_inclusive=False))
        base = _dct_filters(s)
        reps = -(-self.n_filters // base.shape[1])
        f0 = np.tile(base, (1, reps))[:, : self.n_filters]
        self.filters = np.repeat(f0[None], self.n_stages, axis=0)
        self.knots = np.zeros((self.n_stages, self.n_filters, self.n_knots))
        #: what training recorded (start method, ratios, figures): a JSON-able dict saved with the model, or None
        self.training_record = None

    def __repr__(self):
        return (f"DiffusionStages(n_stages={self.n_stages}, filter_size={self.filter_size}, "
                f"n_filters={self.n_filters}, n_knots={self.n_knots})")

    # -- parameters ------------------------------------------------------------------
    @property
    def _z0(self):
        return -self.response_range

    @property
    def _dz(self):
        return 2.0 * self.response_range / (self.n_knots - 1)

    def get_vector(self) -> np.ndarray:
        """All trainable values as one float64 vector (filters, then knots)."""
        return np.concatenate([self.filters.ravel(), self.knots.ravel()])

    def set_vector(self, v) -> None:
        v = np.asarray(v, dtype=np.float64)
        nf = self.filters.size
        if v.shape != (nf + self.knots.size,):
            raise ValidationError(f"v must have shape ({nf + self.knots.size},), got {v.shape}.")
        self.filters = v[:nf].reshape(self.filters.shape).copy()
        self.knots = v[nf:].reshape(self.knots.shape).copy()

    def _centred(self, t):
        f = self.filters[t]
        return f - f.mean(axis=0, keepdims=True)

    # -- forward / backward ------------------------------------------------------------
    def _stage(self, t, x):
        """One stage before the projection; returns ``u`` and what the backward pass needs."""
        from ._diffusion_numba import _influence

        s = self.filter_size
        K = self._centred(t)
        cols = _windows(_pad(x, s // 2), s)
        Z = cols @ K
        act = np.empty_like(Z)
        _influence(Z, self.knots[t], self._z0, self._dz, act)
        return x - _windows_adjoint(act @ K.T, x.shape, s), (cols, Z, act)

    def forward(self, x0, constraint=None, *, return_all=False):
        """Run the stages from the image ``x0`` (2-D, [0, 255] scale).

        ``constraint``: an object with ``project(u)`` (and ``null_project(g)`` for
        training), e.g. :class:`cs_toolkit.signals.image.BlockConstraint`; None: no projection.
        Returns the last stage's image, or the list of every stage's with ``return_all``.
        """
        return_all = check_bool("return_all", return_all)
        x = np.array(x0, dtype=np.float64)
        if x.ndim != 2 or min(x.shape) <= self.filter_size:
            raise ValidationError(f"x0 must be a 2-D image larger than the {self.filter_size}x{self.filter_size} "
                                  f"filters, got shape {np.shape(x0)}.")
        if not np.all(np.isfinite(x)):
            raise ValidationError("x0 contains NaN or Inf values.")
        outs = []
        for t in range(self.n_stages):
            u, _ = self._stage(t, x)
            x = u if constraint is None else constraint.project(u)
            outs.append(x)
        return outs if return_all else outs[-1]

    def loss_and_grad(self, samples, n_threads=1, objective="mse"):
        """Training loss of the last stage over ``samples`` and its gradient (vector as :meth:`get_vector`).

        ``samples``: list of ``(x0, x_true, constraint)``. ``objective="mse"``: the squared
        error summed over all pixels of all samples, divided by their number;
        ``"psnr"``: the mean over samples of ``10 log10(MSE_i)`` (minus the mean PSNR up to a
        constant), which weighs every sample alike instead of letting the worst ones dominate.
        ``n_threads`` threads share the samples (the kernels and BLAS release the GIL).
        """
        check_option("objective", objective, ("mse", "psnr"))
        from .._threads import map_in_threads

        n_pix = sum(np.asarray(x).size for _, x, _ in samples)
        parts = map_in_threads(lambda c: self._sum_loss_grad(c, n_pix, len(samples), objective), samples, n_threads)
        total = sum(p[0] for p in parts)
        gF = sum(p[1] for p in parts)
        gW = sum(p[2] for p in parts)
        loss = total / n_pix if objective == "mse" else total / len(samples)
        return loss, np.concatenate([gF.ravel(), gW.ravel()])

    def _sum_loss_grad(self, samples, n_pix, n_samples, objective="mse"):
        """Summed loss terms over ``samples`` and the gradient of the loss (see :meth:`loss_and_grad`)."""
        from ._diffusion_numba import _influence_backward

        s, r = self.filter_size, self.filter_size // 2
        gF = np.zeros_like(self.filters)
        gW = np.zeros_like(self.knots)
        total = 0.0
        for x0, x_true, con in samples:
            x = np.array(x0, dtype=np.float64)
            cache = []
            for t in range(self.n_stages):
                u, c = self._stage(t, x)
                cache.append((x, c))
                x = u if con is None else con.project(u)
            err = x - x_true
            se = float(np.sum(err * err))
            if objective == "mse":
                total += se
                g = 2.0 * err / n_pix
            else:  # 10 log10(se / size), averaged over the samples
                se = max(se, 1e-300)
                total += 10.0 * math.log10(se / err.size)
                g = (20.0 / math.log(10.0)) * err / (se * n_samples)
            for t in range(self.n_stages - 1, -1, -1):
                xin, (cols, Z, act) = cache[t]
                K = self._centred(t)
                g_u = g if con is None else con.null_project(g)
                gcols = _windows(_pad(-g_u, r), s)       # windows of dL/dr, r the diffusion term
                GA = gcols @ K                            # dL/d phi(Z)
                gK = gcols.T @ act
                GZ = np.empty_like(Z)
                _influence_backward(Z, self.knots[t], self._z0, self._dz, GA, GZ, gW[t])
                gK += cols.T @ GZ
                gF[t] += gK - gK.mean(axis=0, keepdims=True)   # through the zero-mean projection
                g = g_u + _windows_adjoint(GZ @ K.T, xin.shape, s)
        return total, gF, gW

    # -- files -----------------------------------------------------------------------
    def save(self, path) -> str:
        """Write the stages to ``path`` (``.npz``, atomically); returns the path written."""
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "toolkit_version": __version__,
                "n_stages": self.n_stages, "filter_size": self.filter_size, "n_filters": self.n_filters,
                "n_knots": self.n_knots, "response_range": self.response_range,
                "training": self.training_record}
        return atomic_savez(path, {
            "__metadata__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            "filters": np.ascontiguousarray(self.filters, dtype=np.float64),
            "knots": np.ascontiguousarray(self.knots, dtype=np.float64),
        })


def _bad(path, why):
    return ModelFileError(f"{os.fspath(path)!s} is not a valid diffusion-stages file: {why}")


def load_diffusion(path) -> DiffusionStages:
    """Load stages written by :meth:`DiffusionStages.save` (no pickle; every field checked).

    Raises
    ------
    ModelFileError
        Not such a file, or a corrupt one (bad zip, JSON, keys, shapes, dtypes, non-finite values).
    """
    from .._archive import meta_int, meta_positive, read_record

    p = npz_path(path)
    if not os.path.isfile(p):
        raise ModelFileError(f"diffusion-stages file {p!s} does not exist.")
    with read_record(p, _bad, fmt=FORMAT, version=FORMAT_VERSION, arrays=("filters", "knots"),
                     max_meta_bytes=_MAX_META_BYTES) as (meta, read):
        dims = {key: meta_int(meta, key, low, high, p, _bad) for key, low, high in (
            ("n_stages", 1, 100), ("filter_size", 3, 15), ("n_filters", 1, 256), ("n_knots", 3, 1001))}
        rr = meta_positive(meta, "response_range", p, _bad)
        if dims["filter_size"] % 2 == 0:
            raise _bad(p, f"metadata 'filter_size' must be odd, got {dims['filter_size']}")
        model = DiffusionStages(dims["n_stages"], filter_size=dims["filter_size"], n_filters=dims["n_filters"],
                                n_knots=dims["n_knots"], response_range=float(rr))
        for name in ("filters", "knots"):
            setattr(model, name, read(name, getattr(model, name).shape))
    model.training_record = meta.get("training") if isinstance(meta.get("training"), dict) else None
    return model


def train_diffusion(model, samples, *, validation=None, max_iter=200, objective="mse", n_threads=1, verbose=False,
                    callback=None, checkpoint=None):
    """Train ``model`` in place by L-BFGS on the mean squared error of its last stage.

    Parameters
    ----------
    model : DiffusionStages or another model with the same training interface
        (``get_vector``, ``set_vector``, ``loss_and_grad``, ``forward``), e.g. ``NonLocalStages``;
        a model with a ``bounds()`` method is kept inside the ``(low, high)`` pairs it returns;
        one with a ``parameter_scales()`` method (an array like ``get_vector()``, or None) is
        optimised in the variables ``v / scales`` (a diagonal preconditioner: L-BFGS starts from
        steepest descent, which moves every variable by its own gradient; a scale makes the
        parameters of small gradients take larger steps)
    samples : list of (x0, x_true, constraint)
        Training images: the start (a classical reconstruction), the truth, and the
        measurement constraint (``project`` / ``null_project``; None for denoising).
    validation : list of (x0, x_true, constraint), optional
        Scored (PSNR of the last stage) every iteration; the best iterate is kept.
    max_iter : int, default 200
        L-BFGS iterations.
    objective : {"mse", "psnr"}, default "mse"
        Loss of :meth:`DiffusionStages.loss_and_grad`; with ``"psnr"`` the training and
        validation figures are mean PSNRs over the samples, else the PSNR of the pooled MSE.
    n_threads : int, default 1
        Threads sharing the samples of every gradient evaluation.
    verbose : bool, default False
        Print the training and validation PSNR every 10 iterations and the time.
    callback : callable, optional
        ``callback(iteration, train_psnr_db, val_psnr_db)`` after every iteration.
    checkpoint : str or path, optional
        A log of the run's evaluations (``.npz``), written atomically after every iteration; a run
        started with an existing log of the same settings and data replays it and goes on where it
        ended, bit for bit as if never interrupted (:mod:`cs_toolkit.learned._lbfgs_log`).

    Returns
    -------
    dict
        ``iterations``, ``train_psnr_db``, ``val_psnr_db`` (lists), ``start_val_psnr_db`` (the
        model as given), ``best_val_psnr_db``, ``time_s``.
    """
    from scipy.optimize import minimize

    if not all(hasattr(model, a) for a in ("get_vector", "set_vector", "loss_and_grad", "forward")):
        raise ValidationError(f"model must be a DiffusionStages (or have its get_vector, set_vector, "
                              f"loss_and_grad and forward), got {type(model).__name__}.")
    if not samples:
        raise ValidationError("samples must hold at least one (x0, x_true, constraint) triple.")
    max_iter = check_int("max_iter", max_iter, low=1)
    check_option("objective", objective, ("mse", "psnr"))
    verbose = check_bool("verbose", verbose)

    def psnr(mse):
        return 10.0 * math.log10(255.0 ** 2 / max(mse, 1e-12))

    def val_psnr():
        if not validation:
            return float("nan")
        se = [float(np.sum((model.forward(x0, c) - xt) ** 2)) for x0, xt, c in validation]
        sizes = [np.asarray(xt).size for _, xt, _ in validation]
        if objective == "psnr":
            return float(np.mean([psnr(e / n) for e, n in zip(se, sizes)]))
        return psnr(sum(se) / sum(sizes))

    def train_psnr(loss):
        return psnr(loss) if objective == "mse" else 10.0 * math.log10(255.0 ** 2) - loss

    hist = {"iterations": [], "train_psnr_db": [], "val_psnr_db": []}
    best = {"val": val_psnr(), "v": model.get_vector()}
    last = {"loss": None}
    n = model.get_vector().size
    scales = model.parameter_scales() if hasattr(model, "parameter_scales") else None
    if scales is not None:
        scales = np.asarray(scales, dtype=np.float64)
        if scales.shape != (n,) or not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValidationError(f"model.parameter_scales() must give {n} positive finite numbers, got an array "
                                  f"of shape {scales.shape}.")
    d = np.ones(n) if scales is None else scales  # (times 1.0: without scales the run is the unscaled one)
    # the log holds the optimiser's variables (v / scales); its fingerprint has the scales
    log = None if checkpoint is None else _evaluation_log(checkpoint, model, samples, validation, max_iter, objective,
                                                          scales)
    t0 = time.perf_counter()

    def compute(u):
        model.set_vector(d * u)
        loss, g = model.loss_and_grad(samples, n_threads=n_threads, objective=objective)
        return loss, d * g

    def fun(v):
        loss, g = compute(v) if log is None else log.evaluate(v, compute)
        last["loss"] = loss
        return loss, g

    def cb(u):
        v = d * u
        model.set_vector(v)
        it = len(hist["iterations"]) + 1
        tr = train_psnr(last["loss"])
        va = val_psnr() if log is None else log.score(val_psnr)
        hist["iterations"].append(it)
        hist["train_psnr_db"].append(tr)
        hist["val_psnr_db"].append(va)
        if not validation or va > best["val"]:
            best["val"], best["v"] = va, np.array(v)
        if verbose and (it % 10 == 0 or it == 1):
            print(f"  iteration {it:4d}  train {tr:.3f} dB  validation {va:.3f} dB  "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        if callback is not None:
            callback(it, tr, va)
        if log is not None and not log.replaying:
            log.save(log.elapsed_s + time.perf_counter() - t0)

    start_val = best["val"]
    bounds = model.bounds() if hasattr(model, "bounds") else None
    if bounds is not None:
        bounds = [(None if lo is None else lo / di, None if hi is None else hi / di)
                  for (lo, hi), di in zip(bounds, d)]
    minimize(fun, model.get_vector() / d, jac=True, method="L-BFGS-B", callback=cb, bounds=bounds,
             options={"maxiter": max_iter, "maxcor": 20})
    model.set_vector(best["v"])
    hist["start_val_psnr_db"] = start_val
    hist["best_val_psnr_db"] = best["val"]
    hist["time_s"] = time.perf_counter() - t0 + (0.0 if log is None else log.elapsed_s)
    if verbose:
        print(f"trained {model!r} in {hist['time_s']:.0f} s; best validation {best['val']:.3f} dB", flush=True)
    return hist


def _evaluation_log(path, model, samples, validation, max_iter, objective, scales=None):
    """The :class:`~cs_toolkit.learned._lbfgs_log.EvaluationLog` of a :func:`train_diffusion` run:
    its fingerprint is the model (its repr and start vector), the options and a hash of the data."""
    from ._layers import sha256_of
    from ._lbfgs_log import EvaluationLog

    v0 = model.get_vector()
    fingerprint = {"model": repr(model), "n_parameters": int(v0.size), "start": sha256_of(v0),
                   "max_iter": int(max_iter), "objective": objective,
                   "train_data": sha256_of(*[a for x0, xt, _ in samples for a in (x0, xt)]),
                   "validation_data": sha256_of(*[a for x0, xt, _ in (validation or ()) for a in (x0, xt)])}
    if scales is not None:  # (absent without: the logs of earlier runs stay valid)
        fingerprint["scales"] = sha256_of(scales)
    return EvaluationLog(path, fingerprint, v0.size)
