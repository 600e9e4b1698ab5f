"""Sensing matrices designed for a dictionary, and the coherence diagnostics they optimise.

A signal ``x = D c`` sparse in a dictionary ``D`` (shape ``(n_features, n_atoms)``) is
measured as ``y = A x = (A D) c``: the recovery sees the *effective dictionary* ``A D``. A
random ``A`` makes ``A D`` incoherent with high probability; a matrix designed for ``D``
makes it more incoherent still, so OMP and basis pursuit recover more signals from the same
number of measurements (Elad 2007).

:func:`optimize_sensing` designs ``A``; :func:`t_averaged_coherence`,
:func:`effective_coherence`, :func:`gram_entries` and :func:`plot_gram_histogram` measure
and show what it changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .._threads import blas_single_thread
from .._validation import (
    check_array,
    check_bool,
    check_int,
    check_option,
    check_rng,
    check_scalar,
    result_dtype,
)
from ..exceptions import ConvergenceWarning, ValidationError

__all__ = [
    "DESIGN_METHODS",
    "SensingDesign",
    "optimize_sensing",
    "t_averaged_coherence",
    "effective_coherence",
    "gram_entries",
    "plot_gram_histogram",
]

#: Methods of :func:`optimize_sensing`.
DESIGN_METHODS = ("elad", "gram")
_TARGETS = ("identity", "welch")
_EPS = 1e-12


# ----------------------------------------------------------------------------------------
# validation and the normalised Gram matrix
# ----------------------------------------------------------------------------------------
def _check_dictionary(D, name="D"):
    D = check_array(D, name, ndim=2, dtype=np.float64)
    if D.shape[1] < 2:
        raise ValidationError(f"{name} must have at least 2 atoms (columns), got shape {D.shape}.")
    return D


def _effective(A, D):
    """Validated float64 ``A`` (or ``A @ D`` when ``D`` is given) with its column norms checked."""
    A = check_array(A, "A", ndim=2, dtype=np.float64)
    if D is not None:
        D = _check_dictionary(D)
        if D.shape[0] != A.shape[1]:
            raise ValidationError(
                f"Dimension mismatch: A has {A.shape[1]} columns but D has {D.shape[0]} rows "
                f"(A must be (m, n_features) and D (n_features, n_atoms)); got A {A.shape}, D {D.shape}."
            )
        A = A @ D
    if A.shape[1] < 2:
        raise ValidationError(f"the effective dictionary must have at least 2 columns, got shape {A.shape}.")
    return A


def _normalized_gram(M):
    """Gram matrix of the columns of ``M`` scaled to unit norm (zero columns stay zero)."""
    norms = np.linalg.norm(M, axis=0)
    Mn = M / np.where(norms > _EPS, norms, 1.0)
    return Mn.T @ Mn


def _offdiag_abs(G):
    n = G.shape[0]
    return np.abs(G[~np.eye(n, dtype=bool)])


def _top_threshold(off, fraction):
    """The value above which lie the ``fraction`` largest entries of ``off`` (at least one)."""
    k = max(1, int(round(fraction * off.size)))
    return float(np.partition(off, off.size - k)[off.size - k])


def _t_avg(off, t):
    big = off[off >= t]
    return float(big.mean()) if big.size else 0.0


# ----------------------------------------------------------------------------------------
# diagnostics
# ----------------------------------------------------------------------------------------
def gram_entries(A, D=None):
    """Absolute off-diagonal entries of the normalised Gram matrix of ``A`` (or of ``A D``).

    Parameters
    ----------
    A : ndarray of shape (m, n_features)
        Sensing matrix (or any matrix whose columns are compared).
    D : ndarray of shape (n_features, n_atoms), optional
        Dictionary; the columns compared are then those of the effective dictionary ``A D``.

    Returns
    -------
    ndarray of shape (n_cols * (n_cols - 1),)
        ``|<a_i, a_j>| / (||a_i|| ||a_j||)`` for ``i != j`` (each pair twice), float64.

    Raises
    ------
    ValidationError
        Non-finite entries, mismatched shapes, fewer than two columns.

    Examples
    --------
    >>> import numpy as np
    >>> gram_entries(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])).round(3)
    array([0.   , 0.707, 0.   , 0.707, 0.707, 0.707])
    """
    return _offdiag_abs(_normalized_gram(_effective(A, D)))


def t_averaged_coherence(A, t=0.2, D=None):
    """Elad's t-averaged mutual coherence: the mean of the normalised Gram entries ``|g_ij| >= t``.

    Parameters
    ----------
    A : ndarray of shape (m, n)
        Matrix whose columns are compared (or the sensing matrix when ``D`` is given).
    t : float in [0, 1), default 0.2
        Threshold on ``|g_ij|``.
    D : ndarray of shape (n, n_atoms), optional
        Dictionary: measure the effective dictionary ``A D``.

    Returns
    -------
    float
        ``mu_t = sum_{i != j} 1(|g_ij| >= t) |g_ij| / sum_{i != j} 1(|g_ij| >= t)``; 0 when no
        entry reaches ``t``.

    Raises
    ------
    ValidationError
        ``t`` outside [0, 1), bad or mismatched arrays.

    Notes
    -----
    Elad (2007), "Optimized projections for compressed sensing", IEEE Trans. Signal
    Process. 55(12), eq. (8): unlike the mutual coherence (the largest entry) it reflects the
    average behaviour that decides how often OMP and basis pursuit succeed.

    Examples
    --------
    >>> import numpy as np
    >>> round(t_averaged_coherence(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), t=0.5), 4)
    0.7071
    """
    t = check_scalar("t", t, low=0.0, high=1.0, high_inclusive=False)
    return _t_avg(gram_entries(A, D), t)


def effective_coherence(A, D):
    """Mutual coherence of the effective dictionary ``A D``.

    Parameters
    ----------
    A : ndarray of shape (m, n_features)
        Sensing matrix.
    D : ndarray of shape (n_features, n_atoms)
        Dictionary.

    Returns
    -------
    float
        ``max_{i != j} |<d'_i, d'_j>| / (||d'_i|| ||d'_j||)`` with ``d'_i = A d_i``.

    See Also
    --------
    cs_toolkit.sensing.mutual_coherence : the same for one matrix.

    Examples
    --------
    >>> import numpy as np
    >>> round(effective_coherence(np.eye(2), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])), 4)
    0.7071
    """
    from .diagnostics import mutual_coherence

    return mutual_coherence(_effective(A, D))


def plot_gram_histogram(matrices, D=None, *, ax=None, bins=60, t=None, title=None):
    """Histograms of the absolute off-diagonal Gram entries of several matrices, overlaid.

    Parameters
    ----------
    matrices : dict of str -> ndarray of shape (m, n_features)
        Label -> sensing matrix (e.g. ``{"Gaussian": A0, "designed": A}``).
    D : ndarray of shape (n_features, n_atoms), optional
        Dictionary: show the entries of the effective dictionaries ``A D``.
    ax : matplotlib Axes, optional
        Axes to draw on (a new figure otherwise).
    bins : int, default 60
        Number of bins on [0, 1].
    t : float, optional
        Draw a vertical line at this threshold (the ``t`` of :func:`t_averaged_coherence`).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_gram_histogram({"random": np.random.default_rng(0).standard_normal((4, 8))})
    """
    import matplotlib.pyplot as plt

    if not isinstance(matrices, dict) or not matrices:
        raise ValidationError(f"matrices must be a non-empty dict of label -> matrix, got {type(matrices).__name__}.")
    bins = check_int("bins", bins, low=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    edges = np.linspace(0.0, 1.0, bins + 1)
    for label, A in matrices.items():
        g = gram_entries(A, D)
        ax.hist(g, bins=edges, histtype="step", lw=1.5, density=True,
                label=f"{label} (max {g.max():.2f})")
    if t is not None:
        ax.axvline(check_scalar("t", t, low=0.0, high=1.0), color="k", ls=":", lw=1, label=f"t = {t:g}")
    ax.set_xlabel("|off-diagonal entry| of the normalised Gram matrix" + (" of A D" if D is not None else ""))
    ax.set_ylabel("density")
    ax.set_xlim(0, 1)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


# ----------------------------------------------------------------------------------------
# design
# ----------------------------------------------------------------------------------------
@dataclass
class SensingDesign:
    """What :func:`optimize_sensing` returns with ``return_info=True``.

    Attributes
    ----------
    matrix : ndarray of shape (m, n_features)
        The designed sensing matrix (the same array the function returns).
    initial : ndarray of shape (m, n_features)
        The random start.
    method : str
        The design method.
    t : float
        The threshold of the t-averaged coherence recorded in ``history``.
    history : dict of lists
        ``"iteration"`` (0 = the start), ``"objective"`` (what the method minimises: the
        t-averaged coherence for ``"elad"``, the RMS distance of ``G`` to the target set for
        ``"gram"``), ``"coherence"`` (mutual coherence of ``A D``),
        ``"t_averaged"`` (t-averaged coherence of ``A D`` at ``t``), ``"gram_error"``
        (``||G - I||_F / sqrt(n_atoms)``, ``G`` the normalised Gram matrix of ``A D``) and
        ``"time"`` (seconds since the start).
    n_iter : int
        Iterations performed.
    best_iteration : int
        The iteration whose matrix is returned: the one with the lowest ``"objective"``
        (0 when no iteration improved on the start: then a ``ConvergenceWarning`` says so; with a
        large ``reg``, which trades that objective for robustness, it can happen).
    elapsed : float
        Seconds spent.
    """

    matrix: np.ndarray
    initial: np.ndarray
    method: str
    t: float
    history: dict = field(default_factory=dict)
    n_iter: int = 0
    best_iteration: int = 0
    elapsed: float = 0.0


def _gram_target(G, target, welch):
    """Projection of a normalised Gram matrix onto the target set of the ``"gram"`` method."""
    P = np.zeros_like(G) if target == "identity" else np.clip(G, -welch, welch)
    np.fill_diagonal(P, 1.0)
    return P


def _record(hist, it, G, t, t0, objective):
    off = _offdiag_abs(G)
    K = G.shape[0]
    hist["iteration"].append(it)
    hist["objective"].append(float(objective(G, off)))
    hist["coherence"].append(float(off.max()))
    hist["t_averaged"].append(_t_avg(off, t))
    gd = G - np.eye(K)
    hist["gram_error"].append(float(np.sqrt(np.einsum("ij,ij->", gd, gd) / K)))
    hist["time"].append(time.perf_counter() - t0)


def _elad_shrink(G, t, gamma):
    """Elad's shrinkage of the off-diagonal Gram entries (step 3 of his algorithm)."""
    a = np.abs(G)
    s = np.sign(G)
    out = np.where(a >= t, gamma * G, np.where(a >= gamma * t, gamma * t * s, G))
    np.fill_diagonal(out, 1.0)
    return out


