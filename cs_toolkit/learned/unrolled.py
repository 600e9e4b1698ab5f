"""The base class of the unrolled networks: validation, forward/backward driver, debiasing, copy.

The layers themselves are written by the subclasses in :mod:`cs_toolkit.learned.lista`.
"""

from __future__ import annotations

import copy as _copy

import numpy as np

from .._validation import (
    check_array,
    check_bool,
    check_int,
    check_option,
    check_scalar,
    check_signals,
    dense_matrix,
)
from ..exceptions import ValidationError
from ._layers import _check_dtype, as_sequence, sha256_of

__all__ = ["UnrolledNetwork"]


class UnrolledNetwork:
    """Base class of the unrolled networks (see the module docstring for the layers).

    Parameters
    ----------
    A : array_like of shape (m, n_features)
        Sensing matrix (dense; operators are densified).
    n_layers : int, default 16
        Number of unrolled iterations.
    dictionary : array_like of shape (n_features, n_atoms), optional
        Synthesis basis or dictionary ``Psi``: the network then recovers codes
        ``c`` from ``y = A Psi c`` and :meth:`reconstruct` returns ``Psi c``.
    lam : float, default 0.1
        l1 penalty of the ISTA iteration used for the initialisation.
    step : float, optional
        ISTA step for the initialisation, default ``1 / ||A Psi||_2^2``.
    dtype : {np.float32, np.float64}, default np.float32
        Dtype of the weights and of the computation.
    p_inc, p_max : float, default 1.2 and 13
        Support selection of LISTA-CPSS and ALISTA: layer ``t`` (from 1) passes the
        ``min(p_max, p_inc t)`` percent largest entries of each row unshrunk.
        ``p_max=0`` turns it off; ALISTA then has LISTA-CP's layer with
        ``W_t = gamma_t W`` (see :meth:`LISTA_CP.from_alista`). Ignored by the other models.
    init : {'ista', 'alista'}, default 'ista'
        Initial weights of LISTA and LISTA-CP(SS): the ISTA iteration, or the
        analytic ALISTA weight :func:`alista_weights` with the step
        ``gamma = min(1, 1 / ||W^T A||_2)`` (the layer ``x + gamma W^T (y - A x)``),
        whose small cross-coherence ``W^T A`` makes training start much closer to
        a converged network. The other models accept only their own initialisation.
    debias : bool or float, default False
        Least-squares debiasing final layer (:func:`cs_toolkit.learned.ls_debias`):
        after the last layer, refit every row by least squares on its detected
        support ``|x_j| > threshold * max_k |x_k|``. True uses the threshold 0.1;
        a float in ``[0, 1)`` is the threshold. :meth:`calibrate_debias` picks it
        on validation data. Saved with the model.
    debias_max_support : int, optional
        Most entries of the debiased support (default ``m // 2``).

    Attributes
    ----------
    operator : ndarray of shape (m, n), float64
        The matrix the network inverts, ``A @ Psi`` (or ``A``).
    n_measurements, n_components : int
        ``m`` and ``n``.
    sensing_sha256, dictionary_sha256 : str or None
        SHA-256 of the float64 bytes of ``A`` and ``Psi`` (checked by :func:`load_model`).
    debias_threshold : float or None
        Threshold of the debiasing layer, None when it is off.
    debias_max_support : int or None
        Its support cap (None: ``m // 2``).
    debias_refit_threshold : float or None
        Threshold of its optional second pass (see :meth:`set_debias`).
    """

    kind: str = ""
    #: trainable parameter names; each array is stacked per layer on axis 0
    param_names: tuple = ()
    #: whether layer t uses support selection
    support_selection = False
    #: the ``init`` options of the class
    inits = ("ista",)

    def __init__(self, A, n_layers=16, *, dictionary=None, lam=0.1, step=None, dtype=np.float32,
                 p_inc=1.2, p_max=13.0, init="ista", debias=False, debias_max_support=None):
        self.sensing_matrix = dense_matrix(A, "A")
        self.n_layers = check_int("n_layers", n_layers, low=1)
        self.dtype = _check_dtype(dtype)
        self.init = check_option("init", init, self.inits)
        if dictionary is not None:
            D = dense_matrix(dictionary, "dictionary")
            if D.shape[0] != self.sensing_matrix.shape[1]:
                raise ValidationError(
                    f"Dimension mismatch: dictionary has shape {D.shape} but A has shape "
                    f"{self.sensing_matrix.shape}; expected dictionary.shape[0] == {self.sensing_matrix.shape[1]}."
                )
            self.dictionary = D
            self.operator = np.ascontiguousarray(self.sensing_matrix @ D)
        else:
            self.dictionary = None
            self.operator = self.sensing_matrix
        self.n_measurements, self.n_components = self.operator.shape
        self.sensing_sha256 = sha256_of(self.sensing_matrix)
        self.dictionary_sha256 = None if self.dictionary is None else sha256_of(self.dictionary)
        self.lam = check_scalar("lam", lam, low=0.0)
        self.p_inc = check_scalar("p_inc", p_inc, low=0.0, high=100.0)
        self.p_max = check_scalar("p_max", p_max, low=0.0, high=100.0)
        L = float(np.linalg.norm(self.operator, 2)) ** 2
        if L == 0.0:
            raise ValidationError("A (times dictionary) is the zero matrix; nothing can be recovered.")
        self.lipschitz = L
        self.step = 1.0 / L if step is None else check_scalar("step", step, low=0.0, low_inclusive=False)
        self._A = self.operator.astype(self.dtype)
        self._buffers = {}
        self._params = {}
        self._gram = None
        self.debias_threshold = None
        self.debias_max_support = None
        self.debias_refit_threshold = None
        #: what the model was trained to see (signal kind, sensing settings, scale), or None:
        #: see :mod:`cs_toolkit.learned.acquisition`; saved with the model.
        self.acquisition = None
        if isinstance(debias, bool | np.bool_) or debias is None:
            self.set_debias(0.1 if debias else None, debias_max_support)
        else:
            self.set_debias(debias, debias_max_support)
        self._init_params()

    # ------------------------------------------------------------------ subclass hooks
    def _init_params(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, Y, T, keep):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward(self, Y, cache, G, T, first):  # pragma: no cover - abstract
        raise NotImplementedError

    def _param_shapes(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _buffer_shapes(self):
        """Shapes of the fixed (non-trained) arrays saved with the model."""
        return {}

    def _load_buffers(self, buffers):
        self._buffers.update({k: np.array(v, dtype=np.float64) for k, v in buffers.items()})

    # ------------------------------------------------------------------ helpers
    def _k(self, t):
        """Number of support-selected entries per row in layer ``t`` (0-based)."""
        if not self.support_selection:
            return 0
        p = min(self.p_max, self.p_inc * (t + 1))
        return int(round(p * self.n_components / 100.0))

    def _check_T(self, n_layers):
        if n_layers is None:
            return self.n_layers
        return check_int("n_layers", n_layers, low=1, high=self.n_layers)

    def _check_Y(self, Y, name="Y"):
        return check_signals(Y, name, n_features=self.n_measurements, dtype=self.dtype)

    def _zero_grads(self):
        return {k: np.zeros_like(v) for k, v in self._params.items()}

    # ------------------------------------------------------------------ public API
    @property
    def hyperparameters(self) -> dict:
        """Scalars that define the network besides its arrays (saved in the model file)."""
        return {"lam": self.lam, "step": self.step, "p_inc": self.p_inc, "p_max": self.p_max}

    def parameters(self) -> dict:
        """The trainable arrays, name -> array stacked per layer on axis 0 (live references)."""
        return self._params

    def get_parameters(self) -> dict:
        """A copy of the trainable arrays."""
        return {k: v.copy() for k, v in self._params.items()}

    def set_parameters(self, params) -> None:
        """Replace the trainable arrays (validated and copied).

        Raises
        ------
        ValidationError
            Missing or unknown names, wrong shapes, non-finite values.
        """
        if not isinstance(params, dict):
            raise ValidationError(f"params must be a dict of arrays, got {type(params).__name__}.")
        shapes = self._param_shapes()
        if set(params) != set(shapes):
            raise ValidationError(f"params must have exactly the keys {sorted(shapes)}, got {sorted(params)}.")
        new = {}
        for name, shape in shapes.items():
            arr = check_array(params[name], f"params[{name!r}]", dtype=self.dtype, copy=True, allow_empty=True)
            if arr.shape != shape:
                raise ValidationError(f"params[{name!r}] must have shape {shape}, got {arr.shape}.")
            new[name] = arr
        self._params = new

    def forward(self, Y, return_all=False, n_layers=None, debias=None):
        """Run the network.

        Parameters
        ----------
        Y : array_like of shape (m,) or (n_signals, m)
            Measurements.
        return_all : bool, default False
            Return the list of the outputs of every layer (for NMSE-per-layer curves).
        n_layers : int, optional
            Run only the first ``n_layers`` layers.
        debias : bool, optional
            Refit the output of the last layer run by least squares on its
            support (see :meth:`set_debias`; with ``return_all`` only the last
            entry is refit). None: the model's setting (on when
            ``debias_threshold`` is set). True with no threshold set uses 0.1.

        Returns
        -------
        X : ndarray of shape (n,) or (n_signals, n), or list of them
            Codes, in the model's dtype.
        """
        Y2, was_1d = self._check_Y(Y)
        T = self._check_T(n_layers)
        return_all = check_bool("return_all", return_all)
        if debias is None:
            debias = self.debias_threshold is not None
        elif not isinstance(debias, bool | np.bool_):
            raise ValidationError(f"debias must be True, False or None, got {debias!r}.")
        outs, _ = self._forward(Y2, T, keep=False)
        if debias:
            outs[-1] = self._debias(Y2, outs[-1])
        outs = [o[0] if was_1d else o for o in outs]
        return outs if return_all else outs[-1]

    def _debias(self, Y2, X2, threshold=None, refit_threshold=None):
        from .debias import ls_debias

        if self._gram is None:
            self._gram = self.operator.T @ self.operator
        if threshold is None:
            threshold = 0.1 if self.debias_threshold is None else self.debias_threshold
            refit_threshold = self.debias_refit_threshold
        return ls_debias(self.operator, Y2, X2, threshold=threshold, refit_threshold=refit_threshold,
                         max_support=self.debias_max_support, gram=self._gram)

    def set_debias(self, threshold=0.1, max_support=None, refit_threshold=None) -> None:
        """Turn the least-squares debiasing final layer on (``threshold`` a float) or off (None).

        Parameters
        ----------
        threshold : float in [0, 1) or None, default 0.1
            Support rule ``|x_j| > threshold * max_k |x_k|`` of every output row.
        max_support : int, optional
            Most entries refit per row, in ``[1, m]`` (default ``m // 2``).
        refit_threshold : float in [0, 1), optional
            Second pass of :func:`~cs_toolkit.learned.ls_debias` (None: one pass).
        """
        if threshold is not None:
            threshold = check_scalar("threshold", threshold, low=0.0, high=1.0, high_inclusive=False)
        if max_support is not None:
            max_support = check_int("max_support", max_support, low=1, high=self.n_measurements)
        if refit_threshold is not None:
            refit_threshold = check_scalar("refit_threshold", refit_threshold, low=0.0, high=1.0,
                                           high_inclusive=False)
        self.debias_threshold, self.debias_max_support = threshold, max_support
        self.debias_refit_threshold = None if threshold is None else refit_threshold

    def calibrate_debias(self, Y, X, thresholds=(0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3),
                         refit_thresholds=(None, 0.03, 0.05, 0.07, 0.1), max_support=None) -> dict:
        """Pick the debiasing threshold with the lowest NMSE on validation data and turn debiasing on.

        The network runs once; every candidate threshold refits its output.
        Debiasing is left off when no threshold does better than the plain
        network output.

        Parameters
        ----------
        Y : array_like of shape (n_signals, m)
            Validation measurements.
        X : array_like of shape (n_signals, n)
            The true codes.
        thresholds : sequence of float in [0, 1)
            Candidate thresholds.
        refit_thresholds : sequence of float in [0, 1) or None
            Candidate second-pass thresholds (None: one pass); every pair is tried.
        max_support : int, optional
            Support cap (see :meth:`set_debias`).

        Returns
        -------
        dict
            ``(threshold, refit_threshold) -> NMSE (dB)`` of every pair, and ``None -> NMSE`` of
            the network without debiasing.
        """
        from ..metrics import nmse

        Y2, _ = self._check_Y(Y)
        X2, _ = check_signals(X, "X", n_features=self.n_components)
        if X2.shape[0] != Y2.shape[0]:
            raise ValidationError(f"Y and X must have the same number of signals, got {Y2.shape[0]} and {X2.shape[0]}.")
        thresholds = [check_scalar("thresholds", t, low=0.0, high=1.0, high_inclusive=False)
                      for t in as_sequence("thresholds", thresholds, "candidate thresholds")]
        refits = [None if r is None else check_scalar("refit_thresholds", r, low=0.0, high=1.0,
                                                      high_inclusive=False)
                  for r in as_sequence("refit_thresholds", refit_thresholds, "candidate thresholds")]
        if not thresholds or not refits:
            raise ValidationError("thresholds and refit_thresholds must hold at least one candidate.")
        self.set_debias(None, max_support)
        X_hat = self.forward(Y2, debias=False)
        scores = {None: nmse(X2, X_hat, db=True, finite=False)}
        pairs = [(t, r) for t in thresholds for r in refits]
        for t, r in pairs:
            scores[(t, r)] = nmse(X2, self._debias(Y2, X_hat, threshold=t, refit_threshold=r), db=True,
                                   finite=False)
        best = min(pairs, key=lambda tr: scores[tr])
        if scores[best] < scores[None]:
            self.set_debias(best[0], max_support, refit_threshold=best[1])
        return scores

    __call__ = forward

    def reconstruct(self, Y, n_layers=None, debias=None):
        """Signals ``Psi @ c`` (or the codes when the model has no dictionary), same rank as ``Y``."""
        X = self.forward(Y, n_layers=n_layers, debias=debias)
        if self.dictionary is None:
            return X
        return X @ self.dictionary.T.astype(self.dtype)

    def loss_and_grad(self, Y, X_true, n_layers=None, first_layer=0):
        """Mean squared error of the output of layer ``n_layers`` and its analytic gradient.

        The loss is ``L = 1 / (2 N) sum_i ||x_hat_i - x_i||^2`` over the ``N``
        signals of the batch.

        Parameters
        ----------
        Y : array_like of shape (n_signals, m)
        X_true : array_like of shape (n_signals, n)
        n_layers : int, optional
            Depth whose output is scored (default: all layers); deeper layers get zero gradient.
        first_layer : int, default 0
            Layers below it get zero gradient (their backward pass is skipped).

        Returns
        -------
        loss : float
        grads : dict
            Same keys and shapes as :meth:`parameters`.
        """
        Y2, _ = self._check_Y(Y)
        X2, _ = check_signals(X_true, "X_true", n_features=self.n_components, dtype=self.dtype)
        if X2.shape[0] != Y2.shape[0]:
            raise ValidationError(
                f"Y and X_true must have the same number of signals, got {Y2.shape[0]} and {X2.shape[0]}."
            )
        T = self._check_T(n_layers)
        first = check_int("first_layer", first_layer, low=0, high=T - 1)
        outs, cache = self._forward(Y2, T, keep=True)
        R = outs[-1] - X2
        N = Y2.shape[0]
        loss = 0.5 * float(np.sum(R.astype(np.float64) ** 2)) / N
        G = R / N
        grads = self._backward(Y2, cache, G, T, first)
        return loss, grads

    def copy(self):
        """A deep copy of the network: it shares no array, dict or list with this one (its
        matrices, weights, buffers and ``acquisition`` record are copies)."""
        new = object.__new__(type(self))
        new.__dict__.update(_copy.deepcopy(self.__dict__))
        return new

    def save(self, path) -> None:
        """Save to a ``.npz`` file (see :func:`cs_toolkit.learned.save_model`)."""
        from .io import save_model

        save_model(self, path)

    def __repr__(self):
        return (f"{type(self).__name__}(m={self.n_measurements}, n={self.n_components}, "
                f"n_layers={self.n_layers}, dtype={self.dtype.name})")
