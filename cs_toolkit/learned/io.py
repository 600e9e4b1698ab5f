"""Saving and loading unrolled networks as ``.npz`` files, safely.

File layout (a NumPy ``.npz`` zip, no pickle anywhere):

``__metadata__``
    uint8 array holding a UTF-8 JSON record: ``format``, ``format_version``,
    ``kind``, ``n_layers``, ``n_measurements``, ``n_components``, ``n_features``,
    ``dtype``, ``toolkit_version``, ``sensing_sha256``, ``dictionary_sha256``
    (or null), ``hyperparameters``, ``debias`` (null, or ``threshold``,
    ``refit_threshold`` and ``max_support`` of the least-squares debiasing
    layer; files without the field load with debiasing off), and ``acquisition``
    (null, or the signal kind, sensing settings and scale the model was trained
    for: :mod:`cs_toolkit.learned.acquisition`; files without it load with none).
``param.<name>``
    Trainable arrays, stacked per layer, in the model dtype.
``buffer.<name>``
    Fixed arrays (ALISTA's analytic weight, FISTA's momentum), float64.
``sensing_matrix``, ``dictionary``
    float64; their SHA-256 (of the float64 C-order bytes) is in the metadata.

:func:`load_model` opens the file with ``allow_pickle=False``, checks every
field (known kind, sizes announced before anything large is read, exact key
set, shapes, dtypes, finite values, hashes of the stored matrices) and raises
:class:`~cs_toolkit.exceptions.ModelFileError` for anything else than a clean
model file, and :class:`~cs_toolkit.exceptions.ModelMismatchError` when the
matrix or dictionary given to it is not the one the model was trained for.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib

import numpy as np

from .._archive import decode_json_record as _decode_json_record
from .._archive import open_archive, record_format
from .._atomic import atomic_savez
from .._validation import check_array, dense_matrix
from .._version import __version__
from ..exceptions import ModelFileError, ModelMismatchError, ValidationError
from ._layers import npz_path, sha256_of
from .acquisition import check_acquisition
from .lista import MODEL_KINDS
from .unrolled import UnrolledNetwork

__all__ = ["save_model", "load_model", "load_any_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "cs-toolkit-learned-model"
FORMAT_VERSION = 1
_MAX_DIM = 1 << 20
_MAX_LAYERS = 10_000
_MAX_META_BYTES = 1 << 20


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (``.npz``; see the module docstring for the layout).

    Parameters
    ----------
    model : UnrolledNetwork
    path : str or os.PathLike
        Destination; ``.npz`` is appended when it is missing. The file is
        written atomically (a temporary file renamed over the target), so an
        interrupted save leaves the previous file intact.

    Raises
    ------
    ValidationError
        ``model.acquisition`` is malformed or for signals of another length than the model's
        (the check :func:`load_model` makes, done before anything is written).
    """
    if not isinstance(model, UnrolledNetwork):
        raise ModelFileError(f"model must be an UnrolledNetwork, got {type(model).__name__}.")
    n_features = int(model.sensing_matrix.shape[1])
    acquisition = None if model.acquisition is None else check_acquisition(
        model.acquisition, n_features=n_features,
        bad=lambda why: ValidationError(f"model.acquisition: {why}; nothing was written (the loader would refuse "
                                        "the file)."))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "n_layers": model.n_layers,
        "n_measurements": model.n_measurements,
        "n_components": model.n_components,
        "n_features": n_features,
        "dtype": model.dtype.name,
        "toolkit_version": __version__,
        "sensing_sha256": model.sensing_sha256,
        "dictionary_sha256": model.dictionary_sha256,
        "hyperparameters": {k: float(v) for k, v in model.hyperparameters.items()},
        "debias": None if model.debias_threshold is None else {
            "threshold": float(model.debias_threshold),
            "refit_threshold": None if model.debias_refit_threshold is None else float(model.debias_refit_threshold),
            "max_support": None if model.debias_max_support is None else int(model.debias_max_support)},
        "acquisition": acquisition,
    }
    arrays = {"__metadata__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for k, v in model.parameters().items():
        arrays[f"param.{k}"] = np.ascontiguousarray(v)
    for k in model._buffer_shapes():
        arrays[f"buffer.{k}"] = np.ascontiguousarray(model._buffers[k], dtype=np.float64)
    arrays["sensing_matrix"] = model.sensing_matrix
    if model.dictionary is not None:
        arrays["dictionary"] = model.dictionary
    atomic_savez(path, arrays)


def _bad(path, why):
    return ModelFileError(f"{os.fspath(path)!s} is not a valid cs-toolkit model file: {why}")


def _int_field(meta, key, path, low, high):
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not (low <= v <= high):
        raise _bad(path, f"metadata field {key!r} must be an integer in [{low}, {high}], got {v!r}")
    return v


def _hash_field(meta, key, path, allow_none=False):
    v = meta.get(key)
    if v is None and allow_none:
        return None
    if not isinstance(v, str) or len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise _bad(path, f"metadata field {key!r} must be a SHA-256 hex digest, got {v!r}")
    return v


def decode_json_record(raw, path, bad=_bad) -> dict:
    """:func:`cs_toolkit._archive.decode_json_record` with the model file's error by default."""
    return _decode_json_record(raw, path, bad)


def _parse_metadata(raw, path):
    meta = decode_json_record(raw, path)
    if meta.get("format") != FORMAT:
        raise _bad(path, f"metadata 'format' must be {FORMAT!r}, got {meta.get('format')!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise _bad(path, f"unsupported format_version {meta.get('format_version')!r} (this reader knows {FORMAT_VERSION})")
    if meta.get("kind") not in MODEL_KINDS:
        raise _bad(path, f"unknown model kind {meta.get('kind')!r}; known: {', '.join(MODEL_KINDS)}")
    if meta.get("dtype") not in ("float32", "float64"):
        raise _bad(path, f"metadata 'dtype' must be 'float32' or 'float64', got {meta.get('dtype')!r}")
    _int_field(meta, "n_layers", path, 1, _MAX_LAYERS)
    for key in ("n_measurements", "n_components", "n_features"):
        _int_field(meta, key, path, 1, _MAX_DIM)
    _hash_field(meta, "sensing_sha256", path)
    _hash_field(meta, "dictionary_sha256", path, allow_none=True)
    if not isinstance(meta.get("toolkit_version"), str):
        raise _bad(path, "metadata field 'toolkit_version' is missing")
    hyper = meta.get("hyperparameters")
    if not isinstance(hyper, dict) or set(hyper) != {"lam", "step", "p_inc", "p_max"} or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in hyper.values()
    ):
        raise _bad(path, f"metadata field 'hyperparameters' is malformed: {hyper!r}")
    deb = meta.get("debias")
    if deb is not None:
        ok = isinstance(deb, dict) and set(deb) == {"threshold", "refit_threshold", "max_support"}
        for key in ("threshold", "refit_threshold"):
            v = deb.get(key) if ok else None
            ok = ok and ((v is None and key == "refit_threshold")
                         or (isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v < 1.0))
        ms = deb.get("max_support") if ok else None
        ok = ok and (ms is None or (isinstance(ms, int) and not isinstance(ms, bool)
                                    and 1 <= ms <= meta["n_measurements"]))
        if not ok:
            raise _bad(path, f"metadata field 'debias' is malformed: {deb!r}")
    if meta["dictionary_sha256"] is None and meta["n_features"] != meta["n_components"]:
        raise _bad(path, "n_features differs from n_components but the model has no dictionary")
    if meta.get("acquisition") is not None:
        meta["acquisition"] = check_acquisition(
            meta["acquisition"], n_features=meta["n_features"],
            bad=lambda why: _bad(path, f"metadata field 'acquisition': {why}"))
    return meta


def _expected(meta):
    """name -> (shape, dtype) of every array the file must hold."""
    cls = MODEL_KINDS[meta["kind"]]
    T, m, n, f = meta["n_layers"], meta["n_measurements"], meta["n_components"], meta["n_features"]
    probe = object.__new__(cls)
    probe.n_layers, probe.n_measurements, probe.n_components = T, m, n
    dt = np.dtype(meta["dtype"])
    exp = {f"param.{k}": (s, dt) for k, s in probe._param_shapes().items()}
    exp.update({f"buffer.{k}": (s, np.dtype(np.float64)) for k, s in probe._buffer_shapes().items()})
    exp["sensing_matrix"] = ((m, f), np.dtype(np.float64))
    if meta["dictionary_sha256"] is not None:
        exp["dictionary"] = ((f, n), np.dtype(np.float64))
    return exp


def _read(path):
    """Read and check everything; returns (meta, arrays)."""
    npz = open_archive(path, _bad)
    with npz:
        try:
            infos = {i.filename: i for i in npz.zip.infolist()}
            if "__metadata__.npy" not in infos:
                raise _bad(path, "the metadata record '__metadata__' is missing")
            if infos["__metadata__.npy"].file_size > _MAX_META_BYTES:
                raise _bad(path, "the metadata record is too large")
            meta = _parse_metadata(npz["__metadata__"], path)
            exp = _expected(meta)
            names = set(npz.files) - {"__metadata__"}
            if names != set(exp):
                missing, extra = sorted(set(exp) - names), sorted(names - set(exp))
                raise _bad(path, f"wrong set of arrays (missing {missing}, unexpected {extra})")
            for name, (shape, dt) in exp.items():  # refuse oversize members before reading them
                if infos[name + ".npy"].file_size > 4096 + dt.itemsize * math.prod(shape):
                    raise _bad(path, f"array {name!r} is larger than its metadata allows")
            arrays = {}
            for name, (shape, dt) in exp.items():
                a = npz[name]
                if a.dtype != dt or a.shape != shape:
                    raise _bad(path, f"array {name!r} must have shape {shape} and dtype {dt}, "
                                     f"got {a.shape} and {a.dtype}")
                if not np.all(np.isfinite(a)):
                    raise _bad(path, f"array {name!r} holds NaN or Inf values")
                arrays[name] = a
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, RuntimeError,
                NotImplementedError) as exc:
            raise _bad(path, f"{type(exc).__name__}: {exc}") from None
    if sha256_of(arrays["sensing_matrix"]) != meta["sensing_sha256"]:
        raise _bad(path, "the stored sensing matrix does not match its SHA-256 in the metadata")
    if "dictionary" in arrays and sha256_of(arrays["dictionary"]) != meta["dictionary_sha256"]:
        raise _bad(path, "the stored dictionary does not match its SHA-256 in the metadata")
    return meta, arrays


