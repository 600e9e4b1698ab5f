"""Tree-sparse recovery: the exact tree projection and model-based CoSaMP / IHT on trees.

A signal is *tree-sparse* when its nonzero coefficients form a rooted subtree (or a forest
of subtrees hanging from the roots) of a known tree: a coefficient may be nonzero only if
its parent is. Wavelet coefficients of piecewise smooth signals and images are close to
that model. The tree is an array ``parents`` (``parents[i]`` the parent of coefficient
``i``, ``-1`` for a root), or any object with a ``tree_parents()`` method such as
:class:`cs_toolkit.transforms.Wavelet` and :class:`cs_toolkit.transforms.Wavelet2`, so
users never build index tables by hand.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_scalar
from ..exceptions import ValidationError
from ._prox import index_key, remember
from ._registry import register_solver
from .greedy import _check_common, _fill_doc
from .structured import model_cosamp, model_iht

__all__ = ["tree_projection", "tree_l0_prox", "tree_cosamp", "tree_iht", "check_tree"]

_SERIAL_MAX = 8  # rows below which the projection runs serially
#: Work (node visits: rows x n, times k + 1 for the projection) below which the kernels run on
#: one thread: waking numba's threads costs more than a few milliseconds of work saves.
_PARALLEL_MIN_WORK = 1 << 23
#: validated trees (read-only arrays), keyed by length and a hash of the parent array
_TREE_CACHE: dict = {}


def check_tree(tree, n: int, name: str = "tree"):
    """Validate a tree and return ``(parents, pre, size)``.

    Parameters
    ----------
    tree : array_like of int, shape (n,), or object with ``tree_parents()``
        Parent index of each coefficient (``-1`` for a root), or a transform such as
        :class:`~cs_toolkit.transforms.Wavelet` that provides it.
    n : int
        Number of coefficients the tree must have.
    name : str, default "tree"
        Argument name used in error messages.

    Returns
    -------
    parents : ndarray of int64, shape (n,)
    pre : ndarray of int64, shape (n,)
        The nodes in pre-order (each node before its descendants).
    size : ndarray of int64, shape (n,)
        ``size[i]`` is the number of nodes in the subtree of ``pre[i]``.

    Raises
    ------
    ValidationError
        Wrong length or type, parent indices out of range, or a cycle.
    """
    if hasattr(tree, "tree_parents"):
        tree = tree.tree_parents()
    if tree is None:
        raise ValidationError(f"{name} must be a parent index array of length {n} or a wavelet transform, got None.")
    arr = np.asarray(tree)
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise ValidationError(
            f"{name} must be an integer parent index array (or a transform with tree_parents()), "
            f"got dtype {arr.dtype}."
        )
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValidationError(
            f"{name} must have one parent index per coefficient, i.e. shape ({n},), got shape {arr.shape}; "
            "build it from the transform of the right size (e.g. Wavelet(n).tree_parents())."
        )
    parents = arr.astype(np.int64)
    key = index_key(n, parents)
    hit = _TREE_CACHE.get(key)
    if hit is not None:
        return hit
    if np.any((parents < -1) | (parents >= n)) or np.any(parents == np.arange(n)):
        raise ValidationError(f"{name} entries must be -1 (root) or the index of another node in [0, {n}).")
    # children lists (CSR) and an iterative depth-first traversal from the roots
    order = np.argsort(parents, kind="stable")
    counts = np.bincount(parents[parents >= 0], minlength=n)
    first = np.concatenate(([0], np.cumsum(counts)))
    kids = order[np.count_nonzero(parents < 0):]
    roots = np.flatnonzero(parents < 0)
    pre = np.empty(n, np.int64)
    pos = 0
    stack = list(roots[::-1])
    visited = 0
    while stack:
        v = stack.pop()
        pre[pos] = v
        pos += 1
        visited += 1
        stack.extend(kids[first[v]:first[v + 1]][::-1].tolist())
        if visited > n:
            break
    if visited != n:
        raise ValidationError(f"{name} is not a forest: {n - visited} node(s) are not reachable from a root (a cycle).")
    # subtree sizes: accumulate children into parents in reverse pre-order
    sz = np.ones(n, np.int64)
    for v in pre[::-1]:
        p = parents[v]
        if p >= 0:
            sz[p] += sz[v]
    size = sz[pre]
    return remember(_TREE_CACHE, key, (parents, pre, size))


def _n_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _block(n_rows: int) -> int:
    """Rows per ``prange`` task: about four tasks per thread."""
    return max(1, -(-n_rows // (4 * _n_threads())))


def _tree_model(pre, size):
    """``proj(V, k) -> bool mask``: the exact tree projection of every row of ``V``."""
    from ._tree_numba import _tree_project_batch, _tree_project_serial

    def proj(V, k):
        V = np.ascontiguousarray(V)
        mask = np.zeros(V.shape, np.uint8)
        kk = int(min(k, V.shape[1]))
        if V.shape[0] < _SERIAL_MAX or _n_threads() == 1 or V.size * (kk + 1) < _PARALLEL_MIN_WORK:
            _tree_project_serial(V, pre, size, kk, mask)
        else:
            _tree_project_batch(V, pre, size, kk, mask, _block(V.shape[0]))
        return mask.view(bool)

    return proj


def tree_projection(x, tree, k):
    """Best approximation of each row of ``x`` by a tree-sparse vector of at most ``k`` nonzeros.

    Parameters
    ----------
    x : array_like of shape (n,) or (n_signals, n)
        Coefficients (float32 is kept).
    tree : array_like of int, shape (n,), or a transform with ``tree_parents()``
        The tree (see :func:`check_tree`).
    k : int
        Largest number of nonzeros; the kept set is closed under taking parents.

    Returns
    -------
    ndarray
        New array of the shape and dtype of ``x``: ``x`` on the subtree ``S`` of at most ``k``
        nodes that maximises ``||x_S||^2``, zero elsewhere.

    Raises
    ------
    ValidationError
        Bad ``x``, a tree that does not match the length of ``x``, ``k < 0``.

    Notes
    -----
    Exact, by dynamic programming over the pre-order of the tree in ``O(n k)`` time and
    memory per row (see :mod:`cs_toolkit.solvers._tree_numba`): the tree approximation
    used as the model projection of Baraniuk et al. (2010), computed exactly as in Cartis &
    Thompson (2013) rather than by the near-exact condensing sort-and-select.

    Examples
    --------
    >>> import numpy as np
    >>> parents = np.array([-1, 0, 0, 1])          # 0 -> {1, 2}, 1 -> {3}
    >>> tree_projection(np.array([1.0, 0.1, 2.0, 5.0]), parents, 2)
    array([1., 0., 2., 0.])
    >>> tree_projection(np.array([1.0, 0.1, 2.0, 5.0]), parents, 3)
    array([1. , 0.1, 0. , 5. ])
    """
    arr = check_array(x, "x", ndim=(1, 2))
    k = check_int("k", k, low=0)
    _, pre, size = check_tree(tree, arr.shape[-1])
    V = np.ascontiguousarray(arr.reshape(-1, arr.shape[-1]))
    if k == 0:
        return np.zeros_like(arr)
    mask = _tree_model(pre, size)(V, k)
    return np.where(mask, V, 0).astype(arr.dtype).reshape(arr.shape)


def tree_l0_prox(x, tree, lam):
    """Prox of ``lam`` times the number of nonzeros, restricted to rooted-subtree supports.

    Returns ``argmin_u 1/2 ||x - u||^2 + lam |supp(u)|`` over ``u`` whose support is closed
    under taking parents: ``x`` kept on the subtree ``S`` that maximises
    ``sum_{i in S} (x_i^2 / 2 - lam)``. The penalised twin of :func:`tree_projection`
    (which bounds ``|S| <= k`` instead), computed exactly in ``O(n)`` per row by one
    bottom-up and one top-down pass; it is the ``"tree-l0"`` proximal operator of the
    tree-structured group penalties (groups = subtrees, unit weights).

    Parameters
    ----------
    x : array_like of shape (n,) or (n_signals, n)
    tree : array_like of int, shape (n,), or a transform with ``tree_parents()``
    lam : float
        Penalty per kept node, ``>= 0``.

    Returns
    -------
    ndarray
        New array of the shape and dtype of ``x``.

    Raises
    ------
    ValidationError
        Bad ``x``, a tree that does not match its length, ``lam < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> parents = np.array([-1, 0, 0, 1])
    >>> tree_l0_prox(np.array([1.0, 0.1, 2.0, 5.0]), parents, 1.0)
    array([1. , 0.1, 2. , 5. ])
    >>> tree_l0_prox(np.array([1.0, 0.1, 2.0, 5.0]), parents, 2.5)   # node 2 dropped
    array([1. , 0.1, 0. , 5. ])
    """
    from ._tree_numba import _tree_l0_batch, _tree_l0_serial

    arr = check_array(x, "x", ndim=(1, 2))
    lam = check_scalar("lam", lam, low=0.0)
    parents, pre, _ = check_tree(tree, arr.shape[-1])
    where = np.empty(pre.size + 1, np.int64)
    where[pre] = np.arange(pre.size)
    where[-1] = -1  # parents[i] = -1 (a root) maps to position -1
    ppos = where[parents[pre]]
    V = np.ascontiguousarray(arr.reshape(-1, arr.shape[-1]))
    out = np.empty_like(V)
    if V.shape[0] < _SERIAL_MAX or _n_threads() == 1 or V.size < _PARALLEL_MIN_WORK:
        _tree_l0_serial(V, pre, ppos, lam, out)
    else:
        _tree_l0_batch(V, pre, ppos, lam, out, _block(V.shape[0]))
    return out.reshape(arr.shape)


def _prepare_tree(A, Y, tree, n_nonzero_coefs, max_iter, tol):
    A, Y2, was_1d, dtype, k, max_iter, tol = _check_common(A, Y, n_nonzero_coefs, max_iter, tol, dense=False)
    _, pre, size = check_tree(tree, A.shape[1])
    return A, Y2, was_1d, dtype, k, max_iter, tol, _tree_model(pre, size)


@register_solver(
    "tree_cosamp",
    kind="tree",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Model-based CoSaMP with the exact tree projection (Baraniuk, Cevher, Duarte & Hegde 2010).",
)
def tree_cosamp(A, Y, *, tree, n_nonzero_coefs, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Tree-sparse CoSaMP: CoSaMP with the k-term approximations replaced by tree projections.

    {params_top}
    tree : array_like of int, shape (n,), or a transform with ``tree_parents()``
        Parent of each coefficient (``-1`` for roots), e.g. ``Wavelet(n).tree_parents()``
        or the :class:`~cs_toolkit.transforms.Wavelet` object itself.
    max_iter : int, default 100
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||`` or ``||x_new - x|| <= tol ||x_new||``.
    {params_end}

    Raises
    ------
    {raises}, a ``tree`` that does not match the ``n`` columns of ``A``.

    Notes
    -----
    Baraniuk, Cevher, Duarte & Hegde (2010), "Model-based compressive sensing", Algorithm 1
    with the tree model: ``Omega = supp(T_2k(A^T r))``, ``T = Omega U supp(x)``, least squares
    on ``T``, ``x = T_k(b)``, where ``T_s`` is the exact tree projection
    (:func:`tree_projection`). The paper's experiment: about 3k measurements where plain
    CoSaMP needs about 5k.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import Wavelet
    >>> W = Wavelet(64, "haar")
    >>> x = np.zeros(64); x[[0, 1, 2, 4]] = [1.0, -1.0, 0.5, 2.0]   # a rooted subtree
    >>> A = np.random.default_rng(0).standard_normal((12, 64)) / np.sqrt(12)
    >>> np.flatnonzero(tree_cosamp(A, A @ x, tree=W, n_nonzero_coefs=4)).tolist()
    [0, 1, 2, 4]
    """
    A, Y2, was_1d, dtype, k, max_iter, tol, proj = _prepare_tree(A, Y, tree, n_nonzero_coefs, max_iter, tol)
    return model_cosamp(A, Y2, was_1d, dtype, proj, k, max_iter=max_iter, tol=tol, history=history,
                        return_info=return_info, name="tree_cosamp")


