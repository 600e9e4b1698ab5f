"""Sparse codes as features: a scikit-learn compatible transformer, and patch extraction and
pooling for images (Coates & Ng 2011).

A batch is rows, as everywhere in the package: ``X`` of shape ``(n_samples, n_features)``; a
dictionary is ``(n_features, n_atoms)``; the codes are ``(n_samples, n_atoms)``. In image mode
(``image_shape`` given) each row of ``X`` is one flattened image; its patches are coded and the
codes pooled over a grid of cells, so the features are ``(n_samples, n_cells * n_atoms)``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_bool, check_int, check_option, check_rng
from ..exceptions import ValidationError
from ._common import EstimatorProtocol, check_samples, coder_options, not_fitted

__all__ = ["SparseCodeTransformer", "extract_patches", "pool_codes", "POOLINGS", "LEARNING_METHODS"]

#: Pooling of patch codes over a cell of the grid.
POOLINGS = ("max", "mean")
#: Dictionary-learning methods of :class:`cs_toolkit.dictionary.DictionaryLearner`.
LEARNING_METHODS = ("ksvd", "approx_ksvd", "mod", "online")
#: Patches coded at once in image mode (bounds the memory of a transform).
_PATCH_CHUNK = 65536


def _pair(name, value):
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValidationError(f"{name} must be an integer or a pair of integers, got {value!r}.")
    return check_int(f"{name}[0]", value[0], low=1), check_int(f"{name}[1]", value[1], low=1)


def extract_patches(images, patch_size, *, stride=1):
    """All ``patch_size`` patches of a batch of images, on a regular grid of positions.

    Parameters
    ----------
    images : array_like of shape (n_images, height, width)
        Grayscale images (a single 2-D image is one image).
    patch_size : int or (int, int)
        Patch height and width.
    stride : int or (int, int), default 1
        Distance between the top-left corners of neighbouring patches.

    Returns
    -------
    ndarray of shape (n_images, n_rows, n_cols, patch_height * patch_width)
        Patch ``(i, r, c)`` starts at pixel ``(r * stride, c * stride)`` of image ``i``, flattened
        row-major; ``n_rows = (height - patch_height) // stride + 1`` (likewise ``n_cols``). A new
        array, float32 for float32 images, else float64.

    Raises
    ------
    ValidationError
        Images smaller than the patch, bad sizes.

    Examples
    --------
    >>> extract_patches(np.zeros((3, 8, 8)), 4, stride=2).shape
    (3, 3, 3, 16)
    """
    ims = check_array(images, "images", ndim=(2, 3))
    if ims.ndim == 2:
        ims = ims[None]
    ph, pw = _pair("patch_size", patch_size)
    sh, sw = _pair("stride", stride)
    h, w = ims.shape[1:]
    if ph > h or pw > w:
        raise ValidationError(f"patch_size {(ph, pw)} is larger than the images, of shape {(h, w)}.")
    view = np.lib.stride_tricks.sliding_window_view(ims, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
    n, nr, nc = view.shape[:3]
    return np.ascontiguousarray(view).reshape(n, nr, nc, ph * pw)


def _cell_edges(n, parts):
    return np.array([round(i * n / parts) for i in range(parts + 1)])


def pool_codes(codes, grid=(2, 2), pooling="max"):
    """Pool patch codes over a grid of cells (max or mean over the positions of each cell).

    Parameters
    ----------
    codes : array_like of shape (n_images, n_rows, n_cols, n_atoms)
        Codes of the patches at each position (from :func:`extract_patches` and a coder).
    grid : int or (int, int), default (2, 2)
        Cells along the rows and the columns of positions (as equal as possible; at most
        ``n_rows`` by ``n_cols``).
    pooling : {"max", "mean"}, default "max"
        ``"max"``: largest value of each feature in a cell (take non-negative features, e.g. the
        split signs of :class:`SparseCodeTransformer`); ``"mean"``: average.

    Returns
    -------
    ndarray of shape (n_images, grid_rows, grid_cols, n_atoms)
        Same dtype as ``codes``.

    Examples
    --------
    >>> pool_codes(np.ones((2, 5, 5, 3)), grid=2).shape
    (2, 2, 2, 3)
    """
    C = check_array(codes, "codes", ndim=4)
    gr, gc = _pair("grid", grid)
    check_option("pooling", pooling, POOLINGS)
    n, nr, nc, k = C.shape
    if gr > nr or gc > nc:
        raise ValidationError(f"grid {(gr, gc)} has more cells than the {(nr, nc)} patch positions.")
    er, ec = _cell_edges(nr, gr), _cell_edges(nc, gc)
    out = np.empty((n, gr, gc, k), dtype=C.dtype)
    reduce = np.max if pooling == "max" else np.mean
    for a in range(gr):
        for b in range(gc):
            out[:, a, b] = reduce(C[:, er[a]:er[a + 1], ec[b]:ec[b + 1]], axis=(1, 2))
    return out


class SparseCodeTransformer(EstimatorProtocol):
    """Sparse codes over a learned dictionary as features (a scikit-learn transformer).

    ``fit`` learns a dictionary with :class:`cs_toolkit.dictionary.DictionaryLearner` (K-SVD by
    default); ``transform`` codes the samples with any solver registered in
    :mod:`cs_toolkit.solvers` (:func:`cs_toolkit.solvers.list_solvers`: ``"omp"``, ``"fista"``,
    ``"lars"``, ``"iht"``, ...). With ``image_shape`` each sample is a flattened image: its patches
    are coded and the codes pooled over a grid (Coates & Ng 2011). Works in
    ``sklearn.pipeline.Pipeline``, ``clone`` and grid searches; importing it does not import
    scikit-learn.

    Parameters
    ----------
    n_atoms : int, optional
        Atoms of the dictionary; default ``2 * n_features`` (of the samples, or of the patches).
    n_nonzero_coefs : int, default 5
        Sparsity of the learning coder (OMP) and of a greedy or thresholding transform coder;
        clipped to ``min(n_features, n_atoms)``.
    method : str, default "omp"
        Registered solver used by :meth:`transform`.
    lam : float, optional
        l1 penalty of a penalised ``method`` (``"fista"``, ``"ista"``, ``"lars"``, ``"amp"``...).
    transform_options : dict, optional
        Further keyword arguments of ``method``.
    learning : {"ksvd", "approx_ksvd", "mod", "online"}, default "ksvd"
        Dictionary-learning method.
    max_iter : int, default 10
        Dictionary updates (mini-batches for ``"online"``).
    dictionary : array_like of shape (n_features, n_atoms), optional
        A fixed dictionary (unit-norm columns are made): ``fit`` then learns nothing.
    split_sign : bool, default False
        Features ``[max(c, 0), max(-c, 0)]`` (twice as many, non-negative), which lets a linear
        classifier weigh the two signs of an atom differently.
    image_shape : (int, int), optional
        Image mode: each row of ``X`` is an image of this shape, flattened row-major.
    patch_size : int or (int, int), default 4
        Image mode: patch size.
    stride : int or (int, int), default 1
        Image mode: distance between patches.
    grid : int or (int, int), default (2, 2)
        Image mode: pooling cells (see :func:`pool_codes`).
    pooling : {"max", "mean"}, default "max"
        Image mode: pooling of the codes in each cell.
    remove_mean : bool, default True
        Image mode: subtract each patch's mean before learning and coding.
    max_patches : int, default 20000
        Image mode: patches drawn (with ``random_state``) to learn the dictionary.
    random_state : None, int or numpy.random.Generator
        Randomness of the dictionary learning (initial atoms, replaced atoms, patch draw).

    Attributes
    ----------
    dictionary_ : ndarray of shape (n_coded_features, n_atoms)
        The dictionary (unit-norm columns); ``n_coded_features`` is ``n_features_in_`` or the
        patch size.
    n_features_in_ : int
    n_features_out_ : int
    n_iter_ : int
        Dictionary updates run (0 for a given ``dictionary``).
    error_ : float or None
        Relative representation error of the learned dictionary on its training rows.

    Notes
    -----
    Passes every check of scikit-learn's ``check_estimator``. As in scikit-learn, ``X`` must be 2-D
    (one sample is ``X.reshape(1, -1)``); the output keeps float32 input float32.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((200, 16))
    >>> sct = SparseCodeTransformer(32, n_nonzero_coefs=3, max_iter=2, random_state=0).fit(X)
    >>> Z = sct.transform(X[:5])
    >>> Z.shape, int((Z != 0).sum(axis=1).max())
    ((5, 32), 3)
    """

    _estimator_type = "transformer"

    def __init__(self, n_atoms=None, *, n_nonzero_coefs=5, method="omp", lam=None, transform_options=None,
                 learning="ksvd", max_iter=10, dictionary=None, split_sign=False, image_shape=None, patch_size=4,
                 stride=1, grid=(2, 2), pooling="max", remove_mean=True, max_patches=20000, random_state=None):
        self.n_atoms = n_atoms
        self.n_nonzero_coefs = n_nonzero_coefs
        self.method = method
        self.lam = lam
        self.transform_options = transform_options
        self.learning = learning
        self.max_iter = max_iter
        self.dictionary = dictionary
        self.split_sign = split_sign
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.stride = stride
        self.grid = grid
        self.pooling = pooling
        self.remove_mean = remove_mean
        self.max_patches = max_patches
        self.random_state = random_state

    # ------------------------------------------------------------------ rows to code
    def _rows(self, X, *, positions=False):
        """Rows to code: the samples, or (image mode) their patches ``(n_images, nr, nc, p)``."""
        if self.image_shape is None:
            return X
        h, w = _pair("image_shape", self.image_shape)
        if h * w != X.shape[1]:
            raise ValidationError(f"image_shape {(h, w)} has {h * w} pixels but the samples of X have "
                                  f"{X.shape[1]} features.")
        P = extract_patches(X.reshape(-1, h, w), self.patch_size, stride=self.stride)
        if self.remove_mean:
            P = P - P.mean(axis=-1, keepdims=True)
        return P if positions else P.reshape(-1, P.shape[-1])

    def _check_grid(self):
        """Image mode: the pooling grid must fit in the patch positions of an image (checked by ``fit``,
        so that no ``transform`` fails on it)."""
        gr, gc = _pair("grid", self.grid)
        (h, w), (ph, pw), (sh, sw) = (_pair(n, getattr(self, n)) for n in ("image_shape", "patch_size", "stride"))
        nr, nc = (h - ph) // sh + 1, (w - pw) // sw + 1
        if gr > nr or gc > nc:
            raise ValidationError(f"grid {(gr, gc)} has more cells than the {(nr, nc)} patch positions of a "
                                  f"{(h, w)} image (patch_size {(ph, pw)}, stride {(sh, sw)}); use a grid of at "
                                  f"most {(nr, nc)}.")

    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` of shape (n_samples, n_features); ``y`` is ignored.

        Returns
        -------
        self
        """
        from ..dictionary import DictionaryLearner

        X = check_samples(X, "X", owner=type(self).__name__)
        check_option("learning", self.learning, LEARNING_METHODS)
        k = check_int("n_nonzero_coefs", self.n_nonzero_coefs, low=1)
        check_bool("split_sign", self.split_sign)
        check_bool("remove_mean", self.remove_mean)
        rows = self._rows(X)  # image mode: checks image_shape, patch_size and stride
        if self.image_shape is not None:
            check_option("pooling", self.pooling, POOLINGS)
            self._check_grid()
        rng = check_rng(self.random_state)
        if self.image_shape is not None:
            n_max = check_int("max_patches", self.max_patches, low=1)
            if rows.shape[0] > n_max:
                rows = rows[np.sort(rng.choice(rows.shape[0], n_max, replace=False))]
        n_feat = rows.shape[1]
        D = None
        if self.dictionary is not None:
            D = check_array(self.dictionary, "dictionary", ndim=2, dtype=X.dtype)
            if D.shape[0] != n_feat:
                raise ValidationError(f"Dimension mismatch for dictionary: expected {n_feat} rows (the features "
                                      f"of {'a patch' if self.image_shape is not None else 'X'}), got shape {D.shape}.")
            norms = np.linalg.norm(D, axis=0)
            if np.any(norms == 0):
                raise ValidationError("dictionary must not have zero columns (atoms).")
            D, n_atoms = D / norms, D.shape[1]
        else:
            n_atoms = 2 * n_feat if self.n_atoms is None else check_int("n_atoms", self.n_atoms, low=1)
        max_iter = check_int("max_iter", self.max_iter, low=0)
        opts = coder_options(self.method, k, self.lam, self.transform_options, n_feat, n_atoms)  # before any work
        error, n_iter = None, 0
        if D is None and not np.any(rows):  # nothing to learn from: a fixed random dictionary
            D = rng.standard_normal((n_feat, n_atoms)).astype(X.dtype)
            D /= np.linalg.norm(D, axis=0)
        elif D is None:
            learner = DictionaryLearner(n_atoms, n_nonzero_coefs=min(k, n_feat, n_atoms), method=self.learning,
                                        max_iter=max_iter, rng=rng).fit(rows)
            D, error, n_iter = learner.dictionary_, float(learner.error_), int(learner.n_iter_)
        self.dictionary_ = np.ascontiguousarray(D)
        self.error_ = error
        self.n_iter_ = n_iter
        self._opts = opts
        self.n_features_in_ = X.shape[1]
        self.n_features_out_ = len(self._names())
        return self

    def _check_fitted(self):
        if not hasattr(self, "dictionary_"):
            raise not_fitted(self)

    def _code(self, rows):
        from ..solvers import solve

        D = self.dictionary_.astype(rows.dtype, copy=False)
        C = np.asarray(solve(D, rows, method=self.method, **self._opts), dtype=rows.dtype)
        if self.split_sign:
            C = np.concatenate([np.maximum(C, 0), np.maximum(-C, 0)], axis=1)
        return C

    def transform(self, X):
        """Sparse-code features of ``X`` (n_samples, n_features).

        Returns
        -------
        ndarray of shape (n_samples, n_features_out_)
            The codes (``n_atoms`` columns, twice that with ``split_sign``), or in image mode the
            pooled codes, cell by cell (``grid_rows * grid_cols`` blocks of features). Same dtype
            as ``X`` (float32 or float64).
        """
        self._check_fitted()
        X = check_samples(X, "X", n_features=self.n_features_in_, owner=type(self).__name__)
        if self.image_shape is None:
            return np.ascontiguousarray(self._code(X))
        out = []
        P0 = self._rows(X[:1], positions=True)
        per_image = P0.shape[1] * P0.shape[2]
        step = max(1, _PATCH_CHUNK // per_image)
        for s in range(0, X.shape[0], step):
            P = self._rows(X[s:s + step], positions=True)
            n, nr, nc, p = P.shape
            C = self._code(P.reshape(-1, p)).reshape(n, nr, nc, -1)
            out.append(pool_codes(C, self.grid, self.pooling).reshape(n, -1))
        return np.ascontiguousarray(np.concatenate(out, axis=0))

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)

    def _names(self):
        n_atoms = self.dictionary_.shape[1]
        atoms = [f"atom{j}" for j in range(n_atoms)]
        if self.split_sign:
            atoms = [a + "_pos" for a in atoms] + [a + "_neg" for a in atoms]
        if self.image_shape is None:
            return atoms
        gr, gc = _pair("grid", self.grid)
        return [f"cell{a}_{b}_{name}" for a in range(gr) for b in range(gc) for name in atoms]

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``atom{j}`` (``_pos``/``_neg`` with ``split_sign``), prefixed by
        ``cell{r}_{c}_`` in image mode.

        Parameters
        ----------
        input_features : array_like of str, optional
            Checked for length against ``n_features_in_`` only (the names do not depend on it).

        Returns
        -------
        ndarray of str objects
        """
        self._check_fitted()
        if input_features is not None and len(input_features) != self.n_features_in_:
            raise ValidationError(f"input_features must have {self.n_features_in_} names, got {len(input_features)}.")
        return np.asarray(self._names(), dtype=object)
