"""Pieces shared by the dictionary-learning methods: validation, initialisation,
sparse-coder dispatch, dead/duplicate atom replacement, the result class and
the common alternate-minimisation loop (sparse coding <-> dictionary update).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_array, check_int, check_option, check_scalar
from ..exceptions import DeadAtomWarning, SparsityClippedWarning, ValidationError

__all__ = ["DictionaryLearningResult", "overcomplete_dct", "overcomplete_dct2", "sparse_encode"]

#: Valid names of the built-in sparse coders.
CODERS = ("omp", "fista", "threshold")
#: Valid names of the built-in initialisations.
INITS = ("data", "dct")
#: Two atoms with ``|<d_i, d_j>|`` above this are duplicates (one is replaced).
DUPLICATE_THRESHOLD = 0.995
#: Atoms used by fewer than this fraction of the mean number of users per atom are replaced.
MIN_USAGE = 0.1


@dataclass
class DictionaryLearningResult:
    """What a dictionary-learning run returns.

    Attributes
    ----------
    dictionary : ndarray of shape (n_features, n_atoms)
        Learned dictionary with unit-norm columns.
    codes : ndarray of shape (n_signals, n_atoms)
        Codes of the training signals for the final dictionary (from the coder).
    history : dict of lists
        ``"iteration"`` (0 = initial dictionary), ``"error"`` (relative representation
        error ``||X - codes @ D.T||_F / ||X||_F`` of the coder with the dictionary after
        that many updates), ``"time"`` (seconds since the start when that error was
        measured) and ``"replaced"`` (atoms replaced in that iteration).
    n_iter : int
        Number of dictionary updates performed.
    replaced_atoms : int
        Total number of dead or duplicate atoms replaced.
    """

    dictionary: np.ndarray
    codes: np.ndarray
    history: dict = field(default_factory=dict)
    n_iter: int = 0
    replaced_atoms: int = 0

    @property
    def error(self) -> float:
        """Final relative representation error."""
        return float(self.history["error"][-1])


# --------------------------------------------------------------------------- init


def overcomplete_dct(n_features, n_atoms):
    """Overcomplete 1-D DCT dictionary with unit-norm columns.

    Atom ``k`` samples ``cos(pi * k * (t + 1/2) / n_atoms)``, ``t = 0..n_features-1``;
    every atom except the constant one has its mean removed (as in the K-SVD
    denoising dictionary of Elad & Aharon, 2006) and is normalised.

    Parameters
    ----------
    n_features : int
        Signal length.
    n_atoms : int
        Number of atoms (``n_atoms == n_features`` gives the orthonormal DCT-II basis
        up to the mean removal, which is then a no-op).

    Returns
    -------
    ndarray of shape (n_features, n_atoms)

    Examples
    --------
    >>> D = overcomplete_dct(8, 16)
    >>> D.shape, bool(np.allclose(np.linalg.norm(D, axis=0), 1))
    ((8, 16), True)
    """
    n_features = check_int("n_features", n_features, low=1)
    n_atoms = check_int("n_atoms", n_atoms, low=1)
    t = np.arange(n_features)[:, None] + 0.5
    k = np.arange(n_atoms)[None, :]
    D = np.cos(np.pi * t * k / n_atoms)
    D[:, 1:] -= D[:, 1:].mean(axis=0)
    norms = np.linalg.norm(D, axis=0)
    norms[norms == 0] = 1.0
    return D / norms


def overcomplete_dct2(patch_size, n_atoms):
    """Separable overcomplete 2-D DCT dictionary for flattened ``patch_size x patch_size`` patches.

    The Kronecker product of two 1-D dictionaries :func:`overcomplete_dct` with
    ``ceil(sqrt(n_atoms))`` atoms each (the classic K-SVD initialisation, Elad & Aharon
    2006). When ``n_atoms`` is not a perfect square, the ``n_atoms`` atoms of lowest
    total frequency are kept. Patches are flattened row-major (``patch.ravel()``).

    Parameters
    ----------
    patch_size : int
        Side of the square patch; atoms have ``patch_size**2`` entries.
    n_atoms : int
        Number of atoms.

    Returns
    -------
    ndarray of shape (patch_size**2, n_atoms)
        Unit-norm columns.

    Examples
    --------
    >>> overcomplete_dct2(8, 256).shape
    (64, 256)
    """
    patch_size = check_int("patch_size", patch_size, low=1)
    n_atoms = check_int("n_atoms", n_atoms, low=1)
    k1 = int(np.ceil(np.sqrt(n_atoms)))
    D1 = overcomplete_dct(patch_size, k1)
    D = np.kron(D1, D1)
    if k1 * k1 != n_atoms:
        a, b = np.divmod(np.arange(k1 * k1), k1)
        keep = np.argsort(a + b, kind="stable")[:n_atoms]
        D = D[:, np.sort(keep)]
    return np.ascontiguousarray(D)


# --------------------------------------------------------------------------- validation


def check_training_data(X, name="X"):
    """Validate a training batch ``(n_signals, n_features)`` and its norm."""
    X = check_array(X, name, ndim=2)
    if not np.any(X):
        raise ValidationError(f"{name} must contain at least one non-zero signal, got all zeros.")
    return X


def check_sparsity(n_nonzero_coefs, n_features, n_atoms, *, required=False, coder="omp"):
    """Validate ``n_nonzero_coefs``; values above ``min(n_features, n_atoms)`` are clipped
    with a :class:`SparsityClippedWarning` (the same policy as :func:`cs_toolkit.solvers.omp`)."""
    if n_nonzero_coefs is None:
        if required:
            raise ValidationError(f"coder={coder!r} needs n_nonzero_coefs (a positive integer), got None.")
        return None
    k = check_int("n_nonzero_coefs", n_nonzero_coefs, low=1)
    kmax = min(n_features, n_atoms)
    if k > kmax:
        warnings.warn(
            f"n_nonzero_coefs={k} exceeds min(n_features, n_atoms)={kmax}; clipped to {kmax}.",
            SparsityClippedWarning,
            stacklevel=3,
        )
        k = kmax
    return k


def normalize_columns(D, name="init"):
    """Return a unit-norm-column copy of ``D``; zero columns are an error."""
    norms = np.linalg.norm(D, axis=0)
    if np.any(norms == 0):
        bad = np.flatnonzero(norms == 0)[:5].tolist()
        raise ValidationError(f"{name} must have non-zero columns (atoms), got zero columns at {bad}.")
    return (D / norms).astype(D.dtype, copy=False)


def initial_dictionary(X, n_atoms, init, rng):
    """Initial dictionary ``(n_features, n_atoms)`` in the dtype of ``X``, unit-norm columns.

    ``"data"``: random distinct training signals (non-zero ones first), normalised.
    ``"dct"``: :func:`overcomplete_dct2` when ``n_features`` is a perfect square
    (flattened square patches), else :func:`overcomplete_dct`. An array is a warm
    start: validated, copied and normalised.
    """
    n_signals, n_features = X.shape
    if isinstance(init, str):
        check_option("init", init, INITS)
        if init == "dct":
            p = int(round(np.sqrt(n_features)))
            D = overcomplete_dct2(p, n_atoms) if p * p == n_features and p > 1 else overcomplete_dct(n_features, n_atoms)
            return np.ascontiguousarray(D, dtype=X.dtype)
        norms = np.linalg.norm(X, axis=1)
        nz = np.flatnonzero(norms > 0)
        if n_atoms <= nz.size:
            idx = rng.choice(nz, size=n_atoms, replace=False)
            D = X[idx].T / norms[idx]
        else:  # fewer non-zero signals than atoms: top up with random directions
            extra = rng.standard_normal((n_features, n_atoms - nz.size))
            D = np.concatenate([X[nz].T / norms[nz], extra / np.linalg.norm(extra, axis=0)], axis=1)
        return np.ascontiguousarray(D, dtype=X.dtype)
    if callable(init) or not hasattr(init, "__array__") and not isinstance(init, list | tuple):
        raise ValidationError(
            f"init must be one of {', '.join(repr(o) for o in INITS)} or an array of shape "
            f"({n_features}, {n_atoms}); got {init!r}."
        )
    D = check_array(init, "init", ndim=2, dtype=X.dtype)
    if D.shape != (n_features, n_atoms):
        raise ValidationError(
            f"Dimension mismatch for init: expected shape (n_features, n_atoms) = "
            f"({n_features}, {n_atoms}), got {D.shape}."
        )
    return np.ascontiguousarray(normalize_columns(D), dtype=X.dtype)


# --------------------------------------------------------------------------- coders


#: Options of each coder's solver that the coder sets itself (from its own arguments).
_CODER_SETS = {"omp": ("n_nonzero_coefs", "tol", "return_info"), "fista": ("lam", "return_info")}


def check_coder_options(coder, coder_options):
    """``coder_options`` as a new dict of keyword arguments of the (validated) coder's solver, each
    in ``get_solver(coder).options`` as :func:`cs_toolkit.solvers.solve` checks them, less those
    the coder sets itself; a callable or ``"threshold"`` coder takes none."""
    if coder_options is not None and not isinstance(coder_options, dict):
        raise ValidationError(f"coder_options must be a dict or None, got {type(coder_options).__name__}.")
    opts = dict(coder_options or {})
    valid = []
    if opts and isinstance(coder, str) and coder in _CODER_SETS:
        from ..solvers import get_solver

        valid = sorted(set(get_solver(coder).options) - set(_CODER_SETS[coder]))
    unknown = sorted((key for key in opts if key not in valid), key=str)
    if unknown:
        what = "a callable coder" if callable(coder) else f"coder {coder!r}"
        own = f" ({', '.join(_CODER_SETS[coder])} are set by the coder itself)" if valid else ""
        raise ValidationError(f"unknown coder_options key(s) {', '.join(map(repr, unknown))} for {what}; "
                              f"valid options: {', '.join(valid) or 'none'}{own}.")
    return opts


def make_coder(coder, *, n_nonzero_coefs=None, tol=None, lam=None, n_features, n_atoms, coder_options=None):
    """Return ``code(D, X) -> codes`` for a coder name or a user callable.

    Validates the coder's parameters once (before any iteration).
    """
    if not callable(coder):
        check_option("coder", coder, CODERS)
    opts = check_coder_options(coder, coder_options)
    if callable(coder):
        def code_user(D, X):
            C = np.asarray(coder(D, X))
            if C.shape != (X.shape[0], D.shape[1]):
                raise ValidationError(
                    f"coder returned codes of shape {C.shape}; expected (n_signals, n_atoms) = "
                    f"({X.shape[0]}, {D.shape[1]})."
                )
            if not np.all(np.isfinite(C)):
                raise ValidationError("coder returned non-finite codes.")
            return np.ascontiguousarray(C, dtype=X.dtype)
        return code_user
    if coder == "omp":
        k = check_sparsity(n_nonzero_coefs, n_features, n_atoms)
        if tol is not None:
            tol = check_scalar("tol", tol, low=0.0)
        if k is None and tol is None:
            raise ValidationError("coder='omp' needs n_nonzero_coefs or tol (an error target); got neither.")

        opts.setdefault("precompute", True)  # Batch-OMP

        def code_omp(D, X):
            # the solver, not omp_gram on products formed here: with several threads it
            # forms the correlations inside its parallel kernel on one BLAS thread each;
            # a threaded product just before the kernel leaves OpenBLAS threads spinning
            # on the cores the kernel needs (cs_toolkit._threads): on 2 cores the online
            # learner's mini-batches of 256 were coded 4x slower than on one thread
            from ..solvers import omp

            return np.ascontiguousarray(omp(D, X, n_nonzero_coefs=k, tol=tol, **opts))
        return code_omp
    if coder == "threshold":
        k = check_sparsity(n_nonzero_coefs, n_features, n_atoms, required=True, coder=coder)

        def code_threshold(D, X):
            from ..solvers import keep_largest

            return np.ascontiguousarray(keep_largest(X @ D, k), dtype=X.dtype)
        return code_threshold
    # fista
    if lam is None:
        raise ValidationError("coder='fista' needs lam (the l1 penalty, > 0), got None.")
    lam = check_scalar("lam", lam, low=0.0, low_inclusive=False)
    opts.setdefault("max_iter", 300)
    opts.setdefault("tol", 1e-4)

    def code_fista(D, X):
        from ..solvers import fista

        return np.ascontiguousarray(fista(D, X, lam=lam, **opts), dtype=X.dtype)
    return code_fista


def sparse_encode(X, dictionary, *, coder="omp", n_nonzero_coefs=None, tol=None, lam=None, coder_options=None):
    """Sparse codes of signals over a dictionary.

    Parameters
    ----------
    X : ndarray of shape (n_signals, n_features) or (n_features,)
        Signals (rows).
    dictionary : ndarray of shape (n_features, n_atoms)
        Dictionary (columns are atoms; unit norms expected by OMP and thresholding).
    coder : {"omp", "fista", "threshold"} or callable, default "omp"
        ``"omp"``: Batch-OMP with ``n_nonzero_coefs`` atoms and/or the error target ``tol``
        (as :func:`cs_toolkit.solvers.omp_gram`); ``"fista"``: LASSO with penalty ``lam``, by
        :func:`cs_toolkit.solvers.fista` with ``max_iter=300, tol=1e-4`` unless ``coder_options``
        says otherwise (looser than the solver's own defaults: enough inside dictionary learning;
        pass ``coder_options={"tol": 1e-6, "max_iter": 500}`` for the solver's precision);
        ``"threshold"``: keep the ``n_nonzero_coefs`` largest correlations ``X @ D``;
        a callable ``coder(D, X) -> codes``.
    n_nonzero_coefs, tol, lam : optional
        Parameters of the coder.
    coder_options : dict, optional
        Extra keyword arguments of the coder function (:func:`cs_toolkit.solvers.omp`,
        :func:`cs_toolkit.solvers.fista`).

    Returns
    -------
    ndarray of shape (n_signals, n_atoms) or (n_atoms,)

    Examples
    --------
    >>> D = np.eye(4)
    >>> sparse_encode([[0.0, 3.0, 0.1, 0.0]], D, coder="threshold", n_nonzero_coefs=1)
    array([[0., 3., 0., 0.]])
    """
    from .._validation import check_signals, restore_rank

    D = check_array(dictionary, "dictionary", ndim=2)
    Y, was_1d = check_signals(X, "X", n_features=D.shape[0], dtype=D.dtype)
    code = make_coder(coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, lam=lam,
                      n_features=D.shape[0], n_atoms=D.shape[1], coder_options=coder_options)
    return restore_rank(code(D, Y), was_1d)


# --------------------------------------------------------------------------- dead atoms


def find_dead_atoms(D, counts, *, duplicates=True, min_usage=MIN_USAGE):
    """Indices of dead atoms: unused (``counts == 0``), rarely used (fewer users than
    ``min_usage`` times the mean) or duplicates (``|<d_i, d_j>| > 0.995``, the later one)."""
    dead = counts == 0
    if min_usage > 0:
        dead |= counts < min_usage * counts.mean()
    if duplicates and D.shape[1] > 1:
        G = np.abs(D.T @ D)
        np.fill_diagonal(G, 0.0)
        G[dead, :] = 0.0  # a dead atom does not make its twin dead too
        dup = np.triu(G, 1) > DUPLICATE_THRESHOLD
        dead |= dup.any(axis=0)
    return np.flatnonzero(dead)


def replace_dead_atoms(D, C, R, X, counts, rng, *, duplicates=True, min_usage=MIN_USAGE):
    """Replace unused (``counts == 0``) and duplicate atoms, in place on ``D`` and ``C``.

    Each dead atom becomes the normalised residual of the worst-represented signal
    not used yet (largest ``||R[i]||``), or a random normalised training signal when
    the residuals vanish. The code column of a replaced atom is zeroed. Returns the
    indices of the replaced atoms.
    """
    idx = find_dead_atoms(D, counts, duplicates=duplicates, min_usage=min_usage)
    if idx.size == 0:
        return idx
    rn = np.einsum("ij,ij->i", R, R)
    order = np.argsort(-rn, kind="stable")
    xscale = float(np.max(np.einsum("ij,ij->i", X, X)))
    pos = 0
    for j in idx:
        atom = None
        while pos < order.size and atom is None:
            i = order[pos]
            pos += 1
            if rn[i] > 1e-12 * xscale:
                atom = R[i]
        if atom is None:  # everything is represented: a random non-zero sample
            nz = np.flatnonzero(np.any(X != 0, axis=1))
            atom = X[nz[rng.integers(nz.size)]]
        D[:, j] = atom / np.linalg.norm(atom)
        C[:, j] = 0.0
    return idx


# --------------------------------------------------------------------------- loop


def relative_error(X, C, D, xnorm):
    """Residual ``X - C @ D.T`` (exploiting sparse ``C``) and ``||R||_F / xnorm``."""
    from ._ksvd_numba import _sparse_residual, _sparse_residual_serial

    R = np.empty_like(X)
    rn2 = np.empty(X.shape[0], dtype=np.float64)
    kernel = _sparse_residual if C.size > 2_000_000 else _sparse_residual_serial
    kernel(X, C, D, R, rn2)
    return R, float(np.sqrt(rn2.sum()) / xnorm)


def check_common(X, n_atoms, max_iter, rel_tol, callback):
    X = check_training_data(X)
    n_atoms = check_int("n_atoms", n_atoms, low=1)
    max_iter = check_int("max_iter", max_iter, low=0)
    if rel_tol is not None:
        rel_tol = check_scalar("rel_tol", rel_tol, low=0.0)
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable or None, got {type(callback).__name__}.")
    return X, n_atoms, max_iter, rel_tol


def _save_batch_checkpoint(path, fp, rng, D, C, hist, total_replaced, n_dead_seen):
    from . import _checkpoint

    rows, cols = np.nonzero(C)
    state = {"iteration": hist["iteration"][-1], "total_replaced": total_replaced, "n_dead_seen": n_dead_seen,
             "history": hist}
    _checkpoint.save(path, fp, state, {"dictionary": D, "codes_rows": rows.astype(np.int64),
                                       "codes_cols": cols.astype(np.int64), "codes_values": C[rows, cols]}, rng)


def _load_batch_checkpoint(reader, X, n_atoms, max_iter):
    """(D, C, hist, total_replaced, n_dead_seen) from a validated checkpoint reader."""
    n_signals, n_features = X.shape
    it = reader.int("iteration", 0, max_iter)
    hist = reader.history(it + 1)
    if hist["iteration"] != list(range(it + 1)):
        reader.fail("history['iteration'] does not count 0..iteration")
    D = reader.array("dictionary", (n_features, n_atoms), X.dtype).copy()
    rows = reader.array("codes_rows", (None,), np.int64)
    cols = reader.array("codes_cols", (rows.size,), np.int64)
    vals = reader.array("codes_values", (rows.size,), X.dtype)
    if rows.size and (rows.min() < 0 or rows.max() >= n_signals or cols.min() < 0 or cols.max() >= n_atoms):
        reader.fail("sparse code indices out of range")
    C = np.zeros((n_signals, n_atoms), dtype=X.dtype)
    C[rows, cols] = vals
    return (D, C, hist, reader.int("total_replaced", 0, 2**62), reader.int("n_dead_seen", 0, n_atoms))


def alternate(X, n_atoms, update, *, n_nonzero_coefs, max_iter, tol, rel_tol, coder, lam, init,
              rng, callback, progress, replace_dead, coder_options, method, checkpoint=None, checkpoint_every=1):
    """Alternate sparse coding and ``update(D, C, R, X, counts) -> R`` (in place on D, C).

    ``counts`` is the number of users of each atom; ``update`` returns the residual
    ``X - C @ D.T`` after the update (or None when it does not have it at hand), which
    picks the replacements of dead atoms. With ``checkpoint``, the state is saved every
    ``checkpoint_every`` updates and a run resumes from an existing checkpoint.
    """
    from . import _checkpoint

    X, n_atoms, max_iter, rel_tol = check_common(X, n_atoms, max_iter, rel_tol, callback)
    ckpt = _checkpoint.checkpoint_path(checkpoint)
    every = _checkpoint.check_every(checkpoint_every)
    replace_dead = bool(replace_dead)
    n_signals, n_features = X.shape
    code = make_coder(coder, n_nonzero_coefs=n_nonzero_coefs, tol=tol, lam=lam,
                      n_features=n_features, n_atoms=n_atoms, coder_options=coder_options)
    rng, fp, reader = _checkpoint.start(ckpt, X, rng, dict(
        method=method, n_atoms=n_atoms, n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter, tol=tol,
        rel_tol=rel_tol, coder=coder, lam=lam, init=init, replace_dead=replace_dead,
        coder_options=coder_options))
    xnorm = float(np.linalg.norm(X))
    total_replaced = 0
    n_dead_seen = 0
    if reader is None:
        D = initial_dictionary(X, n_atoms, init, rng)
        t0 = time.perf_counter()
        C = code(D, X)
        R, err = relative_error(X, C, D, xnorm)
        hist = {"iteration": [0], "error": [err], "time": [time.perf_counter() - t0], "replaced": [0]}
    else:  # resume: the state after update hist["iteration"][-1], codes included
        D, C, hist, total_replaced, n_dead_seen = _load_batch_checkpoint(reader, X, n_atoms, max_iter)
        t0 = time.perf_counter() - hist["time"][-1]
        R, err = relative_error(X, C, D, xnorm)
    start = hist["iteration"][-1]
    n_iter = start
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter, initial=start, desc=method, leave=False)
    try:
        for it in range(start + 1, max_iter + 1):
            counts = np.count_nonzero(C, axis=0)
            R2 = update(D, C, R, X, counts)
            n_rep = 0
            if not replace_dead:
                n_dead_seen = max(n_dead_seen, find_dead_atoms(D, counts, min_usage=0.0).size)
            else:
                if R2 is None:
                    R2 = X - C @ D.T
                n_rep = replace_dead_atoms(D, C, R2, X, counts, rng).size
            total_replaced += n_rep
            C = code(D, X)
            R, err_new = relative_error(X, C, D, xnorm)
            n_iter = it
            hist["iteration"].append(it)
            hist["error"].append(err_new)
            hist["time"].append(time.perf_counter() - t0)
            hist["replaced"].append(n_rep)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(error=f"{err_new:.4g}")
            stop = False
            if callback is not None:
                info = {"error": err_new, "time": hist["time"][-1], "replaced": n_rep, "dictionary": D.copy()}
                stop = bool(callback(it, info))
            if rel_tol is not None and err - err_new <= rel_tol * max(err, np.finfo(float).tiny):
                stop = True
            err = err_new
            if stop:
                break
            if ckpt is not None and it % every == 0 and it < max_iter:
                _save_batch_checkpoint(ckpt, fp, rng, D, C, hist, total_replaced, n_dead_seen)
    finally:
        if bar is not None:
            bar.close()
    final_counts = np.count_nonzero(C, axis=0)
    n_unused = int(np.sum(final_counts == 0))
    if replace_dead and n_unused and total_replaced:
        warnings.warn(
            f"{n_unused} of {n_atoms} atoms are unused by the final codes even after "
            f"{total_replaced} replacements of dead atoms.",
            DeadAtomWarning,
            stacklevel=3,
        )
    elif not replace_dead and (n_unused or n_dead_seen):
        warnings.warn(
            f"{n_unused} of {n_atoms} atoms are unused by the final codes and up to {n_dead_seen} "
            f"were unused or duplicated during learning; they were not replaced (replace_dead=False).",
            DeadAtomWarning,
            stacklevel=3,
        )
    if ckpt is not None:  # finished: the checkpoint has served its purpose
        _checkpoint.remove(ckpt)
    return DictionaryLearningResult(dictionary=D, codes=C, history=hist, n_iter=n_iter,
                                    replaced_atoms=total_replaced)


# documentation shared by the public functions
COMMON_PARAMS_DOC = """X : ndarray of shape (n_signals, n_features)
        Training signals (rows); float32 stays float32.
    n_atoms : int
        Number of atoms (may exceed ``n_features``: overcomplete).
    n_nonzero_coefs : int, optional
        Sparsity target of the ``"omp"`` and ``"threshold"`` coders; values above
        ``min(n_features, n_atoms)`` are clipped with a ``SparsityClippedWarning``.
    max_iter : int, default 30
        Number of dictionary updates.
    tol : float, optional
        Error target of the ``"omp"`` coder (squared residual norm per signal, as in
        :func:`cs_toolkit.solvers.omp_gram`); not a stopping rule (see ``rel_tol``).
    rel_tol : float, optional
        Stop when the relative error decreases by less than ``rel_tol`` (relative) in an
        iteration.
    coder : {"omp", "fista", "threshold"} or callable, default "omp"
        Sparse coder, see :func:`sparse_encode`.
    lam : float, optional
        l1 penalty of the ``"fista"`` coder.
    init : {"data", "dct"} or ndarray of shape (n_features, n_atoms), default "data"
        Initial dictionary, see :func:`overcomplete_dct2`; an array is a warm start
        (copied and normalised).
    rng : None, int or numpy.random.Generator
        Randomness (initial samples, replacements); the same seed gives identical results.
    callback : callable, optional
        ``callback(iteration, info)`` after each update, ``info`` has ``"error"``,
        ``"time"``, ``"replaced"``, ``"dictionary"`` (a copy); return True to stop.
    progress : bool, default False
        Show a tqdm progress bar.
    replace_dead : bool, default True
        Replace unused and duplicate (``|<d_i, d_j>| > 0.995``) atoms after each update by
        the normalised residual of the worst-represented signal. Atoms used by fewer than
        a tenth of the mean number of users per atom count as dead too. A
        ``DeadAtomWarning`` is issued at the end when replaced atoms keep dying (atoms
        unused by the final codes despite replacements) or, with ``replace_dead=False``,
        when any atom was unused or duplicated during learning.
    coder_options : dict, optional
        Extra keyword arguments of the coder function.
    checkpoint : str or path-like, optional
        Checkpoint file (``.npz`` is appended when missing; its directory is created).
        The learning state (dictionary, sparse codes, iteration, history, random state and
        a fingerprint of the settings and of ``X``) is written there atomically every
        ``checkpoint_every`` updates. If the file exists, the run resumes from it and
        gives the same result as an uninterrupted run; a checkpoint written with other
        settings or data is refused (``ValidationError``), a corrupt one raises
        ``ModelFileError``. The file is deleted when the run finishes.
    checkpoint_every : int, default 1
        Dictionary updates between checkpoints."""
