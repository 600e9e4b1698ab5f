"""Signals: synthetic sparse-recovery problems, and the image and audio pipelines."""

from ._image_nlstages import (
    DEFAULT_NL_MODEL,
    NL_RECIPE,
    NonLocalStages,
    is_nlstages_file,
    load_nlstages,
    warm_up_image_kernels,
)
from ._image_tnrd import DEFAULT_TNRD_MODEL
from ._nlstages_train import train_nlstages
from .audio import (
    DEFAULT_AUDIO_METHOD,
    AudioMeasurements,
    audio_quality,
    compressive_audio,
    measure_audio,
    reconstruct_audio,
)
from .image import (
    DEFAULT_IMAGE_METHOD,
    BlockConstraint,
    BlockMeasurements,
    compressive_image,
    image_quality,
    measure_image,
    reconstruct_image,
    train_tnrd,
    training_samples,
    whole_image_cs,
)
from .methods import ReconstructionMethod, default_method, get_method, list_methods
from .synthetic import (
    DISTRIBUTIONS,
    Problem,
    add_noise,
    bernoulli_gaussian,
    block_sparse_signals,
    jointly_sparse_signals,
    make_problem,
    sparse_signals,
    tree_sparse_signals,
)

__all__ = [
    "DEFAULT_IMAGE_METHOD", "BlockMeasurements", "compressive_image", "image_quality", "measure_image",
    "reconstruct_image", "whole_image_cs", "BlockConstraint", "train_tnrd", "training_samples",
    "NonLocalStages", "NL_RECIPE", "DEFAULT_NL_MODEL", "DEFAULT_TNRD_MODEL", "load_nlstages", "train_nlstages", "is_nlstages_file", "warm_up_image_kernels", "DEFAULT_AUDIO_METHOD", "AudioMeasurements", "audio_quality", "compressive_audio",
    "measure_audio", "reconstruct_audio", "ReconstructionMethod", "default_method", "get_method", "list_methods",
    "DISTRIBUTIONS",
    "Problem",
    "add_noise",
    "bernoulli_gaussian",
    "make_problem",
    "sparse_signals",
    "block_sparse_signals",
    "jointly_sparse_signals",
    "tree_sparse_signals",
]
