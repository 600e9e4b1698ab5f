"""Training the unrolled networks: NMSE, Adam, the layer-wise schedule, a one-call helper.

The schedule follows Chen et al. (2018) and Liu et al. (2019): for ``t = 1..T``

1. train the parameters of the new layer ``t`` alone (learning rate ``lr``),
2. train layers ``1..t`` jointly at ``lr * 0.2``,
3. and again at ``lr * 0.02``,

each stage scoring the output of layer ``t`` and running until the validation
NMSE has not improved for ``patience`` steps (or ``max_steps``), after which
the best weights of the stage are restored. ``schedule="joint"`` instead runs
the three learning rates on all layers at once. Every step draws a fresh
mini-batch from the source; a fresh Adam state starts each stage.

Three options make the schedule converge in far fewer steps (see :func:`train`):
``warm_start`` starts layer ``t`` from the trained layer ``t - 1`` when that
scores better than its initialisation, ``lr_scalar`` gives per-layer scalars
(thresholds, steps) a learning rate relative to their size, so that the tiny
thresholds of deep layers are tuned as finely as the large ones of the first
layers, and ``refine`` / ``refine_last`` restrict the finest refinement stage to
the last layer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from .._threads import blas_threads
from .._validation import (
    check_bool,
    check_int,
    check_option,
    check_rng,
    check_scalar,
    check_signals,
)
from ..exceptions import ValidationError
from ..metrics import nmse
from ._layers import as_sequence, npz_path
from .checkpoint import finetune_checkpoint
from .data import ArraySource
from .lista import MODEL_KINDS, UnrolledNetwork, make_model

__all__ = ["nmse_per_layer", "Adam", "Stage", "make_schedule", "TrainingHistory", "train",
           "pretrain_alista", "fine_tune", "pretrain_and_fine_tune", "train_reconstructor", "PRETRAIN_KINDS"]

#: model kinds :func:`pretrain_alista` can start from their tied form (those with ``from_alista``)
PRETRAIN_KINDS = tuple(k for k, cls in MODEL_KINDS.items() if hasattr(cls, "from_alista"))


def nmse_per_layer(model, Y, X) -> np.ndarray:
    """NMSE in dB of the output of every layer of ``model`` on ``(Y, X)``, shape ``(n_layers,)``
    (without the debiasing layer)."""
    return np.array([nmse(X, o, db=True, finite=False) for o in model.forward(Y, return_all=True, debias=False)])


class Adam:
    """Adam (Kingma & Ba 2015) over a dict of per-layer stacked arrays.

    Parameters
    ----------
    params : dict of ndarray
        The arrays to update in place (a model's :meth:`parameters`).
    lr : float, default 5e-4
    beta1, beta2, eps : float
        The usual constants (0.9, 0.999, 1e-8).
    scales : dict of ndarray, optional
        Per-layer factors of the learning rate, ``name -> array of shape (n_layers,)``
        (missing names: 1). :func:`train` uses them for learning rates relative
        to the size of each layer's scalars.
    """

    def __init__(self, params, lr=5e-4, beta1=0.9, beta2=0.999, eps=1e-8, scales=None):
        self.lr = check_scalar("lr", lr, low=0.0, low_inclusive=False)
        self.beta1 = check_scalar("beta1", beta1, low=0.0, high=1.0, high_inclusive=False)
        self.beta2 = check_scalar("beta2", beta2, low=0.0, high=1.0, high_inclusive=False)
        self.eps = check_scalar("eps", eps, low=0.0, low_inclusive=False)
        for k, v in params.items():  # updated in place: they must be float arrays
            if not isinstance(v, np.ndarray) or v.dtype not in (np.float32, np.float64):
                raise ValidationError(f"params[{k!r}] must be a float32 or float64 ndarray (updated in place), got "
                                      f"{type(v).__name__} of dtype {getattr(v, 'dtype', None)}.")
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.scales = {} if scales is None else {k: np.asarray(v, dtype=np.float64) for k, v in scales.items()}
        self.t = 0

    def step(self, params, grads, layers=slice(None)):
        """One update of ``params[k][layers]`` from ``grads[k][layers]`` (axis 0 is the layer)."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * np.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
        for k, p in params.items():
            g = grads[k][layers]
            m = self.m[k][layers]
            v = self.v[k][layers]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            upd = lr_t * m / (np.sqrt(v) + self.eps)
            if k in self.scales:
                s = self.scales[k][layers]
                upd = upd * s.reshape(s.shape + (1,) * (upd.ndim - 1))
            p[layers] -= upd.astype(p.dtype)


@dataclass
class Stage:
    """One training stage: score layer ``depth`` and train layers ``first..depth-1`` (0-based) at ``lr``.

    ``factor`` is ``lr`` divided by the base learning rate (1 for the "layer alone" stages).
    """

    name: str
    depth: int
    first: int
    lr: float
    factor: float = 1.0


def _factors(name, factors) -> tuple:
    """``refine`` / ``refine_last``: a sequence of positive learning-rate factors, as floats."""
    seq = as_sequence(name, factors, "positive learning-rate factors")
    return tuple(check_scalar(name, f, low=0.0, low_inclusive=False) for f in seq)


def make_schedule(n_layers, *, lr=5e-4, refine=(0.2, 0.02), schedule="layerwise", refine_last=()):
    """The list of :class:`Stage` of the layer-wise (or joint) schedule described in the module docstring.

    ``refine`` are the learning-rate factors of the refinement stages of every
    layer, ``refine_last`` extra factors run after them at the last layer only
    (e.g. ``refine=(0.2,), refine_last=(0.02,)``).
    """
    n_layers = check_int("n_layers", n_layers, low=1)
    lr = check_scalar("lr", lr, low=0.0, low_inclusive=False)
    check_option("schedule", schedule, ("layerwise", "joint"))
    refine, refine_last = _factors("refine", refine), _factors("refine_last", refine_last)
    stages = []
    if schedule == "joint":
        for f in (1.0,) + refine + refine_last:
            stages.append(Stage(f"all {n_layers} layers, lr={lr * f:.3g}", n_layers, 0, lr * f, f))
        return stages
    for t in range(1, n_layers + 1):
        stages.append(Stage(f"layer {t}/{n_layers} alone, lr={lr:.3g}", t, t - 1, lr, 1.0))
        for f in refine + (refine_last if t == n_layers else ()):
            stages.append(Stage(f"layers 1..{t}, lr={lr * f:.3g}", t, 0, lr * f, f))
    return stages


@dataclass
class TrainingHistory:
    """What :func:`train` did.

    Attributes
    ----------
    stages : list of dict
        Per stage: name, depth, lr, steps, best validation NMSE (dB), time (s).
    records : list of dict
        Every evaluation: stage index, step, training loss, validation NMSE (dB).
    val_nmse_db : ndarray of shape (n_layers,)
        Final validation NMSE of every layer.
    total_time_s : float
        Wall-clock training time (summed over resumed runs).
    resumed_from : dict or None
        ``{"stage": ..., "step": ...}`` when the run started from a checkpoint.
    """

    stages: list = field(default_factory=list)
    records: list = field(default_factory=list)
    val_nmse_db: np.ndarray | None = None
    total_time_s: float = 0.0
    resumed_from: dict | None = None


def train(model, source, *, lr=5e-4, lr_scalar=None, batch_size=64, schedule="layerwise", refine=(0.2, 0.02),
          refine_last=(), warm_start=True, max_steps=2000, patience=300, eval_every=25, n_val=1000,
          validation=None, rng=None, verbose=False, callback=None, n_threads=1, checkpoint=None,
          checkpoint_every=None):
    """Train an unrolled network in place with Adam and the layer-wise schedule.

    Parameters
    ----------
    model : UnrolledNetwork
        The network (its parameters are updated in place; the best weights of
        every stage are kept).
    source : SyntheticSource or ArraySource
        Any object with ``sample(n, rng) -> (Y, C)`` and ``validation_set(n, rng)``.
    lr : float, default 5e-4
        Learning rate of the first stage of each layer (Adam; the papers use 5e-4, batch 64).
    lr_scalar : float, optional
        Learning rate of the per-layer scalars (thresholds, steps, ALISTA's
        ``gamma``) *relative to their size*: Adam's update of layer ``t``'s
        scalar is multiplied by its magnitude at the start of the stage (at
        least 1 % of the largest one). Thresholds shrink by orders of magnitude
        from the first to the last layer; an absolute learning rate is either
        too coarse for the last layers or too slow for the first. Scaled by the
        stage's factor like ``lr``. None: the scalars use ``lr`` like the matrices.
    batch_size : int, default 64
    schedule : {'layerwise', 'joint'}, default 'layerwise'
    refine : tuple of float, default (0.2, 0.02)
        Learning-rate factors of the refinement stages of every layer.
    refine_last : tuple of float, default ()
        Extra refinement factors run at the last layer only.
    warm_start : bool, default True
        Before layer ``t`` is trained alone, copy the trained layer ``t - 1``
        into it (also with its thresholds scaled by the decay between layers
        ``t - 2`` and ``t - 1``) when that scores better on the validation set
        than its initialisation.
    max_steps : int, default 2000
        Most steps of one stage.
    patience : int, default 300
        A stage ends when the validation NMSE has not improved for this many steps.
    eval_every : int, default 25
        Steps between validation evaluations.
    n_val : int, default 1000
        Size of the validation set drawn from the source (ignored with ``validation``).
    validation : tuple (Y_val, C_val), optional
        A fixed validation set.
    rng : None, int or Generator
        Generator of the validation set and of the mini-batches: training is reproducible from it.
    verbose : bool, default False
        Print one line per stage and the per-layer validation NMSE in dB.
    callback : callable, optional
        ``callback(stage, step, metrics)`` at every evaluation; ``stage`` is the
        :class:`Stage`, ``metrics`` a dict with ``loss``, ``val_nmse_db``, ``lr``.
    n_threads : int or None, default 1
        BLAS threads during training (threadpoolctl when installed; None leaves
        the setting alone). The GEMMs of a mini-batch are small: one thread is
        fastest, and far faster than several on a busy machine.
    checkpoint : str or os.PathLike, optional
        Checkpoint file (``.npz``, written atomically). When it exists, training
        resumes from it and ends with the same weights as an uninterrupted run;
        it must have been written by a call with the same model, source, options
        and ``rng`` seed. It is written at the end of every stage and every
        ``checkpoint_every`` steps (see :mod:`cs_toolkit.learned.checkpoint`).
    checkpoint_every : int, optional
        Steps between checkpoints inside a stage (default: only at stage ends).

    Returns
    -------
    TrainingHistory

    Raises
    ------
    ValidationError
        Bad arguments, or a ``checkpoint`` written with other settings.
    ModelFileError
        A ``checkpoint`` file that is corrupt or not a checkpoint.

    Notes
    -----
    Thresholds are projected onto ``theta >= 0`` after every step.
    """
    if not isinstance(model, UnrolledNetwork):
        raise ValidationError(f"model must be an UnrolledNetwork (e.g. LISTA), got {type(model).__name__}.")
    if not (hasattr(source, "sample") and hasattr(source, "validation_set")):
        raise ValidationError(f"source must be a SyntheticSource or ArraySource, got {type(source).__name__}.")
    if (source.n_measurements, source.n_components) != (model.n_measurements, model.n_components):
        raise ValidationError(
            f"source produces (m, n) = {(source.n_measurements, source.n_components)} but the model expects "
            f"{(model.n_measurements, model.n_components)}."
        )
    lr = check_scalar("lr", lr, low=0.0, low_inclusive=False)
    if lr_scalar is not None:
        lr_scalar = check_scalar("lr_scalar", lr_scalar, low=0.0, low_inclusive=False)
    batch_size = check_int("batch_size", batch_size, low=1)
    max_steps = check_int("max_steps", max_steps, low=1)
    patience = check_int("patience", patience, low=1)
    eval_every = check_int("eval_every", eval_every, low=1)
    warm_start, verbose = check_bool("warm_start", warm_start), check_bool("verbose", verbose)
    refine, refine_last = _factors("refine", refine), _factors("refine_last", refine_last)
    if checkpoint_every is not None:
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise ValidationError(f"checkpoint must be a file path, got {type(checkpoint).__name__}.")
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable, got {type(callback).__name__}.")
    rng = check_rng(rng)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, low=1)
    stages = make_schedule(model.n_layers, lr=lr, refine=refine, schedule=schedule, refine_last=refine_last)
    opts = dict(lr=lr, lr_scalar=lr_scalar, batch_size=batch_size, schedule=schedule,
                refine=list(refine), refine_last=list(refine_last),
                warm_start=warm_start, max_steps=max_steps, patience=patience, eval_every=eval_every)
    with blas_threads(n_threads):
        return _train(model, source, stages, opts, n_val, validation, rng, verbose, callback, checkpoint,
                      checkpoint_every)


