"""Learned collaborative-filter stages: a non-local loop unrolled further with trained shrinkage.

Method ``"pnp_nl_learned"`` of the image pipeline. It runs the classical loop its model names
(:attr:`NonLocalStages.start`: ``pnp_nl``, or ``pnp_lr`` for the bundled model), then
``n_stages`` learned stages; every stage ``t``

    u = sum over groups of similar patches of  H^T f_t(H x_group)   (aggregated),
    x <- P_y(x + alpha_t (u - x)),

with ``H`` a 3-D transform of a group of 8x8 patches: the 2-D DCT of every patch, then along the
group either the DCT (``basis="dct"``, BM3D's collaborative transform) or the group's principal
axes in the start image (``basis="pca"``: the constant vector, then the eigenvectors of the centred
group's Gram matrix by decreasing eigenvalue, the basis ``pnp_lr``'s low-rank filter shrinks in),
``f_t`` a learned shrinkage ``f(z) = z^3 / (z^2 + tau_t)`` with its own ``tau`` for every one of the
3-D coefficient positions (the empirical Wiener filter guided by the estimate, ``tau = sigma^2`` in the
classical loop) and ``P_y`` the projection onto the measurements. The parameters depend on the
measurement ratio: one set per anchor ratio, interpolated linearly in ``log(ratio)`` between them
(held constant outside), so that one model serves every ratio. With ``adapt=True`` they also depend
on the start image: ``log(tau_t)`` moves by ``beta_t * ell``, ``ell = log(d^2 / sigma^2)`` with
``d`` the RMS change that ``pnp_lr``'s low-rank filter at ``sigma`` makes to the start: the
energy of its fine detail at the level ``sigma`` (texture, and artefacts of that size), small
for a piecewise-constant picture whose groups are of low rank (a checkerboard, a phantom), where
shrinkage tuned on photographs only adds error; ``beta`` is learned. With ``local=True`` (and
``basis="pca"``) every group's ``tau`` is multiplied by ``min(nu_g, sigma^2) / sigma^2``, ``nu_g``
the group's tail variance in the start (the mean of the smaller half of its centred Gram matrix's
eigenvalues per coefficient): a group the start already recovers cleanly is shrunk less.

Untrained (``alpha = 0``) every stage is the identity on the classical result: the network *is*
the classical loop, and training (end to end, analytic gradients, L-BFGS with the best validation iterate
kept) starts from it. The groups, their transforms and their aggregation weights are computed once
per image, from the classical result (what ``pnp_nl`` itself would use next).

Files: ``.npz`` with a JSON ``__metadata__`` record and the float64 arrays ``theta``, ``alpha``
(and ``beta`` with ``adapt``), read with
``allow_pickle=False`` and checked field by field (:func:`load_nlstages`).
"""

from __future__ import annotations

import json
import math
import os
from types import MappingProxyType

import numpy as np

from .._atomic import atomic_savez
from .._validation import check_bool, check_int, check_option, check_scalar
from .._version import __version__
from ..exceptions import ModelFileError, ValidationError
from . import _denoisers as den
from ._image_loops import FINAL_SIGMA
from .methods import MODELS_DIR

#: The bundled model of method ``"pnp_nl_learned"`` (package data, trained by ``benchmarks/nl_images.py``).
DEFAULT_NL_MODEL = MODELS_DIR / "nl_stages_images.npz"

__all__ = ["NonLocalStages", "NL_RECIPE", "load_nlstages", "default_nl_model", "DEFAULT_NL_MODEL",
           "warm_up_image_kernels",
           "FORMAT", "FORMAT_VERSION"]