def _top_psd_factor(G, m):
    """``S`` of shape (m, K) with ``S^T S`` the best rank-``m`` PSD approximation of symmetric ``G``."""
    K = G.shape[0]
    w, V = scipy.linalg.eigh(G, subset_by_index=[K - m, K - 1], driver="evx", check_finite=False)
    return np.sqrt(np.maximum(w, 0.0))[:, None] * V.T


def optimize_sensing(D, m, *, method="elad", rng=None, init=None, max_iter=None, t=None, fraction=0.2,
                     gamma=0.5, target="identity", step=0.3, reg=0.0, tol=0.0, progress=False, return_info=False):
    """Design an ``(m, n_features)`` sensing matrix that makes ``A D`` incoherent.

    Parameters
    ----------
    D : ndarray of shape (n_features, n_atoms)
        Dictionary in which the signals are sparse: learned (:mod:`cs_toolkit.dictionary`),
        an overcomplete DCT, an orthonormal basis, or random. Need not have unit-norm atoms.
    m : int
        Number of measurements, ``1 <= m <= n_features``.
    method : {"elad", "gram"}, default "elad"
        ``"elad"``: Elad's iterative shrinkage of the large Gram entries (minimises the
        t-averaged coherence). ``"gram"``: alternating projection of the Gram matrix onto a
        target (``target``) and onto the Gram matrices reachable by ``A D``, each step solved
        in closed form (Duarte-Carvajalino & Sapiro; Xu, Pi & Cao for the equiangular target).
    rng : None, int or numpy.random.Generator
        Randomness of the Gaussian start (N(0, 1/m) entries); the same seed gives the same matrix.
    init : ndarray of shape (m, n_features), optional
        Start from this matrix instead of a random one (``rng`` is then unused).
    max_iter : int, optional
        Iterations; default 200 for ``"elad"``, 100 for ``"gram"``.
    t : float in (0, 1), optional
        ``"elad"``: an absolute shrinkage threshold on ``|g_ij|``. By default the threshold is
        recomputed every iteration as the value above which lie the ``fraction`` largest
        off-diagonal entries (Elad's "t%" variant). Also the ``t`` of the recorded t-averaged
        coherence (default: the start's threshold for ``fraction``).
    fraction : float in (0, 1], default 0.2
        ``"elad"`` with ``t=None``: share of off-diagonal entries shrunk per iteration.
    gamma : float in (0, 1), default 0.5
        ``"elad"``: shrinkage factor of the entries above ``t``.
    target : {"identity", "welch"}, default "identity"
        ``"gram"``: the target of the off-diagonal entries: 0 (``G -> I``, Duarte-Carvajalino &
        Sapiro), or clipped to the Welch bound ``sqrt((K - m) / (m (K - 1)))``, the coherence of
        an equiangular tight frame (Xu, Pi & Cao 2010).
    step : float in (0, 1], default 0.3
        ``"gram"``: relaxation, the target is ``(1 - step) G + step P(G)``.
    reg : float, default 0
        ``"gram"``: weight of the robustness penalty ``lam ||A||_F^2`` added to the Gram
        objective, ``lam = reg * mean(s_i^2)`` with ``s_i`` the singular values of ``D``. It
        stands for ``||A E||_F^2``, the measured sparse-representation error ``E`` of real
        signals taken as white (Hong & Zhu 2018, "An efficient method for robust projection
        matrix design", Signal Process. 143): without it the design amplifies the
        directions where ``D`` is weak, and with them the error of signals that are only
        approximately sparse (image blocks). ``reg`` trades coherence for robustness; the
        iterate with the lowest Gram distance is returned, and from about ``reg = 0.5`` on that
        can be the start itself (a ``ConvergenceWarning`` then says so; 0.1 suits image blocks,
        see the README).
    tol : float, default 0
        Stop when the objective (see :class:`SensingDesign`) changed by less than ``tol``
        (relative) in an iteration.
    progress : bool, default False
        Show a tqdm progress bar with the current coherence.
    return_info : bool, default False
        Also return a :class:`SensingDesign` with the coherence history.

    Returns
    -------
    A : ndarray of shape (m, n_features)
        The designed matrix: the iterate with the lowest objective (the t-averaged coherence
        for ``"elad"``, the distance to the target Gram set for ``"gram"``), scaled to ``||A||_F^2 = n_features`` (as a Gaussian matrix with
        unit-norm columns); float32 when ``D`` is float32.
    info : SensingDesign
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        ``m`` outside ``[1, n_features]``, a non-finite or one-atom ``D``, a bad ``init`` shape,
        unknown ``method``/``target``, parameters out of range.

    Notes
    -----
    Every iteration normalises the columns of ``A D`` and forms their Gram matrix ``G``.

    ``"elad"`` (Elad 2007, "Optimized projections for compressed sensing", IEEE Trans. Signal
    Process. 55(12)): shrink ``g <- gamma g`` where ``|g| >= t`` and ``g <- gamma t sign(g)``
    where ``gamma t <= |g| < t``; reduce the result to rank ``m`` (its ``m`` largest
    eigenvalues), factor it as ``S^T S`` (``S`` of shape ``(m, K)``) and update
    ``A = S D^+``, the least-squares solution of ``A D = S``.

    ``"gram"`` (Duarte-Carvajalino & Sapiro 2009, "Learning to sense sparse signals:
    simultaneous sensing matrix and sparsifying dictionary optimization", IEEE Trans. Image
    Process. 18(7); the equiangular target of Xu, Pi & Cao 2010, "Optimized projection matrix
    for compressive sensing", EURASIP J. Adv. Signal Process.; Abolghasemi et al. 2012):
    project ``G`` onto the target set (``I``, or off-diagonals clipped to the Welch bound),
    relax, and solve ``min_A ||D^T A^T A D - G_t||_F`` in closed form: with ``D = U S W^T``
    (thin SVD), ``A = Lambda_m^(1/2) Q_m^T S^-1 U^T`` where ``Q_m, Lambda_m`` are the ``m``
    leading eigenpairs of ``W^T G_t W`` (less ``lam / 2 S^-2`` with ``reg``).

    Examples
    --------
    >>> import numpy as np
    >>> D = np.random.default_rng(0).standard_normal((40, 60))
    >>> A, info = optimize_sensing(D, 15, rng=0, max_iter=30, return_info=True)
    >>> A.shape, info.history["t_averaged"][-1] < info.history["t_averaged"][0]
    ((15, 40), True)
    """
    t0 = time.perf_counter()
    in_dtype = np.asarray(D).dtype if hasattr(D, "dtype") else np.float64
    D = _check_dictionary(D)
    n, K = D.shape
    m = check_int("m", m, low=1, high=n)
    method = check_option("method", method, DESIGN_METHODS)
    max_iter = check_int("max_iter", (200 if method == "elad" else 100) if max_iter is None else max_iter, low=0)
    if t is not None:
        t = check_scalar("t", t, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    fraction = check_scalar("fraction", fraction, low=0.0, high=1.0, low_inclusive=False)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    target = check_option("target", target, _TARGETS)
    step = check_scalar("step", step, low=0.0, high=1.0, low_inclusive=False)
    tol = check_scalar("tol", tol, low=0.0)
    reg = check_scalar("reg", reg, low=0.0)
    progress = check_bool("progress", progress)
    return_info = check_bool("return_info", return_info)
    if init is None:
        gen = check_rng(rng)
        A = gen.standard_normal((m, n)) / np.sqrt(m)
    else:
        A = check_array(init, "init", ndim=2, dtype=np.float64, copy=True)
        if A.shape != (m, n):
            raise ValidationError(f"init must have shape (m, n_features) = ({m}, {n}), got {A.shape}.")
    A0 = A.copy()

    U, sv, Wt = np.linalg.svd(D, full_matrices=False)
    r = int(np.count_nonzero(sv > sv[0] * max(n, K) * np.finfo(np.float64).eps))
    if r < m:
        raise ValidationError(f"D has rank {r}, below m={m}: A D cannot have rank m; use m <= {r}.")
    U, sv, W = U[:, :r], sv[:r], Wt[:r].T
    D_pinv = (W / sv) @ U.T  # (K, n)
    # lam ||A||_F^2 = lam tr(S^-2 B^T B): the closed form then takes the PSD part of T - lam/2 S^-2
    penalty = np.diag(0.5 * reg * np.mean(sv**2) / sv**2)

    G = _normalized_gram(A @ D)
    off = _offdiag_abs(G)
    t_rec = t if t is not None else _top_threshold(off, fraction)
    welch = np.sqrt((K - m) / (m * (K - 1.0))) if K > m else 0.0
    if method == "elad":
        def objective(G, off):
            return _t_avg(off, t_rec)
    else:
        def objective(G, off):
            d = G - _gram_target(G, target, welch)
            return np.sqrt(np.einsum("ij,ij->", d, d) / K)
    hist = {"iteration": [], "objective": [], "coherence": [], "t_averaged": [], "gram_error": [], "time": []}
    _record(hist, 0, G, t_rec, t0, objective)
    best_A, best_obj, best_it = A.copy(), hist["objective"][0], 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter, desc=f"optimize_sensing ({method})", leave=False)
    it = 0
    # the matrices are small (K x K): one BLAS thread is faster, and much faster on a busy machine
    with blas_single_thread():
        try:
            for it in range(1, max_iter + 1):
                if method == "elad":
                    thr = t if t is not None else _top_threshold(_offdiag_abs(G), fraction)
                    S = _top_psd_factor(_elad_shrink(G, max(thr, _EPS), gamma), m)
                    A = S @ D_pinv
                else:
                    Gt = (1.0 - step) * G + step * _gram_target(G, target, welch)
                    B = _top_psd_factor(W.T @ Gt @ W - penalty, m)  # (m, r): B^T B ~ W^T G_t W
                    A = (B / sv) @ U.T
                G = _normalized_gram(A @ D)
                _record(hist, it, G, t_rec, t0, objective)
                if hist["objective"][-1] < best_obj:
                    best_A, best_obj, best_it = A.copy(), hist["objective"][-1], it
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(coherence=f"{hist['coherence'][-1]:.3f}", t_avg=f"{hist['t_averaged'][-1]:.3f}")
                prev, cur = hist["objective"][-2], hist["objective"][-1]
                if tol > 0 and abs(prev - cur) <= tol * max(prev, _EPS):
                    break
        finally:
            if bar is not None:
                bar.close()
    if best_it == 0 and it > 0:
        import warnings

        warnings.warn(f"optimize_sensing: none of the {it} iterations improved on the start's objective "
                      f"({hist['objective'][0]:.4g}), so the start matrix is returned"
                      + (f"; reg={reg:g} trades that objective for robustness: a smaller reg keeps more of the design"
                         if reg > 0 else ""), ConvergenceWarning, stacklevel=2)
    A = best_A
    fro = np.linalg.norm(A)
    A = A * (np.sqrt(n) / fro if fro > 0 else 1.0)
    out_dtype = result_dtype(in_dtype)
    A = np.ascontiguousarray(A, dtype=out_dtype)
    if not return_info:
        return A
    info = SensingDesign(matrix=A, initial=A0.astype(out_dtype), method=method, t=t_rec, history=hist,
                         n_iter=it if max_iter else 0, best_iteration=best_it, elapsed=time.perf_counter() - t0)
    return A, info
