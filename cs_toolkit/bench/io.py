"""File helpers of the benchmark harness: atomic writes, JSON lines, machine info, settings hash.

Everything is plain CSV and JSON (no pickle). Final files are written to a
temporary file in the target directory and moved into place with
:func:`os.replace`, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
from datetime import datetime, timezone

import numpy as np

from .._atomic import atomic_write_text
from ..exceptions import ModelFileError, ValidationError

__all__ = [
    "atomic_write_text",
    "machine_info",
    "package_versions",
    "settings_hash",
    "to_jsonable",
    "rows_to_csv_text",
    "rows_from_csv_text",
    "JsonLinesLog",
    "open_journal",
]


def package_versions() -> dict:
    """Versions of cs-toolkit and the numeric packages it runs on."""
    from importlib import metadata

    from .._version import __version__

    out = {"cs-toolkit": __version__, "python": platform.python_version()}
    for name in ("numpy", "scipy", "numba", "joblib", "dask", "distributed"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine_info() -> dict:
    """Platform, processor, CPU count, load average and a UTC time stamp."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # not available on Windows
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def to_jsonable(obj):
    """Convert numpy scalars/arrays, tuples and non-finite floats (-> None) to JSON-safe values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def settings_hash(settings: dict) -> str:
    """A short stable hash of a JSON-able settings dictionary."""
    text = json.dumps(to_jsonable(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _fmt_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return repr(float(v))  # shortest repr that round-trips exactly
    return str(v)


def rows_to_csv_text(rows: list[dict], columns: list[str]) -> str:
    """Rows (dicts) as CSV text with a header; ``None`` becomes an empty field."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _parse(text: str, kind: str | None):
    if text == "":
        return float("nan") if kind == "float" else None
    if kind == "str":
        return text
    if kind == "bool" or (kind is None and text in ("true", "false")):
        return text == "true"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    for conv in (int, float):  # unknown column: infer
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def rows_from_csv_text(text: str, schema: dict[str, str], path: str = "file") -> list[dict]:
    """Parse CSV written by :func:`rows_to_csv_text`; ``schema`` maps column -> int/float/str/bool."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ModelFileError(f"{path} is empty, expected a CSV header line.") from None
    rows = []
    for lineno, rec in enumerate(reader, start=2):
        if not rec:
            continue
        if len(rec) != len(header):
            raise ModelFileError(
                f"{path} line {lineno}: expected {len(header)} fields, got {len(rec)}."
            )
        try:
            rows.append({c: _parse(v, schema.get(c)) for c, v in zip(header, rec, strict=True)})
        except ValueError as exc:
            raise ModelFileError(f"{path} line {lineno}: {exc}") from None
    return rows


class JsonLinesLog:
    """An append-only JSON-lines file whose first line is a settings header.

    Each record is written with one ``write`` call and flushed, so an
    interrupted run loses at most the record being written; a truncated last
    line is dropped when the file is read back.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._fh = None

    def read(self) -> tuple[dict | None, list[dict]]:
        """Return ``(header, records)``; ``(None, [])`` when the file does not exist."""
        if not os.path.exists(self.path):
            return None, []
        header, records = None, []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # truncated final line of an interrupted run
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if header is None:
                    header = obj
                else:
                    records.append(obj)
        return header, records

    def start(self, header: dict, records: list[dict] = ()) -> None:
        """(Re)write the file atomically with ``header`` and ``records``, then open it for appending."""
        lines = [json.dumps(to_jsonable(header), sort_keys=True)]
        lines += [json.dumps(to_jsonable(r), sort_keys=True) for r in records]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def append(self, record: dict) -> None:
        self._fh.write(json.dumps(to_jsonable(record), sort_keys=True) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def open_journal(path, settings: dict, *, resume: bool, what: str, command: str, entropy: int, seed):
    """Read the journal of a resumable run and check that it was written with ``settings``.

    The journal's folder is created if needed. Returns ``(log, settings_hash, entropy,
    records)``: ``entropy`` is the root entropy to use (:func:`journal_entropy` of the
    journal's header, the given one when there is none); ``records`` is ``[]`` when there
    is nothing to resume (no file, or ``resume=False``).
    A journal of other settings raises a ``ValidationError`` listing the settings that
    differ; ``log`` is not started (call :meth:`JsonLinesLog.start` with the kept records).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shash = settings_hash(settings)
    log = JsonLinesLog(path)
    if not resume:  # started over: the old journal is replaced, whatever it holds
        return log, shash, entropy, []
    hint = f"delete it, use another out directory or resume=False ({command} --no-resume) to start over"
    try:
        header, records = log.read()
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"corrupt journal {log.path}: it is not UTF-8 text ({exc.reason}); {hint}.") from None
    if header is None:
        return log, shash, entropy, []
    if not isinstance(header, dict):
        raise ModelFileError(f"corrupt journal {log.path}: its first line is a JSON {type(header).__name__}, not "
                             f"the settings header of {what}; {hint}.")
    records = [r for r in records if isinstance(r, dict)]  # like unreadable lines, other values are skipped
    if header.get("settings_hash") != shash:
        old = header.get("settings") if isinstance(header.get("settings"), dict) else {}
        now = json.loads(json.dumps(to_jsonable(settings)))
        diff = sorted(k for k in set(old) | set(now) if old.get(k) != now.get(k)) or ["unknown"]
        raise ValidationError(
            f"{log.path} was written by {what} with different settings ({', '.join(diff)} differ; "
            f"hash {header.get('settings_hash')}, now {shash}); use another out directory "
            f"or resume=False ({command} --no-resume) to start over."
        )
    return log, shash, journal_entropy(header, entropy, seed), records


def journal_entropy(header, entropy: int, seed) -> int:
    """The root entropy to use: a resumed run whose ``rng`` is not an int seed reuses the journal's,
    so that its finished and remaining trials come from the same random streams."""
    if seed is None and header is not None:
        try:
            return int(header.get("entropy"))
        except (TypeError, ValueError):
            pass
    return entropy
