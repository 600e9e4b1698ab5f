"""Sparse-representation classification (Wright, Yang, Ganesh, Sastry & Ma 2009).

A test sample ``y`` is coded over the dictionary whose atoms are the (unit-norm) training samples,
``y ~ D x``; the class whose atoms alone reconstruct ``y`` best, ``argmin_c ||y - D delta_c(x)||``
(``delta_c`` keeps the coefficients of class ``c``), is the prediction. The robust version codes
over ``[D, I]``, so that an error ``e`` that is sparse in the pixel basis (an occlusion, corrupted
pixels) is taken out: ``y ~ D x + e`` and the residuals are ``||y - e - D delta_c(x)||``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_scalar
from ..exceptions import ValidationError
from ._common import EstimatorProtocol, check_labels, check_samples, coder_options, not_fitted

__all__ = ["SRCClassifier"]


class SRCClassifier(EstimatorProtocol):
    """Sparse-representation classifier (SRC), batch: all test samples are coded in one solver call.

    Parameters
    ----------
    method : str, default "lars"
        A registered solver (:func:`cs_toolkit.solvers.list_solvers`): an l1 solver (``"lars"``,
        exact LASSO path; ``"fista"``) with penalty ``lam``, or a greedy one (``"omp"``) with
        ``n_nonzero_coefs`` atoms.
    lam : float, default 0.01
        l1 penalty of the penalised solvers, for unit-norm samples.
    n_nonzero_coefs : int, default 10
        Atoms of a greedy solver (clipped to ``min(n_features, n_atoms)``).
    robust : bool, default False
        Code over ``[D, I]`` (Wright et al., section 3.2): occlusion and corruption become a
        sparse error ``e`` that is removed before the class residuals are measured.
    normalize : bool, default True
        Scale training and test samples to unit l2 norm (as in the paper).
    transform_options : dict, optional
        Further keyword arguments of ``method``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    dictionary_ : ndarray of shape (n_features, n_train)
        The training samples as unit-norm columns (zero samples dropped).
    atom_class_ : ndarray of int, shape (n_train,)
        Index into ``classes_`` of each atom.
    n_features_in_ : int

    Notes
    -----
    Passes scikit-learn's ``check_estimator`` except ``check_supervised_y_2d``: a column-vector ``y``
    is accepted without scikit-learn's ``DataConversionWarning`` (which would mean importing
    scikit-learn). Labels may be any sortable values; continuous ``y`` is refused.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bases = rng.standard_normal((3, 20, 2))            # three planted 2-D subspaces of R^20
    >>> X = np.concatenate([(b @ rng.standard_normal((2, 10))).T for b in bases])
    >>> y = np.repeat([0, 1, 2], 10)
    >>> test = (bases[2] @ rng.standard_normal(2))[None]
    >>> SRCClassifier().fit(X, y).predict(test)
    array([2])
    """

    _estimator_type = "classifier"

    def __init__(self, method="lars", *, lam=0.01, n_nonzero_coefs=10, robust=False, normalize=True,
                 transform_options=None):
        self.method = method
        self.lam = lam
        self.n_nonzero_coefs = n_nonzero_coefs
        self.robust = robust
        self.normalize = normalize
        self.transform_options = transform_options

    def fit(self, X, y):
        """Store the training samples as the dictionary.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)
            Class labels (any sortable values; continuous values are refused).

        Returns
        -------
        self
        """
        X = check_samples(X, "X", owner=type(self).__name__)
        classes, index = check_labels(y, X.shape[0], "y")
        check_scalar("lam", self.lam, low=0.0, low_inclusive=False)
        check_bool("robust", self.robust)
        check_bool("normalize", self.normalize)
        norms = np.linalg.norm(X, axis=1)
        keep = norms > 0
        if not np.any(keep):
            raise ValidationError("X must contain at least one non-zero sample, got all zeros.")
        Xk = X[keep] / norms[keep, None] if self.normalize else X[keep]
        self.dictionary_ = np.ascontiguousarray(Xk.T)
        self.atom_class_ = index[keep]
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        n_atoms = self.dictionary_.shape[1] + (X.shape[1] if self.robust else 0)
        self._opts = coder_options(self.method, self.n_nonzero_coefs, self.lam, self.transform_options,
                                   X.shape[1], n_atoms)
        return self

    def _check_fitted(self):
        if not hasattr(self, "dictionary_"):
            raise not_fitted(self, "fit(X, y)")

    def _codes(self, X):
        """(normalised samples, codes over D, error part e or None)."""
        from ..solvers import solve

        self._check_fitted()
        Y = check_samples(X, "X", n_features=self.n_features_in_, owner=type(self).__name__)
        D = self.dictionary_.astype(Y.dtype, copy=False)
        if self.normalize:
            nrm = np.linalg.norm(Y, axis=1, keepdims=True)
            Y = Y / np.where(nrm > 0, nrm, 1.0)
        A = np.concatenate([D, np.eye(D.shape[0], dtype=D.dtype)], axis=1) if self.robust else D
        C = np.asarray(solve(A, Y, method=self.method, **self._opts))
        n = D.shape[1]
        return Y, C[:, :n], (C[:, n:] if self.robust else None)

    def residuals(self, X):
        """Class-wise residuals ``||y - e - D delta_c(x)||_2`` of each sample.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        Y, C, E = self._codes(X)
        return self._residuals(Y, C, E)

    def _residuals(self, Y, C, E):
        D = self.dictionary_.astype(Y.dtype, copy=False)
        target = Y - E if E is not None else Y
        R = np.empty((Y.shape[0], self.classes_.size))
        for c in range(self.classes_.size):
            idx = np.flatnonzero(self.atom_class_ == c)
            diff = target - C[:, idx] @ D[:, idx].T if idx.size else target
            R[:, c] = np.linalg.norm(diff, axis=1)
        return R

    def decision_function(self, X):
        """Scores ``-residuals(X)`` (the larger, the more likely), shape (n_samples, n_classes).

        With two classes, as in scikit-learn, one score per sample: ``r_0 - r_1`` (positive for
        ``classes_[1]``).
        """
        R = self.residuals(X)
        return R[:, 0] - R[:, 1] if self.classes_.size == 2 else -R

    def predict(self, X):
        """The class of smallest residual for each sample, shape (n_samples,)."""
        R = self.residuals(X)
        return self.classes_[np.argmin(R, axis=1)]

    def concentration_index(self, X):
        """Sparsity concentration index of each code (Wright et al., eq. 14), in [0, 1].

        ``(K max_c ||delta_c(x)||_1 / ||x||_1 - 1) / (K - 1)`` for ``K`` classes: 1 when the code
        uses one class only, 0 when it is spread evenly; a low value flags an invalid test sample.
        """
        _, C, _ = self._codes(X)
        K = self.classes_.size
        per_class = np.stack([np.abs(C[:, self.atom_class_ == c]).sum(axis=1) for c in range(K)], axis=1)
        total = per_class.sum(axis=1)
        if K == 1:
            return np.ones(C.shape[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            sci = (K * per_class.max(axis=1) / total - 1.0) / (K - 1)
        return np.where(total > 0, sci, 0.0)

    def score(self, X, y):
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        pred = self.predict(X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != pred.shape:
            raise ValidationError(f"Dimension mismatch for y: expected {pred.shape[0]} labels, got shape {y.shape}.")
        return float(np.mean(pred == y))
