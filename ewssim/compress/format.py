"""The one description of a weight format: :class:`WeightFormat`.

A weight format says how a layer's weights are stored and decoded -- everything that changes
cycles, bytes, energy or area: the method, the N:M pattern, the sub-vector length ``d``, the
codebook size ``k``, the mask encoding and the number of codebook groups.  The architecture's
``[weights]`` section, the compression settings, the compressed-layer files and the engine all
hold this one value, so they cannot disagree (docs/compression.md, "Formats").

Methods:

* ``int8``  -- dense INT8 weights (the reference; the file format's older name ``dense`` is read
  as ``int8``);
* ``vq``    -- indices into an int8 codebook (no pruning);
* ``mvq``   -- N:M pruning + masked k-means (the MVQ paper);
* ``casec`` -- N:M pruning + plain k-means with the zeros included (the MVQ paper's case C);
* ``ssvq``  -- sign split + k-means on magnitudes (the SSVQ paper), optionally N:M-masked;
* ``dbb``   -- S2TA density-bound blocks: the kept int8 values of every block of ``M`` input
  channels + their positions; no codebook (``k = 1``, ``d = M``).

Values are normalised, so that two formats that store the same bits compare equal: an INT8
format has ``nm = (1, 1)``, ``d = k = 1``; an unpruned format has ``nm = (1, 1)`` and mask
encoding ``none``; ``dbb`` has ``k = 1``, ``d = M`` and one codebook group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ewssim.compress.metrics import LayerBits
from ewssim.errors import InputError

METHODS: tuple[str, ...] = ("int8", "vq", "mvq", "casec", "ssvq", "dbb")
#: other spellings accepted on input
METHOD_ALIASES = {"dense": "int8"}
CODEBOOK_METHODS: tuple[str, ...] = ("vq", "mvq", "casec", "ssvq")
MASK_ENCODINGS: tuple[str, ...] = ("bitmap", "positions", "combinatorial")
#: per-method defaults: (N:M, k, d, mask encoding) when a field is not given
METHOD_DEFAULTS: dict[str, tuple[tuple[int, int], int, int, str]] = {
    "mvq": ((1, 4), 256, 8, "bitmap"),
    "casec": ((1, 4), 256, 8, "bitmap"),
    "vq": ((1, 1), 256, 8, "bitmap"),
    "ssvq": ((1, 1), 16, 8, "bitmap"),  # SSVQ paper: k=16, d=8 + 1 sign bit = 1.5 bits/weight
    "int8": ((1, 1), 1, 1, "bitmap"),
    "dbb": ((4, 8), 1, 8, "positions"),  # S2TA: NNZ = 4 per block of BZ = 8, 3-bit positions
}
SCALE_BITS = 32


def canonical_method(method: str, *, source: str = "weight format", fld: str = "method") -> str:
    m = METHOD_ALIASES.get(method, method)
    if m not in METHODS:
        raise InputError(f"unknown weight format {method!r}", source=source, field=fld,
                         allowed=", ".join(METHODS))
    return m


def clog2(x: int) -> int:
    """``ceil(log2 x)`` for integers >= 1, exactly."""
    return (int(x) - 1).bit_length()


def mask_bits_per_group(encoding: str, n: int, m: int) -> int:
    """Stored mask bits of one ``M``-group: bitmap ``M``, positions ``N*ceil(log2 M)``,
    combinatorial ``ceil(log2 C(M, N))``; 0 when ``N = M``."""
    if n == m:
        return 0
    if encoding == "bitmap":
        return m
    if encoding == "positions":
        return n * clog2(m)
    if encoding == "combinatorial":
        return clog2(math.comb(m, n))
    raise ValueError(f"unknown mask encoding {encoding!r}")


def parse_nm(text: str, *, source: str = "weight format", fld: str = "nm") -> tuple[int, int]:
    """``"N:M"`` -> (N, M), checked."""
    parts = str(text).split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"{text!r} is not an N:M pattern", source=source, field=fld,
                         allowed="N:M with 1 <= N <= M, e.g. 1:4, 2:4, 4:4")
    n, m = (int(p) for p in parts)
    if not 1 <= n <= m:
        raise InputError(f"N:M = {n}:{m} is not a valid pattern", source=source, field=fld,
                         allowed="1 <= N <= M")
    return n, m


@dataclass(frozen=True)
class WeightFormat:
    """How one layer's weights are stored (normalised; build with :meth:`make`)."""

    method: str = "int8"
    nm: tuple[int, int] = (1, 1)
    d: int = 1
    k: int = 1
    mask_encoding: str = "none"
    codebook_groups: int = 1

    # ------------------------------------------------------------------ construction
    @classmethod
    def make(cls, method: str, *, nm: tuple[int, int] | str | None = None, d: int | None = None,
             k: int | None = None, mask_encoding: str | None = None,
             codebook_groups: int | None = None, source: str = "weight format",
             prefix: str = "", strict: bool = False) -> WeightFormat:
        """A checked, normalised format; fields left ``None`` take the method's defaults, and
        fields that do not apply to the method are ignored (N:M, k, d for int8; k, d for dbb).
        Errors name ``prefix + field`` (e.g. ``weights.d``) and ``source``.  ``strict``
        refuses such fields when given (a user's explicit request that cannot apply)."""
        method = canonical_method(method, source=source, fld=prefix + "format")
        if strict:
            _strict_fields(method, nm, k, d, codebook_groups, mask_encoding, source, prefix)
        dnm, dk, dd, denc = METHOD_DEFAULTS[method]
        if isinstance(nm, str):
            nm = parse_nm(nm, source=source, fld=prefix + "nm")
        nm = dnm if nm is None else tuple(nm)
        k = dk if k is None else k
        d = dd if d is None else d
        enc = denc if mask_encoding is None else mask_encoding
        groups = 1 if codebook_groups is None else codebook_groups

        def bad(fld: str, problem: str, allowed: str | None = None) -> InputError:
            return InputError(problem, source=source, field=prefix + fld, allowed=allowed)

        for fld, v in (("k", k), ("d", d), ("codebook_groups", groups)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(fld, f"must be a positive integer, got {v!r}", "integer >= 1")
        if len(nm) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in nm):
            raise bad("nm", f"{nm!r} is not an N:M pattern", "N:M, e.g. 1:4")
        n, m = nm
        if not 1 <= n <= m:
            raise bad("nm", f"N:M = {n}:{m} is not a valid pattern", "1 <= N <= M")
        if method == "int8":  # N:M, k, d, encoding and groups do not apply
            return cls()
        pruned = n < m
        if pruned and enc not in MASK_ENCODINGS:
            raise bad("mask_encoding", f"unknown mask encoding {enc!r}", ", ".join(MASK_ENCODINGS))
        if method == "dbb":  # no codebook: a sub-vector is one block of M channels
            return cls("dbb", (n, m), m, 1, enc if pruned else "none", 1)
        if k & (k - 1) or k > 1 << 16:
            raise bad("k", f"k = {k} is not a power of two <= 65536", "1, 2, 4, ..., 65536")
        if pruned and d % m:
            raise bad("d", f"d={d} is not a multiple of M={m}", f"a multiple of {m}")
        if pruned and method == "vq":
            raise bad("nm", f"vq does not prune, got N:M = {n}:{m}",
                      "N = M (e.g. 1:1) for vq; use mvq or casec to prune")
        return cls(method, (n, m) if pruned else (1, 1), d, k, enc if pruned else "none", groups)

    # ------------------------------------------------------------------ what it is
    @property
    def int8(self) -> bool:
        """Dense INT8 weights (no decoder)."""
        return self.method == "int8"

    @property
    def pruned(self) -> bool:
        return self.nm[0] < self.nm[1]

    @property
    def codebook(self) -> bool:
        """Indices into an int8 codebook (the VQ family: vq, mvq, casec, ssvq)."""
        return self.method in CODEBOOK_METHODS

    @property
    def signs(self) -> bool:
        """One sign bit per kept weight (SSVQ)."""
        return self.method == "ssvq"

    @property
    def dbb(self) -> bool:
        """S2TA density-bound blocks: kept int8 values + mask, no codebook."""
        return self.method == "dbb"

    @property
    def kept_per_subvector(self) -> int:
        """Non-zero (kept) weights per sub-vector: ``N*d/M`` (``d`` when not pruned)."""
        n, m = self.nm
        return self.d * n // m if self.pruned else self.d

    @property
    def index_bits(self) -> int:
        return clog2(self.k) if self.codebook else 0

    @property
    def subvector_bits(self) -> int:
        """Bits stored (and read by the weight loader) per sub-vector: index + its ``d/M`` mask
        groups + sign bits (one per kept weight) + int8 values (dbb: 8 per kept weight)."""
        if self.int8:
            return 8 * self.d
        n, m = self.nm
        mask = (self.d // m) * mask_bits_per_group(self.mask_encoding, n, m) if self.pruned else 0
        kept = self.kept_per_subvector
        return (self.index_bits + mask + (kept if self.signs else 0)
                + (8 * kept if self.dbb else 0))

    def layer_bits(self, weight_shape: tuple[int, int, int, int]) -> LayerBits:
        """Exact storage of a layer of ``weight_shape`` (docs/compression.md, "Bits")."""
        o, c, r, s = (int(v) for v in weight_shape)
        weights = o * c * r * s
        if self.int8:
            return LayerBits(weights=weights, dense_bits=weights * 8, scale_bits=SCALE_BITS)
        n, m = self.nm
        n_sub = o * r * s * (-(-c // self.d))
        positions = n_sub * self.d
        groups = positions // m
        kept = groups * n if self.pruned else positions
        mask = groups * mask_bits_per_group(self.mask_encoding, n, m) if self.pruned else 0
        if self.dbb:  # d = block size; no index, no codebook, one scale
            return LayerBits(weights=weights, dense_bits=kept * 8, mask_bits=mask,
                             scale_bits=SCALE_BITS)
        g = self.codebook_groups
        return LayerBits(weights=weights, index_bits=n_sub * self.index_bits, mask_bits=mask,
                         sign_bits=kept if self.signs else 0,
                         codebook_bits=g * self.k * self.d * 8, scale_bits=g * SCALE_BITS)

    # ------------------------------------------------------------------ text
    def describe(self) -> str:
        """e.g. ``mvq (k=256, d=8, N:M=1:4, bitmap masks, 1 codebook)``."""
        if self.int8:
            return "int8"
        n, m = self.nm
        parts = [] if self.dbb else [f"k={self.k}"]
        parts += [f"d={self.d}", f"N:M={n}:{m}"]
        if self.pruned:
            parts.append(f"{self.mask_encoding} masks")
        if self.codebook:
            parts.append(f"{self.codebook_groups} codebook" + "s" * (self.codebook_groups > 1))
        return f"{self.method} ({', '.join(parts)})"

    def differences(self, other: WeightFormat) -> list[tuple[str, object, object]]:
        """``(field, self's value, other's value)`` for every field that differs."""
        return [(f.name, getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]


INT8 = WeightFormat()


def _strict_fields(method, nm, k, d, groups, enc, source, prefix) -> None:
    """Fields a user gave that the method has no use for."""
    def bad(fld, why):
        return InputError(f"does not apply to {method} ({why})", source=source,
                          field=prefix + fld, allowed="leave it out")
    if method == "int8" and nm is not None:
        n, m = parse_nm(nm, source=source, fld=prefix + "nm") if isinstance(nm, str) \
            else tuple(nm)
        if n < m:
            raise bad("nm", "INT8 weights are not pruned")
    if method == "dbb":
        for fld, v in (("k", k), ("d", d)):
            if v is not None:
                raise bad(fld, "no codebook; the block size is M of N:M")
        if groups not in (None, 1):
            raise bad("codebook_groups", "no codebook")

#: what the compressor does with a layer that does not fit the format (d does not divide its
#: channels, or fewer sub-vectors than k): keep it INT8, zero-pad its channels, or fail
FITS: tuple[str, ...] = ("int8", "pad", "error")
FIT_ALIASES = {"dense": "int8"}


def canonical_fit(fit: str, *, source: str = "compression settings", fld: str = "fit") -> str:
    f = FIT_ALIASES.get(fit, fit)
    if f not in FITS:
        raise InputError(f"unknown rule {fit!r}", source=source, field=fld, allowed=", ".join(FITS))
    return f
