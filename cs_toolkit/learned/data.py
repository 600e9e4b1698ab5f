"""Training data for the unrolled networks: synthetic sparse codes or user signals.

A source hands out pairs ``(Y, C)``: measurements ``Y`` of shape
``(n_signals, m)`` and the codes ``C`` of shape ``(n_signals, n)`` that the
network must recover, with ``Y = C @ (A Psi).T + noise``. The noise has the
standard deviation ``std(A Psi c) * 10**(-snr_db / 20)`` (taken over the whole
batch), so ``snr_db`` is the measurement SNR; ``snr_db=None`` is noiseless.

* :class:`SyntheticSource` draws fresh Bernoulli-Gaussian codes at every call
  (no fixed training set), as in the LISTA literature.
* :class:`ArraySource` serves mini-batches of a fixed array of user signals
  (image patches, audio frames) coded in a basis or dictionary ``Psi``; a
  fraction of them is held out as the validation set.
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_array,
    check_float_dtype,
    check_int,
    check_rng,
    check_scalar,
    dense_matrix,
)
from ..exceptions import ValidationError

__all__ = ["SyntheticSource", "ArraySource", "add_measurement_noise"]


def add_measurement_noise(Y, snr_db, rng):
    """``Y + sigma * N(0, 1)`` with ``sigma = std(Y) * 10**(-snr_db / 20)`` (new array; ``None`` = no noise).

    The package's one noise model, :func:`cs_toolkit.signals.add_noise`, drawing from ``rng``.
    """
    if snr_db is None:
        return Y
    from ..signals.synthetic import add_noise  # signals is a layer above: imported when used

    return add_noise(Y, snr_db, rng=rng)


def _check_snr(snr_db):
    if snr_db is None:
        return None
    return check_scalar("snr_db", snr_db)


def _codes_of(D, S):
    """``Psi^{-1} s`` of every row of ``S`` for a square dictionary ``D``, which must be invertible."""
    sv = np.linalg.svd(D, compute_uv=False)  # numerically singular: sigma_min <= eps * sigma_max
    C = None if sv[-1] <= np.finfo(np.float64).eps * sv[0] else np.linalg.solve(D, S.T.astype(np.float64)).T
    if C is None or not np.all(np.isfinite(C)):
        raise ValidationError(
            f"dictionary must be invertible when codes is not given (the codes are dictionary^-1 @ s), got a "
            f"singular matrix of shape {D.shape} (singular values from {sv[0]:.3g} down to {sv[-1]:.3g}); "
            "pass codes (e.g. sparse codes of the signals from cs_toolkit.solvers) as well."
        )
    return C


class SyntheticSource:
    """Bernoulli-Gaussian sparse codes measured by ``A`` (optionally through a dictionary).

    Parameters
    ----------
    A : array_like of shape (m, n_features)
        Sensing matrix.
    p : float, default 0.1
        Probability that an entry of a code is non-zero; non-zero values are N(0, 1).
    snr_db : float, optional
        Measurement SNR in dB; None for noiseless measurements.
    dictionary : array_like of shape (n_features, n), optional
        Codes live in the dictionary's coefficient space; measured as ``A Psi c``.
    dtype : {np.float32, np.float64}, default np.float32
    rng : None, int or Generator
        Default generator of :meth:`sample` when it is given none.

    Examples
    --------
    >>> A = np.random.default_rng(0).standard_normal((20, 40)) / np.sqrt(20)
    >>> Y, C = SyntheticSource(A, p=0.1, rng=0).sample(5)
    >>> Y.shape, C.shape
    ((5, 20), (5, 40))
    """

    def __init__(self, A, p=0.1, snr_db=None, *, dictionary=None, dtype=np.float32, rng=None):
        A = dense_matrix(A, "A")
        if dictionary is not None:
            D = dense_matrix(dictionary, "dictionary")
            if D.shape[0] != A.shape[1]:
                raise ValidationError(f"Dimension mismatch: dictionary has shape {D.shape}, A has shape {A.shape}.")
            A = A @ D
        self.operator = A
        self.n_measurements, self.n_components = A.shape
        self.p = check_scalar("p", p, low=0.0, high=1.0, low_inclusive=False)
        self.snr_db = _check_snr(snr_db)
        self.dtype = check_float_dtype("dtype", dtype)
        self._At = A.T.astype(self.dtype)
        self.rng = check_rng(rng)

    def sample(self, n_samples, rng=None):
        """Draw ``n_samples`` fresh pairs ``(Y, C)`` in the source's dtype."""
        n_samples = check_int("n_samples", n_samples, low=1)
        rng = self.rng if rng is None else check_rng(rng)
        support = rng.random((n_samples, self.n_components)) < self.p
        C = (support * rng.standard_normal((n_samples, self.n_components))).astype(self.dtype)
        Y = add_measurement_noise(C @ self._At, self.snr_db, rng)
        return np.ascontiguousarray(Y), C

    def validation_set(self, n_samples, rng=None):
        """A validation set (fresh draws; call once and keep it)."""
        return self.sample(n_samples, rng)


