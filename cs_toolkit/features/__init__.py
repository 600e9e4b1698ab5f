"""Sparse codes as features: a scikit-learn transformer (codes over a learned dictionary, pooled
patch codes for images), sparse-representation classification and multi-layer sparse coding
(ML-ISTA / ML-FISTA for dense or convolutional layers, layer-wise dictionaries, the unrolled ML-ISTA
network).

scikit-learn is not imported by this package: the estimators speak its protocol
(``get_params``, ``set_params``, ``__sklearn_tags__``) and work in its pipelines when it is there.

Examples
--------
>>> import numpy as np
>>> from cs_toolkit.features import SparseCodeTransformer
>>> X = np.random.default_rng(0).standard_normal((100, 16))
>>> SparseCodeTransformer(24, n_nonzero_coefs=3, max_iter=2, random_state=0).fit_transform(X).shape
(100, 24)
"""

from .coding import LEARNING_METHODS, POOLINGS, SparseCodeTransformer, extract_patches, pool_codes
from .multilayer import (
    check_chain,
    conv_dictionary,
    layer_sparsity,
    learn_layerwise,
    ml_fista,
    ml_ista,
    ml_steps,
)
from .network import TASKS, MLISTANetwork, train_ml_network
from .src import SRCClassifier

__all__ = [
    "SparseCodeTransformer",
    "extract_patches",
    "pool_codes",
    "POOLINGS",
    "LEARNING_METHODS",
    "SRCClassifier",
    "ml_ista",
    "ml_fista",
    "ml_steps",
    "check_chain",
    "conv_dictionary",
    "layer_sparsity",
    "learn_layerwise",
    "MLISTANetwork",
    "train_ml_network",
    "TASKS",
]
