"""Checkpoints of :func:`cs_toolkit.learned.train_joint_audio`: what a rerun needs to go on exactly.

An ``.npz`` written atomically, no pickle: a JSON ``__metadata__`` record (``format``,
``format_version``, ``fingerprint``: the run's settings, the SHA-256 of its clips and of the
network it started from, which pins the random seed too; ``step``, ``adam_t``, ``best``: each
ratio's best validation SNR; ``recent_losses``, the history so far, ``elapsed_s`` and
``rng_state``, the random generator's state as JSON text) and the float64 arrays ``param.<name>``
(the network now), ``best.<name>`` (each ratio's best stages), ``adam_m.<name>`` and
``adam_v.<name>`` (Adam's moments) for every trainable array. Written after every evaluation; a
run with the same settings that finds the file goes on from it and ends with the same network,
bit for bit, as a run that was never stopped.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .._archive import meta_int, read_record
from .._atomic import atomic_savez
from .._rngstate import rng_state_from_json, rng_state_json
from ..exceptions import ModelFileError, ValidationError
from ._layers import sha256_of
from .checkpoint import _diff

FORMAT = "cs-toolkit-joint-audio-checkpoint"
FORMAT_VERSION = 1
_PARTS = ("param", "best", "adam_m", "adam_v")


def _bad(path, why):
    return ModelFileError(f"checkpoint {os.fspath(path)!s} is not a valid joint-audio training checkpoint: {why}")


def joint_fingerprint(net, clips, validation, **settings) -> dict:
    """The settings a checkpoint belongs to: ``settings`` (JSON values), the SHA-256 of the training
    and validation clips and of the network's starting parameters."""
    def digest(xs):
        return sha256_of(np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in xs])) if len(xs) else None

    return {**settings, "clips_sha256": digest(clips), "n_clips": len(clips), "validation_sha256": digest(validation),
            "start_sha256": sha256_of(np.concatenate([np.ravel(v) for v in net.parameters().values()]))}


def save_joint_checkpoint(path, net, fingerprint, *, step, rng, opt, best, best_params, hist, recent_losses,
                          elapsed_s) -> str:
    """Write the state after ``step`` steps (see the module docstring); returns the path written."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": fingerprint, "step": int(step),
            "adam_t": int(opt.t), "best": None if best is None else [float(b) for b in best],
            "recent_losses": [float(v) for v in recent_losses], "elapsed_s": float(elapsed_s),
            "hist": {k: hist[k] for k in ("step", "val_snr_db", "train_loss")}, "rng_state": rng_state_json(rng)}
    arrays = {"__metadata__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for k, v in net.parameters().items():
        arrays[f"param.{k}"] = np.ascontiguousarray(v, dtype=np.float64)
        arrays[f"best.{k}"] = np.stack([np.asarray(bp[k], dtype=np.float64) for bp in best_params])
        arrays[f"adam_m.{k}"] = np.ascontiguousarray(opt.m[k], dtype=np.float64)
        arrays[f"adam_v.{k}"] = np.ascontiguousarray(opt.v[k], dtype=np.float64)
    return atomic_savez(path, arrays)


def load_joint_checkpoint(path, net, fingerprint, bit_generator=np.random.PCG64) -> dict:
    """The state saved in ``path`` for ``net`` trained with settings ``fingerprint``: a dict of the
    arrays (``"param.log_theta"``, ...), ``step``, ``adam_t``, ``best``, ``recent_losses``, ``hist``,
    ``elapsed_s`` and ``rng_state`` (a state of ``bit_generator``, the class of the run's generator).

    Raises
    ------
    ModelFileError
        The file is not a clean checkpoint (zip, JSON, arrays, shapes, values).
    ValidationError
        It was written by a run with other settings (the message names them).
    """
    names = [f"{part}.{k}" for part in _PARTS for k in net.parameters()]
    shapes = {k: v.shape for k, v in net.parameters().items()}
    with read_record(path, _bad, fmt=FORMAT, version=FORMAT_VERSION, arrays=names, max_meta_bytes=1 << 22) as (meta,
                                                                                                              read):
        fp = meta.get("fingerprint")
        diff = _diff(fp, json.loads(json.dumps(fingerprint))) if isinstance(fp, dict) else ["fingerprint"]
        if diff:
            raise ValidationError(f"checkpoint {os.fspath(path)!s} was written by a run with other settings "
                                  f"({', '.join(diff)}); remove it or give another checkpoint path.")
        out = {name: read(name, shapes[name.split(".", 1)[1]]) for name in names}
        out["step"] = meta_int(meta, "step", 0, fingerprint["max_steps"], path, _bad)
        out["adam_t"] = meta_int(meta, "adam_t", 0, fingerprint["max_steps"], path, _bad)
        n = len(fingerprint["ratios"])
        best = meta.get("best")
        if best is not None and (not isinstance(best, list) or len(best) != n
                                 or not all(isinstance(b, (int, float)) for b in best)):
            raise _bad(path, f"'best' must be null or a list of {n} numbers")
        hist = meta.get("hist")
        if not isinstance(hist, dict) or set(hist) != {"step", "val_snr_db", "train_loss"} or not all(
                isinstance(v, list) for v in hist.values()):
            raise _bad(path, "'hist' must hold the lists 'step', 'val_snr_db' and 'train_loss'")
        recent = meta.get("recent_losses")
        if not isinstance(recent, list) or not all(isinstance(v, (int, float)) for v in recent):
            raise _bad(path, "'recent_losses' must be a list of numbers")
        elapsed = meta.get("elapsed_s")
        if not isinstance(elapsed, (int, float)) or elapsed < 0:
            raise _bad(path, "'elapsed_s' must be a number >= 0")
        out.update(best=best, hist=hist, recent_losses=recent, elapsed_s=float(elapsed),
                   rng_state=rng_state_from_json(meta.get("rng_state") if isinstance(meta.get("rng_state"), str)
                                                 else "null", bit_generator, lambda why: _bad(path, why)))
    return out


def resume_joint_checkpoint(path, net, fingerprint, rng, opt, best_params, hist) -> tuple:
    """Put the state saved in ``path`` (:func:`load_joint_checkpoint`) back into the run: the network's
    parameters, Adam's moments and step count (``opt``), each ratio's best stages (``best_params``,
    one dict per ratio), the history (``hist``) and ``rng``'s state, all in place; returns ``(best,
    recent_losses, first_step, elapsed_s)``, the rest of what the run goes on with."""
    st = load_joint_checkpoint(path, net, fingerprint, type(rng.bit_generator))
    for k, v in net.parameters().items():
        v[...] = st[f"param.{k}"]
        opt.m[k][...], opt.v[k][...] = st[f"adam_m.{k}"], st[f"adam_v.{k}"]
        for j, bp in enumerate(best_params):
            bp[k] = st[f"best.{k}"][j].copy()
    opt.t = st["adam_t"]
    hist.update(st["hist"])
    rng.bit_generator.state = st["rng_state"]
    return st["best"], list(st["recent_losses"]), st["step"] + 1, st["elapsed_s"]
