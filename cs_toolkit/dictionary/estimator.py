"""A scikit-learn-style estimator over the dictionary-learning functions, with .npz save/load."""

from __future__ import annotations

import inspect
import json
import os
import zipfile

import numpy as np

from .._archive import open_archive
from .._atomic import atomic_path
from .._validation import (
    check_array,
    check_int,
    check_option,
    check_signals,
    restore_rank,
    result_dtype,
)
from ..exceptions import DTypeError, ModelFileError, ValidationError
from ._common import CODERS, make_coder
from .ksvd import approx_ksvd, ksvd
from .mod import mod
from .online import online_dictionary_learning

__all__ = ["DictionaryLearner"]

METHODS = ("ksvd", "approx_ksvd", "mod", "online")
_FORMAT = "cs_toolkit.dictionary.DictionaryLearner"
_FORMAT_VERSION = 1

# --- the scikit-learn protocol without importing scikit-learn --------------------------------
# Shared with the estimators of cs_toolkit.features (a unit above this one, which may import it).
_NOT_FITTED = []


def not_fitted(estimator, call="fit(X)"):
    """The error for a method called before ``fit``: a ``ValidationError`` that is also
    scikit-learn's ``NotFittedError`` when scikit-learn is installed (imported only here)."""
    if not _NOT_FITTED:
        try:
            from sklearn.exceptions import NotFittedError
        except ImportError:  # pragma: no cover - scikit-learn is optional
            _NOT_FITTED.append(ValidationError)
        else:
            _NOT_FITTED.append(type("NotFittedError", (ValidationError, NotFittedError), {}))
    return _NOT_FITTED[0](f"This {type(estimator).__name__} instance is not fitted yet; call {call} first.")


def sklearn_tags(estimator_type=None):
    """scikit-learn's ``Tags`` of an estimator of ``estimator_type`` (``"classifier"``,
    ``"transformer"`` or None), for ``__sklearn_tags__``; scikit-learn is imported only here (it
    calls this itself). Transformers preserve float32 and float64."""
    from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags, TransformerTags

    tags = Tags(estimator_type=estimator_type, target_tags=TargetTags(required=False), input_tags=InputTags())
    if estimator_type == "classifier":
        tags.target_tags.required = True
        tags.classifier_tags = ClassifierTags(multi_class=True)
    elif estimator_type == "transformer":
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64", "float32"])
    return tags


def dense_samples(X, name="X"):
    """``X`` (samples as rows) ready for :func:`check_signals`: a sparse matrix is refused, an object array of numbers
    becomes float64 and an array with an empty axis is refused (in scikit-learn's words)."""
    if hasattr(X, "toarray"):
        raise ValidationError(f"{name} must be a dense array; sparse input is not supported, got {type(X).__name__}; "
                              f"pass {name}.toarray().")
    if X is None:
        return X
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):  # ragged: check_signals says so
        return X
    if arr.dtype == object and arr.ndim:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DTypeError(f"{name} must hold numbers; its object array could not be converted: {exc}") from None
    if arr.ndim == 2 and 0 in arr.shape:
        what = "sample(s)" if arr.shape[0] == 0 else "feature(s)"
        raise ValidationError(f"{name} must not be empty: it has 0 {what} (shape={arr.shape}) while a minimum of 1 "
                              f"is required.")
    return arr