FORMAT = "cs-toolkit-nonlocal-stages"
#: The classical loops the stages can continue (the model's training record names its own).
NL_STARTS = ("pnp_nl", "pnp_lr")
#: The transforms along a group (see the module docstring).
NL_BASES = ("dct", "pca")
#: How the bundled model is trained (``benchmarks/nl_images.py``'s and ``cs-toolkit train --model
#: pnp_nl_learned``'s defaults; :func:`~cs_toolkit.signals.train_nlstages`'s arguments): from ``pnp_lr``, in the groups'
#: principal axes, steps bounded by 2, on the mean PSNR over the training pictures (the mean squared
#: error lets the few worst-recovered pictures choose the parameters), every ``tau`` within a factor 20
#: of its start and L-BFGS preconditioned by 30 on ``theta`` (each ``theta`` has a gradient about 30
#: times smaller than a step's).
NL_RECIPE = MappingProxyType({"start": "pnp_lr", "basis": "pca", "local": False, "max_step": 2.0,
                              "objective": "psnr", "tau_factor": 20.0, "theta_scale": 30.0})  # read-only
#: Version 2 adds ``basis`` and ``adapt`` (version 1 files, without them, are read as ``"dct"``
#: and False); version 3 adds ``local`` (False before); version 4 ``curve`` (False before). Stages
#: without a curve are still written as version 3, which toolkits before the curve can read.
FORMAT_VERSION = 4
_READ_VERSIONS = (1, 2, 3, 4)
#: The knots of the learned gain curve (``curve=True``): ``r = z^2 / tau`` from 1/64 to 64, a factor 2 apart.
CURVE_KNOTS = 2.0 ** np.arange(-6, 7)
_MAX_META_BYTES = 1 << 16
#: The least tail variance of a group with ``local`` (grey levels squared on [0, 255]): a group of
#: identical patches keeps a positive ``tau``.
_NU_FLOOR = 1e-4


def _parameter_names(adapt, curve=False):
    """The trained arrays of stages with or without ``adapt`` and ``curve`` (a file holds the same ones)."""
    return ("theta", "alpha") + (("beta",) if adapt else ()) + (("delta",) if curve else ())


class _Prepared:
    """One image's fixed part of the stages: the constraint, groups, weights and ratio weights."""

    def __init__(self, model, x0, constraint):
        from ._nlstages_numba import _group_pca_bases, _group_weights

        x0 = np.ascontiguousarray(x0, dtype=den.work_dtype(x0))  # float32 inference stays float32
        p = model.patch_size
        self.constraint = constraint
        self.groups = den.match_patches(x0, patch_size=p, group_size=model.group_size, step=model.step,
                                        n_features=model.n_features)
        C = _spectra(x0, p)
        self.s = np.ones(self.groups.shape[0], C.dtype)  # every group's scale of tau
        if model.basis == "pca":  # one transform per group
            self.Hs = np.empty((self.groups.shape[0], model.group_size, model.group_size), C.dtype)
            nu = np.empty(self.groups.shape[0], C.dtype)
            _group_pca_bases(C, self.groups, self.Hs, nu)
            if model.local:  # tau follows the group's tail variance (module docstring)
                self.s = (np.clip(nu, _NU_FLOOR, model.sigma ** 2) / model.sigma ** 2).astype(C.dtype)
        else:  # the DCT for every group (a writable copy: the kernels see one array type for both bases)
            self.Hs = den._group_transform(model.group_size, C.dtype.type)[None].copy()
        self.w = np.empty(self.groups.shape[0], C.dtype)
        _group_weights(C, self.groups, self.Hs, model.sigma ** 2, self.w)
        self.ell = 0.0
        if model.adapt:  # the start's fine-detail level (module docstring)
            d = x0 - den.group_lowrank_shrink(x0, model.sigma, self.groups, patch_size=p)  # pnp_lr's c
            self.ell = math.log(max(float(np.mean(np.square(d, dtype=np.float64))), 1e-12) / model.sigma ** 2)
        row_w = np.bincount(self.groups.ravel(), weights=np.repeat(self.w, self.groups.shape[1]),
                            minlength=C.shape[0])
        cov = den.patch_coverage(row_w, x0.shape, p)  # the weights covering each pixel
        if np.any(cov <= 0):
            raise ValidationError("the patch groups do not cover the image (image too small for 8x8 groups).")
        self.cov = cov.astype(x0.dtype, copy=False)
        self.bands = den._runs(self.groups, x0.shape[1] - p + 1)  # for the parallel filter
        A = np.asarray(constraint.A)
        self.lam = model.ratio_weights(A.shape[0] / A.shape[1])

    def project(self, u):
        return self.constraint.project(u)

    def null_project(self, g):
        return self.constraint.null_project(g)


