"""Training of the learned collaborative-filter stages (:class:`~cs_toolkit.signals.NonLocalStages`,
method ``"pnp_nl_learned"``): the classical starts of a set of pictures, then L-BFGS end to end
(:func:`cs_toolkit.learned.diffusion.train_diffusion`)."""

from __future__ import annotations

import numpy as np

from .._validation import check_option, check_rng, check_scalar
from ..exceptions import ValidationError
from ._image_loops import FINAL_SIGMA
from ._image_nlstages import NL_STARTS, NonLocalStages, _parameter_names

__all__ = ["train_nlstages"]


def train_nlstages(images, *, ratios=(0.1, 0.25, 0.5), validation=(), n_stages=4, block_size=32,
                   matrix="gaussian", max_iter=100, objective="mse", max_step=None, rng=None, n_jobs=1,
                   verbose=False, callback=None, checkpoint=None, start="pnp_nl", basis="dct", adapt=False,
                   local=False, curve=False, tau_factor=None, theta_scale=None, init=None):
    """Train :class:`NonLocalStages` (method ``"pnp_nl_learned"``) on grey pictures; returns ``(model, history)``.

    Every picture is measured at every ratio (its own sensing matrix from ``rng``) and
    reconstructed by the ``start`` loop; the stages (their ``sigma`` the noise level at which that loop
    ends) are trained end to end from those results by L-BFGS
    (:func:`cs_toolkit.learned.diffusion.train_diffusion`), keeping the iterate that scores best on
    the ``validation`` pictures (the untrained model, the classical loop itself, included). The anchor
    ratios of the model are ``ratios``. The model records its ratios, block size, matrix kind and
    training figures (``model.training_record``).

    Parameters
    ----------
    images, validation : list of ndarray (H, W)
        Grey pictures (``uint8`` or float on [0, 1]).
    ratios : sequence of float, default (0.1, 0.25, 0.5)
    n_stages : int, default 4
    block_size : int, default 32
    matrix : str, default "gaussian"
    max_iter : int, default 100
        L-BFGS iterations.
    objective : {"mse", "psnr"}, default "mse"
    max_step : float or None, default None
        Bound of the stages' steps (:class:`NonLocalStages`); None: free steps.
    rng : None, int or numpy.random.Generator
    n_jobs : int, default 1
        Threads for the classical starts and the gradient evaluations.
    verbose : bool, default False
    callback : callable, optional
        ``callback(model, iteration, train_psnr_db, val_psnr_db)`` after every L-BFGS iteration
        (the model holds that iteration's parameters), e.g. to save the best model so far.
    checkpoint : str or path, optional
        Log of the L-BFGS run, written after every iteration; an interrupted run started again
        with it resumes bit for bit (``train_diffusion``'s ``checkpoint``).
    start : {"pnp_nl", "pnp_lr"}, default "pnp_nl"
        The classical loop the stages continue (recorded in the model; ``reconstruct_image`` runs it).
    basis : {"dct", "pca"}, default "dct"
        The transform along a group (:class:`NonLocalStages`).
    adapt : bool, default False
        Shrinkage that also follows the start's fine-detail level (:class:`NonLocalStages`).
    local, curve, tau_factor, theta_scale
        Every group's ``tau`` scaled by its tail variance; a learned gain curve; the ``tau`` bound and
        the L-BFGS preconditioner of training (:class:`NonLocalStages`). The bundled model's settings
        are :data:`~cs_toolkit.signals.NL_RECIPE`.
    init : NonLocalStages, optional
        Stages to start from instead of the classical loop (fine-tuning): their ``theta``, ``alpha``
        (and ``beta``) are the start, ``delta`` too when both have curves; they must continue the same
        loop with the same stages, ratios, basis and ``sigma``.
    """
    import time

    from ..learned.diffusion import train_diffusion
    from ._image_tnrd import training_samples

    if not isinstance(images, list | tuple) or not images:
        raise ValidationError("images must be a non-empty list of grey images.")
    check_option("start", start, NL_STARTS)
    ratios = tuple(sorted(float(check_scalar("ratios", r, low=0.0, high=1.0, low_inclusive=False)) for r in ratios))
    model = NonLocalStages(n_stages, ratios=ratios, sigma=FINAL_SIGMA[start], max_step=max_step, basis=basis,
                           adapt=adapt, local=local, curve=curve, tau_factor=tau_factor, theta_scale=theta_scale)
    if init is not None:
        _start_from(model, init, start)
    rng = check_rng(rng)
    t0 = time.perf_counter()

    def prepared(pictures):
        triples = training_samples(list(pictures), ratios, start=start, block_size=block_size, matrix=matrix,
                                   rng=rng, n_jobs=n_jobs)
        return [(x0, x, model.prepare(x0, c)) for x0, x, c in triples]

    train_set = prepared(images)
    val_set = prepared(validation) if validation else None
    t_samples = time.perf_counter() - t0
    if verbose:
        print(f"{len(train_set)} training and {len(val_set or ())} validation {start} starts in {t_samples:.0f} s",
              flush=True)
    hist = train_diffusion(model, train_set, validation=val_set, max_iter=max_iter, objective=objective,
                           n_threads=n_jobs, verbose=verbose, checkpoint=checkpoint,
                           callback=None if callback is None else lambda *a: callback(model, *a))
    hist["samples_s"] = t_samples
    start_val = hist["start_val_psnr_db"] if val_set else None  # the untrained stages: the loop itself
    model.training_record = {"start": start, "ratios": list(ratios), "block_size": int(block_size),
                             "matrix": str(matrix), "objective": objective, "max_step": max_step,
                             "tau_factor": tau_factor, "theta_scale": theta_scale,
                             "fine_tuned": init is not None,
                             "n_images": len(images),
                             "n_validation": len(validation), "iterations": len(hist["iterations"]),
                             "time_s": hist["time_s"] + t_samples,
                             "start_val_psnr_db": start_val,
                             "best_val_psnr_db": hist["best_val_psnr_db"] if val_set else None,
                             "beats_start_on_validation": bool(val_set and hist["best_val_psnr_db"] > start_val)}
    return model, hist


def _start_from(model, init, start):
    """Copy the trained parameters of ``init`` into the fresh ``model`` (:func:`train_nlstages`'s ``init``)."""
    if not isinstance(init, NonLocalStages):
        raise ValidationError(f"init must be NonLocalStages, got {type(init).__name__}.")
    mine = (start, model.n_stages, model.ratios, model.basis, model.adapt, model.local, model.sigma)
    theirs = (init.start, init.n_stages, init.ratios, init.basis, init.adapt, init.local, init.sigma)
    if mine != theirs:
        raise ValidationError(f"init must continue the same loop with the same stages (start, n_stages, ratios, "
                              f"basis, adapt, local, sigma = {mine}), got {theirs}.")
    for name in _parameter_names(model.adapt, model.curve and init.curve):
        setattr(model, name, np.array(getattr(init, name), dtype=np.float64))
