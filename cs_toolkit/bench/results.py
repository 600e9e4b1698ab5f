"""Tidy result tables of benchmarks and phase transitions, with CSV/JSON round trips."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ..exceptions import ModelFileError, ValidationError
from .io import atomic_write_text, rows_from_csv_text, rows_to_csv_text, to_jsonable

__all__ = ["Results", "format_table", "load_results"]


def format_table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".4g") -> str:
    """Rows of dicts as an aligned plain-text table (numbers right-aligned)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, bool | np.bool_):
            return "yes" if v else "no"
        if isinstance(v, float | np.floating):
            return "nan" if math.isnan(v) else format(float(v), floatfmt)
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float | np.number) for r in rows) for c in columns]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(columns, widths, numeric, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(row, widths, numeric, strict=True)))
    return "\n".join(lines)


def _read_text(path) -> str:
    """The text of a result file; bytes that are not UTF-8 are a ``ModelFileError``."""
    with open(path, encoding="utf-8") as fh:
        try:
            return fh.read()
        except UnicodeDecodeError as exc:
            raise ModelFileError(f"{os.fspath(path)} is not a UTF-8 text file: {exc}") from None


def _read_json(path):
    try:
        return json.loads(_read_text(path))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{os.fspath(path)} is not valid JSON: {exc}") from None


def _fits(value, kind) -> bool:
    """Whether a value read from a file suits a column of that schema kind (None: a missing number)."""
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    return True


