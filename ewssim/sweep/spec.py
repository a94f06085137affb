"""Sweep specification: a TOML file -> validated, canonical spec -> the list of design points.

Format (docs/sweeps.md)::

    [sweep]
    workloads = ["resnet18"]          # zoo names or topology CSVs (relative to the spec)
    base = "ews"                      # preset or architecture TOML (or use a "preset" axis)
    weights = "analytic"              # analytic (default) or synthetic
    per_layer = false                 # also store one row per layer

    [fixed]                           # keys every point shares
    "memory.dram_latency_cycles" = 200

    [axes]
    "array" = ["32x32", "64x64"]      # tied rows x cols
    "memory.l2_bytes" = {log2_range = [262144, 2097152]}
    "memory.dram_bytes_per_cycle" = {range = [4, 32], step = 4}
    "preset" = ["ews", "mvq"]         # alias: "dataflow"

    [sample]
    method = "grid"                   # grid | random | lhs
    n = 100                           # random / lhs only
    seed = 1

    [constraints]
    pes = {max = 8192}

Every key and value is checked against the configuration's metadata (the same messages as
``ewssim run --arch FILE``) before anything runs.  A point whose combination of values is
invalid (e.g. a buffer too small for a tile) is not an error: it is recorded as skipped.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ewssim import config as _config
from ewssim.config import ArchConfig
from ewssim.errors import InputError
from ewssim.sweep.metrics import available_metrics, pre_sim_metrics

SPEC_VERSION = 1
METHODS = ("grid", "random", "lhs")
WEIGHT_SOURCES = ("analytic", "synthetic")
#: axes that are not a single configuration key
TIED_ARRAY = "array"
PRESET = "preset"
ALIASES = {"dataflow": PRESET}
MAX_POINTS = 1_000_000

_TABLES = {
    "sweep": ("workloads", "base", "weights", "per_layer", "name"),
    "fixed": None, "axes": None, "sample": ("method", "n", "seed"), "constraints": None,
}


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def short_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def config_keys() -> list[str]:
    """Every dotted configuration key, in the configuration's order."""
    return [p["key"] for p in _config.describe_parameters()]


def flat_config(arch: ArchConfig) -> dict:
    """``{"name": .., "clock_mhz": .., "array.rows": .., ...}`` -- every configuration key."""
    out: dict = {}
    for f in dataclasses.fields(arch):        # sections hold plain values: no deep copy
        v = getattr(arch, f.name)
        if dataclasses.is_dataclass(v):
            out.update({f"{f.name}.{g.name}": getattr(v, g.name)
                        for g in dataclasses.fields(v)})
        else:
            out[f.name] = v
    return out


