"""Pieces shared by the estimators of :mod:`cs_toolkit.features`: the scikit-learn protocol
(parameters, tags) without importing scikit-learn, and the checks of samples and labels."""

from __future__ import annotations

import inspect

import numpy as np

from .._validation import check_array
from ..dictionary.estimator import dense_samples, not_fitted, sklearn_tags
from ..exceptions import ValidationError

__all__ = ["EstimatorProtocol", "check_samples", "check_labels", "coder_options", "not_fitted"]

# not_fitted and sklearn_tags live with DictionaryLearner (a unit below this one) and are shared.


class EstimatorProtocol:
    """``get_params`` / ``set_params`` / ``__repr__`` / ``__sklearn_tags__`` read from ``__init__``.

    scikit-learn is imported only inside ``__sklearn_tags__`` (called by scikit-learn itself), so
    importing :mod:`cs_toolkit` never loads it; ``clone``, ``Pipeline`` and ``GridSearchCV`` work
    through these methods.
    """

    _estimator_type = None

    @classmethod
    def _get_param_names(cls):
        return sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")

    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn protocol); an unknown name is a ``ValidationError``."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValidationError(f"Invalid parameter {key!r} for {type(self).__name__}; valid: {', '.join(valid)}.")
            setattr(self, key, value)
        return self

    def __repr__(self):
        sig = inspect.signature(type(self).__init__)
        changed = [f"{k}={getattr(self, k)!r}" for k, p in sig.parameters.items()
                   if k != "self" and not _same(getattr(self, k), p.default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        return sklearn_tags(self._estimator_type)


def _same(a, b):
    try:
        return bool(a is b or (type(a) is type(b) and a == b))
    except Exception:  # arrays and the like
        return False


def check_samples(X, name="X", *, n_features=None, owner=None, dtype=None):
    """A 2-D batch of samples ``(n_samples, n_features)`` as in scikit-learn (1-D input is refused).

    The message on a feature mismatch reads ``"X has 3 features, but Owner is expecting 4
    features as input"`` (scikit-learn's wording, which its estimator checks look for).
    """
    arr = dense_samples(X, name)  # sparse refused, object arrays of numbers converted, empty axes refused
    arr = np.asarray(arr)
    if arr.ndim == 1:
        raise ValidationError(f"{name} must be 2-D (n_samples, n_features), got a 1-D array of shape {arr.shape}. "
                              f"Reshape your data with {name}.reshape(1, -1) for one sample or "
                              f"{name}.reshape(-1, 1) for one feature.")
    if np.iscomplexobj(arr):
        raise ValidationError(f"{name} must be real-valued. Complex data not supported, got dtype {arr.dtype}.")
    arr = check_array(arr, name, ndim=2, dtype=dtype)
    if n_features is not None and arr.shape[1] != n_features:
        raise ValidationError(f"Dimension mismatch for {name}: {name} has {arr.shape[1]} features, but "
                              f"{owner or 'the estimator'} is expecting {n_features} features as input.")
    return arr


def check_labels(y, n_samples, name="y"):
    """Class labels: 1-D (a column vector is accepted), one per sample, not continuous values, sortable
    (numbers or strings; None, or a mix of types that cannot be compared, is refused).

    Returns ``(classes, y_index)`` with ``classes[y_index] == y``.
    """
    if y is None:
        raise ValidationError(f"{name} must hold one class label per sample: this estimator requires y to be passed, "
                              f"but the target y is None.")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise ValidationError(f"Dimension mismatch for {name}: expected {n_samples} labels (one per sample of X), "
                              f"got {arr.shape[0]}.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValidationError(f"{name} must contain only finite labels.")
        if np.any(arr != np.round(arr)):
            raise ValidationError(f"Unknown label type: {name} must hold class labels, got continuous values.")
    if arr.dtype.kind == "c":
        raise ValidationError(f"Unknown label type: {name} must hold class labels, got complex values.")
    if arr.dtype == object:
        if any(v is None for v in arr):
            raise ValidationError(f"{name} must hold class labels (numbers or strings), got None at index "
                                  f"{next(i for i, v in enumerate(arr) if v is None)}.")
        try:
            classes, index = np.unique(arr, return_inverse=True)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in arr})
            raise ValidationError(f"{name} must hold sortable class labels of one kind (numbers or strings), got "
                                  f"values of types {', '.join(kinds)} that cannot be sorted together.") from None
        return classes, index
    classes, index = np.unique(arr, return_inverse=True)
    return classes, index


def coder_options(method, n_nonzero_coefs, lam, options, n_features, n_atoms):
    """Keyword arguments of the registered solver ``method``: its sparsity option (the number of
    atoms for greedy and thresholding solvers, ``lam`` for the penalised ones) and ``options``."""
    from ..solvers import get_solver

    spec = get_solver(method)
    opts = dict(options or {})
    if spec.sparsity_param is not None:
        if n_nonzero_coefs is not None:
            opts.setdefault(spec.sparsity_param, min(int(n_nonzero_coefs), n_features, n_atoms))
    elif "lam" in spec.options:
        if lam is None:
            raise ValidationError(f"method={method!r} is penalised: it needs lam (the l1 penalty, > 0), got None.")
        opts.setdefault("lam", lam)
    unknown = sorted(set(opts) - set(spec.options))
    if unknown:
        raise ValidationError(f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                              f"valid options: {', '.join(sorted(spec.options))}.")
    return opts
