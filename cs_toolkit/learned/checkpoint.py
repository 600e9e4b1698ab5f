"""Training checkpoints: everything :func:`cs_toolkit.learned.train` needs to resume exactly.

File layout (a NumPy ``.npz`` zip written atomically, no pickle anywhere):

``__checkpoint__``
    uint8 array holding a UTF-8 JSON record: ``format``, ``format_version``,
    ``fingerprint`` (the settings the run was started with), ``stage`` (index
    of the stage in progress or next), ``started`` (whether that stage has
    begun), ``step``, ``since`` (steps since the last improvement), ``best``
    (best validation NMSE of the stage), ``loss``, ``adam_t``, ``elapsed_s``,
    ``stage_elapsed_s``, and the history so far (``stages``, ``records``).
``rng_state``
    A one-element unicode array: the JSON of ``rng.bit_generator.state``.
``param.<name>``
    The model's current weights; with ``started``, also ``best.<name>`` (the
    best weights of the stage), ``adam_m.<name>``, ``adam_v.<name>`` (Adam's
    moments) and ``scale.<name>`` (per-layer learning-rate factors).

A checkpoint is used only by a run with the same fingerprint: model kind,
dimensions, dtype, hyperparameters and SHA-256 of the sensing matrix and
dictionary, the source, the training options, the stage list and a hash of the
validation set (which also pins the ``rng`` seed the run started from).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib

import numpy as np

from .._archive import decode_json_record, open_archive
from .._atomic import atomic_savez
from .._rngstate import rng_state_from_json, rng_state_json
from ..exceptions import ModelFileError, ValidationError
from ._layers import npz_path, sha256_of

__all__ = ["fingerprint", "save_checkpoint", "load_checkpoint", "finetune_checkpoint", "FORMAT", "FORMAT_VERSION"]

FORMAT = "cs-toolkit-training-checkpoint"
FORMAT_VERSION = 1
_MAX_META_BYTES = 64 << 20


def _source_record(source):
    rec = {"class": type(source).__name__}
    for key in ("p", "snr_db", "n_train"):
        v = getattr(source, key, None)
        if v is not None:
            rec[key] = float(v) if key != "n_train" else int(v)
    op = getattr(source, "operator", None)
    if op is not None:
        rec["operator_sha256"] = sha256_of(op)
    train = getattr(source, "_train", None)
    if train is not None:
        rec["data_sha256"] = sha256_of(train)
    return rec


def fingerprint(model, source, stages, opts, Yv, Cv) -> dict:
    """The settings record a checkpoint must match (JSON-serialisable dict)."""
    return {
        "kind": model.kind,
        "n_layers": int(model.n_layers),
        "n_measurements": int(model.n_measurements),
        "n_components": int(model.n_components),
        "dtype": model.dtype.name,
        "hyperparameters": {k: float(v) for k, v in model.hyperparameters.items()},
        "sensing_sha256": model.sensing_sha256,
        "dictionary_sha256": model.dictionary_sha256,
        "source": _source_record(source),
        "options": {k: v for k, v in opts.items()},
        "stages": [[s.name, int(s.depth), int(s.first), float(s.lr)] for s in stages],
        "validation_sha256": sha256_of(Yv, Cv),
    }


def save_checkpoint(path, model, fingerprint, *, stage, rng, stages, records, elapsed_s, started, step=0,
                    since=0, best=None, loss=None, best_params=None, adam=None, stage_elapsed_s=0.0) -> str:
    """Write a checkpoint atomically (see the module docstring); returns the path written."""
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "stage": int(stage),
        "started": bool(started),
        "step": int(step),
        "since": int(since),
        "best": None if best is None else float(best),
        "loss": None if loss is None or not math.isfinite(loss) else float(loss),
        "adam_t": 0 if adam is None else int(adam.t),
        "elapsed_s": float(elapsed_s),
        "stage_elapsed_s": float(stage_elapsed_s),
        "stages": stages,
        "records": records,
    }
    arrays = {
        "__checkpoint__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        "rng_state": np.array([rng_state_json(rng)]),
    }
    for k, v in model.parameters().items():
        arrays[f"param.{k}"] = np.ascontiguousarray(v)
    if started:
        for k in model.parameters():
            arrays[f"best.{k}"] = np.ascontiguousarray(best_params[k])
            arrays[f"adam_m.{k}"] = np.ascontiguousarray(adam.m[k])
            arrays[f"adam_v.{k}"] = np.ascontiguousarray(adam.v[k])
            if k in adam.scales:
                arrays[f"scale.{k}"] = np.ascontiguousarray(adam.scales[k], dtype=np.float64)
    return atomic_savez(path, arrays)


def _bad(path, why):
    return ModelFileError(f"checkpoint {os.fspath(path)!s} is not a valid training checkpoint: {why}")


def _diff(a, b, prefix=""):
    """Keys (dotted) where two JSON records differ. Floats are compared to a relative 1e-12: a
    setting derived from a matrix (the step ``1 / ||A||^2``) can differ in its last bits between
    machines whose LAPACK takes other code paths, and is the same setting."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [] if not any(_diff(u, v) for u, v in zip(a, b)) else [prefix.rstrip(".")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) else [prefix.rstrip(".")]
    return [] if a == b else [prefix.rstrip(".")]


