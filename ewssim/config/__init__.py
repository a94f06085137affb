"""Architecture configuration: typed, checked wherever it is made, read and written as TOML.

* :mod:`~ewssim.config.schema` -- the dataclasses, their metadata and checks, TOML in and out,
  dotted-key overrides (:meth:`ArchConfig.replace`, ``--set``);
* :mod:`~ewssim.config.presets` -- the presets (TOML files);
* :mod:`~ewssim.config.sizing` -- buffer sizing rules (an L1 buffer must hold one tile).
"""

from __future__ import annotations

from pathlib import Path

from ewssim.config import sizing as _sizing  # noqa: F401  (registers the sizing rules)
from ewssim.config.presets import PRESETS, from_dict, load_toml, preset, preset_names
from ewssim.config.schema import (
    KIB,
    SECTIONS,
    ActivationConfig,
    ArchConfig,
    ArrayConfig,
    DataConfig,
    DataflowConfig,
    MemoryConfig,
    ScaleSimConfig,
    VectorConfig,
    WeightConfig,
    check_fields,
    check_value,
    describe_parameters,
    param,
    parse_array,
    parse_set,
    register_check,
    to_toml,
    validate,
)
from ewssim.errors import InputError


def load(spec: str | Path | ArchConfig) -> ArchConfig:
    """A preset name (any case), an architecture TOML file, a SCALE-Sim ``.cfg`` file (the
    ``scalesim-ws`` preset with its array and memory, :mod:`~ewssim.config.scalesim_cfg`), or
    an ArchConfig (checked again)."""
    if isinstance(spec, ArchConfig):
        return validate(spec)
    s = str(spec)
    if s.lower() in PRESETS:
        return PRESETS[s.lower()]
    path = Path(s)
    if path.suffix.lower() == ".cfg":
        from ewssim.config.scalesim_cfg import load_scalesim_cfg

        return load_scalesim_cfg(path)
    if not path.is_file():
        raise InputError(f"no preset or file named {s!r}", field="arch",
                         allowed=", ".join(preset_names())
                         + ", a TOML file, or a SCALE-Sim .cfg file")
    return load_toml(path)


__all__ = [
    "KIB", "PRESETS", "SECTIONS", "ActivationConfig", "ArchConfig", "ArrayConfig", "DataConfig",
    "DataflowConfig", "MemoryConfig", "ScaleSimConfig", "VectorConfig", "WeightConfig",
    "check_fields",
    "check_value", "describe_parameters", "from_dict", "load", "load_toml", "param",
    "parse_array", "parse_set", "preset", "preset_names", "register_check", "to_toml",
    "validate",
]