def _scalar_scales(params, depth, lr_scalar, lr):
    """Per-layer lr factors making the scalars' learning rate ``lr_scalar * |p_t|``."""
    if lr_scalar is None:
        return {}
    scales = {}
    for k, p in params.items():
        if p.ndim != 1:
            continue
        a = np.abs(p.astype(np.float64))
        floor = 0.01 * float(np.max(a[:depth])) if depth > 0 else 0.0
        scales[k] = np.maximum(a, max(floor, 1e-12)) * (lr_scalar / lr)
    return scales


def _warm_start(model, depth, Yv, Cv):
    """Start layer ``depth`` (1-based, >= 2) from layer ``depth - 1`` when that scores better."""
    t = depth - 1
    params = model.get_parameters()
    best = nmse(Cv, model.forward(Yv, n_layers=depth, debias=False), db=True, finite=False)
    best_params = params
    copy = {k: v.copy() for k, v in params.items()}
    for v in copy.values():
        v[t] = v[t - 1]
    cands = [copy]
    if t >= 2 and "theta" in params and params["theta"][t - 2] > 0:
        ratio = float(params["theta"][t - 1] / params["theta"][t - 2])
        scaled = {k: v.copy() for k, v in copy.items()}
        scaled["theta"][t] = params["theta"][t - 1] * min(max(ratio, 0.05), 1.0)
        cands.append(scaled)
    for c in cands:
        model.set_parameters(c)
        val = nmse(Cv, model.forward(Yv, n_layers=depth, debias=False), db=True, finite=False)
        if np.isfinite(val) and val < best:
            best, best_params = val, c
    model.set_parameters(best_params)


