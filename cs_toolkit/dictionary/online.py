"""Online dictionary learning (Mairal, Bach, Ponce & Sapiro, 2009)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._threads import blas_single_thread, numba_threads
from .._validation import check_int, check_scalar
from ..exceptions import DeadAtomWarning, ValidationError
from . import _checkpoint
from ._common import (
    DictionaryLearningResult,
    check_common,
    initial_dictionary,
    make_coder,
    replace_dead_atoms,
)
from ._ksvd_numba import _accumulate_stats, _bcd_update

__all__ = ["online_dictionary_learning"]


def _forget(t, batch_size):
    """Mairal et al. (2009), section 3.4: weight of the past statistics at mini-batch ``t >= 1``."""
    eta = batch_size
    theta = t * eta if t < eta else eta * eta + t - eta
    return (theta + 1.0 - eta) / (theta + 1.0)


def _evaluate(code, D, X, xnorm, hist, t, t_start, replaced):
    """Code all of ``X`` with ``D`` and append the error to ``hist`` with the training time since
    ``t_start`` (evaluation time excluded); returns the codes and the time the evaluation took."""
    t_eval = time.perf_counter()
    C = code(D, X)
    hist["iteration"].append(t)
    hist["error"].append(float(np.linalg.norm(X - C @ D.T) / xnorm))
    hist["time"].append(t_eval - t_start)
    hist["replaced"].append(replaced)
    return C, time.perf_counter() - t_eval


def online_dictionary_learning(X, n_atoms, *, n_nonzero_coefs=None, lam=None, coder="omp", batch_size=256,
                               n_epochs=1, max_iter=None, tol=None, forget=None, n_sweeps=1, shuffle=True,
                               init="data", rng=None, callback=None, progress=False, replace_dead=True,
                               coder_options=None, checkpoint=None, checkpoint_every=100, eval_every=None):
    """Learn a dictionary online from mini-batches (Mairal et al., 2009).

    For each mini-batch: sparse-code it with the current dictionary, accumulate the
    statistics ``A = beta A + sum a a^T`` and ``B = beta B + sum x a^T``, then run
    block-coordinate descent on the atoms warm-started at the current dictionary:
    ``u_j = d_j + (b_j - D a_j) / A_jj``, ``d_j = u_j / ||u_j||``.

    Parameters
    ----------
    X : ndarray of shape (n_signals, n_features)
        Training signals (rows); float32 stays float32.
    n_atoms : int
        Number of atoms.
    n_nonzero_coefs : int, optional
        Sparsity of the ``"omp"``/``"threshold"`` coders (clipped with a
        ``SparsityClippedWarning`` above ``min(n_features, n_atoms)``).
    lam : float, optional
        l1 penalty of the ``"fista"`` coder.
    coder : {"omp", "fista", "threshold"} or callable, default "omp"
        Sparse coder, see :func:`sparse_encode`.
    batch_size : int, default 256
        Signals per mini-batch.
    n_epochs : int, default 1
        Passes over the data (ignored when ``max_iter`` is given).
    max_iter : int, optional
        Number of mini-batches to process (overrides ``n_epochs``).
    tol : float, optional
        Error target of the ``"omp"`` coder.
    forget : float in (0, 1], optional
        Constant weight ``beta`` of the past statistics; default: the schedule of
        Mairal et al. (2009, section 3.4), which forgets the early, poor codes.
    n_sweeps : int, default 1
        Block-coordinate sweeps over the atoms per mini-batch.
    shuffle : bool, default True
        Visit the signals in a random order (from ``rng``) each epoch.
    init, rng, callback, progress, replace_dead, coder_options
        As in :func:`ksvd`. Unused atoms (``A_jj`` negligible) and duplicates are
        replaced every 10 mini-batches by residuals of the current mini-batch. The
        callback runs after each epoch.
    checkpoint : str or path-like, optional
        Checkpoint file (``.npz`` appended when missing). Every ``checkpoint_every``
        mini-batches the state (dictionary, statistics ``A`` and ``B``, the position in
        the data stream, history, random state and a fingerprint of the settings and of
        ``X``) is written there atomically; an existing checkpoint is resumed from, with
        the same result as an uninterrupted run. Other settings or data: refused with a
        ``ValidationError``; a corrupt file: ``ModelFileError``. Deleted at the end of a
        finished run.
    checkpoint_every : int, default 100
        Mini-batches between checkpoints.
    eval_every : int, optional
        Also evaluate the error over the whole ``X`` every ``eval_every`` mini-batches (a
        learning curve within an epoch; the evaluations are not counted as training time);
        default: only at the end of each epoch.

    Returns
    -------
    DictionaryLearningResult
        ``history`` has one entry per epoch and per ``eval_every`` mini-batches
        (``"iteration"`` = mini-batches processed);
        ``"error"`` is the exact relative error of the whole ``X`` coded with the
        dictionary at that point; ``"time"`` is the training time until then, without
        these evaluation passes over ``X``; ``codes`` are those of the last entry.

    See Also
    --------
    ksvd, mod

    Notes
    -----
    J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online dictionary learning for sparse
    coding", ICML 2009. Unlike the paper (``||d_j|| <= 1``), atoms are kept at unit norm,
    which is what OMP coding expects.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((500, 16))
    >>> res = online_dictionary_learning(X, 24, n_nonzero_coefs=3, batch_size=50, n_epochs=2, rng=0)
    >>> res.n_iter
    20
    """
    X, n_atoms, _, _ = check_common(X, n_atoms, 1, None, callback)
    ckpt = _checkpoint.checkpoint_path(checkpoint)
    every = _checkpoint.check_every(checkpoint_every)
    n_signals, n_features = X.shape
    batch_size = min(check_int("batch_size", batch_size, low=1), n_signals)
    n_batches_epoch = -(-n_signals // batch_size)
    if max_iter is None:
        n_epochs = check_int("n_epochs", n_epochs, low=1)
        total = n_epochs * n_batches_epoch
    else:
        total = check_int("max_iter", max_iter, low=1)
    if forget is not None:
        forget = check_scalar("forget", forget, low=0.0, high=1.0, low_inclusive=False)
    n_sweeps = check_int("n_sweeps", n_sweeps, low=1)
    if eval_every is not None:
        eval_every = check_int("eval_every", eval_every, low=1)
    code = make_coder(coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, lam=lam,
                      n_features=n_features, n_atoms=n_atoms, coder_options=coder_options)
    rng, fp, reader = _checkpoint.start(ckpt, X, rng, dict(
        method="online", n_atoms=n_atoms, n_nonzero_coefs=n_nonzero_coefs, lam=lam, coder=coder,
        batch_size=batch_size, total=total, tol=tol, forget=forget, n_sweeps=n_sweeps,
        shuffle=bool(shuffle), init=init, replace_dead=bool(replace_dead), coder_options=coder_options))
    dt = X.dtype
    xnorm = float(np.linalg.norm(X))
    total_replaced = 0
    replaced_since = 0
    t = 0
    b = 0  # next mini-batch of the current epoch
    order = None  # visiting order of the current epoch (None: a new epoch starts)
    if reader is None:
        D = initial_dictionary(X, n_atoms, init, rng)
        A = np.zeros((n_atoms, n_atoms), dtype=dt)
        B = np.zeros((n_features, n_atoms), dtype=dt)
        hist = {"iteration": [], "error": [], "time": [], "replaced": []}
        train_time = 0.0
    else:
        t = reader.int("iteration", 1, total - 1)
        b = reader.int("batch_in_epoch", 1, n_batches_epoch)
        n_eval = reader.int("n_evaluations", 0, t)
        hist = reader.history(n_eval)
        total_replaced = reader.int("total_replaced", 0, 2**62)
        replaced_since = reader.int("replaced_since", 0, 2**62)
        train_time = reader.float("train_time")
        D = reader.array("dictionary", (n_features, n_atoms), dt).copy()
        A = reader.array("A", (n_atoms, n_atoms), dt).copy()
        B = reader.array("B", (n_features, n_atoms), dt).copy()
        order = reader.array("order", (n_signals,), np.int64).copy()
        if not np.array_equal(np.sort(order), np.arange(n_signals)):
            reader.fail("'order' is not a permutation of the signals")
    dead_flags = np.zeros(n_atoms, dtype=np.bool_)
    eval_total = 0.0  # time not counted as training: evaluations over X, checkpoints
    t0 = time.perf_counter() - train_time
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=t, desc="online", leave=False)
    C = None
    try:
        # one BLAS thread for the loop's products (those of a mini-batch are small; the coder
        # forms its correlations inside its parallel kernel): a threaded product leaves
        # OpenBLAS threads spinning on the cores the next parallel coding needs
        # (cs_toolkit._threads); on 2 cores the dead-atom check's product every 10
        # mini-batches made an epoch 1.8x slower than on one core. Mini-batches are coded on
        # one numba thread: between the sequential dictionary updates, waking a second
        # thread for each one cost more than it saved (batches of 256 to 4096, 2 cores)
        with blas_single_thread():
            while t < total:
                if order is None:
                    order = rng.permutation(n_signals) if shuffle else np.arange(n_signals)
                    b = 0
                while b < n_batches_epoch and t < total:
                    idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
                    b += 1
                    Xb = X[idx]
                    with numba_threads(1):  # see above
                        Cb = code(D, Xb)
                    t += 1
                    beta = forget if forget is not None else _forget(t, batch_size)
                    _accumulate_stats(Xb, Cb, A, B, beta)
                    _bcd_update(D, A, B, n_sweeps, dead_flags)
                    if replace_dead and (t % 10 == 0 or t == total):
                        diag = np.diag(A)
                        unused = diag <= 1e-6 * max(float(diag.mean()), np.finfo(dt).tiny)
                        Rb = Xb - Cb @ D.T
                        counts = np.where(unused, 0, 1)
                        rep = replace_dead_atoms(D, Cb, Rb, Xb, counts, rng)
                        A[rep, :] = 0.0  # a new atom starts with no history
                        A[:, rep] = 0.0
                        B[:, rep] = 0.0
                        n_rep = rep.size
                        total_replaced += n_rep
                        replaced_since += n_rep
                    if bar is not None:
                        bar.update(1)
                    if ckpt is not None and t % every == 0 and t < total:
                        t_save = time.perf_counter()
                        state = {"iteration": t, "batch_in_epoch": b, "n_evaluations": len(hist["iteration"]),
                                 "history": hist, "total_replaced": total_replaced, "replaced_since": replaced_since,
                                 "train_time": t_save - t0 - eval_total}
                        _checkpoint.save(ckpt, fp, state, {"dictionary": D, "A": A, "B": B,
                                                           "order": np.asarray(order, dtype=np.int64)}, rng)
                        eval_total += time.perf_counter() - t_save
                    if eval_every is not None and t % eval_every == 0 and b < n_batches_epoch and t < total:
                        C, dt_eval = _evaluate(code, D, X, xnorm, hist, t, t0 + eval_total, replaced_since)
                        eval_total += dt_eval
                        replaced_since = 0
                order = None
                # end of an epoch (or of max_iter): exact error of the whole data set
                C, dt_eval = _evaluate(code, D, X, xnorm, hist, t, t0 + eval_total, replaced_since)
                eval_total += dt_eval
                err = hist["error"][-1]
                replaced_since = 0
                if callback is not None:
                    info = {"error": err, "time": hist["time"][-1], "replaced": hist["replaced"][-1],
                            "dictionary": D.copy()}
                    if callback(t, info):
                        break
    finally:
        if bar is not None:
            bar.close()
    n_unused = int(np.sum(np.count_nonzero(C, axis=0) == 0))
    if n_unused and (not replace_dead or total_replaced):
        warnings.warn(f"{n_unused} of {n_atoms} atoms are unused by the final codes; "
                      f"{total_replaced} replacements were made.", DeadAtomWarning, stacklevel=2)
    if not np.all(np.isfinite(D)):
        raise ValidationError("online dictionary learning diverged (non-finite atoms); check X's scale.")
    if ckpt is not None:  # finished: the checkpoint has served its purpose
        _checkpoint.remove(ckpt)
    return DictionaryLearningResult(dictionary=D, codes=C, history=hist, n_iter=t, replaced_atoms=total_replaced)