def load_checkpoint(path, model, fingerprint, bit_generator=np.random.PCG64) -> dict:
    """Read and validate a checkpoint for ``model`` written with settings ``fingerprint``.

    ``bit_generator`` is the class of the run's random generator: the saved random
    state must be one of its states.

    Returns a dict with ``params``, ``rng_state``, ``stage``, ``started``,
    ``step``, ``since``, ``best``, ``loss``, ``best_params``, ``adam_m``,
    ``adam_v``, ``adam_t``, ``scales``, ``stages``, ``records``, ``elapsed_s``,
    ``stage_elapsed_s``.

    Raises
    ------
    ModelFileError
        The file is not a clean checkpoint (bad zip, JSON, keys, shapes, dtypes, values).
    ValidationError
        It was written by a run with other settings (the message names ``checkpoint``
        and the differing settings).
    """
    p = npz_path(path)
    npz = open_archive(p, _bad)
    shapes = {k: v.shape for k, v in model.parameters().items()}
    dt = model.dtype
    with npz:
        try:
            infos = {i.filename: i for i in npz.zip.infolist()}
            if "__checkpoint__.npy" not in infos or "rng_state.npy" not in infos:
                raise _bad(p, "the records '__checkpoint__' and 'rng_state' are missing")
            if infos["__checkpoint__.npy"].file_size > _MAX_META_BYTES:
                raise _bad(p, "the metadata record is too large")
            meta = decode_json_record(npz["__checkpoint__"], p, _bad)
            if meta.get("format") != FORMAT:
                raise _bad(p, f"metadata 'format' must be {FORMAT!r}")
            if meta.get("format_version") != FORMAT_VERSION:
                raise _bad(p, f"unsupported format_version {meta.get('format_version')!r}")
            fp = meta.get("fingerprint")
            want = json.loads(json.dumps(fingerprint))
            diff = _diff(fp, want) if isinstance(fp, dict) else ["fingerprint"]
            if diff:
                raise ValidationError(
                    f"checkpoint {p} was written by a training run with other settings (differing: "
                    f"{', '.join(diff)}); use another checkpoint path or delete the file to start afresh."
                )
            n_stages = len(fp["stages"])
            for key, typ in (("stage", int), ("step", int), ("since", int), ("adam_t", int)):
                v = meta.get(key)
                if isinstance(v, bool) or not isinstance(v, typ) or v < 0:
                    raise _bad(p, f"metadata field {key!r} must be a non-negative integer, got {v!r}")
            if meta["stage"] > n_stages or (meta.get("started") and meta["stage"] >= n_stages):
                raise _bad(p, f"stage index {meta['stage']} is out of range")
            if not isinstance(meta.get("started"), bool):
                raise _bad(p, "metadata field 'started' must be a boolean")
            for key in ("elapsed_s", "stage_elapsed_s"):
                if not isinstance(meta.get(key), int | float) or not math.isfinite(meta[key]):
                    raise _bad(p, f"metadata field {key!r} must be a finite number")
            if not isinstance(meta.get("stages"), list) or not isinstance(meta.get("records"), list):
                raise _bad(p, "metadata fields 'stages' and 'records' must be lists")
            started = meta["started"]
            if started and not isinstance(meta.get("best"), int | float):
                raise _bad(p, "metadata field 'best' must be a number")
            expected = {"__checkpoint__", "rng_state"} | {f"param.{k}" for k in shapes}
            if started:
                expected |= {f"{g}.{k}" for g in ("best", "adam_m", "adam_v") for k in shapes}
                expected |= {n for n in npz.files if n.startswith("scale.") and n[6:] in shapes}
            if set(npz.files) != expected:
                missing, extra = sorted(expected - set(npz.files)), sorted(set(npz.files) - expected)
                raise _bad(p, f"wrong set of arrays (missing {missing}, unexpected {extra})")
            for name in expected - {"__checkpoint__", "rng_state"}:
                k = name.split(".", 1)[1]
                d = np.dtype(np.float64) if name.startswith("scale.") else dt
                shape = (shapes[k][0],) if name.startswith("scale.") else shapes[k]
                if infos[name + ".npy"].file_size > 4096 + d.itemsize * math.prod(shape):
                    raise _bad(p, f"array {name!r} is larger than the model allows")
            arrays = {}
            for name in expected - {"__checkpoint__", "rng_state"}:
                a = npz[name]
                k = name.split(".", 1)[1]
                d = np.dtype(np.float64) if name.startswith("scale.") else dt
                shape = (shapes[k][0],) if name.startswith("scale.") else shapes[k]
                if a.dtype != d or a.shape != shape:
                    raise _bad(p, f"array {name!r} must have shape {shape} and dtype {d}, got {a.shape} and {a.dtype}")
                if not np.all(np.isfinite(a)):
                    raise _bad(p, f"array {name!r} holds NaN or Inf values")
                arrays[name] = a
            rs = npz["rng_state"]
            if rs.dtype.kind != "U" or rs.shape != (1,):
                raise _bad(p, "'rng_state' must be a one-element string array")
            rng_state = rng_state_from_json(str(rs[0]), bit_generator, lambda why: _bad(p, why))
        except (ModelFileError, ValidationError):
            raise
        except (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error, RuntimeError,
                NotImplementedError) as exc:
            raise _bad(p, f"{type(exc).__name__}: {exc}") from None
    out = {key: meta[key] for key in ("stage", "started", "step", "since", "adam_t", "stages", "records",
                                      "elapsed_s", "stage_elapsed_s")}
    out["best"] = meta.get("best")
    out["loss"] = float("nan") if meta.get("loss") is None else float(meta["loss"])
    out["rng_state"] = rng_state
    out["params"] = {k: arrays[f"param.{k}"] for k in shapes}
    if started:
        out["best_params"] = {k: arrays[f"best.{k}"].copy() for k in shapes}
        out["adam_m"] = {k: arrays[f"adam_m.{k}"].copy() for k in shapes}
        out["adam_v"] = {k: arrays[f"adam_v.{k}"].copy() for k in shapes}
        out["scales"] = {k: arrays[f"scale.{k}"] for k in shapes if f"scale.{k}" in arrays}
    return out


def finetune_checkpoint(checkpoint) -> str:
    """The file the fine-tuning of :func:`cs_toolkit.learned.train.pretrain_and_fine_tune` checkpoints to,
    for the pretraining's ``checkpoint``: ``<checkpoint stem>-finetune.npz``."""
    stem = os.fspath(checkpoint) if isinstance(checkpoint, str | os.PathLike) else None
    if not isinstance(stem, str) or not stem:
        raise ValidationError(f"checkpoint must be a non-empty file path, got {checkpoint!r}.")
    return (stem[:-4] if stem.lower().endswith(".npz") else stem) + "-finetune.npz"
