"""The unrolled ML-ISTA network (Sulam, Aberdam, Beck & Elad 2019): ``n_iter`` iterations of
:func:`~cs_toolkit.features.ml_ista` with learnable dictionaries and thresholds, trained for
classification or reconstruction with a hand-written backward pass (checked by finite
differences in the tests).
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_array,
    check_bool,
    check_float_dtype,
    check_int,
    check_option,
    check_rng,
    check_scalar,
)
from ..exceptions import ValidationError
from .multilayer import _check_lams, _iteration, _scales, check_chain, layer_sparsity, ml_steps

__all__ = ["MLISTANetwork", "train_ml_network", "TASKS"]

#: What :class:`MLISTANetwork` is trained for.
TASKS = ("classification", "reconstruction")


class MLISTANetwork:
    """Unrolled ML-ISTA: ``n_iter`` iterations with learnable dictionaries and thresholds, and a
    linear soft-max head (classification) or the synthesis ``D_1 ... D_L g`` (reconstruction).

    Pure NumPy with a hand-written backward pass (:meth:`loss_and_grad`), trained by
    :func:`train_ml_network` with the :class:`cs_toolkit.learned.Adam` optimiser. The dictionaries
    are shared by the iterations (the paper's "ML-ISTA network"); one iteration from zero is the
    layered thresholding (a feed-forward ReLU network with ``nonneg=True``), more iterations add
    feedback. The steps ``t`` and ``mu`` are fixed at construction.

    Parameters
    ----------
    dictionaries : sequence of array_like
        Initial chain ``[D_1, ..., D_L]`` (e.g. from :func:`learn_layerwise`).
    n_iter : int, default 3
        Unrolled iterations.
    lam : float, sequence of L floats or 1-D array of length L, default 0.1
        Initial penalties (thresholds ``mu lam_i``, ``t lam_L``, one learnable value per atom).
    task : {"classification", "reconstruction"}, default "classification"
    n_classes : int, optional
        Required for classification.
    nonneg : bool, default False
        ReLU-type prox ``max(v - theta, 0)``.
    step, inner_step : float, optional
        ``t`` and ``mu`` (defaults of :func:`ml_steps`).
    dtype : {numpy.float32, numpy.float64}, default numpy.float64
    random_state : None, int or numpy.random.Generator
        Initial classifier weights.

    Attributes
    ----------
    params : dict of ndarray
        ``"D0", "D1", ...`` (dictionaries), ``"theta0", ...`` (thresholds) and, for classification,
        ``"W"`` (n_classes, n_L) and ``"b"`` (n_classes,).
    """

    def __init__(self, dictionaries, *, n_iter=3, lam=0.1, task="classification", n_classes=None, nonneg=False,
                 step=None, inner_step=None, dtype=np.float64, random_state=None):
        self.dtype = check_float_dtype("dtype", dtype)
        Ds = check_chain(dictionaries, dtype=self.dtype)
        self.n_layers = L = len(Ds)
        self.n_iter = check_int("n_iter", n_iter, low=1)
        self.task = check_option("task", task, TASKS)
        self.nonneg = check_bool("nonneg", nonneg)
        lams = _check_lams(lam, L)
        t0, mu0 = ml_steps(Ds)
        self.step = t0 if step is None else check_scalar("step", step, low=0.0, low_inclusive=False)
        self.inner_step = mu0 if inner_step is None else check_scalar("inner_step", inner_step, low=0.0,
                                                                       low_inclusive=False)
        self.params = {f"D{i}": D for i, D in enumerate(Ds)}
        thetas = [self.inner_step * v for v in lams[:-1]] + [self.step * lams[-1]]
        for i, (D, th) in enumerate(zip(Ds, thetas)):
            self.params[f"theta{i}"] = np.full(D.shape[1], th, dtype=self.dtype)
        if self.task == "classification":
            if n_classes is None:
                raise ValidationError("task='classification' needs n_classes (an integer >= 2), got None.")
            self.n_classes = check_int("n_classes", n_classes, low=2)
            rng = check_rng(random_state)
            n_top = Ds[-1].shape[1]
            self.params["W"] = (rng.standard_normal((self.n_classes, n_top)) * 0.01).astype(self.dtype)
            self.params["b"] = np.zeros(self.n_classes, dtype=self.dtype)
        else:
            self.n_classes = None
        self.n_features = Ds[0].shape[0]

    # ---------------------------------------------------------------------------- forward
    def _Ds(self):
        return [self.params[f"D{i}"] for i in range(self.n_layers)]

    def _thetas(self):
        return [self.params[f"theta{i}"] for i in range(self.n_layers)]

    def _unroll(self, X, cache=None):
        Ds, thetas = self._Ds(), self._thetas()
        cs = _scales(self.n_layers, self.step, self.inner_step)
        g = np.zeros((X.shape[0], Ds[-1].shape[1]), dtype=self.dtype)
        inputs = []
        for _ in range(self.n_iter):
            inputs.append(g)
            acts = _iteration(X, g, Ds, thetas, cs, self.nonneg, cache)
            g = acts[-1]
        return acts, inputs

    def _check_X(self, X):
        Y = check_array(X, "X", ndim=2, dtype=self.dtype)
        if Y.shape[1] != self.n_features:
            raise ValidationError(f"Dimension mismatch for X: expected {self.n_features} features per sample, "
                                  f"got shape {Y.shape}.")
        return Y

    def forward(self, X, return_layers=False):
        """The deepest code after ``n_iter`` iterations (or every layer's activations).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        return_layers : bool, default False
            Return ``[a_1, ..., a_L]``, the activations of the last iteration (exactly sparse).

        Returns
        -------
        ndarray of shape (n_samples, n_L), or a list
        """
        acts, _ = self._unroll(self._check_X(X))
        return acts if return_layers else acts[-1]

    def layer_sparsity(self, X):
        """Fraction of exact zeros of each layer's activations on ``X`` (see :func:`layer_sparsity`)."""
        return layer_sparsity(self.forward(X, return_layers=True))

    def decision_function(self, X):
        """Logits ``g_L W^T + b`` (classification), shape (n_samples, n_classes)."""
        self._need("classification")
        return self.forward(X) @ self.params["W"].T + self.params["b"]

    def predict(self, X):
        """Class index (0..n_classes-1) of largest logit."""
        return np.argmax(self.decision_function(X), axis=1)

    def reconstruct(self, X):
        """``g_L (D_1 ... D_L)^T``: the signals synthesised from the deepest codes."""
        out = self.forward(X)
        for D in reversed(self._Ds()):
            out = out @ D.T
        return out

    def _need(self, task):
        if self.task != task:
            raise ValidationError(f"this network was built with task={self.task!r}; {task!r} is not available.")

    # --------------------------------------------------------------------------- backward
    def _check_target(self, X, target):
        if self.task == "classification":
            y = np.asarray(target)
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise ValidationError(f"Dimension mismatch for y: expected {X.shape[0]} labels (one per sample of X), "
                                      f"got shape {y.shape}.")
            if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= self.n_classes)):
                raise ValidationError(f"y must hold integer class indices in [0, {self.n_classes}), got "
                                      f"{y.dtype} values{'' if not y.size else f' in [{y.min()}, {y.max()}]'}.")
            return y
        return None

    def loss_and_grad(self, X, y=None):
        """Mean loss on a batch and its gradient with respect to every parameter.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of int, shape (n_samples,), optional
            Class indices (classification); ignored for reconstruction.

        Returns
        -------
        loss : float
            Mean soft-max cross-entropy, or ``mean_i 1/2 ||x_i - D_1 ... D_L g_i||^2``.
        grads : dict of ndarray
            Same keys and shapes as :attr:`params`.
        """
        X = self._check_X(X)
        y = self._check_target(X, y)
        B, L = X.shape[0], self.n_layers
        Ds, thetas = self._Ds(), self._thetas()
        cs = _scales(L, self.step, self.inner_step)
        cache = []
        acts, inputs = self._unroll(X, cache)
        g = acts[-1]
        grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        if self.task == "classification":
            logits = g @ self.params["W"].T + self.params["b"]
            logits = logits - logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            loss = float(-logp[np.arange(B), y].mean())
            dlog = np.exp(logp)
            dlog[np.arange(B), y] -= 1.0
            dlog /= B
            grads["W"] = (dlog.T @ g).astype(self.dtype)
            grads["b"] = dlog.sum(axis=0).astype(self.dtype)
            dg = dlog @ self.params["W"]
        else:
            us = [g]
            for D in reversed(Ds):
                us.append(us[-1] @ D.T)
            diff = us[-1] - X
            loss = float(0.5 * np.sum(diff * diff) / B)
            du = diff / B
            for j in range(L - 1, -1, -1):  # us[j + 1] = us[j] @ D_{L-j}^T
                i = L - 1 - j
                grads[f"D{i}"] += du.T @ us[j]
                du = du @ Ds[i]
            dg = du
        for k in range(self.n_iter - 1, -1, -1):
            h, rs, vs = cache[k]
            dh = [np.zeros_like(hi) for hi in h]
            dA = dg
            for i in range(L - 1, -1, -1):
                v = vs[i]
                mask = (v > thetas[i]) if self.nonneg else (np.abs(v) > thetas[i])
                dv = dA * mask
                sgn = mask if self.nonneg else np.sign(v) * mask
                grads[f"theta{i}"] -= (dA * sgn).sum(axis=0)
                dh[i] += dv
                dr = -cs[i] * (dv @ Ds[i].T)
                grads[f"D{i}"] += -cs[i] * (rs[i].T @ dv) + dr.T @ h[i]
                dh[i] += dr @ Ds[i]
                dA = -dr
            for i in range(L - 1):  # h[i] = h[i+1] @ D_{i+1}^T
                dh[i + 1] += dh[i] @ Ds[i + 1]
                grads[f"D{i + 1}"] += dh[i].T @ h[i + 1]
            dg = dh[L - 1]
        return loss, grads

    def copy(self):
        """An independent copy (parameters copied)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.params = {k: v.copy() for k, v in self.params.items()}
        return new

    def __repr__(self):
        shapes = [self.params[f"D{i}"].shape for i in range(self.n_layers)]
        return f"MLISTANetwork(layers={shapes}, n_iter={self.n_iter}, task={self.task!r}, nonneg={self.nonneg})"


def train_ml_network(net, X, y=None, *, n_epochs=10, batch_size=64, lr=1e-3, random_state=None, verbose=False):
    """Train an :class:`MLISTANetwork` with Adam on mini-batches (thresholds kept non-negative).

    Parameters
    ----------
    net : MLISTANetwork
        Trained in place.
    X : array_like of shape (n_samples, n_features)
    y : array_like of int, shape (n_samples,), optional
        Class indices in ``[0, n_classes)`` (classification).
    n_epochs : int, default 10
    batch_size : int, default 64
    lr : float, default 1e-3
        Adam learning rate.
    random_state : None, int or numpy.random.Generator
        Order of the samples.
    verbose : bool, default False
        Print the mean loss of every epoch.

    Returns
    -------
    dict
        ``"loss"``: mean training loss of each epoch.
    """
    from ..learned import Adam

    if not isinstance(net, MLISTANetwork):
        raise ValidationError(f"net must be an MLISTANetwork, got {type(net).__name__}.")
    Xa = net._check_X(X)
    ya = net._check_target(Xa, None if y is None else np.asarray(y))
    n_epochs = check_int("n_epochs", n_epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    rng = check_rng(random_state)
    opt = Adam(net.params, lr=lr)
    history = {"loss": []}
    for epoch in range(n_epochs):
        order = rng.permutation(Xa.shape[0])
        total = 0.0
        for s in range(0, order.size, batch_size):
            idx = order[s:s + batch_size]
            loss, grads = net.loss_and_grad(Xa[idx], None if ya is None else ya[idx])
            opt.step(net.params, grads)
            for i in range(net.n_layers):
                np.maximum(net.params[f"theta{i}"], 0, out=net.params[f"theta{i}"])
            total += loss * idx.size
        history["loss"].append(total / order.size)
        if verbose:
            print(f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f}")
    return history