@register_solver(
    "tree_iht",
    kind="tree",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Model-based IHT with the exact tree projection and a normalized step (Baraniuk et al. 2010).",
)
def tree_iht(A, Y, *, tree, n_nonzero_coefs, step=None, max_iter=500, tol=1e-6, history=False,
             return_info=False):
    """Tree-sparse iterative hard thresholding, ``x <- T_k(x + mu A^T (y - A x))``.

    {params_top}
    tree : array_like of int, shape (n,), or a transform with ``tree_parents()``
        Parent of each coefficient (``-1`` for roots).
    step : float, optional
        Fixed step ``mu``; by default the normalized step ``||g_S||^2 / ||A g_S||^2``
        (``g = A^T r``, ``S`` the current support), halved while the residual would grow.
    max_iter : int, default 500
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||x_new - x|| <= tol ||x_new||`` or ``||y - A x|| <= tol ||y||``.
    {params_end}

    Raises
    ------
    {raises}, a ``tree`` that does not match ``A``, ``step <= 0``.

    Notes
    -----
    Baraniuk et al. (2010), Algorithm 2 with the exact tree projection ``T_k``
    (:func:`tree_projection`).

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import Wavelet
    >>> W = Wavelet(64, "haar")
    >>> x = np.zeros(64); x[[0, 1, 2, 4]] = [1.0, -1.0, 0.5, 2.0]
    >>> A = np.random.default_rng(0).standard_normal((16, 64)) / 4.0
    >>> np.flatnonzero(np.round(tree_iht(A, A @ x, tree=W, n_nonzero_coefs=4), 6)).tolist()
    [0, 1, 2, 4]
    """
    A, Y2, was_1d, dtype, k, max_iter, tol, proj = _prepare_tree(A, Y, tree, n_nonzero_coefs, max_iter, tol)
    if step is not None:
        step = check_scalar("step", step, low=0.0, low_inclusive=False)
    return model_iht(A, Y2, was_1d, dtype, proj, k, step=step, max_iter=max_iter, tol=tol, history=history,
                     return_info=return_info, name="tree_iht")


_fill_doc(tree_cosamp)
_fill_doc(tree_iht)