class ArraySource:
    """Mini-batches of user signals (image patches, audio frames) coded in a basis ``Psi``.

    Parameters
    ----------
    signals : array_like of shape (n_signals, n_features)
        The training signals (rows).
    A : array_like of shape (m, n_features)
        Sensing matrix.
    dictionary : array_like of shape (n_features, n), optional
        Basis or dictionary ``Psi``. When ``codes`` is not given it must be
        square and invertible (e.g. an orthonormal DCT or wavelet basis): the
        codes are then ``Psi^{-1} s``. Without a dictionary the codes are the
        signals themselves.
    codes : array_like of shape (n_signals, n), optional
        Codes of the signals in ``Psi`` (e.g. sparse codes of a learned
        dictionary from OMP); the targets of the network.
    snr_db : float, optional
        Measurement SNR (fresh noise at every call); None for noiseless.
    val_fraction : float, default 0.1
        Fraction of the signals held out for validation (at least one).
    dtype : {np.float32, np.float64}, default np.float32
    rng : None, int or Generator
        Shuffles the split and is the default generator of :meth:`sample`.
    """

    def __init__(self, signals, A, dictionary=None, *, codes=None, snr_db=None, val_fraction=0.1,
                 dtype=np.float32, rng=None):
        self.dtype = check_float_dtype("dtype", dtype)
        S = check_array(signals, "signals", ndim=2)
        A = dense_matrix(A, "A")
        if S.shape[1] != A.shape[1]:
            raise ValidationError(
                f"Dimension mismatch: signals have {S.shape[1]} features (shape {S.shape}) but A has "
                f"shape {A.shape}; expected A.shape[1] == {S.shape[1]}."
            )
        if S.shape[0] < 2:
            raise ValidationError(f"signals must hold at least 2 rows (train and validation), got {S.shape[0]}.")
        if dictionary is not None:
            D = dense_matrix(dictionary, "dictionary")
            if D.shape[0] != A.shape[1]:
                raise ValidationError(f"Dimension mismatch: dictionary has shape {D.shape}, A has shape {A.shape}.")
            op = A @ D
        else:
            D, op = None, A
        if codes is not None:
            C = check_array(codes, "codes", ndim=2)
            if C.shape != (S.shape[0], op.shape[1]):
                raise ValidationError(f"codes must have shape {(S.shape[0], op.shape[1])}, got {C.shape}.")
        elif D is None:
            C = S
        elif D.shape[0] == D.shape[1]:
            C = _codes_of(D, S)
        else:
            raise ValidationError(
                f"dictionary of shape {D.shape} is not square: pass codes (e.g. sparse codes of the signals "
                "from cs_toolkit.solvers) as well."
            )
        self.snr_db = _check_snr(snr_db)
        vf = check_scalar("val_fraction", val_fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        self.rng = check_rng(rng)
        self.operator = op
        self.dictionary = D
        self.n_measurements, self.n_components = op.shape
        order = self.rng.permutation(S.shape[0])
        n_val = min(max(1, int(round(vf * S.shape[0]))), S.shape[0] - 1)
        C = np.ascontiguousarray(C, dtype=self.dtype)
        self._val = C[order[:n_val]]
        self._train = C[order[n_val:]]
        self._opT = op.T.astype(self.dtype)

    @property
    def n_train(self) -> int:
        return self._train.shape[0]

    def sample(self, n_samples, rng=None):
        """A random mini-batch ``(Y, C)`` of training signals (without replacement when possible)."""
        n_samples = check_int("n_samples", n_samples, low=1)
        rng = self.rng if rng is None else check_rng(rng)
        replace = n_samples > self.n_train
        idx = rng.choice(self.n_train, size=n_samples, replace=replace)
        C = self._train[idx]
        return np.ascontiguousarray(add_measurement_noise(C @ self._opT, self.snr_db, rng)), C

    def validation_set(self, n_samples=None, rng=None):
        """The held-out signals (the first ``n_samples`` of them), measured with noise drawn once."""
        rng = self.rng if rng is None else check_rng(rng)
        C = self._val if n_samples is None else self._val[: check_int("n_samples", n_samples, low=1)]
        return np.ascontiguousarray(add_measurement_noise(C @ self._opT, self.snr_db, rng)), C.copy()
