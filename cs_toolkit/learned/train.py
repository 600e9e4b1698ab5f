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
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_option, check_rng, check_scalar, check_signals
from ..exceptions import ValidationError
from .data import ArraySource
from .lista import MODEL_KINDS, UnrolledNetwork, make_model

__all__ = ["nmse_db", "nmse_per_layer", "Adam", "Stage", "make_schedule", "TrainingHistory", "train",
           "train_reconstructor"]


def nmse_db(X_hat, X) -> float:
    """``10 log10(sum ||x_hat - x||^2 / sum ||x||^2)`` over a batch (dB)."""
    X_hat = np.asarray(X_hat, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X_hat.shape != X.shape:
        raise ValidationError(f"X_hat and X must have the same shape, got {X_hat.shape} and {X.shape}.")
    den = float(np.sum(X * X))
    if den == 0.0:
        raise ValidationError("X is all zeros; the NMSE is undefined.")
    return 10.0 * np.log10(max(float(np.sum((X_hat - X) ** 2)), 1e-300) / den)


def nmse_per_layer(model, Y, X) -> np.ndarray:
    """NMSE in dB of the output of every layer of ``model`` on ``(Y, X)``, shape ``(n_layers,)``."""
    return np.array([nmse_db(o, X) for o in model.forward(Y, return_all=True)])


class Adam:
    """Adam (Kingma & Ba 2015) over a dict of per-layer stacked arrays.

    Parameters
    ----------
    params : dict of ndarray
        The arrays to update in place (a model's :meth:`parameters`).
    lr : float, default 5e-4
    beta1, beta2, eps : float
        The usual constants (0.9, 0.999, 1e-8).
    """

    def __init__(self, params, lr=5e-4, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr = check_scalar("lr", lr, low=0.0, low_inclusive=False)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
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
            p[layers] -= (lr_t * m / (np.sqrt(v) + self.eps)).astype(p.dtype)


@dataclass
class Stage:
    """One training stage: score layer ``depth`` and train layers ``first..depth-1`` (0-based) at ``lr``."""

    name: str
    depth: int
    first: int
    lr: float


def make_schedule(n_layers, *, lr=5e-4, refine=(0.2, 0.02), schedule="layerwise"):
    """The list of :class:`Stage` of the layer-wise (or joint) schedule described in the module docstring."""
    n_layers = check_int("n_layers", n_layers, low=1)
    check_option("schedule", schedule, ("layerwise", "joint"))
    stages = []
    if schedule == "joint":
        for f in (1.0,) + tuple(refine):
            stages.append(Stage(f"all {n_layers} layers, lr={lr * f:.3g}", n_layers, 0, lr * f))
        return stages
    for t in range(1, n_layers + 1):
        stages.append(Stage(f"layer {t}/{n_layers} alone, lr={lr:.3g}", t, t - 1, lr))
        for f in refine:
            stages.append(Stage(f"layers 1..{t}, lr={lr * f:.3g}", t, 0, lr * f))
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
        Wall-clock training time.
    """

    stages: list = field(default_factory=list)
    records: list = field(default_factory=list)
    val_nmse_db: np.ndarray | None = None
    total_time_s: float = 0.0


def train(model, source, *, lr=5e-4, batch_size=64, schedule="layerwise", refine=(0.2, 0.02),
          max_steps=2000, patience=300, eval_every=25, n_val=1000, validation=None, rng=None,
          verbose=False, callback=None, n_threads=1):
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
    batch_size : int, default 64
    schedule : {'layerwise', 'joint'}, default 'layerwise'
    refine : tuple of float, default (0.2, 0.02)
        Learning-rate factors of the refinement stages.
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

    Returns
    -------
    TrainingHistory

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
    batch_size = check_int("batch_size", batch_size, low=1)
    max_steps = check_int("max_steps", max_steps, low=1)
    patience = check_int("patience", patience, low=1)
    eval_every = check_int("eval_every", eval_every, low=1)
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable, got {type(callback).__name__}.")
    rng = check_rng(rng)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, low=1)
    with _blas_threads(n_threads):
        return _train(model, source, lr, batch_size, schedule, refine, max_steps, patience, eval_every,
                      n_val, validation, rng, verbose, callback)


@contextlib.contextmanager
def _blas_threads(n):
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional dependency
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def _train(model, source, lr, batch_size, schedule, refine, max_steps, patience, eval_every, n_val,
           validation, rng, verbose, callback):
    if validation is None:
        Yv, Cv = source.validation_set(check_int("n_val", n_val, low=1), rng)
    else:
        Yv, _ = check_signals(validation[0], "validation[0]", n_features=model.n_measurements, dtype=model.dtype)
        Cv, _ = check_signals(validation[1], "validation[1]", n_features=model.n_components, dtype=model.dtype)
    Yv = np.asarray(Yv, dtype=model.dtype)
    stages = make_schedule(model.n_layers, lr=lr, refine=tuple(refine), schedule=schedule)
    hist = TrainingHistory()
    params = model.parameters()
    t_start = time.perf_counter()
    if verbose:
        print(f"training {model!r}: {len(stages)} stages, batch {batch_size}, lr {lr:g}, "
              f"patience {patience}, max {max_steps} steps/stage; load average {os.getloadavg()[0]:.2f}")
    for si, st in enumerate(stages):
        t0 = time.perf_counter()
        opt = Adam(params, lr=st.lr)
        sl = slice(st.first, st.depth)
        best = nmse_db(model.forward(Yv, n_layers=st.depth), Cv)
        best_params = model.get_parameters()
        since, step, loss = 0, 0, float("nan")
        while step < max_steps and since < patience:
            Y, C = source.sample(batch_size, rng)
            loss, grads = model.loss_and_grad(Y, C, n_layers=st.depth, first_layer=st.first)
            if not np.isfinite(loss):
                break
            opt.step(params, grads, sl)
            if "theta" in params:
                np.maximum(params["theta"], 0, out=params["theta"])
            step += 1
            since += 1
            if step % eval_every == 0:
                val = nmse_db(model.forward(Yv, n_layers=st.depth), Cv)
                if val < best:
                    best, since = val, 0
                    best_params = model.get_parameters()
                rec = {"stage": si, "step": step, "loss": loss, "val_nmse_db": val, "lr": st.lr}
                hist.records.append(rec)
                if callback is not None:
                    callback(st, step, dict(rec))
        model.set_parameters(best_params)
        params = model.parameters()
        dt = time.perf_counter() - t0
        hist.stages.append({"name": st.name, "depth": st.depth, "lr": st.lr, "steps": step,
                            "best_val_nmse_db": best, "time_s": dt})
        if verbose:
            print(f"  stage {si + 1:3d}/{len(stages)} {st.name:32s} {step:6d} steps  "
                  f"loss {loss:9.3g}  val NMSE {best:8.2f} dB  {dt:7.1f} s", flush=True)
    hist.total_time_s = time.perf_counter() - t_start
    hist.val_nmse_db = nmse_per_layer(model, Yv, Cv)
    if verbose:
        per = " ".join(f"{v:.1f}" for v in hist.val_nmse_db)
        print(f"validation NMSE per layer (dB): {per}")
        print(f"total training time {hist.total_time_s:.1f} s")
    return hist


def train_reconstructor(signals, A, dictionary=None, *, kind="alista", n_layers=16, codes=None, snr_db=None,
                        dtype=np.float32, rng=None, verbose=False, **train_options):
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
    **train_options
        Passed to :func:`train` (``lr``, ``max_steps``, ``patience``, ...).

    Returns
    -------
    model : UnrolledNetwork
        Use ``model.reconstruct(Y)`` to get signals back from measurements ``Y = S @ A.T``.
    history : TrainingHistory
    """
    check_option("kind", kind, MODEL_KINDS)
    rng = check_rng(rng)
    source = ArraySource(signals, A, dictionary, codes=codes, snr_db=snr_db, dtype=dtype, rng=rng)
    model = make_model(kind, A, n_layers, dictionary=dictionary, dtype=dtype)
    Yv, Cv = source.validation_set(rng=rng)
    hist = train(model, source, validation=(Yv, Cv), rng=rng, verbose=verbose, **train_options)
    return model, hist