class DictionaryLearner:
    """Learn a dictionary and sparse-code with it (fit / transform / inverse_transform).

    Parameters
    ----------
    n_atoms : int
        Number of atoms.
    n_nonzero_coefs : int, optional
        Sparsity of the ``"omp"`` and ``"threshold"`` coders.
    method : {"ksvd", "approx_ksvd", "mod", "online"}, default "ksvd"
        Learning algorithm (:func:`ksvd`, :func:`approx_ksvd`, :func:`mod`,
        :func:`online_dictionary_learning`).
    coder : {"omp", "fista", "threshold"} or callable, default "omp"
        Sparse coder used both in learning and in :meth:`transform`.
    max_iter : int, optional
        Dictionary updates (batch methods, default 30) or mini-batches (online, default
        ``n_epochs`` passes).
    tol : float, optional
        Error target of the OMP coder.
    lam : float, optional
        l1 penalty of the ``"fista"`` coder.
    init : {"data", "dct"} or ndarray, default "data"
        Initial dictionary.
    rng : None, int or numpy.random.Generator
        Randomness.
    batch_size, n_epochs : int
        Online learning only.
    replace_dead : bool, default True
        Replace unused and duplicate atoms.
    rel_tol : float, optional
        Batch methods: stop when the error improves by less than this (relative).
    progress : bool, default False
        tqdm progress bar.
    coder_options : dict, optional
        Extra keyword arguments of the coder.
    checkpoint : str or path-like, optional
        Checkpoint file of :meth:`fit`: the learning state is saved there atomically and
        an interrupted fit called again with the same settings and data resumes from it
        (see :func:`ksvd`, :func:`online_dictionary_learning`); deleted when the fit
        finishes. Not stored by :meth:`save`.
    checkpoint_every : int, optional
        Dictionary updates (batch methods, default 1) or mini-batches (online, default
        100) between checkpoints.

    Attributes
    ----------
    dictionary_ : ndarray of shape (n_features, n_atoms)
    n_iter_ : int
    error_ : float
        Final relative representation error on the training data.
    history_ : dict
        See :class:`DictionaryLearningResult`.
    replaced_atoms_ : int
    n_features_in_ : int

    Notes
    -----
    Speaks scikit-learn's protocol (``get_params``, ``set_params``, ``__sklearn_tags__``; a method
    called before ``fit`` raises its ``NotFittedError``, also a ``ValidationError``) without
    importing it. With an int ``rng`` it passes scikit-learn's ``check_estimator`` but for two
    checks, failed on purpose: ``check_fit2d_predict1d`` (a 1-D ``X`` is one signal here, coded
    as such) and ``check_complex_data`` (complex ``X`` raises ``DTypeError``, a ``TypeError``, as
    everywhere in the package, not a ``ValueError``). With ``rng=None`` every fit draws other
    initial atoms, so the checks that compare two fits (``check_fit_idempotent``,
    ``check_pipeline_consistency``, ``check_transformer_general``,
    ``check_transformer_data_not_an_array``) fail too: scikit-learn seeds only a parameter named
    ``random_state``. The output dtype follows ``result_dtype`` of ``X`` and the dictionary
    (float32 only when both are float32).

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((300, 16))
    >>> dl = DictionaryLearner(24, n_nonzero_coefs=3, max_iter=3, rng=0).fit(X)
    >>> codes = dl.transform(X[:5])
    >>> codes.shape, dl.inverse_transform(codes).shape
    ((5, 24), (5, 16))
    """

    def __init__(self, n_atoms, *, n_nonzero_coefs=None, method="ksvd", coder="omp", max_iter=None, tol=None,
                 lam=None, init="data", rng=None, batch_size=256, n_epochs=1, replace_dead=True, rel_tol=None,
                 progress=False, coder_options=None, checkpoint=None, checkpoint_every=None):
        self.n_atoms = n_atoms
        self.n_nonzero_coefs = n_nonzero_coefs
        self.method = method
        self.coder = coder
        self.max_iter = max_iter
        self.tol = tol
        self.lam = lam
        self.init = init
        self.rng = rng
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.replace_dead = replace_dead
        self.rel_tol = rel_tol
        self.progress = progress
        self.coder_options = coder_options
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every

    # scikit-learn protocol -------------------------------------------------------
    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn protocol); unknown names are an error."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValidationError(f"Unknown parameter {key!r} for DictionaryLearner; valid: {', '.join(valid)}.")
            setattr(self, key, value)
        return self

    def __sklearn_tags__(self):
        return sklearn_tags("transformer")

    def __repr__(self):
        return f"DictionaryLearner(n_atoms={self.n_atoms!r}, method={self.method!r}, coder={self.coder!r})"

    # fitting -------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` of shape (n_signals, n_features); returns self."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Learn the dictionary and return the codes of ``X`` (n_signals, n_atoms)."""
        return self._fit(X).codes

    def _fit(self, X):
        check_option("method", self.method, METHODS)
        X = dense_samples(X)
        common = dict(n_nonzero_coefs=self.n_nonzero_coefs, coder=self.coder, tol=self.tol, lam=self.lam,
                      init=self.init, rng=self.rng, replace_dead=self.replace_dead, progress=self.progress,
                      coder_options=self.coder_options, checkpoint=self.checkpoint)
        if self.checkpoint_every is not None:
            common["checkpoint_every"] = self.checkpoint_every
        if self.method == "online":
            res = online_dictionary_learning(X, self.n_atoms, batch_size=self.batch_size, n_epochs=self.n_epochs,
                                             max_iter=self.max_iter, **common)
        else:
            func = {"ksvd": ksvd, "approx_ksvd": approx_ksvd, "mod": mod}[self.method]
            res = func(X, self.n_atoms, max_iter=30 if self.max_iter is None else self.max_iter,
                       rel_tol=self.rel_tol, **common)
        self.dictionary_ = res.dictionary
        self.n_iter_ = res.n_iter
        self.error_ = res.error
        self.history_ = res.history
        self.replaced_atoms_ = res.replaced_atoms
        self.n_features_in_ = res.dictionary.shape[0]
        return res

    def _check_fitted(self):
        if not hasattr(self, "dictionary_"):
            raise not_fitted(self)

    def transform(self, X):
        """Sparse codes of ``X`` ((n_signals, n_features) or (n_features,)) with the learned dictionary."""
        self._check_fitted()
        Y, was_1d = check_signals(dense_samples(X), "X")
        n = self.dictionary_.shape[0]
        if Y.shape[1] != n:
            hint = " It looks transposed: a batch is rows, pass X.T." if not was_1d and Y.shape[0] == n else ""
            raise ValidationError(f"Dimension mismatch for X: X has {Y.shape[1]} features, but DictionaryLearner is "
                                  f"expecting {n} features as input (shape ({n},) or (n_signals, {n})).{hint}")
        dt = result_dtype(Y.dtype, self.dictionary_.dtype)
        D, Y = self.dictionary_.astype(dt, copy=False), Y.astype(dt, copy=False)
        code = make_coder(self.coder, n_nonzero_coefs=self.n_nonzero_coefs, tol=self.tol, lam=self.lam,
                          n_features=D.shape[0], n_atoms=D.shape[1], coder_options=self.coder_options)
        return restore_rank(code(D, Y), was_1d)

    def inverse_transform(self, codes):
        """Signals ``codes @ dictionary_.T`` from codes (n_signals, n_atoms) or (n_atoms,)."""
        self._check_fitted()
        C, was_1d = check_signals(dense_samples(codes, "codes"), "codes", n_features=self.dictionary_.shape[1])
        dt = result_dtype(C.dtype, self.dictionary_.dtype)
        return restore_rank(C.astype(dt, copy=False) @ self.dictionary_.astype(dt, copy=False).T, was_1d)

    # persistence -------------------------------------------------------------------
    def save(self, path):
        """Save the fitted learner as ``.npz`` (arrays + a JSON metadata string, no pickle).

        A callable coder or an array ``init`` cannot be stored: the saved file records
        ``coder=None`` / ``init="data"`` only if you set them so before saving.
        """
        self._check_fitted()
        if callable(self.coder):
            raise ValidationError("Cannot save a DictionaryLearner with a callable coder; set coder to one of "
                                  + ", ".join(repr(c) for c in CODERS) + " first.")
        params = self.get_params()
        params["init"] = params["init"] if isinstance(params["init"], str) else "array"
        rng = params["rng"]
        params["rng"] = int(rng) if isinstance(rng, int | np.integer) and not isinstance(rng, bool) else None
        params["checkpoint"] = None  # a path of this machine, not part of the model
        for key in ("n_nonzero_coefs", "n_atoms", "batch_size", "n_epochs", "max_iter", "checkpoint_every"):
            if isinstance(params[key], np.integer):
                params[key] = int(params[key])
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "dtype": str(self.dictionary_.dtype),
            "shape": list(self.dictionary_.shape),
            "params": params,
            "n_iter": int(self.n_iter_),
            "error": float(self.error_),
            "replaced_atoms": int(self.replaced_atoms_),
        }
        try:
            text = json.dumps(meta)
        except TypeError as exc:
            raise ValidationError(f"Cannot save: a parameter is not JSON-serialisable ({exc}).") from None
        hist = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in self.history_.items()}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # the exact path, written atomically
            np.savez(fh, dictionary=self.dictionary_, metadata=np.array(text), **hist)

    @classmethod
    def load(cls, path):
        """Load a learner saved by :meth:`save`; corrupt or foreign files raise ``ModelFileError``."""
        def bad(p, why):
            return ModelFileError(f"{os.fspath(p)!s} is not a readable DictionaryLearner .npz file: {why}")

        try:
            with open_archive(os.fspath(path), bad) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            if isinstance(exc, FileNotFoundError | ModelFileError):
                raise
            raise bad(path, exc) from None
        if "metadata" not in arrays or "dictionary" not in arrays:
            raise ModelFileError(f"{os.fspath(path)!s} lacks the 'metadata' or 'dictionary' entry; "
                                 f"found {sorted(arrays)}.")
        meta_arr = arrays["metadata"]
        if meta_arr.dtype.kind != "U" or meta_arr.ndim != 0:
            raise ModelFileError("metadata must be a JSON string.")
        try:
            meta = json.loads(str(meta_arr))
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"metadata is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ModelFileError(f"not a DictionaryLearner file (format {meta.get('format') if isinstance(meta, dict) else None!r}).")
        if meta.get("version") != _FORMAT_VERSION:
            raise ModelFileError(f"unsupported file version {meta.get('version')!r}; expected {_FORMAT_VERSION}.")
        D = arrays["dictionary"]
        if D.dtype not in (np.float32, np.float64) or D.ndim != 2 or list(D.shape) != meta.get("shape"):
            raise ModelFileError(f"dictionary entry has dtype {D.dtype} and shape {D.shape}; metadata says "
                                 f"{meta.get('dtype')} {meta.get('shape')}.")
        if str(D.dtype) != meta.get("dtype") or not np.all(np.isfinite(D)):
            raise ModelFileError("dictionary entry has the wrong dtype or non-finite values.")
        params = meta.get("params")
        if isinstance(params, dict):  # files written before checkpoints existed
            params = {"checkpoint": None, "checkpoint_every": None, **params}
        if not isinstance(params, dict) or set(params) != set(cls._param_names()):
            raise ModelFileError("metadata 'params' do not match DictionaryLearner's parameters.")
        if params.get("n_atoms") != D.shape[1]:
            raise ModelFileError(f"metadata n_atoms={params.get('n_atoms')!r} but the dictionary has {D.shape[1]} atoms.")
        if params["init"] == "array":
            params["init"] = "data"
        try:
            obj = cls(**params)
            check_option("method", obj.method, METHODS)
            check_option("coder", obj.coder, CODERS)
            if obj.checkpoint is not None:
                raise ValidationError("checkpoint must be None in a saved file.")
            if obj.checkpoint_every is not None:
                check_int("checkpoint_every", obj.checkpoint_every, low=1)
            make_coder(obj.coder, n_nonzero_coefs=obj.n_nonzero_coefs, tol=obj.tol, lam=obj.lam,
                       n_features=D.shape[0], n_atoms=D.shape[1], coder_options=obj.coder_options)
        except ValidationError as exc:
            raise ModelFileError(f"invalid parameters in metadata: {exc}") from None
        obj.dictionary_ = np.ascontiguousarray(check_array(D, "dictionary", ndim=2, dtype=D.dtype))
        obj.n_iter_ = int(meta.get("n_iter", 0))
        obj.error_ = float(meta.get("error", np.nan))
        obj.replaced_atoms_ = int(meta.get("replaced_atoms", 0))
        obj.history_ = {k[len("history_"):]: arrays[k].tolist() for k in arrays if k.startswith("history_")}
        obj.n_features_in_ = D.shape[0]
        return obj