def _spectra(x, p):
    """The 2-D DCT spectra of all sliding ``p x p`` patches of ``x``, on this thread (training runs
    images in threads of its own)."""
    return den.patch_spectra(x, p, parallel=False)


def _spectra_adjoint(C, shape, p):
    """The adjoint of :func:`_spectra`: every row's patch (inverse DCT) added back in place."""
    return den.patch_spectra_adjoint(C, shape, p, parallel=False)


class NonLocalStages:
    """Learned collaborative-filter stages after a non-local loop (see the module docstring).

    Parameters
    ----------
    n_stages : int, default 4
    ratios : sequence of float, default (0.1, 0.25, 0.5)
        Anchor measurement ratios, increasing; each has its own parameters.
    patch_size, group_size, step, n_features : int, default 8, 16, 4, 16
        Groups as ``pnp_nl`` makes them (:func:`match_patches`).
    basis : {"dct", "pca"}, default "dct"
        The transform along a group: the DCT, or the group's principal axes in the start image.
    adapt : bool, default False
        Make the shrinkage depend on the start's fine-detail level too (``beta``; module docstring).
    sigma : float, default 1.5
        The classical loop's final noise level (1.5 for every loop, ``FINAL_SIGMA``; 3 in models
        trained before the schedules ended at 1.5, recorded in their files): the start ``tau =
        sigma^2`` and the aggregation weights ``1 / sum(gain^2)`` of BM3D's Wiener step.
    max_step : float or None, default None
        Training keeps every step ``alpha`` in ``[0, max_step]`` (:meth:`bounds`); 2 is the
        over-relaxation limit of the classical averaged-operator iteration
        ``x <- x + alpha (D(x) - x)`` (Krasnosel'skii-Mann with a firmly non-expansive ``D``).
        None: the steps are free.
    local : bool, default False
        With ``basis="pca"``: every group's ``tau`` is multiplied by ``min(nu_g, sigma^2) / sigma^2``,
        ``nu_g`` the group's tail variance in the start (what its principal axes leave to noise and
        fine detail): a group the start already recovers cleanly is shrunk less.
    curve : bool, default False
        Learn the shape of the shrinkage too: ``f(z) = z (r / (1 + r) + Delta(r))``, ``r = z^2 /
        tau``, with ``Delta`` piecewise linear in ``r`` between the :data:`CURVE_KNOTS` (0 at the
        first and last), one curve per stage, anchor ratio and group-transform row (``delta``;
        0: the Wiener shape).
    tau_factor : float or None, default None
        Training only (not saved): keeps every ``tau`` within a factor ``tau_factor`` of its start
        ``sigma^2`` (:meth:`bounds`). None: free.
    theta_scale : float or None, default None
        Training only (not saved): L-BFGS works on ``theta / theta_scale`` (:meth:`parameter_scales`),
        so that the many ``theta``, each with a small gradient, move as far as the few steps do.

    Attributes
    ----------
    theta : ndarray (n_stages, n_ratios, group_size, patch_size**2)
        ``log(tau)`` of every stage, anchor ratio and 3-D coefficient position (group-transform
        row, 2-D DCT frequency).
    alpha : ndarray (n_stages, n_ratios)
        Step of every stage (0: the stage is the identity).
    beta : ndarray (n_stages, n_ratios)
        How far every stage's ``log(tau)`` follows the start's fine-detail level (with ``adapt``; a
        parameter only then).
    delta : ndarray (n_stages, n_ratios, group_size, len(CURVE_KNOTS) - 2)
        The gain curves' values at the interior knots (with ``curve``; a parameter only then).
    training_record : dict or None
    """

    def __init__(self, n_stages=4, *, ratios=(0.1, 0.25, 0.5), patch_size=8, group_size=16, step=4, n_features=16,
                 sigma=FINAL_SIGMA["pnp_nl"], max_step=None, basis="dct", adapt=False, local=False, curve=False,
                 tau_factor=None, theta_scale=None):
        self.n_stages = check_int("n_stages", n_stages, low=1, high=100)
        r = np.asarray([check_scalar("ratios", v, low=0.0, high=1.0, low_inclusive=False) for v in ratios])
        if r.size == 0 or np.any(np.diff(r) <= 0):
            raise ValidationError(f"ratios must be increasing measurement ratios in (0, 1], got {list(ratios)}.")
        self.ratios = tuple(float(v) for v in r)
        self.patch_size = check_int("patch_size", patch_size, low=2, high=32)
        self.group_size = check_int("group_size", group_size, low=1, high=64)
        self.step = check_int("step", step, low=1, high=self.patch_size)
        self.n_features = check_int("n_features", n_features, low=1, high=self.patch_size ** 2)
        self.basis = check_option("basis", basis, NL_BASES)
        self.adapt = check_bool("adapt", adapt)
        if check_bool("local", local) and self.basis != "pca":
            raise ValidationError(f"local=True needs basis='pca' (the groups' principal axes give their tail "
                                  f"variance), got basis={self.basis!r}.")
        self.local = bool(local)
        self.curve = check_bool("curve", curve)
        self.sigma = check_scalar("sigma", sigma, low=0.0, low_inclusive=False)
        self.max_step = None if max_step is None else check_scalar("max_step", max_step, low=0.0,
                                                                   low_inclusive=False)
        self.tau_factor = None if tau_factor is None else check_scalar("tau_factor", tau_factor, low=1.0,
                                                                       low_inclusive=False)
        self.theta_scale = None if theta_scale is None else check_scalar("theta_scale", theta_scale, low=0.0,
                                                                         low_inclusive=False)
        self.theta = np.full((self.n_stages, len(self.ratios), self.group_size, self.patch_size ** 2),
                             2.0 * math.log(self.sigma))
        self.alpha = np.zeros((self.n_stages, len(self.ratios)))
        self.beta = np.zeros((self.n_stages, len(self.ratios)))
        self.delta = np.zeros((self.n_stages, len(self.ratios), self.group_size, len(CURVE_KNOTS) - 2))
        self.training_record = None

    @property
    def start(self) -> str:
        """The classical loop the stages continue (``"pnp_nl"`` or ``"pnp_lr"``): the one their
        training record names, ``"pnp_nl"`` for stages without one (the loop of the first models)."""
        rec = self.training_record if isinstance(self.training_record, dict) else {}
        s = rec.get("start", "pnp_nl")
        if s not in NL_STARTS:
            raise ValidationError(f"the non-local stages' training record names the start {s!r}; "
                                  f"expected one of {NL_STARTS}.")
        return s

    def __repr__(self):
        return (f"NonLocalStages(n_stages={self.n_stages}, ratios={self.ratios}, patch_size={self.patch_size}, "
                f"group_size={self.group_size}" + ("" if self.basis == "dct" else f", basis={self.basis!r}")
                + (", adapt=True" if self.adapt else "") + (", local=True" if self.local else "")
                + (", curve=True" if self.curve else "")
                + ("" if self.max_step is None else f", max_step={self.max_step:g}")
                + ("" if self.tau_factor is None else f", tau_factor={self.tau_factor:g}")
                + ("" if self.theta_scale is None else f", theta_scale={self.theta_scale:g}") + ")")

    # -- parameters ------------------------------------------------------------------
    def _parameters(self):
        """The names of the trained arrays, in the order of :meth:`get_vector`."""
        return _parameter_names(self.adapt, self.curve)

    def get_vector(self) -> np.ndarray:
        return np.concatenate([getattr(self, name).ravel() for name in self._parameters()])

    def set_vector(self, v) -> None:
        v = np.asarray(v, dtype=np.float64)
        sizes = [getattr(self, name).size for name in self._parameters()]
        if v.shape != (sum(sizes),):
            raise ValidationError(f"v must have shape ({sum(sizes)},), got {v.shape}.")
        i = 0
        for name, n in zip(self._parameters(), sizes):
            setattr(self, name, v[i:i + n].reshape(getattr(self, name).shape).copy())
            i += n

    def bounds(self):
        """``(low, high)`` of every entry of :meth:`get_vector` for a bounded optimiser (None: free):
        the steps in ``[0, max_step]`` when ``max_step`` is set, every ``theta`` within
        ``log(tau_factor)`` of ``2 log(sigma)`` when ``tau_factor`` is set; None when neither is."""
        if self.max_step is None and self.tau_factor is None:
            return None
        c, f = 2.0 * math.log(self.sigma), math.log(self.tau_factor or math.inf)
        th = (None, None) if self.tau_factor is None else (c - f, c + f)
        al = (None, None) if self.max_step is None else (0.0, self.max_step)
        return ([th] * self.theta.size + [al] * self.alpha.size + [(None, None)] * (self.beta.size if self.adapt else 0)
                + [(-1.0, 1.0)] * (self.delta.size if self.curve else 0))

    def parameter_scales(self):
        """The preconditioner of training (:func:`~cs_toolkit.learned.diffusion.train_diffusion`):
        ``theta_scale`` for every ``theta``, 1 for the rest; None without ``theta_scale``."""
        if self.theta_scale is None:
            return None
        return np.concatenate([np.full(self.theta.size, self.theta_scale),
                               np.ones(self.get_vector().size - self.theta.size)])

    def ratio_weights(self, ratio) -> np.ndarray:
        """Weights of the anchor ratios for ``ratio``: linear in ``log(ratio)`` between the two
        anchors around it, all on the nearest anchor outside their range."""
        r = np.log(np.asarray(self.ratios))
        x = math.log(ratio)
        lam = np.zeros(len(r))
        if x <= r[0]:
            lam[0] = 1.0
        elif x >= r[-1]:
            lam[-1] = 1.0
        else:
            j = int(np.searchsorted(r, x)) - 1
            f = (x - r[j]) / (r[j + 1] - r[j])
            lam[j], lam[j + 1] = 1.0 - f, f
        return lam

    # -- stages ----------------------------------------------------------------------
    def prepare(self, x0, constraint):
        """The fixed part of the stages for the start ``x0`` and its measurement ``constraint``
        (groups, weights, ratio); pass it as the constraint of :meth:`forward` to reuse it."""
        if isinstance(constraint, _Prepared):
            return constraint
        for attr in ("project", "null_project", "A"):
            if not hasattr(constraint, attr):
                raise ValidationError(f"constraint must be a BlockConstraint (with {attr!r}), got "
                                      f"{type(constraint).__name__}.")
        return _Prepared(self, x0, constraint)

    def _curve(self, t, prep):
        """Stage ``t``'s gain-curve values at the image's ratio, ``(group_size, n_knots - 2)``
        (``(group_size, 0)`` without ``curve``: the Wiener shape)."""
        if not self.curve:
            return np.zeros((self.group_size, 0), prep.Hs.dtype)
        return np.tensordot(prep.lam, self.delta[t], axes=1).astype(prep.Hs.dtype)

    def _stage(self, t, x, prep, parallel=False, workspace=None):
        """``(u, C, tau)``: the aggregated shrinkage output of stage ``t``, the patch spectra of ``x``
        and the stage's ``tau`` at the image's ratio. ``parallel``: the kernels use all threads
        (inference; training runs images in threads of its own). ``workspace``: a
        :class:`~cs_toolkit.signals._denoisers.PatchWorkspace` whose buffers hold ``C`` and the
        sums (inference, where nothing keeps ``C``)."""
        from ._image_numba import _zero
        from ._nlstages_numba import _shrink_forward, _shrink_forward_parallel

        p = self.patch_size
        shift = prep.ell * float(prep.lam @ self.beta[t]) if self.adapt else 0.0
        tau = np.exp(np.tensordot(prep.lam, self.theta[t], axes=1) + shift).astype(prep.Hs.dtype)
        if workspace is None:
            C = den.patch_spectra(x, p, parallel=parallel)
            S, out = np.zeros_like(C), None
        else:
            C = den._spectra_into(workspace, "C", x, p)
            S, out = workspace.array("S", C.shape, C.dtype), workspace.array("image", x.shape, C.dtype)
            _zero(S)
        d, knots = self._curve(t, prep), CURVE_KNOTS.astype(prep.Hs.dtype)
        if parallel:
            _shrink_forward_parallel(C, prep.groups, prep.Hs, prep.w, tau, prep.s, S, d, knots, prep.bands)
        else:
            _shrink_forward(C, prep.groups, prep.Hs, prep.w, tau, prep.s, S, d, knots)
        return den.patch_spectra_adjoint(S, x.shape, p, parallel=parallel, out=out) / prep.cov, C, tau

    def forward(self, x0, constraint, *, return_all=False):
        """Run the stages from the classical result ``x0`` (2-D, [0, 255] scale) with the
        measurement ``constraint`` (a ``BlockConstraint`` or :meth:`prepare`'s result). A float32
        ``x0`` runs in float32 (with a float32 constraint; float32 inference), anything else in float64."""
        x = np.array(x0, dtype=den.work_dtype(x0))
        if x.ndim != 2 or min(x.shape) < self.patch_size + self.group_size // 2:
            raise ValidationError(f"x0 must be a 2-D image of at least {self.patch_size + self.group_size // 2} "
                                  f"pixels a side, got shape {np.shape(x0)}.")
        if not np.all(np.isfinite(x)):
            raise ValidationError("x0 contains NaN or Inf values.")
        prep = self.prepare(x, constraint)
        ws = den.PatchWorkspace()
        outs = []
        for t in range(self.n_stages):
            a = float(prep.lam @ self.alpha[t])
            if a != 0.0:
                u, _, _ = self._stage(t, x, prep, parallel=True, workspace=ws)
                x = prep.project(x + a * (u - x))
            outs.append(x)
        return outs if return_all else outs[-1]

    def loss_and_grad(self, samples, n_threads=1, objective="mse"):
        """Mean squared error of the last stage over ``samples`` and its gradient (vector as
        :meth:`get_vector`); ``samples`` are ``(x0, x_true, prepared)`` with ``prepared`` from
        :meth:`prepare`. ``objective="psnr"``: the mean over samples of ``10 log10(MSE_i)``."""
        from .._threads import map_in_threads

        n_pix = sum(np.asarray(x).size for _, x, _ in samples)
        parts = map_in_threads(lambda c: self._sum_loss_grad(c, n_pix, len(samples), objective), samples, n_threads)
        total = sum(q[0] for q in parts)
        loss = total / n_pix if objective == "mse" else total / len(samples)
        return loss, sum(q[1] for q in parts)

    def _sum_loss_grad(self, samples, n_pix, n_samples, objective):
        from ._nlstages_numba import _shrink_backward

        p = self.patch_size
        g_theta = np.zeros_like(self.theta)
        g_alpha = np.zeros_like(self.alpha)
        g_beta = np.zeros_like(self.beta)
        g_delta = np.zeros_like(self.delta)
        total = 0.0
        for x0, x_true, prep in samples:
            prep = self.prepare(x0, prep)
            x = np.array(x0, dtype=np.float64)
            cache = []
            for t in range(self.n_stages):
                a = float(prep.lam @ self.alpha[t])
                u, C, tau = self._stage(t, x, prep)
                cache.append((x, u, C, tau, a))
                x = prep.project(x + a * (u - x))
            err = x - x_true
            se = float(np.sum(err * err))
            if objective == "mse":
                total += se
                g = 2.0 * err / n_pix
            else:
                se = max(se, 1e-300)
                total += 10.0 * math.log10(se / err.size)
                g = (20.0 / math.log(10.0)) * err / (se * n_samples)
            for t in range(self.n_stages - 1, -1, -1):
                xin, u, C, tau, a = cache[t]
                gv = prep.null_project(g)
                g_alpha[t] += prep.lam * float(np.sum(gv * (u - xin)))
                GS = _spectra(a * gv / prep.cov, p)
                GC = np.zeros_like(C)
                gth = np.zeros(tau.shape)
                d = self._curve(t, prep)
                gd = np.zeros(d.shape)
                _shrink_backward(C, prep.groups, prep.Hs, prep.w, tau, prep.s, d, CURVE_KNOTS, GS, GC, gth, gd)
                g_theta[t] += prep.lam[:, None, None] * gth[None]
                if self.curve:
                    g_delta[t] += prep.lam[:, None, None] * gd[None]
                g_beta[t] += prep.lam * (prep.ell * float(gth.sum()))
                g = (1.0 - a) * gv + _spectra_adjoint(GC, xin.shape, p)
        grads = {"theta": g_theta, "alpha": g_alpha, "beta": g_beta, "delta": g_delta}
        return total, np.concatenate([grads[name].ravel() for name in self._parameters()])

    # -- files -----------------------------------------------------------------------
    def save(self, path) -> str:
        """Write the stages to ``path`` (``.npz``, atomically); returns the path written."""
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION if self.curve else 3, "toolkit_version": __version__,
                "n_stages": self.n_stages, "ratios": list(self.ratios), "patch_size": self.patch_size,
                "group_size": self.group_size, "step": self.step, "n_features": self.n_features,
                "sigma": self.sigma, "max_step": self.max_step, "basis": self.basis, "adapt": self.adapt, "local": self.local,
                "curve": self.curve,
                "training": self.training_record}
        return atomic_savez(path, {
            "__metadata__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            **{name: np.ascontiguousarray(getattr(self, name), dtype=np.float64) for name in self._parameters()},
        })