def _validation_pair(validation, model):
    """The checked fixed validation set ``(Y_val, C_val)`` of :func:`train`, in the model's dtype."""
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise ValidationError(f"validation must be a pair (Y_val, C_val) of measurements and codes, got "
                              f"{type(validation).__name__} {validation!r:.80}.")
    Yv, _ = check_signals(validation[0], "validation[0]", n_features=model.n_measurements, dtype=model.dtype)
    Cv, _ = check_signals(validation[1], "validation[1]", n_features=model.n_components, dtype=model.dtype)
    if Yv.shape[0] != Cv.shape[0]:
        raise ValidationError(f"validation must pair every measurement row with its code: Y_val has {Yv.shape[0]} "
                              f"rows (shape {Yv.shape}) but C_val has {Cv.shape[0]} (shape {Cv.shape}).")
    return Yv, Cv


def _train(model, source, stages, opts, n_val, validation, rng, verbose, callback, checkpoint, checkpoint_every):
    if checkpoint is not None:
        from . import checkpoint as ckpt
    if validation is None:
        Yv, Cv = source.validation_set(check_int("n_val", n_val, low=1), rng)
    else:
        Yv, Cv = _validation_pair(validation, model)
    Yv = np.asarray(Yv, dtype=model.dtype)
    lr, lr_scalar = opts["lr"], opts["lr_scalar"]
    max_steps, patience, eval_every = opts["max_steps"], opts["patience"], opts["eval_every"]
    hist = TrainingHistory()
    fingerprint = None
    state = None
    if checkpoint is not None:
        fingerprint = ckpt.fingerprint(model, source, stages, opts, Yv, Cv)
        if os.path.exists(npz_path(checkpoint)):
            state = ckpt.load_checkpoint(checkpoint, model, fingerprint, type(rng.bit_generator))
    t_start = time.perf_counter()
    elapsed_before = 0.0
    si0 = 0
    if state is not None:
        model.set_parameters(state["params"])
        rng.bit_generator.state = state["rng_state"]
        hist.stages, hist.records = state["stages"], state["records"]
        elapsed_before = state["elapsed_s"]
        si0 = state["stage"]
        hist.resumed_from = {"stage": si0, "step": state["step"]}
    params = model.parameters()
    if verbose:
        print(f"training {model!r}: {len(stages)} stages, batch {opts['batch_size']}, lr {lr:g}"
              f"{'' if lr_scalar is None else f' (scalars {lr_scalar:g} relative)'}, patience {patience}, "
              f"max {max_steps} steps/stage; load average {os.getloadavg()[0]:.2f}", flush=True)
        if state is not None:
            print(f"  resumed from {os.fspath(checkpoint)} at stage {si0 + 1}, step {state['step']}", flush=True)

    def save(si, st_state):
        ckpt.save_checkpoint(checkpoint, model, fingerprint, stage=si, rng=rng, stages=hist.stages,
                             records=hist.records,
                             elapsed_s=elapsed_before + time.perf_counter() - t_start, **st_state)

    for si in range(si0, len(stages)):
        st = stages[si]
        t0 = time.perf_counter()
        sl = slice(st.first, st.depth)
        if state is not None and state["started"]:  # resume inside this stage
            opt = Adam(params, lr=st.lr, scales=state["scales"])
            opt.m, opt.v, opt.t = state["adam_m"], state["adam_v"], state["adam_t"]
            best, best_params = state["best"], state["best_params"]
            since, step, loss = state["since"], state["step"], state["loss"]
            t0 -= state["stage_elapsed_s"]
        else:
            if (opts["warm_start"] and opts["schedule"] == "layerwise" and st.first == st.depth - 1
                    and st.depth >= 2):
                _warm_start(model, st.depth, Yv, Cv)
                params = model.parameters()
            opt = Adam(params, lr=st.lr, scales=_scalar_scales(params, st.depth, lr_scalar, lr))
            best = nmse(Cv, model.forward(Yv, n_layers=st.depth, debias=False), db=True, finite=False)
            best_params = model.get_parameters()
            since, step, loss = 0, 0, float("nan")
        state = None
        while step < max_steps and since < patience:
            Y, C = source.sample(opts["batch_size"], rng)
            loss, grads = model.loss_and_grad(Y, C, n_layers=st.depth, first_layer=st.first)
            if not np.isfinite(loss):
                break
            opt.step(params, grads, sl)
            if "theta" in params:
                np.maximum(params["theta"], 0, out=params["theta"])
            step += 1
            since += 1
            if step % eval_every == 0:
                val = nmse(Cv, model.forward(Yv, n_layers=st.depth, debias=False), db=True, finite=False)
                if val < best:
                    best, since = val, 0
                    best_params = model.get_parameters()
                rec = {"stage": si, "step": step, "loss": float(loss), "val_nmse_db": float(val), "lr": st.lr}
                hist.records.append(rec)
                if callback is not None:
                    callback(st, step, dict(rec))
            if (checkpoint is not None and checkpoint_every is not None and step % checkpoint_every == 0
                    and step < max_steps and since < patience):
                save(si, dict(started=True, step=step, since=since, best=best, loss=float(loss),
                              best_params=best_params, adam=opt, stage_elapsed_s=time.perf_counter() - t0))
        model.set_parameters(best_params)
        params = model.parameters()
        dt = time.perf_counter() - t0
        hist.stages.append({"name": st.name, "depth": st.depth, "lr": st.lr, "steps": step,
                            "best_val_nmse_db": float(best), "time_s": dt})
        if checkpoint is not None:
            save(si + 1, dict(started=False))
        if verbose:
            print(f"  stage {si + 1:3d}/{len(stages)} {st.name:32s} {step:6d} steps  "
                  f"loss {loss:9.3g}  val NMSE {best:8.2f} dB  {dt:7.1f} s", flush=True)
    hist.total_time_s = elapsed_before + time.perf_counter() - t_start
    hist.val_nmse_db = nmse_per_layer(model, Yv, Cv)
    if verbose:
        per = " ".join(f"{v:.1f}" for v in hist.val_nmse_db)
        print(f"validation NMSE per layer (dB): {per}")
        print(f"total training time {hist.total_time_s:.1f} s")
    return hist


