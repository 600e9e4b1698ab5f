"""Sparsifying transforms (synthesis operators) and signal <-> rows conversions.

Transforms are :class:`~cs_toolkit.sensing.LinearOperator` objects mapping
coefficients to signals, so ``A @ Psi`` is the sensing operator seen by a
solver; blocks, patches and frames turn images and audio into batches of rows.
"""

from ._operators import DCT, DCT2, TRANSFORM_KINDS, Identity, Wavelet, Wavelet2, make_transform
from .blocks import (
    BlockMeta,
    blocks_to_image,
    image_to_blocks,
    image_to_tiles,
    patches_from_images,
    tiles_to_image,
)
from .frames import frames, frames_from_audio, get_window, overlap_add, padded_frame_count

__all__ = [
    "DCT",
    "DCT2",
    "Wavelet",
    "Wavelet2",
    "Identity",
    "make_transform",
    "TRANSFORM_KINDS",
    "BlockMeta",
    "image_to_blocks",
    "blocks_to_image",
    "image_to_tiles",
    "tiles_to_image",
    "patches_from_images",
    "get_window",
    "frames",
    "overlap_add",
    "frames_from_audio",
    "padded_frame_count",
]
