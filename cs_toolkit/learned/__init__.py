"""Learned deep-unrolled reconstructors: LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled FISTA, LAMP,
and trained diffusion stages for images (:mod:`cs_toolkit.learned.diffusion`).

Pure NumPy networks (batched BLAS GEMMs, hand-written backward passes),
trained with Adam and the layer-wise schedule of the LISTA literature, saved to
validated ``.npz`` files. ``train(..., checkpoint=path)`` writes atomic training
checkpoints and resumes from them (:mod:`cs_toolkit.learned.checkpoint`).

Examples
--------
>>> import numpy as np
>>> from cs_toolkit.learned import ALISTA, SyntheticSource, train
>>> A = np.random.default_rng(0).standard_normal((20, 40)) / np.sqrt(20)
>>> net = ALISTA(A, n_layers=3)
>>> hist = train(net, SyntheticSource(A, p=0.1), max_steps=20, patience=10, eval_every=5, n_val=50, rng=0)
>>> net.forward(np.zeros(20)).shape
(40,)
"""

from .data import ArraySource, SyntheticSource, add_measurement_noise
from .debias import default_max_support, ls_debias
from .diffusion import DiffusionStages, load_diffusion, train_diffusion
from .io import load_any_model, load_model, save_model
from .joint_audio import JointAudioNet, load_joint_audio, train_joint_audio
from .lista import (
    ALISTA,
    LAMP,
    LISTA,
    LISTA_CP,
    LISTA_CPSS,
    MODEL_KINDS,
    UnrolledFISTA,
    UnrolledNetwork,
    alista_weights,
    fista_momentum,
    make_model,
    sha256_of,
)
from .train import (
    Adam,
    Stage,
    TrainingHistory,
    fine_tune,
    make_schedule,
    nmse_per_layer,
    pretrain_alista,
    pretrain_and_fine_tune,
    train,
    train_reconstructor,
)

__all__ = [
    "JointAudioNet",
    "load_joint_audio",
    "train_joint_audio",
    "load_any_model",
    "DiffusionStages",
    "load_diffusion",
    "train_diffusion",
    "UnrolledNetwork",
    "LISTA",
    "LISTA_CP",
    "LISTA_CPSS",
    "ALISTA",
    "UnrolledFISTA",
    "LAMP",
    "MODEL_KINDS",
    "make_model",
    "alista_weights",
    "fista_momentum",
    "sha256_of",
    "SyntheticSource",
    "ArraySource",
    "add_measurement_noise",
    "ls_debias",
    "default_max_support",
    "Adam",
    "Stage",
    "make_schedule",
    "TrainingHistory",
    "train",
    "pretrain_alista",
    "fine_tune",
    "pretrain_and_fine_tune",
    "train_reconstructor",
    "nmse_per_layer",
    "save_model",
    "load_model",
]
