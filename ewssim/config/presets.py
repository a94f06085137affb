"""Architecture presets: small TOML files (``ewssim/config/presets/NAME.toml``), each only what
differs from the defaults, with a comment saying what it models and where from.

``ewssim arch show NAME`` prints a preset whole; ``preset = "NAME"`` at the top of a user's TOML
file starts from it.  Names are matched without regard to case.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ewssim.config import schema
from ewssim.config.schema import ArchConfig
from ewssim.errors import InputError

PRESET_DIR = Path(__file__).with_name("presets")


def _load_all() -> dict[str, ArchConfig]:
    out = {}
    for path in sorted(PRESET_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = schema.from_dict(data, source=f"preset {path.stem}")
    return out


PRESETS: dict[str, ArchConfig] = _load_all()


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset(name: str, *, source: str | None = None) -> ArchConfig:
    """The preset ``name`` (any case)."""
    key = str(name).lower()
    if key not in PRESETS:
        raise InputError(f"unknown preset {name!r}", source=source, field="preset",
                         allowed=", ".join(preset_names()))
    return PRESETS[key]


def from_dict(data: dict, source: str = "<config>", base: ArchConfig | None = None) -> ArchConfig:
    """A checked configuration from a nested dict (a parsed TOML file); ``preset = "NAME"``
    starts from that preset, otherwise from ``base`` (default: the defaults)."""
    if "preset" in data:
        base = preset(data["preset"], source=source)
        data = {k: v for k, v in data.items() if k != "preset"}
    return schema.from_dict(data, source, base)


def load_toml(path: str | Path) -> ArchConfig:
    """An architecture TOML file (optionally starting from ``preset = "NAME"``)."""
    s = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", source=s) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=s) from None
    return from_dict(data, source=s)
