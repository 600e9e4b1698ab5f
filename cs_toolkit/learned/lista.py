"""Deep-unrolled sparse reconstructors: LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled FISTA.

Every network maps a batch of measurements ``Y`` of shape ``(n_signals, m)`` to
codes ``X`` of shape ``(n_signals, n)`` by ``n_layers`` iterations of a
proximal-gradient step whose matrices, steps and thresholds are trainable. The
forward pass is a handful of BLAS GEMMs per layer on the whole batch; the
backward pass is written out by hand (no deep-learning framework), and the
thresholding is the package's one soft threshold with support selection
(:func:`cs_toolkit.solvers.shrink`, over :func:`cs_toolkit.solvers.soft_threshold`), which
also returns the masks of its derivative (``|v| > theta``, and the shrunk entries for the
threshold's gradient, :func:`cs_toolkit.solvers.shrink_thresh_grad`).

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

import numpy as np

from .._validation import check_option
from ..exceptions import ValidationError
from ..solvers import shrink, shrink_thresh_grad
from ._layers import alista_weights, fista_momentum, sha256_of
from .unrolled import UnrolledNetwork

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
            V = Y @ P["W"][t].T
            if t > 0:
                V += X @ P["S"][t].T
            Xn, active, shrunk = shrink(V, P["theta"][t])
            if keep:
                cache.append((X, V, active, shrunk))
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, g = self._params, self._zero_grads()
        for t in range(T - 1, first - 1, -1):
            X, V, active, shrunk = cache[t]
            g["theta"][t] = shrink_thresh_grad(G, V, shrunk)
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
            Xn, active, shrunk = shrink(V, P["theta"][t], self._k(t))
            if keep:
                cache.append((R, V, active, shrunk))
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, A, g = self._params, self._A, self._zero_grads()
        for t in range(T - 1, first - 1, -1):
            R, V, active, shrunk = cache[t]
            g["theta"][t] = shrink_thresh_grad(G, V, shrunk)
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
            Xn, active, shrunk = shrink(V, P["theta"][t], self._k(t))
            if keep:
                cache.append((U, V, active, shrunk))
            X = Xn
            outs.append(X)
        return outs, cache

    def _backward(self, Y, cache, G, T, first):
        P, A, W, g = self._params, self._A, self._W, self._zero_grads()
        for t in range(T - 1, first - 1, -1):
            U, V, active, shrunk = cache[t]
            g["theta"][t] = shrink_thresh_grad(G, V, shrunk)
            dV = G * active
            g["gamma"][t] = float(np.sum(dV * U, dtype=np.float64))
            if t > first:
                G = dV - P["gamma"][t] * ((dV @ W.T) @ A)
        return g


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
            Xn, active, shrunk = shrink(V, P["theta"][t])
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
            g["theta"][t] = shrink_thresh_grad(Gx, V, shrunk)
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
            Xn, active, shrunk = shrink(R, P["theta"][t] * sig)
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
            dthr = shrink_thresh_grad(G, R, shrunk, per_row=True)
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