def _bad(path, why):
    return ModelFileError(f"{os.fspath(path)!s} is not a valid non-local-stages file: {why}")


def is_nlstages_file(path) -> bool:
    """Whether ``path`` is an ``.npz`` whose metadata record names this module's format (False for
    anything else, unreadable files included: their loader says what is wrong)."""
    from .._archive import record_format
    from ..exceptions import CSToolkitError

    try:
        return record_format(os.fspath(path), _bad, _MAX_META_BYTES) == FORMAT
    except (CSToolkitError, OSError):
        return False


def load_nlstages(path) -> NonLocalStages:
    """Load stages written by :meth:`NonLocalStages.save` (no pickle; every field checked).

    Raises
    ------
    ModelFileError
        Not such a file, or a corrupt one (bad zip, JSON, keys, shapes, dtypes, non-finite values).
    """
    from .._archive import meta_int, meta_positive, read_record

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelFileError(f"non-local-stages file {p!s} does not exist.")
    with read_record(p, _bad, fmt=FORMAT, version=_READ_VERSIONS,
                     arrays=lambda meta: _parameter_names(meta.get("adapt") is True,
                                                         meta.get("curve") is True and meta["format_version"] >= 4),
                     max_meta_bytes=_MAX_META_BYTES) as (meta, read):
        dims = {key: meta_int(meta, key, low, high, p, _bad) for key, low, high in (
            ("n_stages", 1, 100), ("patch_size", 2, 32), ("group_size", 1, 64), ("step", 1, 32),
            ("n_features", 1, 1024))}
        ratios = meta.get("ratios")
        if (not isinstance(ratios, list) or not ratios or len(ratios) > 16
                or not all(isinstance(r, int | float) and not isinstance(r, bool) for r in ratios)):
            raise _bad(p, f"metadata 'ratios' must be a list of numbers, got {ratios!r}")
        sigma = meta_positive(meta, "sigma", p, _bad)
        max_step = meta_positive(meta, "max_step", p, _bad, optional=True)
        v2 = meta["format_version"] >= 2
        basis, adapt = (meta.get("basis", "dct"), meta.get("adapt", False)) if v2 else ("dct", False)
        local = meta.get("local", False) if meta["format_version"] >= 3 else False
        curve = meta.get("curve", False) if meta["format_version"] >= 4 else False
        try:
            model = NonLocalStages(dims["n_stages"], ratios=ratios, patch_size=dims["patch_size"],
                                   group_size=dims["group_size"], step=dims["step"], n_features=dims["n_features"],
                                   sigma=sigma, max_step=max_step, basis=basis, adapt=adapt,
                                   local=local, curve=curve)
        except ValidationError as exc:
            raise _bad(p, str(exc)) from None
        for name in model._parameters():
            setattr(model, name, read(name, getattr(model, name).shape))
        if model.max_step is not None and (np.any(model.alpha < 0) or np.any(model.alpha > model.max_step)):
            raise _bad(p, f"its steps 'alpha' lie outside its bounds [0, {model.max_step:g}]")
    model.training_record = meta.get("training") if isinstance(meta.get("training"), dict) else None
    try:
        model.start  # noqa: B018 - a start the toolkit does not know is a bad file, said at loading
    except ValidationError as exc:
        raise _bad(p, str(exc)) from None
    return model


