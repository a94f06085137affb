"""SCALE-Sim v3 ``.cfg`` files as architectures: the ``scalesim-ws`` preset with the file's array
and memory (``ewssim run --arch FILE.cfg``; docs/scalesim-parity.md, "USER mode").

The file is read as SCALE-Sim 3.0.0's ``scale_config.read_conf_file`` reads it: Python's
``configparser`` (section names exact, keys case-insensitive, ``key: value`` or
``key = value``, ``%`` interpolation, no inline comments), each number with ``int()``.  What it
sets:

* ``array.rows`` / ``array.cols`` <- ``[architecture_presets] ArrayHeight`` / ``ArrayWidth``;
* ``name`` <- ``[general] run_name``;
* ``scalesim.interface`` <- ``[run_presets] InterfaceBandwidth`` (``CALC`` or ``USER``);
* ``scalesim.{ifmap,filter,ofmap}_sram_kb`` <- ``IfmapSramSzkB``, ``FilterSramSzkB``,
  ``OfmapSramSzkB``;
* ``scalesim.ifmap_bandwidth`` / ``filter_bandwidth`` <- ``[layout] IfmapSRAMBankBandwidth`` /
  ``FilterSRAMBankBandwidth`` (in USER mode SCALE-Sim's DRAM read bandwidths; not
  ``Bandwidth``), ``scalesim.ifmap_banks`` / ``filter_banks`` <- ``IfmapSRAMBankNum`` /
  ``FilterSRAMBankNum``;
* ``scalesim.ofmap_bandwidth`` <- the first value of ``[architecture_presets] Bandwidth``.
  SCALE-Sim reads ``Bandwidth`` only in USER mode (the other values are parsed and unused);
  in CALC mode it is not read, and ``ofmap_bandwidth`` keeps the preset's value.

Accepted and ignored, because they change nothing SCALE-Sim reports for a WS layer without a
custom layout: ``IfmapOffset``, ``FilterOffset``, ``OfmapOffset`` (integers >= 0),
``ReadRequestBuffer``, ``WriteRequestBuffer`` (used only with Ramulator),
``IfmapSRAMBankPort``, ``FilterSRAMBankPort`` (integers), ``MemoryBanks`` (SCALE-Sim does not
read it), the ``[sparsity]`` details when ``SparsitySupport`` is false, ``[network_presets]``
(the topology comes from ``--workload``), and any key or section SCALE-Sim does not read.

Refused with a one-line :class:`~ewssim.errors.InputError` naming the field as the file spells
it (e.g. ``field '[architecture_presets] Dataflow'``), because ewssim cannot reproduce it
exactly: a ``Dataflow`` other than ``ws``; ``IfmapCustomLayout`` / ``FilterCustomLayout`` true;
``SparsitySupport`` true; ``UseRamulatorTrace: True``; an ``InterfaceBandwidth`` other than
``CALC``/``USER``; a 0 kB SRAM (SCALE-Sim divides by zero); in USER mode a bank bandwidth that
is not a multiple of its bank count (SCALE-Sim's assertion); a missing section or key, a number
``int()`` cannot read, or a value out of range (array size, SRAM size, bandwidth or bank count
below 1, a negative offset, which would collide with SCALE-Sim's -1 "no request" address); and
a ``[network_presets]`` section without ``TopologyCsvLoc = "..."`` in
``[architecture_presets]``, on which SCALE-Sim itself crashes.  A bank bandwidth or count
below 1 is refused in CALC mode too, although SCALE-Sim does not use them there.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from ewssim.config.presets import preset
from ewssim.config.schema import ArchConfig
from ewssim.errors import InputError

__all__ = ["load_scalesim_cfg", "scalesim_cfg_from_text"]

_ARCH, _LAYOUT, _RUN = "architecture_presets", "layout", "run_presets"


def _parse_problem(exc: configparser.Error) -> str:
    """configparser's complaint, without the file name it repeats."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return "text before the first [section] header"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"section [{exc.section}] appears twice"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"key '{exc.option}' appears twice in [{exc.section}]"
    if isinstance(exc, configparser.ParsingError):
        return "cannot parse line(s) " + ", ".join(str(no) for no, _ in exc.errors)
    return " ".join(str(exc).split())


