"""Method ``"tnrd"`` of the image pipeline: the bundled trained diffusion stages, their classical
start, and training them on pictures (:func:`train_tnrd`); the stages themselves are in
:mod:`cs_toolkit.learned.diffusion`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._validation import check_int, check_option, check_rng, check_scalar
from ..exceptions import ValidationError
from ._denoisers import single_thread_blas
from ._image_loops import BlockConstraint, _bcs_spl, _pnp_dct, _pnp_lr, _pnp_nl
from .methods import MODELS_DIR

#: The bundled trained diffusion stages of method ``"tnrd"`` (package data, trained by ``benchmarks/tnrd_images.py``).
DEFAULT_TNRD_MODEL = MODELS_DIR / "tnrd_images.npz"


#: Classical reconstructions the diffusion stages can start from.
TNRD_STARTS = ("bcs_spl", "pnp_dct", "pnp_nl", "pnp_lr")


def default_tnrd_model(ratio: float) -> Path:
    """The bundled model of method ``"tnrd"`` for a measurement ratio: the specialist trained at
    exactly that ratio when one ships (``tnrd_images_r<ratio>.npz``), else the all-ratio model."""
    special = DEFAULT_TNRD_MODEL.with_name(f"tnrd_images_r{float(ratio):g}.npz")
    return special if special.is_file() else DEFAULT_TNRD_MODEL


def _tnrd_start(Y, A, P, shape, B, start, *, tol=1e-4, n_iter=None, progress=None):
    """A classical reconstruction: BCS-SPL, followed by ``pnp_dct``, ``pnp_nl`` or ``pnp_lr``
    (``n_iter`` iterations, default 60) when ``start`` names one. What :func:`reconstruct_image`
    runs for those methods, and the start of the learned stages, the same in training and there."""
    x0, _ = _bcs_spl(Y, A, P, shape, B, lam=6.0, max_iter=200, tol=tol, progress=progress)
    loop = {"pnp_dct": _pnp_dct, "pnp_nl": _pnp_nl, "pnp_lr": _pnp_lr}.get(start)
    return x0 if loop is None else loop(Y, A, P, shape, B, x0, n_iter=n_iter or 60, progress=progress)


def _tnrd_model(model, ratio):
    """``(stages, start)`` of method ``"tnrd"``: ``model`` (a file or a ``DiffusionStages``, left
    unchanged) or the bundled one for ``ratio``, and the classical start its training record names
    (BCS-SPL when it names none)."""
    from ..learned.diffusion import DiffusionStages, load_diffusion

    if model is None:
        model = default_tnrd_model(ratio)
    net = model if isinstance(model, DiffusionStages) else load_diffusion(model)
    rec = net.training_record if isinstance(getattr(net, "training_record", None), dict) else {}
    start = rec.get("start", "bcs_spl")
    if start not in TNRD_STARTS:
        raise ValidationError(f"the diffusion stages' training record names the start {start!r}; "
                              f"expected one of {TNRD_STARTS}.")
    return net, start


def training_samples(images, ratios, *, start="bcs_spl", block_size=32, matrix="gaussian", rng=None, n_jobs=1):
    """Training triples ``(x0, x_true, constraint)`` for :func:`cs_toolkit.learned.diffusion.train_diffusion`.

    Every image is measured at every ratio (its own sensing matrix, drawn from ``rng``)
    and reconstructed by the classical ``start`` method; images and starts are on the
    [0, 255] scale, cropped to whole blocks.

    Parameters
    ----------
    images : list of ndarray (H, W)
        Grey images, ``uint8`` on [0, 255] or float on [0, 1]; at least one block each.
    ratios : sequence of float in (0, 1]
    start : {"bcs_spl", "pnp_dct", "pnp_nl", "pnp_lr"}, default "bcs_spl"
    block_size : int, default 32
    matrix : str, default "gaussian"
    rng : None, int or numpy.random.Generator
    n_jobs : int, default 1
        Threads computing the starts (the measurements are drawn first, in order:
        the result does not depend on it).

    Returns
    -------
    list of (ndarray, ndarray, BlockConstraint)
    """
    from .image import _check_image, measure_image

    check_option("start", start, TNRD_STARTS)
    rng = check_rng(rng)
    todo = []
    for k, img in enumerate(images):
        x, _ = _check_image(img, f"images[{k}]")
        if x.ndim != 2:
            raise ValidationError(f"images[{k}] must be a grey (H, W) image, got shape {x.shape}.")
        H, W = (x.shape[0] // block_size) * block_size, (x.shape[1] // block_size) * block_size
        if H == 0 or W == 0:
            raise ValidationError(f"images[{k}] of shape {x.shape} is smaller than one {block_size}x{block_size} "
                                  "block.")
        x = np.ascontiguousarray(x[:H, :W])
        for r in ratios:
            meas = measure_image(x / 255.0, r, block_size=block_size, matrix=matrix, rng=rng)
            todo.append((x, BlockConstraint(meas.Y[0], meas.A, meas.pinv, meas.padded_shape, block_size)))

    def one(item):
        x, c = item
        return _tnrd_start(c.Y, c.A, c.P, c.shape, block_size, start), x, c

    n_jobs = check_int("n_jobs", n_jobs, low=1)
    if n_jobs == 1:
        return [one(t) for t in todo]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n_jobs) as ex:
        return list(ex.map(one, todo))


@single_thread_blas
def train_tnrd(images, *, ratios=(0.1, 0.25, 0.5), validation=(), start="bcs_spl", n_stages=5, filter_size=5,
               block_size=32, matrix="gaussian", max_iter=100, objective="mse", rng=None, n_jobs=1, verbose=False,
               checkpoint=None):
    """Train diffusion stages (method ``"tnrd"``) on grey training images; returns ``(model, history)``.

    Every image is measured at every ratio and reconstructed by ``start``; the stages
    are then trained end to end (L-BFGS, :func:`cs_toolkit.learned.diffusion.train_diffusion`)
    to turn those starts into the images, and the iterate that scores best on the
    ``validation`` images (measured the same way) is kept. The model records its start,
    ratios, block size and training figures (``model.training_record``, saved with it).

    Parameters
    ----------
    images, validation : list of ndarray (H, W)
        Grey training and validation images (``uint8`` or float on [0, 1]).
    ratios : sequence of float, default (0.1, 0.25, 0.5)
    start : {"bcs_spl", "pnp_dct"}, default "bcs_spl"
    n_stages, filter_size : int, default 5, 5
    block_size : int, default 32
    matrix : str, default "gaussian"
    max_iter : int, default 100
        L-BFGS iterations.
    objective : {"mse", "psnr"}, default "mse"
        The pooled squared error (the hard, low-ratio cases weigh most) or the mean PSNR
        over images and ratios (every case alike); see
        :meth:`~cs_toolkit.learned.diffusion.DiffusionStages.loss_and_grad`.
    rng : None, int or numpy.random.Generator
        Draws the sensing matrices.
    n_jobs : int, default 1
        Threads for the classical starts and the gradient evaluations.
    verbose : bool, default False
    checkpoint : str or path, optional
        Log of the L-BFGS run, written after every iteration; an interrupted run started again
        with it resumes bit for bit (``train_diffusion``'s ``checkpoint``).

    Returns
    -------
    model : cs_toolkit.learned.diffusion.DiffusionStages
    history : dict
        As returned by :func:`~cs_toolkit.learned.diffusion.train_diffusion`, plus ``samples_s``
        (time spent on the classical starts).
    """
    from ..learned.diffusion import DiffusionStages, train_diffusion

    if not isinstance(images, list | tuple) or not images:
        raise ValidationError("images must be a non-empty list of grey images.")
    ratios = tuple(float(check_scalar("ratios", r, low=0.0, high=1.0, low_inclusive=False)) for r in ratios)
    if not ratios:
        raise ValidationError("ratios must hold at least one measurement ratio.")
    rng = check_rng(rng)
    model = DiffusionStages(n_stages, filter_size=filter_size)
    t0 = time.perf_counter()
    train_set = training_samples(list(images), ratios, start=start, block_size=block_size, matrix=matrix,
                                 rng=rng, n_jobs=n_jobs)
    val_set = training_samples(list(validation), ratios, start=start, block_size=block_size, matrix=matrix,
                               rng=rng, n_jobs=n_jobs) if validation else None
    t_samples = time.perf_counter() - t0
    if verbose:
        print(f"{len(train_set)} training and {len(val_set or ())} validation starts ({start}) in "
              f"{t_samples:.0f} s", flush=True)
    hist = train_diffusion(model, train_set, validation=val_set, max_iter=max_iter, objective=objective,
                           n_threads=n_jobs, verbose=verbose, checkpoint=checkpoint)
    hist["samples_s"] = t_samples
    model.training_record = {"start": start, "ratios": list(ratios), "block_size": int(block_size),
                             "matrix": str(matrix), "objective": objective, "n_images": len(images),
                             "n_validation": len(validation),
                             "iterations": len(hist["iterations"]), "time_s": hist["time_s"] + t_samples,
                             "best_val_psnr_db": hist["best_val_psnr_db"] if val_set else None}
    return model, hist
