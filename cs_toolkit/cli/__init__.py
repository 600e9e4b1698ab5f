"""The ``cs-toolkit`` command.

This package only parses arguments and calls public functions; it holds no
algorithm. Each subcommand lives in its own module here, exposing
``register(subparsers)`` which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit status).

User mistakes (bad arguments, unreadable files, invalid values) end with exit
status 2 and a one-line message; internal errors show a traceback only with
``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from .._version import __version__
from ..exceptions import CSToolkitError

__all__ = ["main", "build_parser", "UsageError"]

#: Subcommand modules, in the order shown by ``--help``.
SUBCOMMAND_MODULES = ["signals", "learned", "bench", "info"]


class UsageError(CSToolkitError):
    """A mistake in the command line or its inputs (exit status 2, no traceback)."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a negative number, exponent included (-1e1, -2.5E-3), is a value, not an option
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message):  # one line with the hint, exit 2 (argparse would print the whole usage)
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message} (run '{self.prog} --help' for the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cs-toolkit",
        description=(
            "Compressed sensing and sparse coding: measure and reconstruct images and audio, "
            "benchmark solvers, learn dictionaries and unrolled reconstructors."
        ),
        epilog="Run 'cs-toolkit COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"cs-toolkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _is_user_error(exc) -> bool:
    """A mistake of the user's (exit status 2): the package's own errors, file-system errors and a
    plain ``ValueError`` or ``TypeError`` (not a subclass such as ``UnicodeDecodeError``, which
    says nothing a user can act on)."""
    return isinstance(exc, CSToolkitError | OSError) or type(exc) in (ValueError, TypeError)


def main(argv=None) -> int:
    """Entry point of the ``cs-toolkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("cs-toolkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (``cs-toolkit solvers | head``): quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141
    except Exception as exc:  # every error ends in one line (a traceback only with --debug)
        if args.debug:
            raise
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        if _is_user_error(exc):
            print(f"cs-toolkit {args.command}: error: {first or type(exc).__name__}", file=sys.stderr)
            return 2
        print(
            f"cs-toolkit {args.command}: internal error ({type(exc).__name__}{': ' + first if first else ''}); "
            "rerun with --debug for the traceback and please report it.",
            file=sys.stderr,
        )
        return 1
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