def nested(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        sec, _, name = key.rpartition(".")
        if sec:
            out.setdefault(sec, {})[name] = value
        else:
            out[name] = value
    return out


def _check_fields(flat: dict, source: str) -> None:
    """Field-level checks only (known key, type, range, choices) -- the configuration's own
    messages; cross-field rules are checked per point."""
    _config.check_fields(nested(flat), source)


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Axis:
    key: str                        # a dotted config key, "array" or "preset"
    values: tuple | None = None     # discrete values
    lo: float | None = None         # continuous range (random / lhs only)
    hi: float | None = None
    integer: bool = False

    def canonical(self) -> dict:
        if self.values is not None:
            return {"values": list(self.values)}
        return {"range": [self.lo, self.hi], "integer": self.integer}


@dataclass
class Point:
    """One design point on one workload."""

    idx: int                        # position in the expansion (deterministic)
    point_id: str                   # hash of the configuration (or assignment) + workload
    config_id: str                  # the same without the workload
    workload: str
    assignment: dict                # axis -> value
    preset: str
    arch: ArchConfig | None = None
    status: str = "pending"         # pending | skipped
    reason: str = ""
    metrics: dict = field(default_factory=dict)

    @functools.cached_property
    def config(self) -> dict:
        """Every configuration key (:func:`flat_config`; computed once)."""
        return flat_config(self.arch) if self.arch is not None else {}


@dataclass
class SweepSpec:
    source: str
    base_dir: Path
    workloads: list[str]
    base: str | None                # preset name, or None when a preset axis / file base
    base_file: dict | None          # {"file", "sha256", "data"} for a TOML base
    weights: str
    per_layer: bool
    fixed: dict
    axes: list[Axis]
    method: str
    n: int | None
    seed: int
    constraints: dict               # metric -> {"min": x, "max": y}
    name: str = ""
    workload_files: dict = field(default_factory=dict)   # label -> sha256 of a CSV

    # ------------------------------------------------------------------ identity
    @property
    def canonical(self) -> dict:
        return {
            "version": SPEC_VERSION, "name": self.name,
            "workloads": [{"workload": w, **({"sha256": self.workload_files[w]}
                                             if w in self.workload_files else {})}
                          for w in self.workloads],
            "base": self.base_file if self.base_file is not None else self.base,
            "weights": self.weights, "per_layer": self.per_layer, "fixed": self.fixed,
            "axes": {a.key: a.canonical() for a in self.axes},
            "sample": {"method": self.method, "n": self.n, "seed": self.seed},
            "constraints": self.constraints,
        }

    @property
    def canonical_json(self) -> str:
        return canonical_json(self.canonical)

    @property
    def hash(self) -> str:
        return short_hash(self.canonical)

    def workload_path(self, label: str) -> str:
        """What :func:`ewssim.workload.load_network` should load for ``label``."""
        if label in self.workload_files:
            p = Path(label)
            return str(p if p.is_absolute() else self.base_dir / p)
        return label

    # ------------------------------------------------------------------ expansion
    def assignments(self) -> list[dict]:
        """Axis values of every design point, in a deterministic order (axes sorted by key)."""
        axes = self.axes
        if not axes:
            return [{}]
        if self.method == "grid":
            return [dict(zip([a.key for a in axes], combo, strict=True))
                    for combo in itertools.product(*(a.values for a in axes))]
        import numpy as np

        rng = np.random.default_rng(self.seed)
        n = self.n or 0
        cols = []
        for a in axes:
            if self.method == "random":
                u = rng.random(n)
            else:  # Latin hypercube: one sample in each of n strata, strata shuffled per axis
                u = (rng.permutation(n) + rng.random(n)) / n
            cols.append([_pick(a, float(x)) for x in u])
        return [dict(zip([a.key for a in axes], row, strict=True)) for row in zip(*cols,
                                                                                    strict=True)]

    def points(self) -> list[Point]:
        """Every design point x workload: validated, pre-simulation metrics computed, points
        failing validation or a constraint marked skipped with the reason.  Duplicate points
        (random sampling drawing the same values twice) appear once."""
        out: list[Point] = []
        seen: set[str] = set()
        idx = 0
        wl_keys = self.canonical["workloads"]
        start = self._start()
        for assign in self.assignments():
            arch, preset, reason, cid = self._build(assign, start)
            metrics: dict = {}
            if arch is not None:
                metrics = pre_sim_metrics(arch, checked=True)   # _build checked it
                reason = self._violated(metrics)
            for w, wkey in zip(self.workloads, wl_keys, strict=True):
                pid = short_hash({"config_id": cid, "workload": wkey})
                if pid in seen:
                    continue
                seen.add(pid)
                out.append(Point(idx=idx, point_id=pid, config_id=cid, workload=w,
                                 assignment=assign, preset=preset, arch=arch,
                                 status="skipped" if reason else "pending", reason=reason,
                                 metrics=metrics))
                idx += 1
        return out

    def _start(self) -> tuple[ArchConfig | None, str]:
        """The configuration every point starts from (unless it has a preset axis)."""
        if self.base_file is not None:
            return (_config.from_dict(dict(self.base_file["data"]),
                                      source=self.base_file["file"]), self.base_file["file"])
        if self.base is not None:
            return _config.PRESETS[self.base], self.base
        return None, ""

    def _build(self, assign: dict, start_preset: tuple[ArchConfig | None, str]
               ) -> tuple[ArchConfig | None, str, str, str]:
        start, preset = start_preset
        if PRESET in assign:
            preset = assign[PRESET]
            start = _config.PRESETS[preset]
        flat = dict(self.fixed)
        for key, value in assign.items():
            if key == PRESET:
                continue
            if key == TIED_ARRAY:
                rows, cols = _config.parse_array(value)
                flat["array.rows"], flat["array.cols"] = rows, cols
            else:
                flat[key] = value
        try:
            arch = _config.from_dict(nested(flat), source="point", base=start)
        except InputError as exc:
            raw = {"preset": preset, "base": self.canonical["base"], "set": flat}
            why = f"{exc.field}: {exc.problem}" if exc.field else exc.problem
            if exc.allowed:
                why += f" (allowed: {exc.allowed})"
            return None, preset, f"invalid configuration: {why}", short_hash({"invalid": raw})
        return arch, preset, "", short_hash(flat_config(arch))

    def _violated(self, metrics: dict) -> str:
        for name, bounds in self.constraints.items():
            v = metrics[name]
            if "min" in bounds and v < bounds["min"]:
                return f"constraint {name} = {v:g} < min {bounds['min']:g}"
            if "max" in bounds and v > bounds["max"]:
                return f"constraint {name} = {v:g} > max {bounds['max']:g}"
        return ""


def _pick(a: Axis, u: float):
    """Value of axis ``a`` at quantile ``u`` in [0, 1)."""
    u = min(max(u, 0.0), math.nextafter(1.0, 0.0))
    if a.values is not None:
        return a.values[int(u * len(a.values))]
    if a.integer:
        return int(a.lo) + int(u * (int(a.hi) - int(a.lo) + 1))
    return a.lo + u * (a.hi - a.lo)


# ----------------------------------------------------------------------------- parsing

def _err(problem: str, source: str, fld: str, allowed: str | None = None) -> InputError:
    return InputError(problem, source=source, field=fld, allowed=allowed)


def _is_num(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _axis(key: str, raw, source: str, method: str) -> Axis:
    fld = f"axes.{key}"
    if isinstance(raw, list):
        if not raw:
            raise _err("empty list of values", source, fld, "at least one value")
        values = tuple(raw)
    elif isinstance(raw, dict):
        kinds = [k for k in ("values", "range", "log2_range") if k in raw]
        extra = set(raw) - {"values", "range", "log2_range", "step"}
        if extra or len(kinds) != 1 or ("step" in raw and kinds != ["range"]):
            raise _err(f"not an axis table: {sorted(raw)}", source, fld,
                       "{values = [...]}, {range = [lo, hi], step = s}, {range = [lo, hi]} "
                       "(random/lhs), {log2_range = [lo, hi]}")
        kind = kinds[0]
        spec = raw[kind]
        if kind == "values":
            return _axis(key, spec, source, method)
        if not (isinstance(spec, list) and len(spec) == 2 and all(_is_num(x) for x in spec)):
            raise _err(f"{kind} must be two numbers [lo, hi], got {spec!r}", source, fld,
                       "[lo, hi] with lo <= hi")
        lo, hi = spec
        if lo > hi:
            raise _err(f"empty range: {kind} = [{lo}, {hi}]", source, fld, "lo <= hi")
        if kind == "log2_range":
            if lo <= 0:
                raise _err(f"log2_range needs positive bounds, got {lo}", source, fld, "lo > 0")
            e0, e1 = math.ceil(math.log2(lo)), math.floor(math.log2(hi))
            values = tuple(1 << e for e in range(e0, e1 + 1) if e >= 0)
            if not values:
                raise _err(f"empty range: no power of two in [{lo}, {hi}]", source, fld,
                           "a range containing a power of two")
        elif "step" in raw:
            step = raw["step"]
            if not _is_num(step) or step <= 0:
                raise _err(f"step must be a positive number, got {step!r}", source, fld,
                           "step > 0")
            count = int(math.floor((hi - lo) / step + 1e-9)) + 1
            if count > MAX_POINTS:
                raise _err(f"range has {count} values", source, fld, f"<= {MAX_POINTS}")
            if all(isinstance(x, int) for x in (lo, hi, step)):
                values = tuple(range(lo, hi + 1, step))
            else:
                values = tuple(lo + i * step for i in range(count))
        else:
            if method == "grid":
                raise _err("a continuous range needs sampling", source, fld,
                           "add step = ..., or [sample] method = random / lhs")
            integer = key in _INT_KEYS
            if not integer and key not in _FLOAT_KEYS:
                raise _err(f"a continuous range needs a numeric key, {key} is not", source,
                           fld, "a list of values")
            ax = Axis(key, lo=lo, hi=hi, integer=integer)
            for v in (lo, hi):  # both ends must be valid values of the key
                _check_fields({key: int(v) if integer else float(v)}, source)
            return ax
    else:
        raise _err(f"expected a list or a range table, got {raw!r}", source, fld,
                   "[v1, v2, ...] or a range table; single values belong in [fixed]")
    # check every discrete value
    for v in values:
        if key == TIED_ARRAY:
            if not isinstance(v, str):
                raise _err(f"{v!r} is not an array shape", source, fld, "\"ROWSxCOLS\" strings")
            try:
                _config.parse_array(v)
            except InputError:
                raise _err(f"{v!r} is not an array shape", source, fld,
                           "\"ROWSxCOLS\" with positive integers, e.g. \"64x64\"") from None
        elif key == PRESET:
            if v not in _config.PRESETS:
                raise _err(f"unknown preset {v!r}", source, fld,
                           ", ".join(_config.preset_names()))
        else:
            _check_fields({key: v}, source)
    if len(set(map(canonical_json, values))) != len(values):
        raise _err("duplicate values", source, fld, "each value once")
    return Axis(key, values=values)


def _field_types() -> dict[str, str]:
    return {p["key"]: p["type"] for p in _config.describe_parameters()}


_TYPES = _field_types()
_INT_KEYS = {k for k, t in _TYPES.items() if t == "int"}
_FLOAT_KEYS = {k for k, t in _TYPES.items() if t == "float"}


def _check_key(key: str, source: str, table: str) -> None:
    if key in (TIED_ARRAY, PRESET):
        return
    if key not in _TYPES:
        sec = key.rpartition(".")[0]
        same = [k for k in _TYPES if k.rpartition(".")[0] == sec] if sec else []
        allowed = (", ".join(same) if same else
                   "a dotted configuration key (" + ", ".join(
                       f"{s}.*" for s in _config.SECTIONS) + ", clock_mhz; see `ewssim arch "
                   "show ews`)" + (", \"array\" or \"preset\"" if table == "axes" else ""))
        raise _err("unknown key", source, f"{table}.{key}", allowed)


def parse_spec(data: dict, source: str = "<spec>", base_dir: Path | None = None) -> SweepSpec:
    """Check a sweep spec (the parsed TOML) in named steps; the first problem raises an
    :class:`InputError` naming ``source``, the field and what it allows."""
    base_dir = base_dir or Path(".")
    _check_tables(data, source)
    sw = data.get("sweep", {})
    wls, files = _workloads(sw, source, base_dir)
    method, n, seed = _sampling(data.get("sample", {}), source)
    raw_axes = _unalias(dict(data.get("axes", {})), source)
    base, base_file = _base(sw, raw_axes, source, base_dir)
    weights, per_layer, name = _options(sw, source)
    fixed = _fixed(data.get("fixed", {}), source)
    axes = _axes(raw_axes, fixed, method, len(wls), source)
    cons = _constraints(data.get("constraints", {}), source)
    return SweepSpec(source=source, base_dir=base_dir, workloads=list(wls), base=base,
                     base_file=base_file, weights=weights, per_layer=per_layer, fixed=fixed,
                     axes=axes, method=method, n=n, seed=seed, constraints=cons, name=name,
                     workload_files=files)


def _check_tables(data: dict, source: str) -> None:
    for t in data:
        if t not in _TABLES:
            raise _err("unknown table", source, t, ", ".join(_TABLES))
        if not isinstance(data[t], dict):
            raise _err("expected a table", source, t, f"[{t}]")
    for t, keys in _TABLES.items():
        if keys is not None:
            for k in data.get(t, {}):
                if k not in keys:
                    raise _err("unknown key", source, f"{t}.{k}", ", ".join(keys))


def _workloads(sw: dict, source: str, base_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The workload names and, for topology files, their SHA-256 (parsed now, not in a
    worker)."""
    wls = sw.get("workloads")
    if isinstance(wls, str):
        wls = [wls]
    if not isinstance(wls, list) or not wls or not all(isinstance(w, str) and w for w in wls):
        raise _err("expected a non-empty list of workloads", source, "sweep.workloads",
                   "zoo names (e.g. resnet18, tiny) or topology CSV paths")
    if len(set(wls)) != len(wls):
        raise _err("a workload is listed twice", source, "sweep.workloads", "each once")
    from ewssim.workload import load_network, zoo_names

    zoo = set(zoo_names())
    files = {}
    for w in wls:
        if w.lower() in zoo:
            continue
        p = Path(w) if Path(w).is_absolute() else base_dir / w
        if not p.is_file():
            raise _err(f"unknown workload {w!r} (not a zoo name, no such file)", source,
                       "sweep.workloads", ", ".join(sorted(zoo)) + " or a CSV path")
        load_network(str(p))
        files[w] = _file_sha(p)
    return wls, files


def _sampling(sm: dict, source: str) -> tuple[str, int | None, int]:
    method = sm.get("method", "grid")
    if method not in METHODS:
        raise _err(f"unknown method {method!r}", source, "sample.method", ", ".join(METHODS))
    n = sm.get("n")
    seed = sm.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise _err(f"expected a non-negative integer, got {seed!r}", source, "sample.seed",
                   "integer >= 0")
    if method == "grid":
        if n is not None:
            raise _err("grid enumerates every combination; n is for random / lhs", source,
                       "sample.n", "no n with method = grid")
    else:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _err(f"sample size must be a positive integer, got {n!r}", source,
                       "sample.n", f"integer in [1, {MAX_POINTS}]")
        if n > MAX_POINTS:
            raise _err(f"sample size {n} is too large", source, "sample.n", f"<= {MAX_POINTS}")
    return method, n, seed


def _unalias(raw_axes: dict, source: str) -> dict:
    for alias, real in ALIASES.items():
        if alias in raw_axes:
            if real in raw_axes:
                raise _err(f"both {alias!r} and {real!r} axes", source, f"axes.{alias}",
                           f"one of them ({alias!r} is an alias of {real!r})")
            raw_axes[real] = raw_axes.pop(alias)
    return raw_axes


def _base(sw: dict, raw_axes: dict, source: str, base_dir: Path
          ) -> tuple[str | None, dict | None]:
    """(preset name, base file) of the sweep: a preset, a TOML file, or neither when a
    preset axis names them."""
    base = sw.get("base")
    if base is not None and PRESET in raw_axes:
        raise _err("both a base and a preset axis", source, "sweep.base",
                   "one of them; put keys common to every point in [fixed]")
    if base is None:
        return (None if PRESET in raw_axes else "ews"), None
    if not isinstance(base, str):
        raise _err(f"expected a preset name or file, got {base!r}", source, "sweep.base",
                   ", ".join(_config.preset_names()) + " or a TOML file")
    if base in _config.PRESETS:
        return base, None
    p = Path(base) if Path(base).is_absolute() else base_dir / base
    if not p.is_file():
        raise _err(f"no preset or file named {base!r}", source, "sweep.base",
                   ", ".join(_config.preset_names()) + " or a TOML file")
    try:
        bdata = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _err(f"not valid TOML: {exc}", str(p), "sweep.base") from None
    _config.from_dict(dict(bdata), source=str(p))
    return None, {"file": base, "data": bdata}


def _options(sw: dict, source: str) -> tuple[str, bool, str]:
    weights = sw.get("weights", "analytic")
    if weights not in WEIGHT_SOURCES:
        raise _err(f"unknown weight source {weights!r}", source, "sweep.weights",
                   ", ".join(WEIGHT_SOURCES))
    per_layer = sw.get("per_layer", False)
    if not isinstance(per_layer, bool):
        raise _err(f"expected true/false, got {per_layer!r}", source, "sweep.per_layer",
                   "true/false")
    name = sw.get("name", "")
    if not isinstance(name, str):
        raise _err(f"expected a string, got {name!r}", source, "sweep.name", "string")
    return weights, per_layer, name


def _fixed(table: dict, source: str) -> dict:
    fixed = {}
    for key, v in table.items():
        _check_key(key, source, "fixed")
        if key in (TIED_ARRAY, PRESET):
            raise _err(f"{key!r} is an axis name", source, f"fixed.{key}",
                       "configuration keys (array.rows, ...); use [sweep] base for a preset")
        _check_fields({key: v}, source)
        fixed[key] = v
    return fixed


def _axes(raw_axes: dict, fixed: dict, method: str, n_workloads: int, source: str) -> list:
    axes = []
    for key in sorted(raw_axes):
        _check_key(key, source, "axes")
        if key in fixed:
            raise _err("key is both fixed and an axis", source, f"axes.{key}", "one of them")
        axes.append(_axis(key, raw_axes[key], source, method))
    keys = {a.key for a in axes}
    if TIED_ARRAY in keys and keys & {"array.rows", "array.cols"}:
        raise _err("the tied \"array\" axis sets array.rows and array.cols", source,
                   "axes.array", "either \"array\" or array.rows / array.cols")
    if TIED_ARRAY in fixed or {"array.rows", "array.cols"} & set(fixed) and TIED_ARRAY in keys:
        raise _err("array shape both fixed and an axis", source, "axes.array", "one of them")
    if method == "grid":
        size = math.prod(len(a.values) for a in axes) * n_workloads
        if size > MAX_POINTS:
            raise _err(f"the grid has {size:,} points", source, "axes",
                       f"<= {MAX_POINTS:,} points; use [sample] method = random or lhs")
    return axes


def _constraints(table: dict, source: str) -> dict:
    cons = {}
    avail = available_metrics()
    for metric, bounds in table.items():
        fld = f"constraints.{metric}"
        if metric not in avail:
            raise _err(f"unknown pre-simulation metric {metric!r}", source, fld,
                       ", ".join(avail) + " (simulation results cannot be constraints)")
        if isinstance(bounds, int | float) and not isinstance(bounds, bool):
            bounds = {"max": bounds}
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"} or \
                not all(_is_num(v) for v in bounds.values()):
            raise _err(f"expected {{min = x, max = y}}, got {bounds!r}", source, fld,
                       "{max = x}, {min = x} or {min = x, max = y}")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise _err("min > max: no point can pass", source, fld, "min <= max")
        cons[metric] = dict(sorted(bounds.items()))
    return cons


def load_spec(path: str | Path) -> SweepSpec:
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", source=str(path), field="SPEC",
                         allowed="a sweep spec TOML file (docs/sweeps.md)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", source=str(path)) from None
    return parse_spec(data, source=str(path), base_dir=p.parent)
