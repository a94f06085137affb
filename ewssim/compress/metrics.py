"""Bit accounting, compression ratios and reconstruction error.

Storage of one layer, in bits (hardware-model spec section 2)::

    VQ-family (mvq, casec, vq, ssvq):
        index_bits    = n_sub * ceil(log2 k)
        mask_bits     = n_groups * bits_per_group(encoding)      (0 when N = M: no mask stored)
        sign_bits     = kept positions (ssvq only; n_sub * d when N = M)
        codebook_bits = G * k * d * 8                           (G = codebook groups)
        scale_bits    = G * 32                                  (one float32 scale per codebook)
    dense INT8:
        dense_bits    = weights * 8,   scale_bits = 32
    dbb (S2TA density-bound blocks, block = sub-vector of d = M channels, N kept per block):
        dense_bits    = n_sub * N * 8                           (the kept int8 values)
        mask_bits     = n_sub * bits_per_group(encoding)        (0 when N = M)
        scale_bits    = 32                                      (one per layer, as dense)

    bits_per_group: bitmap M, positions N * ceil(log2 M), combinatorial ceil(log2 C(M, N))
    n_sub    = out_c * kh * kw * ceil((in_c/groups) / d)   (padded channels count, fit="pad")
    n_groups = n_sub * d / M

``dense_bits`` are int8 weight values (all of them for dense, the kept ones for dbb).
``payload`` = index + mask + sign (+ dense) bits; ``overhead`` = codebook + scale bits;
``total = payload + overhead``.  Ratios are ``weights * 32 / bits`` (vs FP32) and
``weights * 8 / bits`` (vs INT8), "with codebook" using ``total``, "without" using ``payload``;
``weights`` counts the layer's real weights (never the padding).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

MASK_ENCODINGS: tuple[str, ...] = ("bitmap", "positions", "combinatorial")
SCALE_BITS = 32

FORMULA = ("storage bits = n_sub*ceil(log2 k) + mask bits + G*k*d*8 (codebook) + G*32 (scale)"
           " + sign bits (ssvq: 1 per kept weight); mask bits per M-group: bitmap M, positions"
           " N*ceil(log2 M), combinatorial ceil(log2 C(M,N)), none if N=M; dense INT8 ="
           " weights*8 + 32; dbb = blocks*N*8 (kept int8) + mask bits + 32 (blocks of M"
           " channels); ratio = weights*32 (FP32) or weights*8 (INT8) / bits;"
           " 'nocb' = without codebook and scale")


def clog2(x: int) -> int:
    """``ceil(log2 x)`` for integers >= 1, exactly."""
    return (int(x) - 1).bit_length()


def mask_bits_per_group(encoding: str, n: int, m: int) -> int:
    if n == m:
        return 0
    if encoding == "bitmap":
        return m
    if encoding == "positions":
        return n * clog2(m)
    if encoding == "combinatorial":
        return clog2(math.comb(m, n))
    raise ValueError(f"unknown mask encoding {encoding!r}")


def subvector_bits(*, k: int, d: int, n: int, m: int, mask_encoding: str = "bitmap",
                   signs: bool = False, values: bool = False) -> int:
    """Bits stored (and read by the weight loader) per sub-vector: index + its ``d/M`` mask
    groups + sign bits (SSVQ: one per kept weight) + int8 values (``values``, dbb: 8 per kept
    weight; dbb has no index, pass ``k=1``)."""
    pruned = n < m
    kept = d * n // m if pruned else d
    mask = (d // m) * mask_bits_per_group(mask_encoding, n, m) if pruned else 0
    sign = kept if signs else 0
    return clog2(k) + mask + sign + (8 * kept if values else 0)


def dbb_block_bits(n: int, m: int, mask_encoding: str = "positions") -> int:
    """Bits of one dbb block (a sub-vector of ``M`` channels): ``N`` int8 values + its mask
    (``N*ceil(log2 M)`` with the positions encoding, S2TA's); ``8*M`` when ``N = M``."""
    return subvector_bits(k=1, d=m, n=n, m=m, mask_encoding=mask_encoding, values=True)


@dataclass(frozen=True)
class LayerBits:
    """Exact storage of one compressed layer, in bits."""

    weights: int
    index_bits: int = 0
    mask_bits: int = 0
    sign_bits: int = 0
    dense_bits: int = 0
    codebook_bits: int = 0
    scale_bits: int = 0

    @property
    def payload(self) -> int:
        return self.index_bits + self.mask_bits + self.sign_bits + self.dense_bits

    @property
    def overhead(self) -> int:
        return self.codebook_bits + self.scale_bits

    @property
    def total(self) -> int:
        return self.payload + self.overhead

    @property
    def bits_per_weight(self) -> float:
        return self.total / self.weights if self.weights else 0.0

    def ratio(self, ref_bits: int = 32, codebook: bool = True) -> float:
        b = self.total if codebook else self.payload
        return self.weights * ref_bits / b if b else math.inf

    @property
    def ratio_fp32(self) -> float:
        return self.ratio(32, True)

    @property
    def ratio_fp32_nocb(self) -> float:
        return self.ratio(32, False)

    @property
    def ratio_int8(self) -> float:
        return self.ratio(8, True)

    @property
    def ratio_int8_nocb(self) -> float:
        return self.ratio(8, False)

    def __add__(self, other: LayerBits) -> LayerBits:
        a, b = asdict(self), asdict(other)
        return LayerBits(**{key: a[key] + b[key] for key in a})

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(payload_bits=self.payload, overhead_bits=self.overhead, total_bits=self.total,
                 bits_per_weight=self.bits_per_weight, ratio_fp32=self.ratio_fp32,
                 ratio_fp32_nocb=self.ratio_fp32_nocb, ratio_int8=self.ratio_int8,
                 ratio_int8_nocb=self.ratio_int8_nocb)
        return d


def layer_bits(method: str, weight_shape: tuple[int, int, int, int], *,
               nm: tuple[int, int] = (1, 1), k: int = 1, d: int = 1, mask_encoding: str = "bitmap",
               codebook_groups: int = 1) -> LayerBits:
    """Storage bits of a layer from its format parameters (see the module docstring)."""
    o, c, r, s = (int(v) for v in weight_shape)
    weights = o * c * r * s
    if method == "dense":
        return LayerBits(weights=weights, dense_bits=weights * 8, scale_bits=SCALE_BITS)
    n, m = nm
    n_sub = o * r * s * (-(-c // d))
    positions = n_sub * d
    groups = positions // m
    if method == "dbb":  # d = block size; no index, no codebook, one scale
        kept = positions if n == m else groups * n
        return LayerBits(weights=weights, dense_bits=kept * 8,
                         mask_bits=groups * mask_bits_per_group(mask_encoding, n, m),
                         scale_bits=SCALE_BITS)
    sign = 0
    if method == "ssvq":
        sign = positions if n == m else groups * n
    g = codebook_groups
    return LayerBits(
        weights=weights,
        index_bits=n_sub * clog2(k),
        mask_bits=groups * mask_bits_per_group(mask_encoding, n, m),
        sign_bits=sign,
        codebook_bits=g * k * d * 8,
        scale_bits=g * SCALE_BITS,
    )