class _Cfg:
    """A parsed ``.cfg`` and its source, with SCALE-Sim's ways of reading a value."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.cp = configparser.ConfigParser()  # SCALE-Sim's defaults: interpolation, strict
        try:
            self.cp.read_string(text, source=source)
        except configparser.Error as exc:
            raise InputError(f"not a SCALE-Sim .cfg file: {_parse_problem(exc)}",
                             source=source, line=getattr(exc, "lineno", None),
                             allowed="configparser INI text, as SCALE-Sim's scale.cfg") from None

    def error(self, section: str, key: str, problem: str, allowed: str) -> InputError:
        return InputError(problem, source=self.source, field=f"[{section}] {key}",
                          allowed=allowed)

    def text(self, section: str, key: str) -> str:
        """``config.get(section, key)``: the stripped value."""
        if not self.cp.has_section(section):
            raise InputError("missing section", source=self.source, field=f"[{section}]",
                             allowed=f"a [{section}] section, as in SCALE-Sim's scale.cfg")
        try:
            return self.cp.get(section, key)
        except configparser.NoOptionError:
            raise self.error(section, key, "missing key",
                             f"'{key}: VALUE' in [{section}]") from None
        except configparser.Error as exc:
            raise self.error(section, key, " ".join(str(exc).split()),
                             "a value without a bare %") from None

    def integer(self, section: str, key: str, lo: int | None = None, why: str = "") -> int:
        """``int(config.get(section, key))``, at least ``lo``."""
        raw = self.text(section, key)
        try:
            v = int(raw)
        except ValueError:
            raise self.error(section, key, f"{raw[:40]!r} is not an integer",
                             "integer" if lo is None else f"integer >= {lo}") from None
        if lo is not None and v < lo:
            raise self.error(section, key, f"{v} is out of range{why}", f"integer >= {lo}")
        return v

    def boolean(self, section: str, key: str) -> bool:
        """``config.getboolean(section, key)``."""
        raw = self.text(section, key)
        try:
            return self.cp.getboolean(section, key)
        except ValueError:
            raise self.error(section, key, f"{raw[:40]!r} is not a boolean",
                             "True or False (also yes/no, on/off, 1/0)") from None


def _interface(cfg: _Cfg) -> str:
    mode = cfg.text(_RUN, "InterfaceBandwidth")
    if mode not in ("CALC", "USER"):
        raise cfg.error(_RUN, "InterfaceBandwidth", f"{mode[:40]!r} is not a bandwidth mode",
                        "CALC or USER (exactly)")
    if cfg.text(_RUN, "UseRamulatorTrace") == "True":
        raise cfg.error(_RUN, "UseRamulatorTrace", "Ramulator DRAM traces are not modelled",
                        "False")
    return mode.lower()


def _architecture(cfg: _Cfg, user: bool) -> dict:
    """The ``[architecture_presets]`` keys, in SCALE-Sim's reading order."""
    out = {"array.rows": cfg.integer(_ARCH, "ArrayHeight", 1),
           "array.cols": cfg.integer(_ARCH, "ArrayWidth", 1)}
    for op in ("Ifmap", "Filter", "Ofmap"):
        out[f"scalesim.{op.lower()}_sram_kb"] = cfg.integer(
            _ARCH, f"{op}SramSzkB", 1, " (SCALE-Sim divides by zero on a 0 kB SRAM)")
    for op in ("Ifmap", "Filter", "Ofmap"):
        cfg.integer(_ARCH, f"{op}Offset", 0, " (an address could become SCALE-Sim's -1, "
                    "'no request')")
    dataflow = cfg.text(_ARCH, "Dataflow")
    if dataflow != "ws":
        raise cfg.error(_ARCH, "Dataflow", f"{dataflow[:40]!r} is not modelled",
                        "ws (weight stationary)")
    cfg.integer(_ARCH, "ReadRequestBuffer")
    cfg.integer(_ARCH, "WriteRequestBuffer")
    if user:
        raw = cfg.text(_ARCH, "Bandwidth")
        try:
            bws = [int(x.strip()) for x in raw.split(",")]
        except ValueError:
            raise cfg.error(_ARCH, "Bandwidth", f"{raw[:40]!r} is not a list of integers",
                            "comma-separated integers; the first is the ofmap bandwidth"
                            ) from None
        if bws[0] < 1:
            raise cfg.error(_ARCH, "Bandwidth", f"{bws[0]} is out of range",
                            "a first value >= 1 (ofmap words/cycle)")
        out["scalesim.ofmap_bandwidth"] = bws[0]
    return out


