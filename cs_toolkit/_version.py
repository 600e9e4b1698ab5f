"""The version of cs-toolkit (a module of its own, so that any module can import it without an
import cycle through the package's ``__init__``)."""

__version__ = "0.1.0"
