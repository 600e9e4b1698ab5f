"""Deep-unrolled sparse reconstructors: LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled FISTA.

Every network maps a batch of measurements ``Y`` of shape ``(n_signals, m)`` to
codes ``X`` of shape ``(n_signals, n)`` by ``n_layers`` iterations of a
proximal-gradient step whose matrices, steps and thresholds are trainable. The
forward pass is a handful of BLAS GEMMs per layer on the whole batch; the
backward pass is written out by hand (no deep-learning framework), and the
thresholding is the package's one soft threshold
(:func:`cs_toolkit.solvers.soft_threshold`), whose derivative is the mask
``|v| > theta``.

Layer equations (rows: a batch is measured as ``Y = X @ A.T``; ``soft`` is the
soft threshold and ``ss`` the soft threshold with support selection):

=============  ===========================================================  ==================
model          layer t                                                      trained per layer
=============  ===========================================================  ==================
LISTA          ``x+ = soft(W_t y + S_t x, theta_t)``                        W_t, S_t, theta_t
LISTA_CP       ``x+ = soft(x + W_t^T (y - A x), theta_t)``                  W_t, theta_t
LISTA_CPSS     ``x+ = ss(x + W_t^T (y - A x), theta_t, p_t)``               W_t, theta_t
ALISTA         ``x+ = ss(x + gamma_t W^T (y - A x), theta_t, p_t)``         gamma_t, theta_t
UnrolledFISTA  ``x+ = soft(z + step_t A^T (y - A z), theta_t)``,             step_t, theta_t
               ``z+ = x+ + beta_t (x+ - x)`` (beta_t fixed FISTA momentum)
=============  ===========================================================  ==================

Support selection (Chen et al. 2018): in layer ``t`` the ``k_t`` entries of
largest magnitude of each row, ``k_t = round(p_t n / 100)`` with
``p_t = min(p_max, p_inc * t)`` percent (t counted from 1), are passed through
without shrinkage when they exceed the threshold; the others are soft
thresholded. The selection is treated as constant in the gradient, exactly as
the mask of the soft threshold.

References
----------
K. Gregor and Y. LeCun, "Learning fast approximations of sparse coding", ICML 2010.
X. Chen, J. Liu, Z. Wang and W. Yin, "Theoretical linear convergence of unfolded
ISTA and its practical weights and thresholds", NeurIPS 2018.
J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: analytic weights are as good as
learned weights in LISTA", ICLR 2019.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.linalg

from .._validation import (
    check_array,
    check_int,
    check_matrix,
    check_option,
    check_scalar,
    check_signals,
)
from ..exceptions import ValidationError
from ..solvers import soft_threshold
from ..solvers.ista import ista_layer  # the ISTA step written as a LISTA layer

__all__ = [
    "UnrolledNetwork",
    "LISTA",
    "LISTA_CP",
    "LISTA_CPSS",
    "ALISTA",
    "UnrolledFISTA",
    "LAMP",
    "MODEL_KINDS",
    "make_model",
    "alista_weights",
    "fista_momentum",
    "sha256_of",
]


def sha256_of(*arrays) -> str:
    """SHA-256 hex digest of the arrays' values as float64 C-order bytes, in order (the model-file hash)."""
    h = hashlib.sha256()
    for M in arrays:
        h.update(np.ascontiguousarray(M, dtype=np.float64).tobytes())
    return h.hexdigest()


def _check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValidationError(f"dtype must be float32 or float64, got {dt}.")
    return dt


def _dense(A, name):
    A = check_matrix(A, name)
    if hasattr(A, "to_dense") and not isinstance(A, np.ndarray):
        A = check_array(A.to_dense(), name, ndim=2)
    return np.array(A, dtype=np.float64, order="C")