def warm_up_image_kernels(dtypes=("float64", "float32")) -> float:
    """Compile the numba kernels of the image pipeline's default methods (``pnp_lr``, ``pnp_nl`` and the learned
    stages after it, ``pnp_dct``'s patch filters) for the working precisions ``dtypes`` into the
    on-disk cache by reconstructing a small picture; returns the seconds."""
    import time

    from .image import measure_image, reconstruct_image

    t0 = time.perf_counter()
    img = np.random.default_rng(0).random((64, 64))
    stages = NonLocalStages(1, basis="pca", adapt=True)  # the kernels of the bundled model's kind
    stages.alpha[:] = 0.5  # a zero step skips the stage (and its kernels)
    meas = measure_image(img, 0.25, rng=0)
    for dt in dtypes:
        reconstruct_image(meas, method="pnp_nl_learned", model=stages, max_iter=2, dtype=dt)
        reconstruct_image(meas, method="pnp_lr", max_iter=2, dtype=dt)
        reconstruct_image(meas, method="pnp_dct", max_iter=2, dtype=dt)
    return time.perf_counter() - t0


def default_nl_model(model=None) -> NonLocalStages:
    """``model`` (a :class:`NonLocalStages`, left unchanged, or a file), or the bundled model."""
    if isinstance(model, NonLocalStages):
        return model
    return load_nlstages(DEFAULT_NL_MODEL if model is None else model)