def pretrain_alista(model, source, *, rng=None, verbose=False, **train_options) -> TrainingHistory:
    """Start a LISTA, LISTA-CP or LISTA-CPSS network from a trained ALISTA network (its tied form).

    ALISTA's layer ``x + gamma_t W^T (y - A x)`` with the analytic ``W`` is the
    layer of LISTA-CP with ``W_t = gamma_t W`` (and of LISTA with ``W_t = gamma_t W^T``,
    ``S_t = I - gamma_t W^T A``): the same network restricted to two scalars per
    layer. Those train in a few thousand steps, far fewer than the free weights
    need, and Liu et al. (2019) find that trained LISTA-CP weights end close to
    the analytic ones anyway. This builds the ALISTA network of ``model``'s operator
    (same layers, dictionary, ``lam``, dtype and support selection: none for LISTA
    and LISTA-CP, ``p_inc``/``p_max`` of LISTA-CPSS), trains it with
    :func:`train` and copies it into ``model``. Then train every weight with
    :func:`fine_tune` (or both in one call: :func:`pretrain_and_fine_tune`).

    Parameters
    ----------
    model : LISTA, LISTA_CP or LISTA_CPSS
        Its parameters are replaced in place.
    source, rng, verbose, **train_options
        As in :func:`train`.

    Returns
    -------
    TrainingHistory
        Of the ALISTA training.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.learned import LISTA_CP, SyntheticSource, fine_tune, pretrain_alista
    >>> A = np.random.default_rng(0).standard_normal((20, 40)) / np.sqrt(20)
    >>> net = LISTA_CP(A, n_layers=3)
    >>> hist = pretrain_alista(net, SyntheticSource(A, p=0.1), max_steps=20, patience=10, eval_every=5,
    ...                        n_val=50, rng=0)
    >>> hist = fine_tune(net, SyntheticSource(A, p=0.1), max_steps=20, patience=10, eval_every=5, n_val=50, rng=1)
    """
    from .lista import ALISTA, LISTA, LISTA_CP

    if not isinstance(model, LISTA | LISTA_CP):
        raise ValidationError(f"model must be a LISTA, LISTA_CP or LISTA_CPSS network, got {type(model).__name__}.")
    verbose = check_bool("verbose", verbose)
    p_max = model.p_max if model.support_selection else 0.0
    tied = ALISTA(model.sensing_matrix, model.n_layers, dictionary=model.dictionary, lam=model.lam,
                  step=model.step, dtype=model.dtype, p_inc=model.p_inc, p_max=p_max)
    if verbose:
        sel = f"p_inc={tied.p_inc:g}, p_max={tied.p_max:g}" if p_max > 0 else "without support selection"
        print(f"pretraining {model!r} as its tied form, ALISTA {sel}", flush=True)
    hist = train(tied, source, rng=rng, verbose=verbose, **train_options)
    model.set_parameters(type(model).from_alista(tied).get_parameters())
    return hist


