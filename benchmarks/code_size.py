"""Count the code lines of a Python package: lines that hold a token other than a comment, a
docstring or white space (a statement split over three lines counts three).

    python benchmarks/code_size.py [DIRECTORY ...]   # default: cs_toolkit

Prints the count per directory (``.py`` files, recursively). To measure an older commit:
``git archive <commit> cs_toolkit | tar -x -C /tmp/old && python benchmarks/code_size.py /tmp/old/cs_toolkit``.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import tokenize

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


def _docstring_lines(tree) -> set[int]:
    """Lines of the docstrings of the module, its classes and functions."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str) -> int:
    """Number of code lines of one module's source."""
    doc = _docstring_lines(ast.parse(source))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _SKIP:
            continue
        span = range(tok.start[0], tok.end[0] + 1)
        if tok.type == tokenize.STRING and all(r in doc for r in span):
            continue
        lines.update(span)
    return len(lines)


def package_code_lines(directory) -> tuple[int, int]:
    """``(code lines, files)`` over the ``.py`` files under ``directory``."""
    total = files = 0
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as fh:
                    total += code_lines(fh.read())
                files += 1
    return total, files


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directories", nargs="*", default=["cs_toolkit"])
    args = p.parse_args(argv)
    for d in args.directories:
        n, files = package_code_lines(d)
        print(f"{d}: {n} code lines in {files} files")


if __name__ == "__main__":
    main()