def _check_same(name, given, stored_shape, stored_hash, path):
    M = dense_matrix(given, name)
    if M.shape != tuple(stored_shape):
        raise ModelMismatchError(
            f"The model in {os.fspath(path)} was trained for a {name} of shape {tuple(stored_shape)}, "
            f"got shape {M.shape}."
        )
    h = sha256_of(M)
    if h != stored_hash:
        raise ModelMismatchError(
            f"The model in {os.fspath(path)} was trained for another {name}: SHA-256 mismatch "
            f"(model {stored_hash[:16]}..., given {h[:16]}...)."
        )


def load_model(path, A=None, dictionary=None) -> UnrolledNetwork:
    """Load a network saved by :func:`save_model`, checking it against ``A`` (and ``dictionary``).

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``path + ".npz"`` when ``path`` does not exist and has no ``.npz`` suffix (the
        file :func:`save_model` wrote for it).
    A : array_like of shape (m, n_features), optional
        The sensing matrix the model will be used with; refused unless its
        SHA-256 (float64 C-order bytes) equals the one recorded at training.
    dictionary : array_like, optional
        Same check for the dictionary.

    Returns
    -------
    UnrolledNetwork
        Of the saved kind and dtype, giving outputs identical to the saved model's.

    Raises
    ------
    ModelFileError
        Truncated, corrupted or hostile files (object arrays, missing or extra
        keys, bad JSON, wrong shapes or dtypes, non-finite values, unknown kind).
    ModelMismatchError
        ``A`` or ``dictionary`` is not the one the model was trained for.
    FileNotFoundError
        No such file.
    """
    path = npz_path(path)
    meta, arrays = _read(path)
    if A is not None:
        A = check_array(A, "A", ndim=2)
        _check_same("sensing matrix A", A, arrays["sensing_matrix"].shape, meta["sensing_sha256"], path)
    if dictionary is not None:
        if meta["dictionary_sha256"] is None:
            raise ModelMismatchError(f"The model in {os.fspath(path)} was trained without a dictionary.")
        _check_same("dictionary", dictionary, arrays["dictionary"].shape, meta["dictionary_sha256"], path)
    cls = MODEL_KINDS[meta["kind"]]
    h = meta["hyperparameters"]
    try:
        model = cls(arrays["sensing_matrix"], meta["n_layers"], dictionary=arrays.get("dictionary"),
                    lam=h["lam"], step=h["step"], p_inc=h["p_inc"], p_max=h["p_max"], dtype=meta["dtype"])
    except ValueError as exc:
        raise _bad(path, f"its contents do not define a model ({exc})") from None
    if (model.n_measurements, model.n_components) != (meta["n_measurements"], meta["n_components"]):
        raise _bad(path, "the stored matrices do not have the dimensions of the metadata")
    model._load_buffers({k[len("buffer."):]: v for k, v in arrays.items() if k.startswith("buffer.")})
    model.set_parameters({k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")})
    model.acquisition = meta.get("acquisition")
    if meta.get("debias") is not None:
        model.set_debias(meta["debias"]["threshold"], meta["debias"]["max_support"],
                         refit_threshold=meta["debias"]["refit_threshold"])
    return model


def load_any_model(path):
    """The learned model saved in ``path``, whichever kind it is: an :class:`UnrolledNetwork`
    (:func:`load_model`), trained diffusion stages (:func:`~cs_toolkit.learned.load_diffusion`) or a
    joint-audio network (:func:`~cs_toolkit.learned.load_joint_audio`), told apart by the
    ``format`` of the file's metadata record."""
    from .diffusion import FORMAT as DIFFUSION_FORMAT
    from .diffusion import load_diffusion
    from .joint_audio import FORMAT as JOINT_AUDIO_FORMAT
    from .joint_audio import load_joint_audio

    p = npz_path(path)
    if not os.path.isfile(p):
        raise ModelFileError(f"model file {p!s} does not exist.")
    fmt = record_format(p, _bad, _MAX_META_BYTES)
    if fmt == DIFFUSION_FORMAT:
        return load_diffusion(p)
    if fmt == JOINT_AUDIO_FORMAT:
        return load_joint_audio(p)
    return load_model(p)