class _Table:
    """Rows (list of dicts) plus metadata; CSV and JSON round trips."""

    kind = "table"
    #: column -> "int" | "float" | "str" | "bool", used to read CSV back exactly.
    schema: dict[str, str] = {}
    #: columns every row of a file must hold (those the summaries and grids read).
    required: tuple[str, ...] = ()

    def __init__(self, rows, meta=None):
        self.rows = [dict(r) for r in rows]
        self.meta = dict(meta or {})

    # --- table access -------------------------------------------------------------------
    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self):
        return f"{type(self).__name__}({len(self.rows)} rows, columns={self.columns})"

    @property
    def columns(self) -> list[str]:
        cols = [c for c in self.schema if any(c in r for r in self.rows)]
        for r in self.rows:
            cols += [c for c in r if c not in cols]
        return cols

    def column(self, name: str) -> np.ndarray:
        """One column as an array (``None`` becomes NaN for numeric columns)."""
        if self.rows and name not in self.columns:
            raise ValidationError(f"column must be one of {self.columns}; got {name!r}.")
        vals = [r.get(name) for r in self.rows]
        if self.schema.get(name) in ("float", "int"):
            return np.array([np.nan if v is None else v for v in vals], dtype=float)
        return np.array(vals, dtype=object)

    def filter(self, **equal) -> list[dict]:
        """Rows whose columns equal the given values, e.g. ``filter(solver="omp")``."""
        return [r for r in self.rows if all(r.get(k) == v for k, v in equal.items())]

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` (pandas is optional)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    # --- files --------------------------------------------------------------------------
    def to_csv(self, path) -> str:
        """Write the table as CSV (atomically); metadata goes to JSON only. Returns the path."""
        atomic_write_text(path, rows_to_csv_text(self.rows, self.columns))
        return os.fspath(path)

    def to_json(self, path) -> str:
        """Write ``{"kind", "meta", "columns", "rows"}`` as JSON (atomically). Returns the path."""
        doc = {"kind": self.kind, "meta": self.meta, "columns": self.columns, "rows": self.rows}
        atomic_write_text(path, json.dumps(to_jsonable(doc), indent=1, sort_keys=False) + "\n")
        return os.fspath(path)

    @classmethod
    def _fix_types(cls, rows):
        out = []
        for r in rows:
            r = dict(r)
            for c, kind in cls.schema.items():
                if kind == "float" and c in r and r[c] is None:
                    r[c] = float("nan")
            out.append(r)
        return out

    @classmethod
    def _checked(cls, rows, meta, path):
        """``cls(rows, meta)`` read from ``path``, or a ``ModelFileError`` saying what is wrong with the file."""
        where = os.fspath(path)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            what = type(rows).__name__ if not isinstance(rows, list) else "a list holding " + ", ".join(
                sorted({type(r).__name__ for r in rows if not isinstance(r, dict)}))
            raise ModelFileError(f"{where}: 'rows' must be a list of objects (one per row), got {what}.")
        if meta is not None and not isinstance(meta, dict):
            raise ModelFileError(f"{where}: 'meta' must be an object, got {type(meta).__name__}.")
        for i, r in enumerate(rows):
            missing = [c for c in cls.required if c not in r]
            if missing:
                raise ModelFileError(f"{where}: row {i} lacks the column(s) {', '.join(missing)} of a "
                                     f"{cls.kind!r} result.")
            for c in cls.required:
                if not _fits(r[c], cls.schema.get(c)):
                    raise ModelFileError(f"{where}: row {i}, column {c!r} must be of type {cls.schema[c]}, "
                                         f"got {r[c]!r}.")
        cls._check_rows(rows, where)
        return cls(cls._fix_types(rows), meta)

    @classmethod
    def _check_rows(cls, rows, where):
        """More checks of the rows of a file, by subclasses (raise ``ModelFileError``)."""

    @classmethod
    def from_csv(cls, path):
        """Read a table written by :meth:`to_csv`; a malformed file raises ``ModelFileError``."""
        text = _read_text(path)
        return cls._checked(rows_from_csv_text(text, cls.schema, path=os.fspath(path)), None, path)

    @classmethod
    def from_json(cls, path):
        """Read a table written by :meth:`to_json` (metadata included); a malformed file raises
        ``ModelFileError``."""
        doc = _read_json(path)
        if not isinstance(doc, dict) or "rows" not in doc:
            raise ModelFileError(f"{os.fspath(path)} is not a cs-toolkit result file (no 'rows').")
        if doc.get("kind", cls.kind) != cls.kind:
            raise ModelFileError(
                f"{os.fspath(path)} holds {doc.get('kind')!r} results, expected {cls.kind!r}; use load_results()."
            )
        return cls._checked(doc["rows"], doc.get("meta"), path)

    @classmethod
    def load(cls, path):
        """Read a ``.csv`` or ``.json`` file written by this class."""
        ext = os.path.splitext(os.fspath(path))[1].lower()
        if ext == ".csv":
            return cls.from_csv(path)
        if ext == ".json":
            return cls.from_json(path)
        raise ValidationError(f"path must end in .csv or .json, got {os.fspath(path)!r}.")


class Results(_Table):
    """Results of :func:`run_benchmark`: one row per (problem, trial, solver).

    Columns: ``problem``, ``problem_id``, ``matrix``, ``distribution``, ``n``, ``m``, ``k``,
    ``snr_db``, ``n_signals``, ``trial``, ``solver``, ``method``, ``time_s`` (seconds of one
    solver call on the batch, after a JIT warm-up), ``n_iter`` (mean over the batch, NaN
    when the solver reports none), ``nmse`` and ``nmse_db`` (``sum ||x_hat - x||^2 / sum ||x||^2``
    over the batch, :func:`cs_toolkit.metrics.nmse`), ``relative_error`` (mean of ``||x_hat - x|| / ||x||``),
    ``support_recovery`` (mean fraction of the true support among the ``k`` largest
    entries of ``x_hat``), ``success`` (fraction of the batch recovered, see
    :func:`cs_toolkit.bench.run_benchmark`) and ``n_warnings``.

    ``meta`` holds the settings, package versions, machine information and the
    first-call (compile) time of each solver.
    """

    kind = "benchmark"
    schema = {
        "problem": "str", "problem_id": "int", "matrix": "str", "distribution": "str",
        "n": "int", "m": "int", "k": "int", "snr_db": "float", "n_signals": "int", "trial": "int",
        "solver": "str", "method": "str", "time_s": "float", "n_iter": "float", "nmse": "float",
        "nmse_db": "float", "relative_error": "float", "support_recovery": "float",
        "success": "float", "n_warnings": "int",
    }
    required = ("problem", "solver", "time_s", "n_iter", "nmse_db", "success")

    def summary(self) -> list[dict]:
        """One row per (problem, solver): trials, mean time, median NMSE (dB), success rate, mean iterations."""
        groups: dict[tuple, list[dict]] = {}
        for r in self.rows:
            groups.setdefault((r["problem"], r["solver"]), []).append(r)
        out = []
        for (prob, solver), rs in groups.items():
            t = np.array([r["time_s"] for r in rs], dtype=float)
            db = np.array([r["nmse_db"] for r in rs], dtype=float)
            it = np.array([r["n_iter"] for r in rs], dtype=float)
            it = it[np.isfinite(it)]
            out.append({
                "problem": prob, "solver": solver, "trials": len(rs),
                "mean_time_s": float(np.mean(t)), "min_time_s": float(np.min(t)),
                "median_nmse_db": float(np.median(db)),
                "success_rate": float(np.mean([r["success"] for r in rs])),
                "mean_n_iter": float(np.mean(it)) if it.size else float("nan"),
            })
        return out

    def format_summary(self) -> str:
        """:meth:`summary` as an aligned text table."""
        return format_table(self.summary())


def load_results(path):
    """Read a benchmark (:class:`Results`) or phase transition (:class:`PhaseResult`) file.

    The kind is read from the JSON ``kind`` field, or guessed from the CSV columns.
    """
    from .phase import PhaseResult

    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".json":
        doc = _read_json(path)
        if not isinstance(doc, dict):
            raise ModelFileError(f"{os.fspath(path)} is not a cs-toolkit result file (not a JSON object).")
        cls = PhaseResult if doc.get("kind") == PhaseResult.kind else Results
        return cls.from_json(path)
    if ext == ".csv":
        header = _read_text(path).split("\n", 1)[0]
        cls = PhaseResult if "delta" in header.strip().split(",") else Results
        return cls.from_csv(path)
    raise ValidationError(f"path must end in .csv or .json, got {os.fspath(path)!r}.")
