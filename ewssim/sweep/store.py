"""The results database: SQLite, written as each point finishes, resumable, deterministic.

Tables:

- ``meta(key, value)``: ``spec_json`` (the canonical spec), ``spec_hash``, ``format``.
- ``results``: one row per design point x workload -- ``point_id`` (primary key), ``idx``,
  ``config_id``, ``workload``, ``status`` (``ok`` | ``skipped`` | ``error``), ``reason``,
  ``axes`` (JSON of the point's axis values), ``preset``, ``array`` (``RxC``), every
  configuration key (dotted names, e.g. ``"memory.l2_bytes"``), every pre-simulation metric
  and, for ``ok`` rows, every total of :attr:`ewssim.api.RunResult.totals` (a new total adds a
  column; ``workload`` is stored as ``network``).
- ``layers``: per-layer rows (``point_id``, ``layer`` and the layer columns) when the spec
  says ``per_layer = true``.
- ``timing(point_id, seconds, finished_unix)`` and ``runs``: wall times; the only tables that
  differ between two runs of the same spec.

Only the parent process writes: one transaction per finished point (WAL journal), so a killed
sweep loses nothing it had finished.  A database made by a different spec is refused before
anything is written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ewssim.errors import InputError

FORMAT = "ewssim-sweep-1"
FIXED_COLUMNS = ["point_id", "idx", "config_id", "workload", "status", "reason", "axes",
                 "preset", "array"]
#: tables whose content is a function of the spec alone
DETERMINISTIC_TABLES = ("meta", "results", "layers")


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_type(v) -> str:
    if isinstance(v, bool | int):
        return "INTEGER"
    if isinstance(v, float):
        return "REAL"
    return "TEXT"


def _py(v):
    """numpy scalars -> Python; anything else non-scalar -> JSON text."""
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v, default=str)


def _open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def read_meta(path: str | Path) -> dict:
    """The ``meta`` table of an existing results file; InputError if it is not one."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", source=str(path), allowed="a sweep results .sqlite")
    try:
        con = _open_ro(p)
        try:
            rows = con.execute("SELECT key, value FROM meta").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        raise InputError("not an ewssim sweep results database", source=str(path),
                         allowed="a file written by `ewssim sweep --out`") from None
    meta = dict(rows)
    if meta.get("format") != FORMAT:
        raise InputError(f"unknown results format {meta.get('format')!r}", source=str(path),
                         allowed=FORMAT)
    return meta


