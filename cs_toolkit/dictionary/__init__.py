"""Dictionary learning: MOD, K-SVD, approximate K-SVD, online learning, an estimator,
K-SVD image denoising and a tile plot of atoms.

A training batch is ``X`` of shape ``(n_signals, n_features)``; a dictionary is
``(n_features, n_atoms)`` with unit-norm columns; codes are ``(n_signals, n_atoms)``
and ``X ~ codes @ dictionary.T``.
"""

from ._common import DictionaryLearningResult, overcomplete_dct, overcomplete_dct2, sparse_encode
from .denoise import denoise_image
from .estimator import DictionaryLearner
from .ksvd import approx_ksvd, ksvd, ksvd_update
from .mod import mod, mod_update
from .online import online_dictionary_learning
from .plotting import dictionary_tiles, plot_dictionary

__all__ = [
    "DictionaryLearner",
    "DictionaryLearningResult",
    "approx_ksvd",
    "denoise_image",
    "dictionary_tiles",
    "frames_from_audio",
    "ksvd",
    "ksvd_update",
    "mod",
    "mod_update",
    "online_dictionary_learning",
    "overcomplete_dct",
    "overcomplete_dct2",
    "patches_from_images",
    "plot_dictionary",
    "sparse_encode",
]

_FROM_TRANSFORMS = ("patches_from_images", "frames_from_audio")


def __getattr__(name):
    # Re-exported from cs_toolkit.transforms lazily, so this package imports on its own.
    if name in _FROM_TRANSFORMS:
        from .. import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
