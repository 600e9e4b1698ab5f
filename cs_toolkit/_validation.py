"""Input validation shared by every public function.

Each checker raises before any kernel runs, and its message names the
argument, what was expected and what was given (scikit-learn's
``validate_params``, PyLops' "Dimension mismatch" messages).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from .exceptions import DTypeError, ValidationError

__all__ = [
    "result_dtype",
    "check_array",
    "check_matrix",
    "dense_matrix",
    "check_signals",
    "check_scalar",
    "check_int",
    "check_option",
    "check_rng",
    "check_float_dtype",
    "restore_rank",
]


def result_dtype(*dtypes) -> np.dtype:
    """float32 when every input is float32, else float64 (integers become float64)."""
    dts = [np.dtype(d) for d in dtypes if d is not None]
    if dts and all(d == np.float32 for d in dts):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _check_real_dtype(name: str, arr: np.ndarray) -> None:
    if np.iscomplexobj(arr):
        raise DTypeError(
            f"{name} must be real-valued, got complex dtype {arr.dtype}; "
            f"pass np.real({name}) or stack real and imaginary parts as separate rows."
        )
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}.")


def check_array(
    X,
    name: str = "X",
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype=None,
    finite: bool = True,
    allow_empty: bool = False,
    copy: bool = False,
) -> np.ndarray:
    """Validate an array-like and return a C-contiguous float32/float64 array.

    Parameters
    ----------
    X : array_like
        The input.
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions.
    dtype : dtype, optional
        Target dtype; by default float32 stays float32 and anything else becomes float64.
    finite : bool, default True
        Reject NaN and Inf.
    allow_empty : bool, default False
        Accept arrays with a zero-length axis.
    copy : bool, default False
        Always return a new array (the caller may then write into it).

    Returns
    -------
    ndarray
        C-contiguous array of the chosen float dtype. It is never the user's
        array when ``copy=True``; otherwise it may be, and must not be written to.

    Raises
    ------
    ValidationError
        Wrong rank, empty, or non-finite input.
    DTypeError
        Complex, object or string input.
    """
    if X is None:
        raise ValidationError(f"{name} must be an array, got None.")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValidationError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object:
        raise DTypeError(f"{name} must be a numeric array, got an object array.")
    _check_real_dtype(name, arr)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValidationError(f"{name} must be {want}, got a {arr.ndim}-D array of shape {arr.shape}.")
    if not allow_empty and arr.size == 0:
        raise ValidationError(f"{name} must not be empty, got shape {arr.shape}.")
    target = np.dtype(dtype) if dtype is not None else result_dtype(arr.dtype)
    out = np.ascontiguousarray(arr, dtype=target)
    if copy and np.shares_memory(out, arr):
        out = out.copy()
    if finite and out.size and not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
        raise ValidationError(f"{name} must contain only finite values, got {bad} NaN or Inf entries.")
    return out


def check_matrix(A, name: str = "A", *, dtype=None, allow_operator: bool = True):
    """Validate a sensing matrix or dictionary of shape ``(m, n)``.

    Operator objects (anything derived from :class:`cs_toolkit.sensing.LinearOperator`)
    pass through unchanged when ``allow_operator`` is true; arrays are validated
    as finite, real, 2-D and returned C-contiguous.
    """
    from .sensing import LinearOperator  # local import: sensing imports this module

    if isinstance(A, LinearOperator):
        if not allow_operator:
            raise ValidationError(
                f"{name} must be an explicit matrix here, got the operator {type(A).__name__}; "
                f"use {name}.to_dense()."
            )
        return A
    return check_array(A, name, ndim=2, dtype=dtype)


def dense_matrix(A, name: str = "A", *, copy: bool = True, dtype=np.float64, max_size=None) -> np.ndarray:
    """``A`` as a validated C-contiguous float64 matrix; an operator is made explicit (``to_dense()``).

    The one densifier of the package. ``copy=True`` always returns a new array (a model keeps
    it); ``copy=False`` copies only when the dtype or the layout asks for it. ``dtype=None``
    keeps float32 (anything else becomes float64). ``max_size``: an operator with more than
    that many entries is refused (``ValidationError`` naming ``max_size``) instead of densified.
    """
    A = check_matrix(A, name)
    if not isinstance(A, np.ndarray):
        if max_size is not None:
            max_size = check_int("max_size", max_size, low=1)
            m, n = A.shape
            if m * n > max_size:
                raise ValidationError(
                    f"{name} is an operator of shape {A.shape} with {m * n} entries, more than "
                    f"max_size={max_size}; raise max_size to densify it anyway."
                )
        A = check_array(A.to_dense(), name, ndim=2)
    return np.array(A, dtype=dtype, order="C") if copy else np.ascontiguousarray(A, dtype=dtype)


def check_signals(
    Y,
    name: str = "Y",
    *,
    n_features: int | None = None,
    dtype=None,
    copy: bool = False,
) -> tuple[np.ndarray, bool]:
    """Validate one signal ``(n_features,)`` or a batch ``(n_signals, n_features)``.

    Returns
    -------
    Y2 : ndarray of shape (n_signals, n_features)
        C-contiguous 2-D view or copy.
    was_1d : bool
        Whether the input was a single 1-D signal (use :func:`restore_rank`).

    Raises
    ------
    ValidationError
        Wrong rank, wrong length (the message names both shapes, and hints at a
        transposed batch), non-finite values.
    """
    arr = check_array(Y, name, ndim=(1, 2), dtype=dtype, copy=copy)
    was_1d = arr.ndim == 1
    arr2 = arr[None, :] if was_1d else arr
    if n_features is not None and arr2.shape[1] != n_features:
        hint = ""
        if arr2.ndim == 2 and arr2.shape[0] == n_features and not was_1d:
            hint = f" It looks transposed: a batch is rows, pass {name}.T."
        raise ValidationError(
            f"Dimension mismatch for {name}: expected {n_features} features per signal "
            f"(shape ({n_features},) or (n_signals, {n_features})), got shape {np.shape(arr)}.{hint}"
        )
    return arr2, was_1d


def restore_rank(X2: np.ndarray, was_1d: bool) -> np.ndarray:
    """Undo the batching of :func:`check_signals`."""
    return X2[0] if was_1d else X2


def check_scalar(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Validate a finite real scalar in an interval and return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.floating | np.integer):
        raise ValidationError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}.")
    v = float(value)
    if not np.isfinite(v):
        raise ValidationError(f"{name} must be finite, got {v}.")
    if low is not None and (v < low or (not low_inclusive and v == low)):
        op = ">=" if low_inclusive else ">"
        raise ValidationError(f"{name} must be {op} {low}, got {v}.")
    if high is not None and (v > high or (not high_inclusive and v == high)):
        op = "<=" if high_inclusive else "<"
        raise ValidationError(f"{name} must be {op} {high}, got {v}.")
    return v


def check_int(name: str, value, *, low: int | None = 1, high: int | None = None) -> int:
    """Validate an integer (Python or NumPy; floats such as 3.0 are refused) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        raise ValidationError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}.")
    v = int(value)
    if low is not None and v < low:
        raise ValidationError(f"{name} must be >= {low}, got {v}.")
    if high is not None and v > high:
        raise ValidationError(f"{name} must be <= {high}, got {v}.")
    return v


