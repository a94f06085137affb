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

FORMULA = ("storage bits = n_sub*ceil(log2 k) + mask bits + G*k*d*8 (codebook) + G*32 (scale)"
           " + sign bits (ssvq: 1 per kept weight); mask bits per M-group: bitmap M, positions"
           " N*ceil(log2 M), combinatorial ceil(log2 C(M,N)), none if N=M; dense INT8 ="
           " weights*8 + 32; dbb = blocks*N*8 (kept int8) + mask bits + 32 (blocks of M"
           " channels); ratio = weights*32 (FP32) or weights*8 (INT8) / bits;"
           " 'nocb' = without codebook and scale")


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