class Store:
    """An open results database.  :meth:`check` first (read-only), then :meth:`open`."""

    def __init__(self, path: str | Path, spec_json: str, spec_hash: str):
        self.path = Path(path)
        self.spec_json = spec_json
        self.spec_hash = spec_hash
        self.con: sqlite3.Connection | None = None
        self.columns: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ read-only checks
    def check(self) -> dict[str, str]:
        """``{point_id: status}`` already stored; InputError (nothing written) if the file
        exists but is not a results database of this very spec."""
        if not self.path.exists():
            return {}
        if not self.path.is_file():
            raise InputError("is not a file", source=str(self.path), field="--out",
                             allowed="a .sqlite file path")
        if self.path.stat().st_size == 0:
            return {}
        meta = read_meta(self.path)
        if meta.get("spec_hash") != self.spec_hash:
            raise InputError(f"written by a different sweep spec (spec hash "
                             f"{meta.get('spec_hash')}, this spec {self.spec_hash}); refusing "
                             "to mix results", source=str(self.path), field="--out",
                             allowed="the same spec, or a new --out file")
        con = _open_ro(self.path)
        try:
            return dict(con.execute("SELECT point_id, status FROM results").fetchall())
        finally:
            con.close()

    # ------------------------------------------------------------------ writing
    def open(self, config_columns: list[str], metric_columns: list[str]) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        self.con = con
        if new:
            cols = FIXED_COLUMNS + [c for c in config_columns + metric_columns
                                    if c not in FIXED_COLUMNS]
            types = {"idx": "INTEGER"}
            defs = ", ".join(f"{q(c)} {types.get(c, '')}".strip() +
                             (" PRIMARY KEY" if c == "point_id" else "") for c in cols)
            con.execute("BEGIN IMMEDIATE")
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            con.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("spec_hash", self.spec_hash),
                ("spec_json", self.spec_json)])
            con.execute(f"CREATE TABLE results ({defs})")
            con.execute("CREATE TABLE layers (point_id TEXT, layer_idx INTEGER, "
                        "PRIMARY KEY (point_id, layer_idx))")
            con.execute("CREATE TABLE timing (point_id TEXT PRIMARY KEY, seconds REAL, "
                        "finished_unix REAL)")
            con.execute("CREATE TABLE runs (started_unix REAL, finished_unix REAL, "
                        "executor TEXT, workers INTEGER, points_run INTEGER, seconds REAL)")
            con.execute("COMMIT")
        for t in ("results", "layers"):
            self.columns[t] = [r[1] for r in con.execute(f"PRAGMA table_info({t})")]

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def _ensure(self, table: str, row: dict) -> None:
        have = self.columns[table]
        for k, v in row.items():
            if k not in have:
                self.con.execute(f"ALTER TABLE {table} ADD COLUMN {q(k)} {_sql_type(v)}")
                have.append(k)

    def _insert(self, table: str, row: dict) -> None:
        self._ensure(table, row)
        keys = list(row)
        self.con.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(map(q, keys))}) "
                         f"VALUES ({', '.join('?' * len(keys))})", [_py(row[k]) for k in keys])

    def write(self, rows: list[dict], layers: dict[str, list[dict]] | None = None,
              seconds: dict[str, float] | None = None) -> None:
        """Insert result rows (and their layer rows and timings) in one transaction."""
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                self._insert("results", row)
                pid = row["point_id"]
                con.execute("DELETE FROM layers WHERE point_id = ?", (pid,))
                for i, lr in enumerate((layers or {}).get(pid, [])):
                    self._insert("layers", {"point_id": pid, "layer_idx": i, **lr})
                if seconds and pid in seconds:
                    con.execute("INSERT OR REPLACE INTO timing VALUES (?, ?, ?)",
                                (pid, seconds[pid], time.time()))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def log_run(self, started: float, executor: str, workers: int, points_run: int) -> None:
        now = time.time()
        self.con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                         (started, now, executor, workers, points_run, now - started))


# ----------------------------------------------------------------------------- reading

def read_results(path: str | Path, status: str | None = "ok"):
    """The ``results`` table as a DataFrame ordered by ``point_id`` (``status=None``: all)."""
    import pandas as pd

    read_meta(path)
    con = _open_ro(Path(path))
    try:
        sql = "SELECT * FROM results"
        args: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        return pd.read_sql_query(sql + " ORDER BY point_id", con, params=args)
    finally:
        con.close()


def dump(path: str | Path) -> dict[str, list[tuple]]:
    """The deterministic content of a results file: every row of ``meta``, ``results`` and
    ``layers`` with columns in name order, rows sorted (for comparing two runs)."""
    con = _open_ro(Path(path))
    try:
        out = {}
        for t in DETERMINISTIC_TABLES:
            cols = sorted(r[1] for r in con.execute(f"PRAGMA table_info({t})"))
            rows = con.execute(f"SELECT {', '.join(map(q, cols))} FROM {t}").fetchall()
            out[t] = [tuple(cols)] + sorted(rows, key=repr)
        return out
    finally:
        con.close()


def check_export(out: str | Path) -> None:
    """InputError unless ``out`` is a .csv, or a .parquet with pyarrow installed."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"unknown export format {out.suffix or out.name!r}", source=str(out),
                         field="--export", allowed=".csv, .parquet")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("writing parquet needs pyarrow", field="--export",
                             allowed="a .csv file, or `pip install 'ewssim[parquet]'`") from None


def export(path: str | Path, out: str | Path) -> Path:
    """Every result row to ``out`` (.csv or .parquet)."""
    check_export(out)
    out = Path(out)
    suffix = out.suffix.lower()
    df = read_results(path, status=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(out)
    return out
