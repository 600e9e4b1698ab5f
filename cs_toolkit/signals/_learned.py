"""One adapter between the image / audio pipelines and a learned per-block (or per-frame) network.

The network must see what it was trained on: the same sensing matrix and measurements on its
training scale. :func:`apply_block_model` checks the first and applies the second, for every signal
kind, from the model's acquisition record (:mod:`cs_toolkit.learned.acquisition`).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ValidationError

__all__ = ["load_block_model", "apply_block_model"]


def load_block_model(model, A=None):
    """``model`` when it already is a network, else the network saved in the file ``model``."""
    if model is None:
        raise ValidationError("method 'lista' needs a model (a saved model file or object).")
    if hasattr(model, "reconstruct"):
        return model
    from ..learned import load_model

    return load_model(model, A=A)


def apply_block_model(Y, A, model, signal):
    """Rows of signals (pipeline scale) from measurement rows ``Y = X @ A.T`` by a learned network.

    Parameters
    ----------
    Y : ndarray of shape (n_rows, m)
        Measurements on the pipeline's scale (images: [0, 255] pixels; audio: the samples).
    A : ndarray of shape (m, n)
        The sensing matrix that took them; it must be the one the network was trained for.
    model : UnrolledNetwork, str or path
    signal : {"image", "audio"}
        The pipeline calling; a model whose acquisition record names another kind is refused.
        Models without a record are taken to be on the pipeline's scale for images ([0, 1]
        pixels, as ``cs-toolkit train`` has always made them) and are refused for audio.
    """
    from ..learned.acquisition import SCALES, describe_acquisition, measurement_scale

    net = load_block_model(model, A=A)
    SA = np.asarray(getattr(net, "sensing_matrix", A))
    rec = getattr(net, "acquisition", None)
    if SA.shape != A.shape or not np.allclose(SA, A):
        trained = describe_acquisition(rec) if rec else f"a sensing matrix of shape {SA.shape}"
        raise ValidationError(f"the model was trained for {trained}; these measurements use another "
                              f"sensing matrix of shape {A.shape} (check the seed, ratio, matrix and block size).")
    if rec is None:
        if signal != "image":
            raise ValidationError("the model records no acquisition settings (signal kind and scale); "
                                  "train it with 'cs-toolkit train --data' or set model.acquisition.")
        rec = {"scale": SCALES["image"]}
    elif rec["signal"] != signal:
        raise ValidationError(f"the model was trained for {rec['signal']} ({describe_acquisition(rec)}), "
                              f"not {signal}.")
    c = measurement_scale(Y, rec)
    X = net.reconstruct(np.asarray(Y) / c)
    return np.asarray(X, dtype=np.float64) * c
