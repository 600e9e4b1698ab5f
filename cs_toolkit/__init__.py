"""cs-toolkit: compressed sensing and sparse coding.

Sensing matrices and operators (:mod:`cs_toolkit.sensing`), transforms
(:mod:`cs_toolkit.transforms`), numba sparse solvers (:mod:`cs_toolkit.solvers`),
dictionary learning (:mod:`cs_toolkit.dictionary`), learned unrolled
reconstructors (:mod:`cs_toolkit.learned`), image and audio pipelines
(:mod:`cs_toolkit.signals`), benchmarks (:mod:`cs_toolkit.bench`) and metrics.
"""

__version__ = "0.1.0"

from . import exceptions  # noqa: E402

__all__ = ["__version__", "exceptions"]
