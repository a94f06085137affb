"""The resolved hardware: one frozen value with everything the model derives from an
architecture.

A dataflow plug-in (:mod:`ewssim.dataflow`) validates an :class:`~ewssim.config.ArchConfig`
and *resolves* it into a :class:`Hardware`: the physical array, the kind of PE, the weight
path, the register depths, the memories.  Timing, traffic, energy, area and the cycle-by-cycle
reference read only this value (and :class:`LayerHardware`, how one layer's weight format runs
on it), so a rule of the hardware is written once, here, and no module outside ``dataflow/``
needs to know which dataflow it is.

Vocabulary (docs/model-reference.md §1-§4):

* ``rows`` (L) -- the array's configured reduction length; ``cols`` (H) its output columns.
* ``pe_rows`` -- physical PEs per column: ``rows * N/M`` on the sparsity-aware array in area
  use, else ``rows``.  ``physical_pes = pe_rows * cols``.
* ``logical_rows`` -- reduction rows a pruned layer's tile covers: ``rows`` (area use, dense
  array) or ``rows * M/N`` (throughput use); on a time-unrolled array ``rows * BZ``.
* ``mux_fan_in`` -- the ``M:1`` activation mux of a spatial sparse PE (0: no mux).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ewssim.compress.format import WeightFormat
from ewssim.config import DataConfig, MemoryConfig, ScaleSimConfig, VectorConfig
from ewssim.workload.activations import nnz_per_block
from ewssim.workload.layers import Layer

LoaderKind = Literal["int8", "codebook", "dbb"]


def ceil_div(a, b: int):
    """Ceiling division of an int or an integer array."""
    return -(-a // b)


@dataclass(frozen=True)
class Hardware:
    """Everything the model derives from an architecture (built by a dataflow's ``resolve``)."""

    name: str
    dataflow: str                    # the plug-in's kind, for display only
    clock_mhz: float
    # ---- array geometry
    rows: int                        # L, configured reduction length
    cols: int                        # H, output columns
    pe_rows: int                     # physical PEs per column
    # ---- PE
    wrf_depth: int                   # weight register entries per PE
    arf_depth: int                   # ARF entries per activation channel (used with arf_reuse)
    prf_depth: int                   # PRF entries per column (used with prf_reuse)
    wrf_double_buffer: bool          # EWS 1: loads overlap compute
    arf_reuse: bool                  # EWS 2: a PE works on several kernel-width taps
    prf_reuse: bool                  # EWS 3: psums of a pixel chunk stay in the PRF
    zero_gating: bool                # MACs with a zero operand do not switch
    # ---- sparsity-aware array (spatial N:M) and time-unrolled tensor PEs (S2TA-AW)
    sparse: bool                     # d*N/M physical PEs per d logical ones
    sparse_use: str                  # "area" | "throughput"
    mux_fan_in: int                  # M of the M:1 activation mux (0: none)
    time_unrolled: bool              # one kept activation per cycle, NNZ_a cycles per block
    act_block: int                   # BZ of activation DBB
    act_nnz: int                     # fixed NNZ_a (0: from each layer's density)
    # ---- weight path
    weight_format: WeightFormat      # what the weight path decodes
    loader: LoaderKind
    crf_ports: int                   # resolved (0 in the config = logical rows / d)
    crf_latency: int
    lzc_stage_cycles: int
    sign_latency: int
    crf_groups: int = 0              # codebook groups the CRF holds (0: all of a layer's)
    crf_write_bytes_per_cycle: int = 0   # 0: one codeword (d bytes) per cycle
    # ---- SCALE-Sim parity timing
    load_mode: str = "lines"         # "lines" (loader) or "rows" (shifted in from the top)
    drain_full_width: bool = False   # the last wave crosses all columns
    allow_pack: bool = True          # pack small groups block-diagonally
    scalesim_layer_offset: bool = False  # -groups cycles per layer (SCALE-Sim's cycle index)
    # ---- memories, data widths, activations
    memory: MemoryConfig = MemoryConfig()
    data: DataConfig = DataConfig()
    vector: VectorConfig = VectorConfig()
    act_profile: str = "default"
    #: SCALE-Sim's own memory model (``scalesim-ws`` only), else None
    scalesim: ScaleSimConfig | None = None
    # ---- area-only choices
    acc_bits_cfg: int = 0
    act_pipe_reg: bool = True
    prf_in_array: bool = True

    # ------------------------------------------------------------------ derived
    @property
    def physical_pes(self) -> int:
        return self.pe_rows * self.cols

    @property
    def halves(self) -> int:
        """Slots of each L1 buffer: 2 when double-buffered."""
        return 2 if self.memory.l1_double_buffer else 1

    @property
    def l2_act_bytes(self) -> int:
        """The L2 share that holds activations between layers (and staged inputs)."""
        return int(self.memory.l2_act_fraction * self.memory.l2_bytes)

    @property
    def l2_stage_bytes(self) -> int:
        """The rest of L2: the weight staging ring."""
        return self.memory.l2_bytes - self.l2_act_bytes

    @property
    def nm(self) -> tuple[int, int]:
        """The weight format's N:M (the sparse array's groups); (1, 1) when not pruned."""
        return self.weight_format.nm

    @property
    def logical_rows(self) -> int:
        """Reduction rows a tile of a pruned layer covers (the loader's line length)."""
        n, m = self.nm
        if self.time_unrolled:
            return self.rows * self.act_block
        if self.sparse and self.sparse_use == "throughput":
            return self.rows * m // n
        return self.rows

    @property
    def wrf_pos_bits(self) -> int:
        """Position bits stored with each weight in the WRF (the sparse array's in-group
        position, or the tensor PE's in-block position)."""
        return math.ceil(math.log2(self.nm[1])) if self.sparse else 0

    @property
    def act_pos_bits(self) -> int:
        """Position bits carried with each activation (time-unrolled activation blocks)."""
        return (self.act_block - 1).bit_length() if self.time_unrolled else 0

    @property
    def act_channels(self) -> int:
        """Activations a PE can select from: ``M`` on a spatial sparse array, else 1."""
        return self.nm[1] if self.mux_fan_in else 1

    @property
    def gates_activations(self) -> bool:
        """Executed MACs depend on the input-activation density (zero gating, DBB)."""
        return self.zero_gating or self.time_unrolled

    @property
    def acc_bits(self) -> int:
        """In-array accumulator / psum pipeline width: ``array.acc_bits``, or (0) exact for one
        pass down a column: product bits + ``ceil(log2(pe_rows * arf_depth))``."""
        if self.acc_bits_cfg:
            return self.acc_bits_cfg
        return (self.data.weight_bits + self.data.act_bits
                + math.ceil(math.log2(self.pe_rows * max(1, self.arf_depth))))

    # ------------------------------------------------------------------ per layer
    def layer(self, fmt: WeightFormat | None, density: float = 1.0) -> LayerHardware:
        """How a layer stored in ``fmt`` (``None``: INT8) runs on this hardware, with input
        activation density ``density`` (zero gating, activation DBB)."""
        fmt = fmt or WeightFormat()
        n, m = fmt.nm
        pruned = fmt.pruned
        sparse = self.sparse and pruned  # a dense layer on the sparse array: physical PEs only
        time_unrolled = self.time_unrolled and fmt.dbb and pruned
        phys = self.pe_rows
        if time_unrolled:
            logical = self.rows * self.act_block
        elif sparse:
            logical = phys * m // n
        else:
            logical = phys
        nnz_a = 1
        if time_unrolled:
            nnz_a = min(self.act_nnz, self.act_block) if self.act_nnz else \
                nnz_per_block(density, self.act_block)
        decoder = self.loader == "codebook" and fmt.codebook
        return LayerHardware(hw=self, format=fmt, pe_rows=phys, logical_rows=logical,
                             sparse=sparse, time_unrolled=time_unrolled, nnz_a=nnz_a,
                             density=density, decoder=decoder)


@dataclass(frozen=True)
class LayerHardware:
    """One layer's weight format on the hardware: what its tiles look like and cost."""

    hw: Hardware
    format: WeightFormat
    pe_rows: int          # physical rows a partial sum crosses
    logical_rows: int     # reduction units per tile
    sparse: bool          # the N:M muxes select this layer's activations
    time_unrolled: bool   # AW: NNZ_a cycles per (pixel, block)
    nnz_a: int            # kept activations per block (time-unrolled), else 1
    density: float        # input-activation density
    decoder: bool         # weights go through the codebook loader (CRF + decode)

    def taps(self, layer: Layer) -> int:
        """Kernel-width taps a PE works on (ARF reuse), 1 without."""
        if not self.hw.arf_reuse:
            return 1
        return max(1, min(layer.kernel_w, self.hw.arf_depth))

    @property
    def slot_cycles(self) -> int:
        """Cycles a PE spends per (pixel, tap) slot."""
        return self.nnz_a if self.time_unrolled else 1

    @property
    def entries_per_set(self) -> int | None:
        """WRF entries one tile's weights take in a PE (``None``: one per tap); a tensor PE
        holds its block's ``NNZ_w`` values."""
        return self.format.nm[0] if self.time_unrolled else None

    @property
    def double_buffer(self) -> bool:
        return self.hw.wrf_double_buffer

    @property
    def crf_ports(self) -> int:
        """CRF read ports: configured, or one line per cycle (``logical rows / d``)."""
        return self.hw.crf_ports or ceil_div(self.logical_rows, self.format.d)

    def line_cycles(self):
        """Cycles per line: an int, or a function of each tile's used logical rows (the
        codebook loader reads ``ceil(rows / d)`` sub-vectors through ``crf_ports`` ports)."""
        if self.time_unrolled:
            return self.format.nm[0]  # one (value, position) entry per cycle
        if not self.decoder:
            return 1
        d, ports = self.format.d, self.crf_ports
        return lambda used_rows: ceil_div(ceil_div(used_rows, d), ports)

    @property
    def load_latency(self) -> int:
        """Decode pipeline cycles added to every load: CRF read, ``N`` cascaded LZC stages for
        bitmap masks, sign application (SSVQ)."""
        if not self.decoder:
            return 0
        f, hw = self.format, self.hw
        lat = hw.crf_latency
        if f.pruned and f.mask_encoding == "bitmap":
            lat += f.nm[0] * hw.lzc_stage_cycles
        if f.signs:
            lat += hw.sign_latency
        return lat

    def weight_bytes(self, layer: Layer, total_bytes: int | None) -> int:
        """Bytes of the layer's weights as stored: ``total_bytes`` of its format in a compressed
        network (an INT8 layer there carries its 32-bit scale too), else the INT8 weights."""
        if total_bytes is None:
            return layer.weight_bytes(self.hw.data.weight_bits)
        return total_bytes

    @property
    def act_pos_bits(self) -> int:
        return self.hw.act_pos_bits if self.time_unrolled else 0

    @property
    def act_storage_ratio(self) -> float:
        """Bytes an activation tensor takes in L2/DRAM relative to dense ``act_bits``:
        activation DBB stores ``NNZ_a`` values + positions per block of ``BZ``."""
        if not self.time_unrolled:
            return 1.0
        bz, bits = self.hw.act_block, self.hw.data.act_bits
        return min(1.0, self.nnz_a * (bits + self.act_pos_bits) / (bz * bits))

    @property
    def kept_fraction(self) -> float:
        """Fraction of the loaded weights written into the WRFs (the kept ``N/M``)."""
        n, m = self.format.nm
        return n / m if self.sparse else 1.0

    def executed_macs(self, macs: int) -> int:
        """MACs the array performs: the sparse array skips the pruned ``(M-N)/M``; zero gating
        and activation DBB skip the zero activations (expected value from the density, capped
        at ``NNZ_a / BZ`` for a fixed NNZ_a)."""
        n, m = self.format.nm
        out = macs * n // m if self.sparse else macs
        if self.hw.gates_activations:
            density = self.density
            if self.time_unrolled and self.hw.act_nnz:
                density = min(density, self.hw.act_nnz / self.hw.act_block)
            out = int(round(out * density))
        return out
