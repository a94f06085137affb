"""Buffer sizing rules: the smallest memories the array can start with.

One weight tile (``rows x cols`` weights in the weight path's format: INT8, or indices, masks
and signs, or dbb values and masks) must fit in the L1 weight buffer, one array-height column
of activations in the L1 activation buffer, one psum row of the array in the L1 output buffer
(each per half when double-buffered), and L2 must be at least as large as the L1 buffers it
feeds, and the weight staging share of L2 (``l2_bytes - floor(l2_act_fraction * l2_bytes)``)
must hold one L1 weight half, the largest weight block fetched into it.  Registered as a
cross-field rule of every configuration.
"""

from __future__ import annotations

from ewssim.config.schema import ArchConfig, register_check
from ewssim.errors import InputError


def min_l1_weight_bytes(arch: ArchConfig) -> int:
    a, m = arch.array, arch.memory
    halves = 2 if m.l1_double_buffer else 1
    f = arch.weights.weight_format
    if f.int8:
        return halves * a.rows * a.cols * arch.data.weight_bits // 8
    return halves * -(-a.rows * a.cols * f.subvector_bits // (8 * f.d))


def check_sizes(arch: ArchConfig) -> None:
    m = arch.memory
    if m.ideal:
        return
    a = arch.array
    halves = 2 if m.l1_double_buffer else 1
    need_w = min_l1_weight_bytes(arch)
    if m.l1_weight_bytes < need_w:
        raise InputError(f"{m.l1_weight_bytes} B cannot hold one {a.rows}x{a.cols} "
                         f"{arch.weights.format} weight tile"
                         f"{' per half' if halves == 2 else ''}",
                         field="memory.l1_weight_bytes", allowed=f">= {need_w} B")
    need_a = halves * a.rows * arch.data.act_bits // 8
    if m.l1_act_bytes < need_a:
        raise InputError(f"{m.l1_act_bytes} B cannot hold one activation column",
                         field="memory.l1_act_bytes", allowed=f">= {need_a} B")
    need_o = halves * a.cols * arch.data.psum_bits // 8
    if m.l1_out_bytes < need_o:
        raise InputError(f"{m.l1_out_bytes} B cannot hold one psum row",
                         field="memory.l1_out_bytes", allowed=f">= {need_o} B")
    if m.l2_bytes < m.l1_act_bytes + m.l1_weight_bytes:
        raise InputError("L2 is smaller than the L1 buffers it feeds", field="memory.l2_bytes",
                         allowed=f">= {m.l1_act_bytes + m.l1_weight_bytes} B")
    stage = m.l2_bytes - int(m.l2_act_fraction * m.l2_bytes)
    half_w = m.l1_weight_bytes // halves
    if stage < half_w:
        most = (m.l2_bytes - half_w) * 10_000 // m.l2_bytes / 10_000
        raise InputError(f"the L2 weight staging share ({stage} B) cannot hold one L1 weight "
                         f"block ({half_w} B)", field="memory.l2_act_fraction",
                         allowed=f"<= {most:.4f}")


register_check(check_sizes, last=True)