def fine_tune(model, source, *, lr=1e-5, lr_scalar=5e-4, batch_size=256, max_steps=2000, patience=600,
              eval_every=50, **train_options) -> TrainingHistory:
    """Train every weight of every layer in one stage at a small learning rate on large batches.

    The step after :func:`pretrain_alista`: the pretrained network is already
    accurate, so the stage scores the last layer only, with learning rates a
    hundredth of the layer-wise schedule's and batches of 256 (less gradient
    noise); the best-weights restore keeps the start when nothing improves on the
    validation set. The defaults are those of ``benchmarks/learned.py``.

    Parameters
    ----------
    model, source
        As in :func:`train`.
    lr, lr_scalar, batch_size, max_steps, patience, eval_every
        As in :func:`train`, with the defaults of this stage.
    **train_options
        Passed to :func:`train` (``rng``, ``validation``, ``n_val``, ``verbose``, ``checkpoint``, ...);
        ``schedule``, ``refine`` and ``refine_last`` are set here.

    Returns
    -------
    TrainingHistory
    """
    fixed = {"schedule", "refine", "refine_last"} & set(train_options)
    if fixed:
        raise ValidationError(f"fine_tune sets {sorted(fixed)} itself (one joint stage); do not pass them.")
    return train(model, source, schedule="joint", refine=(), refine_last=(), lr=lr, lr_scalar=lr_scalar,
                 batch_size=batch_size, max_steps=max_steps, patience=patience, eval_every=eval_every,
                 **train_options)