def check_nl_settings(net, *, ratio, block_size, matrix) -> None:
    """Refuse measurements the stages were not trained for: another block size or sensing-matrix
    kind than their training record names, or a ratio outside their anchor ratios."""
    rec = net.training_record if isinstance(net.training_record, dict) else {}
    if "block_size" in rec and int(rec["block_size"]) != int(block_size):
        raise ValidationError(f"the non-local stages were trained for {rec['block_size']}x{rec['block_size']} "
                              f"blocks; these measurements use {block_size}x{block_size} blocks.")
    if "matrix" in rec and str(rec["matrix"]) != str(matrix):
        raise ValidationError(f"the non-local stages were trained for {rec['matrix']!r} sensing matrices; "
                              f"these measurements use {matrix!r}.")
    lo, hi = net.ratios[0], net.ratios[-1]
    if not lo - 1e-9 <= ratio <= hi + 1e-9:
        raise ValidationError(f"the non-local stages serve measurement ratios {lo:g} to {hi:g}; "
                              f"these measurements have ratio {ratio:g}.")


def nl_serves(settings, path=DEFAULT_NL_MODEL) -> bool:
    """Whether the model file ``path`` (default: the bundled one) serves ``settings`` (ratio,
    block_size, matrix) and its training record says it beat its start on its validation pictures,
    at this ratio: up to the record's ``default_max_ratio`` when it has one (the largest anchor ratio
    up to which the stages beat their start on the validation pictures, ratio by ratio)."""
    if not os.path.isfile(path):
        return False
    net = load_nlstages(path)
    rec = net.training_record or {}
    if not rec.get("beats_start_on_validation"):
        return False
    top = rec.get("default_max_ratio")
    ratio = settings.get("ratio", 0.25)
    if isinstance(top, int | float) and not isinstance(top, bool) and ratio > top + 1e-9:
        return False
    try:
        check_nl_settings(net, ratio=settings.get("ratio", 0.25), block_size=settings.get("block_size", 32),
                          matrix=settings.get("matrix", "gaussian"))
    except ValidationError:
        return False
    return True
