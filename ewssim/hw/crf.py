"""Codebook register file (CRF) of the MVQ weight loader.

Published (MVQ, ASPLOS 2025): the codebook sits in a register file inside the weight loader;
serving one array line of ``L`` weights takes ``L/d`` CRF read ports.  Modelled here
(docs/model-reference.md §6):

* Storage: ``k`` entries of ``d`` int8 values per codebook group, ``groups`` groups held at once
  (1 = one group at a time, reloaded on a switch; a layer's ``G`` = all of them resident):
  ``storage_bits = k * d * 8 * groups``.  Group ``g`` lives in slot ``g % groups``
  (direct-mapped).
* Reloads: :meth:`CodebookRegisterFile.load_codebook` (once per layer) writes the first
  ``min(G, groups)`` groups; a lookup of a group whose slot holds another group rewrites that
  slot.  One reload = ``k * d`` bytes written (``k`` of the loaded codebook).
* Reads: one per codeword lookup (a ``d``-byte entry per port per cycle).
* Ports: ``ports`` read ports (default: the sub-vectors of a line, ``ceil(L/d)``).  A line of
  ``spl`` sub-vectors takes ``line_cycles = ceil(spl / ports)`` cycles; the
  ``line_cycles - 1`` extra cycles are port-conflict stalls (round-robin arbitration: ``ports``
  lookups granted per cycle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ewssim.errors import InputError

__all__ = ["CRFCounters", "CodebookRegisterFile"]


def _pos_int(v, fld: str, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
        raise InputError(f"must be an integer >= {lo}, got {v!r}", field=fld)
    return int(v)


@dataclass
class CRFCounters:
    """Activity of the codebook register file."""

    reads: int = 0  # codeword lookups (one d-byte entry each)
    reloads: int = 0  # codebook groups written (once per layer and per group switch)
    reload_bytes: int = 0  # bytes written by reloads (k * d each)

    def as_dict(self) -> dict[str, int]:
        return {"reads": self.reads, "reloads": self.reloads, "reload_bytes": self.reload_bytes}


class CodebookRegisterFile:
    """``k`` x ``d`` int8 codebook entries per group, ``groups`` groups, ``ports`` read ports.

    ``line_length`` is the array's reduction length ``L`` (one line = ``ceil(L/d)``
    sub-vectors); ``ports`` defaults to that, the published one-line-per-cycle design.
    """

    def __init__(self, k: int, d: int, *, line_length: int = 64, ports: int | None = None,
                 groups: int = 1):
        self.k = _pos_int(k, "k")
        self.d = _pos_int(d, "d")
        self.line_length = _pos_int(line_length, "array.rows")
        self.subvectors_per_line = math.ceil(self.line_length / self.d)
        self.ports = self.subvectors_per_line if ports is None else _pos_int(ports, "crf_ports")
        self.groups = _pos_int(groups, "crf_groups")
        self.counters = CRFCounters()
        self._codebook: np.ndarray | None = None
        self._slots = np.full(self.groups, -1, dtype=np.int64)  # group held by each slot

    # ------------------------------------------------------------------ storage
    @property
    def storage_bits(self) -> int:
        """Register bits: ``k * d * 8 * groups``."""
        return self.k * self.d * 8 * self.groups

    @property
    def codebook(self) -> np.ndarray | None:
        """The layer codebook ``(G, k', d)`` the CRF is loading from (None before a layer)."""
        return self._codebook

    @property
    def resident_groups(self) -> np.ndarray:
        """Group held by each slot (-1 = empty), int64 ``(groups,)``."""
        return self._slots.copy()

    def _reload_bytes(self) -> int:
        return int(self._codebook.shape[1]) * self.d

    def load_codebook(self, codebook: np.ndarray) -> None:
        """Start a layer: take its int8 codebook ``(G, k', d)`` (or ``(k', d)``), ``k' <= k``,
        and write its first ``min(G, groups)`` groups (one reload each)."""
        cb = np.asarray(codebook)
        if cb.ndim == 2:
            cb = cb[None]
        if cb.ndim != 3 or cb.dtype != np.int8:
            raise ValueError(f"codebook must be int8 (G, k, d), got {cb.dtype} {cb.shape}")
        g, k, d = cb.shape
        if d != self.d or not 1 <= k <= self.k or g < 1:
            raise ValueError(f"codebook (G={g}, k={k}, d={d}) does not fit a CRF of k={self.k}, "
                             f"d={self.d}")
        if cb.size and int(cb.min()) == -128:
            raise ValueError("codebook holds -128, which the sign negation cannot represent")
        self._codebook = cb
        self._slots[:] = -1
        first = np.arange(min(g, self.groups))
        self._slots[first % self.groups] = first
        self.counters.reloads += first.size
        self.counters.reload_bytes += first.size * self._reload_bytes()

    # ------------------------------------------------------------------ functional
    def lookup(self, indices, group=0) -> np.ndarray:
        """Codewords ``(n, d)`` int8 of ``indices`` (n,) from codebook group ``group`` (a scalar
        or an ``(n,)`` array, in lookup order).  A group not resident in its slot is reloaded
        first (counted); out-of-range indices or groups raise :class:`ValueError`."""
        if self._codebook is None:
            raise ValueError("CRF lookup before a codebook was loaded")
        idx = np.asarray(indices)
        if idx.size and idx.dtype.kind not in "ui":
            raise ValueError(f"CRF indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64).ravel()
        grp = np.asarray(group)
        if grp.size and grp.dtype.kind not in "ui":
            raise ValueError(f"CRF codebook groups must be integers, got {grp.dtype}")
        grp = grp.astype(np.int64)
        grp = np.full(idx.shape, grp) if grp.ndim == 0 else grp.ravel()
        if grp.shape != idx.shape:
            raise ValueError(f"{grp.size} groups for {idx.size} indices")
        g_count, k_used, _ = self._codebook.shape
        for name, v, hi in (("index", idx, k_used), ("codebook group", grp, g_count)):
            bad = (v < 0) | (v >= hi)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"CRF {name} {int(v[i])} at lookup {i} is out of range "
                                 f"0..{hi - 1}")
        self._account_switches(grp)
        self.counters.reads += idx.size
        return self._codebook[grp, idx]

    def _account_switches(self, grp: np.ndarray) -> None:
        """Count reloads of a lookup sequence: per slot, every change of resident group."""
        if grp.size == 0:
            return
        slot = grp % self.groups
        order = np.argsort(slot, kind="stable")
        s, g = slot[order], grp[order]
        first = np.ones(s.size, dtype=bool)
        first[1:] = s[1:] != s[:-1]
        prev = np.empty_like(g)
        prev[1:] = g[:-1]
        prev[first] = self._slots[s[first]]
        n_reloads = int((g != prev).sum())
        last = np.ones(s.size, dtype=bool)
        last[:-1] = s[1:] != s[:-1]
        self._slots[s[last]] = g[last]
        self.counters.reloads += n_reloads
        self.counters.reload_bytes += n_reloads * self._reload_bytes()

    # ------------------------------------------------------------------ timing
    def line_cycles(self, subvectors_per_line=None):
        """Cycles to read one line's codewords: ``ceil(subvectors_per_line / ports)``;
        ``subvectors_per_line`` may be an int or an array (one line length per tile)."""
        if subvectors_per_line is None:
            return math.ceil(self.subvectors_per_line / self.ports)
        if isinstance(subvectors_per_line, np.ndarray):
            if (subvectors_per_line < 0).any():
                raise ValueError("subvectors_per_line must be >= 0")
            return -(-subvectors_per_line.astype(np.int64) // self.ports)
        spl = _pos_int(subvectors_per_line, "subvectors_per_line", 0)
        return math.ceil(spl / self.ports)

    def stall_cycles(self, subvectors_per_line: int | None = None) -> int:
        """Port-conflict stall cycles per line: ``line_cycles - 1`` (0 for an empty line)."""
        return max(self.line_cycles(subvectors_per_line) - 1, 0)

    def reset(self) -> None:
        """Clear counters (the stored codebook stays)."""
        self.counters = CRFCounters()
