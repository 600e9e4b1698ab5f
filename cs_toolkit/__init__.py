"""cs-toolkit: compressed sensing and sparse coding.

Subpackages
-----------
sensing      sensing matrices and matrix-free operators, diagnostics
transforms   DCT, wavelets, blocks/patches and frames <-> rows
solvers      numba batch solvers (OMP, ISTA/FISTA, LARS, CoSaMP, SP, IHT, HTP, BP, AMP) and ``solve``
dictionary   dictionary learning (K-SVD, approximate K-SVD, MOD, online) and denoising
learned      learned unrolled reconstructors (LISTA family), training, safe save/load
features     sparse codes as features: scikit-learn transformer, SRC classifier, ML-ISTA
signals      synthetic problems, image and audio pipelines
bench        benchmark harness and phase transitions
metrics      NMSE, SNR, PSNR, SSIM, support recovery, success criterion
data         bundled samples and WAV/image input-output
plotting     figures (imported on first use, so importing cs_toolkit does not load matplotlib)
"""

import os as _os

from ._version import __version__

# numba's OpenMP threading layer (libgomp) spin-waits after every parallel region by default,
# stealing the cores that OpenBLAS needs for the next GEMM: FISTA ran 2x and batch OMP 2x slower
# on 2 cores. Passive waiting removes that contention. Set here, before numba first loads libgomp;
# a value the user has already set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import (  # noqa: E402
    bench,
    data,
    dictionary,
    exceptions,
    features,
    learned,
    metrics,
    sensing,
    signals,
    solvers,
    transforms,
)
from .solvers import list_solvers, solve  # noqa: E402

__all__ = [
    "__version__",
    "bench",
    "data",
    "dictionary",
    "exceptions",
    "features",
    "learned",
    "metrics",
    "plotting",
    "sensing",
    "signals",
    "solvers",
    "transforms",
    "solve",
    "list_solvers",
]


def __getattr__(name):
    if name == "plotting":
        import importlib

        return importlib.import_module(".plotting", __name__)
    raise AttributeError(f"module 'cs_toolkit' has no attribute {name!r}")
