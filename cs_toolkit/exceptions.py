"""Error and warning classes of cs-toolkit.

Errors subclass the built-in class a user would expect (``ValueError`` for a
bad value, ``TypeError`` for a bad type) so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class CSToolkitError(Exception):
    """Base class of every error raised by cs-toolkit on purpose."""


class ValidationError(CSToolkitError, ValueError):
    """An argument has a bad value or shape; the message names the argument."""


class DTypeError(CSToolkitError, TypeError):
    """An argument has a dtype the function cannot use (complex, object, ...)."""


class ModelFileError(CSToolkitError, ValueError):
    """A saved model or result file is corrupt, hostile, or of the wrong kind."""


class ModelMismatchError(ModelFileError):
    """A saved model was trained for another sensing matrix or shape."""


class CSToolkitWarning(UserWarning):
    """Base class of every warning issued by cs-toolkit."""


class ConvergenceWarning(CSToolkitWarning):
    """An iterative method stopped at ``max_iter`` before meeting its tolerance."""


class DivergenceWarning(CSToolkitWarning):
    """An iterative method stopped because its iterates became non-finite or grew."""


class SparsityClippedWarning(CSToolkitWarning):
    """A requested sparsity was larger than the problem allows and was reduced."""


class DependentAtomsWarning(CSToolkitWarning):
    """Selected atoms were (numerically) linearly dependent; the result is still returned."""


class DeadAtomWarning(CSToolkitWarning):
    """Dictionary atoms were unused or duplicated and have been replaced."""


class IllConditionedWarning(CSToolkitWarning):
    """The problem is too ill-conditioned for the requested precision."""
