"""Exact resume of an L-BFGS training run (:func:`cs_toolkit.learned.diffusion.train_diffusion`).

SciPy's L-BFGS-B keeps its memory inside the Fortran routine, so a run cannot be restarted from
its state. It is deterministic, though: given the same objective values it asks for the same
points. The log records every evaluation of the run (the point, the loss, the gradient) and the
validation score of every iteration; a run started with the same log *replays* them, in order,
instead of computing them (checking that the optimiser asks for exactly the logged point each
time), and goes on computing where the log ends. The resumed run therefore takes the same path,
bit for bit, as one that was never interrupted, and the replay costs only the optimiser's own
arithmetic.

File layout (a NumPy ``.npz`` written atomically after every iteration, no pickle):

``__log__``
    uint8 array holding a UTF-8 JSON record: ``format``, ``format_version``, ``fingerprint`` (the
    settings and a hash of the data the run was started with), ``elapsed_s``.
``points``, ``gradients``
    float64 ``(n_evaluations, n_parameters)``.
``losses``
    float64 ``(n_evaluations,)``.
``validation``
    float64 ``(n_iterations,)``: the validation score after each iteration.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib

import numpy as np

from .._archive import decode_json_record, open_archive
from .._atomic import atomic_savez, with_npz_suffix
from ..exceptions import ModelFileError, ValidationError

FORMAT = "cs-toolkit-lbfgs-log"
FORMAT_VERSION = 1
_MAX_META_BYTES = 1 << 16


def _bad(path, why):
    return ModelFileError(f"checkpoint {os.fspath(path)!s} is not a valid L-BFGS training log: {why}")


class EvaluationLog:
    """The evaluations of one L-BFGS run, replayed from ``path`` when it exists (see the module
    docstring). ``fingerprint`` (a JSON-serialisable dict) must equal the one the file was written
    with; ``n_parameters`` is the length of the optimised vector."""

    def __init__(self, path, fingerprint: dict, n_parameters: int):
        self.path = with_npz_suffix(path)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.n = int(n_parameters)
        self.points, self.gradients, self.losses, self.validation = [], [], [], []
        self.elapsed_s = 0.0
        self._next_eval = 0
        self._next_val = 0
        if os.path.exists(self.path):
            self._load()

    @property
    def replaying(self) -> bool:
        return self._next_eval < len(self.losses)

    def _load(self):
        p = self.path
        with open_archive(p, _bad) as npz:
            try:
                if set(npz.files) != {"__log__", "points", "gradients", "losses", "validation"}:
                    raise _bad(p, f"wrong set of arrays {sorted(npz.files)}")
                if npz.zip.getinfo("__log__.npy").file_size > _MAX_META_BYTES:
                    raise _bad(p, "the metadata record is too large")
                meta = decode_json_record(npz["__log__"], p, _bad)
                if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
                    raise _bad(p, f"metadata must name format {FORMAT!r} version {FORMAT_VERSION}")
                elapsed = meta.get("elapsed_s")
                if isinstance(elapsed, bool) or not isinstance(elapsed, int | float) or not math.isfinite(elapsed):
                    raise _bad(p, "metadata field 'elapsed_s' must be a finite number")
                P, G, L, V = (npz[k] for k in ("points", "gradients", "losses", "validation"))
            except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
                if isinstance(exc, ModelFileError):
                    raise
                raise _bad(p, f"{type(exc).__name__}: {exc}") from None
        if meta.get("fingerprint") != self.fingerprint:
            fp = meta.get("fingerprint") if isinstance(meta.get("fingerprint"), dict) else {}
            diff = sorted(k for k in set(fp) | set(self.fingerprint) if fp.get(k) != self.fingerprint.get(k))
            raise ValidationError(
                f"checkpoint {p} was written by a training run with other settings or data (differing: "
                f"{', '.join(diff) or 'fingerprint'}); use another checkpoint path or delete the file "
                "to start afresh.")
        k = L.shape[0] if L.ndim == 1 else -1
        if (any(a.dtype != np.float64 for a in (P, G, L, V)) or L.ndim != 1 or V.ndim != 1
                or P.shape != (k, self.n) or G.shape != (k, self.n)):
            raise _bad(p, f"arrays must be float64 points and gradients of shape (n, {self.n}), losses (n,) "
                          "and validation (n_iterations,)")
        if not (np.all(np.isfinite(P)) and np.all(np.isfinite(G)) and np.all(np.isfinite(L))):
            raise _bad(p, "it holds non-finite values")
        self.points, self.gradients, self.losses = list(P), list(G), [float(v) for v in L]
        self.validation = [float(v) for v in V]
        self.elapsed_s = float(elapsed)

    def evaluate(self, v, compute):
        """``(loss, gradient)`` at ``v``: the logged evaluation while replaying (``v`` must be the
        logged point, to the bit), else ``compute(v)``, logged."""
        i = self._next_eval
        self._next_eval += 1
        if i < len(self.losses):
            if not np.array_equal(v, self.points[i]):
                raise ValidationError(
                    f"checkpoint {self.path} does not match this run: at evaluation {i + 1} the optimiser asked "
                    "for another point than the logged one (other data or settings); delete the file to start "
                    "afresh.")
            return self.losses[i], self.gradients[i].copy()
        loss, g = compute(v)
        self.points.append(np.array(v, dtype=np.float64))
        self.gradients.append(np.array(g, dtype=np.float64))
        self.losses.append(float(loss))
        return loss, g

    def score(self, compute) -> float:
        """The validation score of the next iteration: logged, or ``compute()``, logged."""
        i = self._next_val
        self._next_val += 1
        if i < len(self.validation):
            return self.validation[i]
        value = float(compute())
        self.validation.append(value)
        return value

    def save(self, elapsed_s: float) -> str:
        """Write the log atomically (after an iteration); returns the path written."""
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": self.fingerprint,
                "elapsed_s": float(elapsed_s)}
        shape = (len(self.losses), self.n)
        return atomic_savez(self.path, {
            "__log__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            "points": np.array(self.points, dtype=np.float64).reshape(shape),
            "gradients": np.array(self.gradients, dtype=np.float64).reshape(shape),
            "losses": np.array(self.losses, dtype=np.float64),
            "validation": np.array(self.validation, dtype=np.float64),
        })