def train_reconstructor(signals, A, dictionary=None, *, kind="alista", n_layers=16, codes=None, snr_db=None,
                        dtype=np.float32, rng=None, verbose=False, pretrain=False, **train_options):
    """Train a network that reconstructs user signals from ``y = A s`` through a basis ``Psi``.

    Parameters
    ----------
    signals : array_like of shape (n_signals, n_features)
        Training signals (image patches, audio frames), rows.
    A : array_like of shape (m, n_features)
        Sensing matrix.
    dictionary : array_like of shape (n_features, n), optional
        Basis ``Psi`` (e.g. the orthonormal 2-D DCT); see :class:`ArraySource`.
    kind : {'lista', 'lista_cp', 'lista_cpss', 'alista', 'fista', 'lamp'}, default 'alista'
    n_layers : int, default 16
    codes : array_like, optional
        Codes of the signals in ``Psi`` (needed for a non-square dictionary).
    snr_db : float, optional
        Measurement SNR for training.
    dtype, rng, verbose
        As in :func:`train`.
    pretrain : bool, default False
        LISTA, LISTA-CP and LISTA-CPSS only: train their tied ALISTA form with
        ``train_options`` (:func:`pretrain_alista`), then :func:`fine_tune`
        every weight with its defaults or a ``finetune`` dict of options (see
        :func:`pretrain_and_fine_tune`, which also says where checkpoints go).
    **train_options
        Passed to :func:`train` (``lr``, ``max_steps``, ``patience``, ...).

    Returns
    -------
    model : UnrolledNetwork
        Use ``model.reconstruct(Y)`` to get signals back from measurements ``Y = S @ A.T``.
    history : TrainingHistory
        Of the layer-wise training (with ``pretrain``: of the fine-tuning).
    """
    check_option("kind", kind, MODEL_KINDS)
    pretrain, verbose = check_bool("pretrain", pretrain), check_bool("verbose", verbose)
    if pretrain and kind not in PRETRAIN_KINDS:
        raise ValidationError(f"pretrain=True needs kind 'lista', 'lista_cp' or 'lista_cpss', got {kind!r}.")
    rng = check_rng(rng)
    source = ArraySource(signals, A, dictionary, codes=codes, snr_db=snr_db, dtype=dtype, rng=rng)
    model = make_model(kind, A, n_layers, dictionary=dictionary, dtype=dtype)
    Yv, Cv = source.validation_set(rng=rng)
    if not pretrain:
        hist = train(model, source, validation=(Yv, Cv), rng=rng, verbose=verbose, **train_options)
        return model, hist
    hist = pretrain_and_fine_tune(model, source, validation=(Yv, Cv), rng=rng, verbose=verbose, **train_options)
    return model, hist