def alista_weights(A) -> np.ndarray:
    """Analytic ALISTA weight matrix: ``argmin ||W^T A||_F`` subject to ``diag(W^T A) = 1``.

    Parameters
    ----------
    A : array_like of shape (m, n)
        Sensing matrix (full row rank, ``m <= n``).

    Returns
    -------
    W : ndarray of shape (m, n), float64

    Notes
    -----
    The problem splits over the columns ``w_i``: minimise ``||A^T w_i||^2``
    subject to ``a_i^T w_i = 1``. Its Lagrange conditions give the closed form
    ``w_i = G^+ a_i / (a_i^T G^+ a_i)`` with ``G = A A^T``, i.e.
    ``W = G^+ A D^{-1}``, ``D = diag(A^T G^+ A)`` (Liu et al. 2019 solve the same
    problem by projected gradient descent).

    Examples
    --------
    >>> A = np.random.default_rng(0).standard_normal((20, 40))
    >>> W = alista_weights(A)
    >>> bool(np.allclose(np.diag(W.T @ A), 1.0))
    True
    """
    A = _dense(A, "A")
    G = A @ A.T
    try:
        GA = scipy.linalg.solve(G, A, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        GA = np.linalg.pinv(G) @ A
    d = np.einsum("ij,ij->j", A, GA)
    if np.any(d <= 1e-12 * np.max(np.abs(d))):
        raise ValidationError("A has a zero column (or one in the null space of A A^T); ALISTA weights are undefined.")
    return np.ascontiguousarray(GA / d)


def _select_top(absV, k):
    """Boolean mask of the ``k`` largest entries of each row of ``absV``."""
    N, n = absV.shape
    sel = np.zeros((N, n), dtype=bool)
    if k <= 0:
        return sel
    if k >= n:
        sel[:] = True
        return sel
    idx = np.argpartition(absV, n - k, axis=1)[:, n - k:]
    np.put_along_axis(sel, idx, True, axis=1)
    return sel


def _shrink(V, theta, k=0):
    """Soft threshold with optional support selection of the ``k`` largest entries per row.

    Returns ``(X, active, shrunk)``: ``active = |V| > theta`` is the derivative of
    ``X`` with respect to ``V`` and ``shrunk`` (active entries that were shrunk)
    carries the derivative ``-sign(V)`` with respect to ``theta``.
    """
    X = soft_threshold(V, theta)
    absV = np.abs(V)
    active = absV > theta
    if k > 0:
        sel = _select_top(absV, k) & active
        X[sel] = V[sel]
        return X, active, active & ~sel
    return X, active, active


def _theta_grad(dX, V, shrunk):
    return -float(np.sum(dX[shrunk] * np.sign(V[shrunk]), dtype=np.float64))


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
        self.sensing_matrix = _dense(A, "A")
        self.n_layers = check_int("n_layers", n_layers, low=1)
        self.dtype = _check_dtype(dtype)
        self.init = check_option("init", init, self.inits)
        if dictionary is not None:
            D = _dense(dictionary, "dictionary")
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
        from .train import nmse_db

        Y2, _ = self._check_Y(Y)
        X2, _ = check_signals(X, "X", n_features=self.n_components)
        if X2.shape[0] != Y2.shape[0]:
            raise ValidationError(f"Y and X must have the same number of signals, got {Y2.shape[0]} and {X2.shape[0]}.")
        thresholds = [check_scalar("thresholds", t, low=0.0, high=1.0, high_inclusive=False) for t in thresholds]
        refits = [None if r is None else check_scalar("refit_thresholds", r, low=0.0, high=1.0,
                                                      high_inclusive=False) for r in refit_thresholds]
        if not thresholds or not refits:
            raise ValidationError("thresholds and refit_thresholds must hold at least one candidate.")
        self.set_debias(None, max_support)
        X_hat = self.forward(Y2, debias=False)
        scores = {None: nmse_db(X_hat, X2)}
        pairs = [(t, r) for t in thresholds for r in refits]
        for t, r in pairs:
            scores[(t, r)] = nmse_db(self._debias(Y2, X_hat, threshold=t, refit_threshold=r), X2)
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
        """A deep copy of the network."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._params = self.get_parameters()
        new._buffers = {k: v.copy() for k, v in self._buffers.items()}
        return new

    def save(self, path) -> None:
        """Save to a ``.npz`` file (see :func:`cs_toolkit.learned.save_model`)."""
        from .io import save_model

        save_model(self, path)

    def __repr__(self):
        return (f"{type(self).__name__}(m={self.n_measurements}, n={self.n_components}, "
                f"n_layers={self.n_layers}, dtype={self.dtype.name})")


def _from_alista(cls, alista):
    """The ``cls`` network (LISTA, LISTA-CP or LISTA-CPSS) equal to the ALISTA network ``alista``.

    ALISTA's layer ``x + gamma_t W^T (y - A x)`` is LISTA-CP's with the coupled
    weight ``gamma_t W`` and LISTA's with ``W_t = gamma_t W^T``,
    ``S_t = I - gamma_t W^T A``; thresholds, support selection, dictionary,
    dtype and the debiasing layer are carried over.
    """
    if not isinstance(alista, ALISTA):
        raise ValidationError(f"alista must be an ALISTA network, got {type(alista).__name__}.")
    ks = [alista._k(t) for t in range(alista.n_layers)]
    if not cls.support_selection and any(ks):
        raise ValidationError(
            f"{cls.__name__} has no support selection, but the ALISTA network passes up to {max(ks)} entries "
            f"per row unshrunk (p_inc={alista.p_inc:g}, p_max={alista.p_max:g}); build the ALISTA network "
            f"with p_max=0."
        )
    if cls.support_selection and not any(ks):
        raise ValidationError(
            f"{cls.__name__} selects support, but the ALISTA network has none (p_inc={alista.p_inc:g}, "
            f"p_max={alista.p_max:g}); use LISTA_CP instead."
        )
    net = cls(alista.sensing_matrix, alista.n_layers, dictionary=alista.dictionary, lam=alista.lam,
              step=alista.step, dtype=alista.dtype, p_inc=alista.p_inc, p_max=alista.p_max, init="alista")
    W = alista._buffers["W"]
    gamma = alista.parameters()["gamma"].astype(np.float64)
    if cls is LISTA:
        WA = W.T @ net.operator
        params = {"W": np.stack([g * W.T for g in gamma]),
                  "S": np.stack([np.eye(net.n_components) - g * WA for g in gamma])}
    else:
        params = {"W": np.stack([g * W for g in gamma])}
    params["theta"] = alista.parameters()["theta"].copy()
    net.set_parameters(params)
    net.set_debias(alista.debias_threshold, alista.debias_max_support, alista.debias_refit_threshold)
    return net


def _coupled_init(net):
    """``(W, s)``: the coupled weight of shape (m, n) and step of the initial layer ``x + W^T (y - A x)``."""
    if net.init == "alista":
        Wa = alista_weights(net.operator)
        g = min(1.0, 1.0 / float(np.linalg.norm(Wa.T @ net.operator, 2)))
        return g * Wa, g
    return net.step * net.operator, net.step


class LISTA(UnrolledNetwork):
    """LISTA (Gregor & LeCun 2010): ``x+ = soft(W_t y + S_t x, theta_t)``, all untied.

    Initialised from ISTA (``W = step A^T``, ``S = I - step A^T A``,
    ``theta = step lam``), so an untrained network reproduces ``n_layers``
    ISTA iterations started at zero. See :class:`UnrolledNetwork` for the parameters.

    Examples
    --------
    >>> A = np.random.default_rng(0).standard_normal((20, 40)) / np.sqrt(20)
    >>> net = LISTA.from_ista(A, lam=0.1, n_layers=4)
    >>> net.forward(np.zeros((3, 20))).shape
    (3, 40)
    """

    kind = "lista"
    param_names = ("W", "S", "theta")

    @classmethod
    def from_ista(cls, A, lam, n_layers, step=None, **kwargs):
        """The network equal to ``n_layers`` ISTA iterations with penalty ``lam`` and ``step``."""
        return cls(A, n_layers, lam=lam, step=step, **kwargs)

    @classmethod
    def from_alista(cls, alista):
        """The LISTA network equal to a (trained) ALISTA network without support selection
        (``p_max=0``): ``W_t = gamma_t W^T``, ``S_t = I - gamma_t W^T A``, the same thresholds.

        The start of :func:`cs_toolkit.learned.pretrain_alista`: the tied network
        trains in a fraction of the steps, and fine-tuning then frees every weight.
        """
        return _from_alista(cls, alista)

    def _param_shapes(self):
        T, m, n = self.n_layers, self.n_measurements, self.n_components
        return {"W": (T, n, m), "S": (T, n, n), "theta": (T,)}

    inits = ("ista", "alista")

    def _init_params(self):
        A, T = self.operator, self.n_layers
        Wc, s = _coupled_init(self)  # x + Wc^T (y - A x) = Wc^T y + (I - Wc^T A) x
        W = Wc.T
        S = np.eye(self.n_components) - Wc.T @ A
        self._params = {
            "W": np.ascontiguousarray(np.broadcast_to(W, (T,) + W.shape), dtype=self.dtype),
            "S": np.ascontiguousarray(np.broadcast_to(S, (T,) + S.shape), dtype=self.dtype),
            "theta": np.full(T, s * self.lam, dtype=self.dtype),
        }

    def _forward(self, Y, T, keep):
        P = self._params
        X = np.zeros((Y.shape[0], self.n_components), dtype=self.dtype)
        outs, cache = [], []
        for t in range(T):
            if not keep:  # inference: the solvers' shared ISTA step
                X = np.asarray(ista_layer(X, Y, P["W"][t], P["S"][t], P["theta"][t]), dtype=self.dtype)
                outs.append(X)
                continue
            V = Y @ P["W"][t].T
            if t > 0:
                V += X @ P["S"][t].T
            Xn, active, shrunk = _shrink(V, P["theta"][t])
            if keep:
                cache.append((X, V, active, shrunk))
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, g = self._params, self._zero_grads()
        for t in range(T - 1, first - 1, -1):
            X, V, active, shrunk = cache[t]
            g["theta"][t] = _theta_grad(G, V, shrunk)
            dV = G * active
            g["W"][t] = dV.T @ Y
            if t > 0:
                g["S"][t] = dV.T @ X
                G = dV @ P["S"][t]
        return g


class LISTA_CP(UnrolledNetwork):
    """LISTA with coupled weights (Chen et al. 2018): ``x+ = soft(x + W_t^T (y - A x), theta_t)``.

    ``W_t`` has the shape of ``A`` ``(m, n)``; initialised from ISTA
    (``W_t = step A``, ``theta_t = step lam``). See :class:`UnrolledNetwork`.
    """

    kind = "lista_cp"
    param_names = ("W", "theta")

    def _param_shapes(self):
        T, m, n = self.n_layers, self.n_measurements, self.n_components
        return {"W": (T, m, n), "theta": (T,)}

    inits = ("ista", "alista")

    @classmethod
    def from_alista(cls, alista):
        """The network equal to a (trained) ALISTA network: ``W_t = gamma_t W``, the same thresholds.

        LISTA-CP takes an ALISTA network without support selection (``p_max=0``),
        LISTA-CPSS one with it (its ``p_inc`` and ``p_max`` are kept). See
        :func:`cs_toolkit.learned.pretrain_alista`.
        """
        return _from_alista(cls, alista)

    def _init_params(self):
        T = self.n_layers
        W, s = _coupled_init(self)
        self._params = {
            "W": np.ascontiguousarray(np.broadcast_to(W, (T,) + W.shape), dtype=self.dtype),
            "theta": np.full(T, s * self.lam, dtype=self.dtype),
        }

    def _forward(self, Y, T, keep):
        P, A = self._params, self._A
        X = np.zeros((Y.shape[0], self.n_components), dtype=self.dtype)
        outs, cache = [], []
        for t in range(T):
            R = Y - X @ A.T if t > 0 else Y
            V = X + R @ P["W"][t]
            Xn, active, shrunk = _shrink(V, P["theta"][t], self._k(t))
            if keep:
                cache.append((R, V, active, shrunk))
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, A, g = self._params, self._A, self._zero_grads()
        for t in range(T - 1, first - 1, -1):
            R, V, active, shrunk = cache[t]
            g["theta"][t] = _theta_grad(G, V, shrunk)
            dV = G * active
            g["W"][t] = R.T @ dV
            if t > first:
                G = dV - (dV @ P["W"][t].T) @ A
        return g


class LISTA_CPSS(LISTA_CP):
    """LISTA-CP with support selection (Chen et al. 2018).

    In layer ``t`` (from 1) the ``p_t = min(p_max, p_inc t)`` percent largest
    entries of each row pass without shrinkage (defaults ``p_inc = 1.2``,
    ``p_max = 13``). See :class:`UnrolledNetwork`.
    """

    kind = "lista_cpss"
    support_selection = True


class ALISTA(UnrolledNetwork):
    """ALISTA (Liu et al. 2019): analytic weight, learned step and threshold per layer.

    ``x+ = ss(x + gamma_t W^T (y - A x), theta_t, p_t)`` with ``W`` from
    :func:`alista_weights` (fixed) and support selection as in
    :class:`LISTA_CPSS`. Initialised with ``gamma_t = min(1, 1 / ||W^T A||_2)``
    (a convergent step) and ``theta_t = gamma_t lam``. See :class:`UnrolledNetwork`.
    """

    kind = "alista"
    param_names = ("gamma", "theta")
    support_selection = True

    def _param_shapes(self):
        return {"gamma": (self.n_layers,), "theta": (self.n_layers,)}

    def _buffer_shapes(self):
        return {"W": (self.n_measurements, self.n_components)}

    def _load_buffers(self, buffers):
        super()._load_buffers(buffers)
        self._W = self._buffers["W"].astype(self.dtype)

    def _init_params(self):
        if "W" not in self._buffers:
            self._buffers["W"] = alista_weights(self.operator)
        W = self._buffers["W"]
        self._W = W.astype(self.dtype)
        g0 = min(1.0, 1.0 / float(np.linalg.norm(W.T @ self.operator, 2)))
        self._params = {
            "gamma": np.full(self.n_layers, g0, dtype=self.dtype),
            "theta": np.full(self.n_layers, g0 * self.lam, dtype=self.dtype),
        }

    def _forward(self, Y, T, keep):
        P, A, W = self._params, self._A, self._W
        X = np.zeros((Y.shape[0], self.n_components), dtype=self.dtype)
        outs, cache = [], []
        for t in range(T):
            R = Y - X @ A.T if t > 0 else Y
            U = R @ W
            V = X + P["gamma"][t] * U
            Xn, active, shrunk = _shrink(V, P["theta"][t], self._k(t))
            if keep:
                cache.append((U, V, active, shrunk))
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, A, W, g = self._params, self._A, self._W, self._zero_grads()
        for t in range(T - 1, first - 1, -1):
            U, V, active, shrunk = cache[t]
            g["theta"][t] = _theta_grad(G, V, shrunk)
            dV = G * active
            g["gamma"][t] = float(np.sum(dV * U, dtype=np.float64))
            if t > first:
                G = dV - P["gamma"][t] * ((dV @ W.T) @ A)
        return g


def fista_momentum(n_layers) -> np.ndarray:
    """FISTA momentum ``beta_t = (s_t - 1) / s_{t+1}``, ``s_0 = 1``, ``s_{t+1} = (1 + sqrt(1 + 4 s_t^2)) / 2``."""
    s, out = 1.0, []
    for _ in range(n_layers):
        s_next = (1.0 + np.sqrt(1.0 + 4.0 * s * s)) / 2.0
        out.append((s - 1.0) / s_next)
        s = s_next
    return np.array(out)


class UnrolledFISTA(UnrolledNetwork):
    """FISTA unrolled with a learned step and threshold per layer, fixed momentum.

    ``x_{t+1} = soft(z_t + step_t A^T (y - A z_t), theta_t)``,
    ``z_{t+1} = x_{t+1} + beta_t (x_{t+1} - x_t)``, ``x_0 = z_0 = 0``, with the
    FISTA momentum ``beta_t`` (:func:`fista_momentum`, Beck & Teboulle 2009).
    Initialised from FISTA (``step_t = step``, ``theta_t = step lam``), so an
    untrained network is ``n_layers`` FISTA iterations without restart.
    """

    kind = "fista"
    param_names = ("step", "theta")

    def _param_shapes(self):
        return {"step": (self.n_layers,), "theta": (self.n_layers,)}

    def _buffer_shapes(self):
        return {"beta": (self.n_layers,)}

    def _init_params(self):
        self._buffers["beta"] = fista_momentum(self.n_layers)
        self._params = {
            "step": np.full(self.n_layers, self.step, dtype=self.dtype),
            "theta": np.full(self.n_layers, self.step * self.lam, dtype=self.dtype),
        }

    def _forward(self, Y, T, keep):
        P, A, beta = self._params, self._A, self._buffers["beta"]
        X = np.zeros((Y.shape[0], self.n_components), dtype=self.dtype)
        Z = X
        outs, cache = [], []
        for t in range(T):
            R = Y - Z @ A.T if t > 0 else Y
            U = R @ A
            V = Z + P["step"][t] * U
            Xn, active, shrunk = _shrink(V, P["theta"][t])
            if keep:
                cache.append((U, V, active, shrunk))
            b = self.dtype.type(beta[t])
            Z = Xn + b * (Xn - X)
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, A, beta, g = self._params, self._A, self._buffers["beta"], self._zero_grads()
        gx = G  # gradient w.r.t. x_{t+1} from the loss and from z_{t+2}
        gz = np.zeros_like(G)  # gradient w.r.t. z_{t+1}
        for t in range(T - 1, first - 1, -1):
            U, V, active, shrunk = cache[t]
            b = self.dtype.type(beta[t])
            Gx = gx + (1 + b) * gz
            g["theta"][t] = _theta_grad(Gx, V, shrunk)
            dV = Gx * active
            g["step"][t] = float(np.sum(dV * U, dtype=np.float64))
            if t > first:
                gx = -b * gz
                gz = dV - P["step"][t] * ((dV @ A.T) @ A)
        return g


class LAMP(UnrolledNetwork):
    """Learned AMP (Borgerding, Schniter & Rangan 2017), tied-free "LAMP-l1".

    With ``x_0 = 0``, ``v_{-1} = 0``, ``b_0 = 0``, layer ``t`` computes

    ``v_t = y - A x_t + b_t v_{t-1}``, ``b_t = ||x_t||_0 / m`` (the Onsager term),
    ``x_{t+1} = soft(x_t + B_t v_t, theta_t ||v_t||_2 / sqrt(m))``,

    with trained ``B_t`` (n, m) and ``theta_t``. Initialised as AMP
    (``B_t = A^T``, ``theta_t = lam``), so an untrained network is ``n_layers``
    AMP iterations with the threshold factor ``lam`` (default 1.5 here). The
    count ``b_t`` is piecewise constant and has zero derivative.
    See :class:`UnrolledNetwork` for the parameters.

    References
    ----------
    M. Borgerding, P. Schniter and S. Rangan, "AMP-inspired deep networks for
    sparse linear inverse problems", IEEE Trans. Signal Process. 65(16), 2017.
    """

    kind = "lamp"
    param_names = ("B", "theta")

    def __init__(self, A, n_layers=16, *, lam=1.5, **kwargs):
        super().__init__(A, n_layers, lam=lam, **kwargs)

    def _param_shapes(self):
        T, m, n = self.n_layers, self.n_measurements, self.n_components
        return {"B": (T, n, m), "theta": (T,)}

    def _init_params(self):
        T = self.n_layers
        self._params = {
            "B": np.ascontiguousarray(np.broadcast_to(self.operator.T, (T,) + self.operator.T.shape), dtype=self.dtype),
            "theta": np.full(T, self.lam, dtype=self.dtype),
        }

    def _forward(self, Y, T, keep):
        P, A, m = self._params, self._A, self.n_measurements
        N = Y.shape[0]
        X = np.zeros((N, self.n_components), dtype=self.dtype)
        Vp = np.zeros_like(Y)
        b = np.zeros((N, 1), dtype=self.dtype)
        outs, cache = [], []
        for t in range(T):
            V = Y - X @ A.T + b * Vp if t > 0 else Y.copy()
            nv = np.sqrt(np.sum(V.astype(np.float64) ** 2, axis=1, keepdims=True))
            sig = (nv / np.sqrt(m)).astype(self.dtype)
            R = X + V @ P["B"][t].T
            Xn, active, shrunk = _shrink(R, P["theta"][t] * sig)
            if keep:
                cache.append((V, nv, sig, b, R, active, shrunk))
            b = (np.count_nonzero(Xn, axis=1, keepdims=True) / m).astype(self.dtype)
            X, Vp = Xn, V
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, A, m, g = self._params, self._A, self.n_measurements, self._zero_grads()
        gV = np.zeros_like(Y)  # gradient w.r.t. v_t coming from layer t + 1
        for t in range(T - 1, first - 1, -1):
            V, nv, sig, b, R, active, shrunk = cache[t]
            th = P["theta"][t]
            dthr = -np.sum(G * np.sign(R) * shrunk, axis=1, keepdims=True)  # per row
            g["theta"][t] = float(np.sum(dthr * sig, dtype=np.float64))
            dR = G * active
            g["B"][t] = dR.T @ V
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(nv > 0, th * dthr / (nv * np.sqrt(m)), 0.0).astype(self.dtype)
            dV = gV + dR @ P["B"][t] + scale * V
            if t > first:
                G = dR - dV @ A
                gV = b * dV
        return g


#: model kind -> class
MODEL_KINDS = {cls.kind: cls for cls in (LISTA, LISTA_CP, LISTA_CPSS, ALISTA, UnrolledFISTA, LAMP)}


def make_model(kind, A, n_layers=16, **kwargs) -> UnrolledNetwork:
    """Build a network by kind name: ``'lista'``, ``'lista_cp'``, ``'lista_cpss'``, ``'alista'``, ``'fista'``, ``'lamp'``.

    Extra keyword arguments go to the class (``dictionary``, ``lam``, ``step``, ``dtype``, ...).
    """
    check_option("kind", kind, MODEL_KINDS)
    return MODEL_KINDS[kind](A, n_layers, **kwargs)