def _layout(cfg: _Cfg, user: bool) -> dict:
    """The ``[layout]`` keys: no custom layout; bank bandwidth (the USER DRAM read bandwidth)
    a multiple of the bank count in USER mode."""
    out = {}
    for op in ("Ifmap", "Filter"):
        if cfg.boolean(_LAYOUT, f"{op}CustomLayout"):
            raise cfg.error(_LAYOUT, f"{op}CustomLayout", "custom layouts (bank conflicts) "
                            "are not modelled", "False")
    for op in ("Ifmap", "Filter"):
        bw = cfg.integer(_LAYOUT, f"{op}SRAMBankBandwidth", 1)
        banks = cfg.integer(_LAYOUT, f"{op}SRAMBankNum", 1)
        cfg.integer(_LAYOUT, f"{op}SRAMBankPort")
        if user and bw % banks:
            raise cfg.error(_LAYOUT, f"{op}SRAMBankBandwidth", f"{bw} is not a multiple of "
                            f"{op}SRAMBankNum ({banks}); SCALE-Sim asserts it",
                            f"a multiple of {banks}")
        out[f"scalesim.{op.lower()}_bandwidth"] = bw
        out[f"scalesim.{op.lower()}_banks"] = banks
    return out


def _refused_extras(cfg: _Cfg) -> None:
    """``[network_presets]`` (SCALE-Sim's look-up quirk) and ``[sparsity]``."""
    if cfg.cp.has_section("network_presets"):
        if (not cfg.cp.has_option(_ARCH, "TopologyCsvLoc")
                or len(cfg.text(_ARCH, "TopologyCsvLoc").split('"')) < 2):
            raise cfg.error(_ARCH, "TopologyCsvLoc", "with a [network_presets] section, "
                            "SCALE-Sim reads a quoted topology path here and crashes without "
                            'one', 'TopologyCsvLoc: "PATH", or no [network_presets] section')
    if cfg.text("sparsity", "SparsitySupport").lower() == "true":
        raise cfg.error("sparsity", "SparsitySupport", "sparse filters are not modelled",
                        "false")


def scalesim_cfg_from_text(text: str, source: str = "<scalesim cfg>") -> ArchConfig:
    """The architecture of a SCALE-Sim ``.cfg`` given as text (``source`` names it in
    errors)."""
    cfg = _Cfg(text, source)
    values: dict = {"name": cfg.text("general", "run_name")}
    interface = _interface(cfg)
    user = interface == "user"
    values["scalesim.interface"] = interface
    values.update(_architecture(cfg, user))
    values.update(_layout(cfg, user))
    _refused_extras(cfg)
    return preset("scalesim-ws").replace(values, source=source)


def load_scalesim_cfg(path: str | Path) -> ArchConfig:
    """The architecture of the SCALE-Sim v3 ``.cfg`` file at ``path``: the ``scalesim-ws``
    preset with the file's array, name and ``[scalesim]`` memory (see the module docstring for
    what is read, ignored and refused)."""
    s = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", source=s, field="arch",
                         allowed="a SCALE-Sim .cfg text file") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=s, field="arch",
                         allowed="a readable SCALE-Sim .cfg file") from None
    return scalesim_cfg_from_text(text, source=s)
