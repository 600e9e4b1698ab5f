"""Multi-layer sparse coding: ML-ISTA / ML-FISTA (Sulam, Aberdam, Beck & Elad 2019) for a chain of
dense dictionaries, layer-wise dictionary learning, and the unrolled ML-ISTA network trained for
classification or reconstruction.

The model (multi-layer sparse coding, Papyan, Romano & Elad 2017): a signal ``x ~ D_1 g_1`` with
``g_1 ~ D_2 g_2``, ..., every ``g_i`` sparse. A chain ``[D_1, ..., D_L]`` has ``D_i`` of shape
``(n_{i-1}, n_i)`` with ``n_0 = n_features``. With rows as batches, ``g_i`` is ``(n_signals, n_i)``.

One ML-ISTA iteration from the deepest code ``g = g_L`` (Sulam et al., Algorithm 1), with an inner
step ``mu`` and an outer step ``t``:

* the layers implied by ``g``: ``h_L = g``, ``h_i = D_{i+1} h_{i+1}`` (``i = L-1, ..., 1``);
* a half step per layer, from the data up: ``a_0 = x``,
  ``a_i = prox_{mu lam_i}(h_i - mu D_i^T (D_i h_i - a_{i-1}))`` for ``i < L``;
* the new deepest code ``g <- prox_{t lam_L}(g - (t / mu) D_L^T (D_L g - a_{L-1}))``
  (for ``L = 1``: ``g - t D_1^T (D_1 g - x)``, plain ISTA).

``prox`` is the soft threshold (or, with ``nonneg=True``, ``max(v - theta, 0)``: the network is
then a ReLU network with feedback). With ``lam_1 = ... = lam_{L-1} = 0`` the iteration is ISTA with
step ``t`` on the LASSO over the effective dictionary ``D_1 D_2 ... D_L`` with penalty ``lam_L``.
Convolutional layers are dense matrices built by :func:`conv_dictionary`. ML-FISTA adds FISTA momentum on ``g`` (with adaptive restart); it reaches the fixed point in hundreds of
iterations where plain ML-ISTA may need tens of thousands, so use it when the solution itself matters. The activations ``a_i`` of the last iteration are exactly
sparse; the sparsity of a layer is measured on them (exact zeros), not on any weights.
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_array,
    check_bool,
    check_int,
    check_option,
    check_rng,
    check_scalar,
    check_signals,
    restore_rank,
    result_dtype,
)
from ..exceptions import ValidationError
from ..solvers import nonneg_soft_threshold, soft_threshold

__all__ = [
    "check_chain",
    "conv_dictionary",
    "ml_ista",
    "ml_fista",
    "ml_steps",
    "layer_sparsity",
    "learn_layerwise",
]


# ------------------------------------------------------------------------------------ checks
def check_chain(dictionaries, *, n_features=None, dtype=None, name="dictionaries"):
    """Validate a chain of dictionaries ``[D_1, ..., D_L]`` whose shapes compose.

    Parameters
    ----------
    dictionaries : sequence of array_like
        ``D_i`` of shape ``(n_{i-1}, n_i)``: the columns of ``D_i`` are the rows of ``D_{i+1}``.
    n_features : int, optional
        Required rows of ``D_1`` (the features of the signals).
    dtype : dtype, optional
        Target dtype (default: float32 if every matrix is float32, else float64).
    name : str
        Argument name in messages.

    Returns
    -------
    list of ndarray
        C-contiguous copies.

    Raises
    ------
    ValidationError
        Not a non-empty sequence of 2-D arrays, or shapes that do not compose (the message names
        ``dictionaries[i]`` and both shapes).
    """
    if isinstance(dictionaries, np.ndarray) and dictionaries.ndim == 2:
        dictionaries = [dictionaries]
    if not isinstance(dictionaries, list | tuple) or len(dictionaries) == 0:
        raise ValidationError(f"{name} must be a non-empty list of 2-D arrays [D_1, ..., D_L], got "
                              f"{type(dictionaries).__name__}.")
    Ds = [check_array(D, f"{name}[{i}]", ndim=2) for i, D in enumerate(dictionaries)]
    dt = np.dtype(dtype) if dtype is not None else result_dtype(*[D.dtype for D in Ds])
    for i in range(1, len(Ds)):
        if Ds[i].shape[0] != Ds[i - 1].shape[1]:
            raise ValidationError(
                f"Dimension mismatch for {name}[{i}]: the chain does not compose; expected {Ds[i - 1].shape[1]} rows "
                f"(the atoms of {name}[{i - 1}], of shape {Ds[i - 1].shape}), got shape {Ds[i].shape}.")
    if n_features is not None and Ds[0].shape[0] != n_features:
        raise ValidationError(f"Dimension mismatch for {name}[0]: expected {n_features} rows (the features of the "
                              f"signals), got shape {Ds[0].shape}.")
    return [np.array(D, dtype=dt, order="C", copy=True) for D in Ds]


def _check_lams(lam, n_layers, name="lam"):
    """One penalty per layer from a scalar, a sequence or a 1-D array of ``n_layers`` values, each >= 0."""
    if isinstance(lam, np.ndarray):
        lam = lam[()] if lam.ndim == 0 else list(lam) if lam.ndim == 1 else lam
    if not isinstance(lam, list | tuple | np.ndarray):
        return [check_scalar(name, lam, low=0.0)] * n_layers
    if isinstance(lam, np.ndarray) or len(lam) != n_layers:  # a 2-D array, or a wrong length
        raise ValidationError(f"{name} must be a scalar or a sequence of {n_layers} values (one per layer: a list, "
                              f"a tuple or a 1-D array), got shape {np.shape(lam)}.")
    return [check_scalar(f"{name}[{i}]", v, low=0.0) for i, v in enumerate(lam)]


def ml_steps(dictionaries):
    """Default steps ``(t, mu)``: ``t = 1 / ||D_1 ... D_L||_2^2`` and ``mu = 1 / max_i ||D_i||_2^2``.

    Parameters
    ----------
    dictionaries : sequence of array_like
        A chain (see :func:`check_chain`).

    Returns
    -------
    (float, float)
    """
    Ds = check_chain(dictionaries, dtype=np.float64)
    eff = Ds[0]
    for D in Ds[1:]:
        eff = eff @ D
    t = 1.0 / max(float(np.linalg.norm(eff, 2)) ** 2, 1e-300)
    mu = 1.0 / max(max(float(np.linalg.norm(D, 2)) ** 2 for D in Ds), 1e-300)
    return t, mu


def _prox(V, theta, nonneg):
    return nonneg_soft_threshold(V, theta) if nonneg else soft_threshold(V, theta)


def _scales(n_layers, t, mu):
    """Gradient-step factors of the layers: ``mu`` for inner layers, ``t / mu`` (or ``t``) for the last."""
    return [mu] * (n_layers - 1) + [t / mu if n_layers > 1 else t]


def _iteration(X, g, Ds, thetas, cs, nonneg, cache=None):
    """One ML-ISTA iteration from the deepest code ``g``; returns the activations ``[a_1, ..., a_L]``."""
    L = len(Ds)
    h = [None] * L
    h[L - 1] = g
    for i in range(L - 2, -1, -1):
        h[i] = h[i + 1] @ Ds[i + 1].T
    a_prev, acts, rs, vs = X, [], [], []
    for i in range(L):
        r = h[i] @ Ds[i].T - a_prev
        v = h[i] - cs[i] * (r @ Ds[i])
        a_prev = _prox(v, thetas[i], nonneg)
        acts.append(a_prev)
        rs.append(r)
        vs.append(v)
    if cache is not None:
        cache.append((h, rs, vs))
    return acts


def _ml_solve(X, dictionaries, lam, step, inner_step, max_iter, tol, nonneg, accelerated, return_layers, return_info,
              x0=None):
    Y, was_1d = check_signals(X, "X")
    Ds = check_chain(dictionaries, n_features=Y.shape[1])
    dt = result_dtype(Y.dtype, Ds[0].dtype)
    Y = Y.astype(dt, copy=False)
    Ds = [D.astype(dt, copy=False) for D in Ds]
    L = len(Ds)
    lams = _check_lams(lam, L)
    nonneg = check_bool("nonneg", nonneg)
    return_layers = check_bool("return_layers", return_layers)
    return_info = check_bool("return_info", return_info)
    t0, mu0 = ml_steps(Ds)
    t = t0 if step is None else check_scalar("step", step, low=0.0, low_inclusive=False)
    mu = mu0 if inner_step is None else check_scalar("inner_step", inner_step, low=0.0, low_inclusive=False)
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0)
    cs = _scales(L, t, mu)
    thetas = [mu * lam_i for lam_i in lams[:-1]] + [t * lams[-1]]
    g = np.zeros((Y.shape[0], Ds[-1].shape[1]), dtype=dt)
    if x0 is not None:
        G0, _ = check_signals(x0, "x0", n_features=Ds[-1].shape[1], dtype=dt)
        if G0.shape[0] != Y.shape[0]:
            raise ValidationError(f"Dimension mismatch for x0: expected {Y.shape[0]} codes (one per signal of X), "
                                  f"got {G0.shape[0]}.")
        g = G0.copy()
    z, tk = g, np.ones((Y.shape[0], 1))
    n_iter, change = 0, np.inf
    for it in range(1, max_iter + 1):
        n_iter = it
        acts = _iteration(Y, z, Ds, thetas, cs, nonneg)
        g_new = acts[-1]
        diff = np.linalg.norm(g_new - g, axis=1)
        change = float(np.max(diff / np.maximum(np.linalg.norm(g_new, axis=1), np.finfo(dt).tiny)))
        if accelerated:  # FISTA momentum, reset per signal when it points uphill (adaptive restart)
            restart = np.sum((z - g_new) * (g_new - g), axis=1, keepdims=True) > 0
            tk = np.where(restart, 1.0, tk)
            tk1 = (1.0 + np.sqrt(1.0 + 4.0 * tk * tk)) / 2.0
            z = (g_new + ((tk - 1.0) / tk1) * (g_new - g)).astype(dt, copy=False)
            tk = tk1
        else:
            z = g_new
        g = g_new
        if change <= tol:
            break
    if accelerated:  # report the activations of the last iterate itself
        acts = _iteration(Y, g, Ds, thetas, cs, nonneg)
    out = [restore_rank(np.ascontiguousarray(a), was_1d) for a in acts[:-1]] + [restore_rank(g, was_1d)]
    res = out if return_layers else out[-1]
    if return_info:
        info = {"n_iter": n_iter, "converged": change <= tol, "change": change, "step": t, "inner_step": mu,
                "sparsity": layer_sparsity(out)}
        return res, info
    return res


_SOLVER_DOC = """
    Parameters
    ----------
    X : array_like of shape (n_signals, n_features) or (n_features,)
        Signals (rows).
    dictionaries : sequence of array_like
        The chain ``[D_1, ..., D_L]``, ``D_i`` of shape ``(n_{i-1}, n_i)``, ``n_0 = n_features``.
    lam : float, sequence of L floats or 1-D array of length L
        Penalty of each layer (one value: the same for all).
    step : float, optional
        Outer step ``t`` (default ``1 / ||D_1 ... D_L||_2^2``).
    inner_step : float, optional
        Inner step ``mu`` (default ``1 / max_i ||D_i||_2^2``).
    max_iter : int, default 500
    tol : float, default 1e-6
        Stop when the relative change of every deepest code is at most ``tol``.
    nonneg : bool, default False
        Non-negative codes (the prox ``max(v - theta, 0)``).
    return_layers : bool, default False
        Return ``[a_1, ..., a_{L-1}, g_L]``: the exactly sparse activations of every layer.
    x0 : array_like of shape (n_signals, n_L) or (n_L,), optional
        Starting deepest code (default zero).
    return_info : bool, default False
        Also return a dict: ``n_iter``, ``converged``, ``change``, ``step``, ``inner_step`` and
        ``sparsity`` (fraction of exact zeros of each layer's activations).

    Returns
    -------
    ndarray of shape (n_signals, n_L) or (n_L,), or a list of the layers
        The deepest code ``g_L`` (and the info dict with ``return_info``). float32 when the
        signals and every dictionary are float32.

    Raises
    ------
    ValidationError
        A chain whose shapes do not compose (``dictionaries[i]`` named), a chain that does not
        match the signals, bad penalties or steps.
"""


def ml_ista(X, dictionaries, *, lam, step=None, inner_step=None, max_iter=500, tol=1e-6, nonneg=False,
            x0=None, return_layers=False, return_info=False):
    """Multi-layer ISTA for a chain of dense dictionaries (see the module notes for the iteration).
    {doc}
    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> D1, D2 = rng.standard_normal((20, 30)), rng.standard_normal((30, 40)) / 5
    >>> layers = ml_ista(rng.standard_normal((4, 20)), [D1, D2], lam=[0.1, 0.2], return_layers=True)
    >>> [a.shape for a in layers]
    [(4, 30), (4, 40)]
    """
    return _ml_solve(X, dictionaries, lam, step, inner_step, max_iter, tol, nonneg, False, return_layers, return_info,
                     x0)


def ml_fista(X, dictionaries, *, lam, step=None, inner_step=None, max_iter=500, tol=1e-6, nonneg=False,
             x0=None, return_layers=False, return_info=False):
    """Multi-layer FISTA: ML-ISTA with FISTA momentum on the deepest code (Sulam et al. 2019), with the
    adaptive restart of O'Donoghue & Candes (2015) per signal.
    {doc}
    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> D1, D2 = rng.standard_normal((20, 30)), rng.standard_normal((30, 40)) / 5
    >>> ml_fista(rng.standard_normal((4, 20)), [D1, D2], lam=0.1).shape
    (4, 40)
    """
    return _ml_solve(X, dictionaries, lam, step, inner_step, max_iter, tol, nonneg, True, return_layers, return_info,
                     x0)


ml_ista.__doc__ = ml_ista.__doc__.replace("{doc}", _SOLVER_DOC)
ml_fista.__doc__ = ml_fista.__doc__.replace("{doc}", _SOLVER_DOC)


def layer_sparsity(layers):
    """Fraction of exact zeros of each layer's activations.

    Parameters
    ----------
    layers : sequence of array_like
        Activations (any shapes), e.g. from ``ml_ista(..., return_layers=True)``.

    Returns
    -------
    list of float
        ``mean(a == 0)`` per layer: zeros of the activations themselves, not of any weights.
    """
    return [float(np.mean(np.asarray(a) == 0)) for a in layers]


# ---------------------------------------------------------------------- convolutional layers
def conv_dictionary(filters, input_shape):
    """The dense matrix of a convolutional dictionary, to use as a layer of :func:`ml_ista`.

    A signal of shape ``(channels, height, width)`` is synthesised as a sum of ``filters[k]``
    (``(channels, h, w)``) placed at every position ``(i, j)`` of ``(height - h + 1) x (width - w + 1)``,
    weighted by the code maps ``code[k, i, j]``: ``x = sum_k code_k (full convolution) filters[k]``. Each
    placed filter is one column (atom). The code maps ``(n_filters, height - h + 1, width - w + 1)``
    are the input of the next convolutional layer (its ``channels`` is ``n_filters``), so a chain of
    such matrices composes (multi-layer convolutional sparse coding, Papyan, Romano & Elad 2017). The
    matrix is dense: this suits small images (8x8 digits, 25x25 faces). :class:`MLISTANetwork` runs
    such layers but trains every matrix entry freely (the weight sharing is not kept).

    Parameters
    ----------
    filters : array_like of shape (n_filters, channels, h, w) or (n_filters, h, w)
        The filters (one channel when 3-D).
    input_shape : (int, int) or (int, int, int)
        ``(height, width)`` or ``(channels, height, width)`` of the signal.

    Returns
    -------
    ndarray of shape (channels * height * width, n_filters * (height - h + 1) * (width - w + 1))
        Rows are the signal flattened row-major (channel, row, column); columns are the code maps
        flattened the same way (filter, row, column).

    Examples
    --------
    >>> D1 = conv_dictionary(np.ones((4, 3, 3)), (8, 8))             # 4 maps of 6x6
    >>> D2 = conv_dictionary(np.ones((5, 4, 3, 3)), (4, 6, 6))       # 5 maps of 4x4
    >>> D1.shape, D2.shape
    ((64, 144), (144, 80))
    """
    F = check_array(filters, "filters", ndim=(3, 4))
    if F.ndim == 3:
        F = F[:, None]
    shape = tuple(input_shape) if isinstance(input_shape, list | tuple) else (input_shape,)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3:
        raise ValidationError(f"input_shape must be (height, width) or (channels, height, width), got {input_shape!r}.")
    c, H, W = (check_int(f"input_shape[{i}]", v, low=1) for i, v in enumerate(shape))
    n_f, fc, h, w = F.shape
    if fc != c:
        raise ValidationError(f"Dimension mismatch for filters: they have {fc} channel(s) but input_shape has {c}.")
    if h > H or w > W:
        raise ValidationError(f"filters of size {(h, w)} are larger than the input, {(H, W)}.")
    Ho, Wo = H - h + 1, W - w + 1
    D = np.zeros((c, H, W, n_f, Ho, Wo), dtype=F.dtype)
    for i in range(Ho):
        for j in range(Wo):
            D[:, i:i + h, j:j + w, :, i, j] = F.transpose(1, 2, 3, 0)
    return D.reshape(c * H * W, n_f * Ho * Wo)


# ------------------------------------------------------------------------ layer-wise learning
def learn_layerwise(X, n_atoms, n_nonzero_coefs, *, learning="ksvd", max_iter=10, random_state=None):
    """Learn a chain of dictionaries layer by layer: ``D_1`` on ``X``, ``D_2`` on the codes of ``X``
    over ``D_1``, and so on (each with :class:`cs_toolkit.dictionary.DictionaryLearner`, OMP codes).

    Parameters
    ----------
    X : array_like of shape (n_signals, n_features)
        Training signals.
    n_atoms : sequence of int
        Atoms of each layer (its length is the number of layers).
    n_nonzero_coefs : int or sequence of int
        Sparsity of each layer's codes.
    learning : {"ksvd", "approx_ksvd", "mod", "online"}, default "ksvd"
    max_iter : int, default 10
        Dictionary updates per layer.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    dictionaries : list of ndarray
        ``D_i`` of shape ``(n_{i-1}, n_i)`` with unit-norm columns.
    codes : list of ndarray
        The OMP codes of the training signals at every layer.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((200, 16))
    >>> Ds, codes = learn_layerwise(X, [24, 32], [4, 3], max_iter=2, random_state=0)
    >>> [D.shape for D in Ds]
    [(16, 24), (24, 32)]
    """
    from ..dictionary import DictionaryLearner

    Y = check_array(X, "X", ndim=2)
    if isinstance(n_atoms, int | np.integer) or len(n_atoms) == 0:
        raise ValidationError(f"n_atoms must be a non-empty sequence (one value per layer), got {n_atoms!r}.")
    atoms = [check_int(f"n_atoms[{i}]", a, low=1) for i, a in enumerate(n_atoms)]
    if isinstance(n_nonzero_coefs, int | np.integer):
        n_nonzero_coefs = [n_nonzero_coefs] * len(atoms)
    if len(n_nonzero_coefs) != len(atoms):
        raise ValidationError(f"n_nonzero_coefs must be an integer or have {len(atoms)} values (one per layer), got "
                              f"{len(n_nonzero_coefs)}.")
    check_option("learning", learning, ("ksvd", "approx_ksvd", "mod", "online"))
    rng = check_rng(random_state)
    Ds, codes, data = [], [], Y
    for i, (a, k) in enumerate(zip(atoms, n_nonzero_coefs)):
        k = min(check_int(f"n_nonzero_coefs[{i}]", k, low=1), data.shape[1], a)
        dl = DictionaryLearner(a, n_nonzero_coefs=k, method=learning, max_iter=max_iter, rng=rng).fit(data)
        Ds.append(dl.dictionary_)
        data = np.ascontiguousarray(dl.transform(data))
        codes.append(data)
    return Ds, codes