def check_option(name: str, value, options: Iterable[str]) -> str:
    """Validate an option string against the valid ones (listed in the error)."""
    opts = list(options)
    if not isinstance(value, str) or value not in opts:
        raise ValidationError(f"{name} must be one of {', '.join(repr(o) for o in opts)}; got {value!r}.")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` as a bool: True or False (a NumPy bool too), anything else a ``ValidationError``
    naming ``name`` (``1`` or ``"yes"`` are not taken for True)."""
    if not isinstance(value, bool | np.bool_):
        raise ValidationError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_rng(rng) -> np.random.Generator:
    """Turn ``None``, an int seed or a Generator into a ``numpy.random.Generator``."""
    if rng is None or isinstance(rng, numbers.Integral | np.integer):
        if rng is not None and int(rng) < 0:
            raise ValidationError(f"rng seed must be non-negative, got {rng}.")
        return np.random.default_rng(None if rng is None else int(rng))
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    raise ValidationError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}.")


def check_float_dtype(name: str, dtype, *, error=ValidationError, expected: str = "float32 or float64") -> np.dtype:
    """Validate a float32/float64 dtype argument and return it as a ``np.dtype``.

    Anything else raises ``error`` (a ValidationError by default) with the message
    ``"{name} must be {expected}, got ..."``.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise error(f"{name} must be {expected}, got {dtype!r}.") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise error(f"{name} must be {expected}, got {dt}.")
    return dt