def pretrain_and_fine_tune(model, source, *, finetune=None, **train_options) -> TrainingHistory:
    """:func:`pretrain_alista` with ``train_options``, then :func:`fine_tune`.

    The fine-tuning gets the options of ``train_options`` that are not about the
    learning schedule (``rng``, ``validation``, ``n_val``, ``verbose``,
    ``n_threads``, ``callback``, ``checkpoint_every``) plus ``finetune`` (a dict,
    e.g. ``{"max_steps": 500}``). A ``checkpoint`` names the file of the
    pretraining; the fine-tuning writes ``<checkpoint stem>-finetune.npz``.
    Returns the history of the fine-tuning.
    """
    if finetune is not None and not isinstance(finetune, dict):
        raise ValidationError(f"finetune must be a dict of fine_tune options, got {type(finetune).__name__}.")
    train_options["rng"] = check_rng(train_options.get("rng"))  # one stream: fine-tuning draws new batches
    pretrain_alista(model, source, **train_options)
    keep = ("rng", "validation", "n_val", "verbose", "n_threads", "callback", "checkpoint_every")
    tune = {k: train_options[k] for k in keep if k in train_options}
    if train_options.get("checkpoint") is not None:
        tune["checkpoint"] = finetune_checkpoint(train_options["checkpoint"])
    tune.update(finetune or {})
    return fine_tune(model, source, **tune)

