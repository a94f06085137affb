"""Functional mode: execute a layer's tile schedule on real numbers, tile by tile.

This is the *fast* functional check (no per-cycle stepping, usable on medium layers): for every
tile of a :class:`~ewssim.dataflow.base.TileSchedule` it gathers the weights the array would hold
(block-diagonal when groups are packed, zero for padded taps) and the im2col activations that
stream through it, does one matrix product, and accumulates the tile's results into the outputs
(a partial sum per reduction fold).  :func:`conv2d_reference` is a plain convolution written
straight from the definition, for comparison; :func:`check_functional` runs both on seeded
random INT8 data and raises :class:`~ewssim.errors.EwssimError` on the first difference.

Codebook formats (vq, mvq, casec, ssvq): the weights may be given as a
:class:`~ewssim.compress.format.CompressedLayer`; they are then decoded through the weight-loader
model (:func:`loader_weights`: indices, masks and signs read from the stored bits, codewords from
the CRF, every sub-vector's kept values placed at the positions the mask decoder gives), so a
loader fault shows as a difference from :func:`conv2d_reference` on ``cl.decode()``.

Operand conventions (shared with :mod:`ewssim.engine.reference`):

* ``conv`` / ``linear``: ``x`` has shape ``(in_c, in_h, in_w)`` (or ``(batch, in_c, in_h, in_w)``
  when ``layer.batch > 1``; the batch only lengthens the pixel stream), ``w`` has shape
  ``layer.weight_shape = (out_c, in_c / groups, kernel_h, kernel_w)``; the output has shape
  ``(out_c, out_h, out_w)`` (``(batch, out_c, out_h, out_w)`` for a batch).
* ``matmul``: ``x`` is the first operand, ``(batch, M, Kr)`` with ``M = in_h * in_w`` tokens and
  ``Kr = in_c``; ``w`` is the second operand, ``(batch, Kr, N)`` with ``N = out_c`` (one per head:
  it plays the weights, the heads are independent blocks); the output is ``(batch, M, N)``.

Pixels are numbered image-major, then output row, then output column:
``p = (b * out_h + oh) * out_w + ow``.

S2TA density-bound blocks (``dbb``): dbb weights are read from their stored form (the kept INT8
values and the positions decoded from the stored mask, :func:`dbb_subvectors`); activation DBB
(S2TA-AW, ``act_dbb = (BZ, NNZ_a)``) prunes every block of ``BZ`` input channels at every input
position to its top-``NNZ_a`` magnitudes (:func:`prune_activations`, tie rule in
:func:`dbb_prune`) before the tiles run, and the reference convolution uses the same pruned
input: activation pruning is lossy by design, so "exact" means exact on the pruned input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ewssim.compress.codecs import decode_mask
from ewssim.compress.layer import CompressedLayer
from ewssim.compress.layout import from_subvectors
from ewssim.dataflow.base import Mapping
from ewssim.errors import EwssimError
from ewssim.hw.array import TileSchedule
from ewssim.hw.loader import WeightLoader
from ewssim.workload.layers import Layer


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ----------------------------------------------------------------------------- conv view

@dataclass
class ConvView:
    """A layer as ``blocks`` independent convolutions over ``images`` images.

    ``x`` is ``(images, blocks * c_g, in_h, in_w)``, ``w`` is ``(blocks * n_g, c_g, kh, kw)``.
    A conv's blocks are its groups; a matmul's blocks are its heads (one image, 1x1 kernel).
    """

    layer: Layer
    x: np.ndarray
    w: np.ndarray
    images: int
    blocks: int
    c_g: int
    n_g: int
    #: the conv input had no batch axis: drop it from the output too
    squeeze: bool = True

    @property
    def pixels(self) -> int:
        return self.images * self.layer.out_h * self.layer.out_w

    def padded_input(self) -> np.ndarray:
        return pad_input(self.x, self.layer)

    def output_from_pixels(self, out_pc: np.ndarray) -> np.ndarray:
        """``(pixels, blocks * n_g)`` -> the layer's output layout (see module doc)."""
        la = self.layer
        o = out_pc.reshape(self.images, la.out_h, la.out_w, self.blocks * self.n_g)
        if la.kind == "matmul":
            # (heads * N) channels of one image -> (heads, M, N)
            o = o.reshape(la.out_h * la.out_w, self.blocks, self.n_g)
            return np.ascontiguousarray(o.transpose(1, 0, 2))
        o = o.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(o[0] if self.squeeze else o)


def conv_view(layer: Layer, x: np.ndarray, w: np.ndarray) -> ConvView:
    """Check the operand shapes (see module doc) and return the block-convolution view."""
    x = np.asarray(x)
    w = np.asarray(w)
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(w.dtype, np.integer)):
        raise EwssimError(f"layer '{layer.name}': functional mode needs integer operands, got "
                          f"{x.dtype} and {w.dtype}")
    x = x.astype(np.int64)
    w = w.astype(np.int64)
    if layer.kind == "matmul":
        m, kr, n, heads = layer.in_h * layer.in_w, layer.in_c, layer.out_c, layer.batch
        if x.shape != (heads, m, kr) or w.shape != (heads, kr, n):
            raise EwssimError(f"layer '{layer.name}': matmul operands must be {(heads, m, kr)} "
                              f"and {(heads, kr, n)}, got {x.shape} and {w.shape}")
        xc = x.transpose(0, 2, 1).reshape(heads * kr, layer.in_h, layer.in_w)[None]
        wc = w.transpose(0, 2, 1).reshape(heads * n, kr, 1, 1)
        return ConvView(layer, np.ascontiguousarray(xc), np.ascontiguousarray(wc), images=1,
                        blocks=heads, c_g=kr, n_g=n, squeeze=False)
    want_x = (layer.batch, layer.in_c, layer.in_h, layer.in_w)
    # a batch of one may come without its batch axis (and its output then has none)
    squeeze = x.ndim == 3 and layer.batch == 1
    want = want_x[1:] if squeeze else want_x
    if x.shape != want:
        raise EwssimError(f"layer '{layer.name}': input must have shape {want}, got {x.shape}")
    if squeeze:
        x = x[None]
    if w.shape != layer.weight_shape:
        raise EwssimError(f"layer '{layer.name}': weights must have shape {layer.weight_shape}, "
                          f"got {w.shape}")
    return ConvView(layer, x, w, images=layer.batch, blocks=layer.groups,
                    c_g=layer.in_c // layer.groups, n_g=layer.out_c // layer.groups,
                    squeeze=squeeze)


def pad_input(x: np.ndarray, layer: Layer) -> np.ndarray:
    """``(images, channels, h, w)`` zero-padded: ``pad`` on every side, and on the bottom/right
    as far as the last output's window reaches (``ceil_mode`` windows may overhang)."""
    la = layer
    need_h = (la.out_h - 1) * la.stride_h + (la.kernel_h - 1) * la.dil_h + 1
    need_w = (la.out_w - 1) * la.stride_w + (la.kernel_w - 1) * la.dil_w + 1
    bottom = max(la.pad_h, need_h - la.in_h - la.pad_h)
    right = max(la.pad_w, need_w - la.in_w - la.pad_w)
    return np.pad(x, ((0, 0), (0, 0), (la.pad_h, bottom), (la.pad_w, right)))


# ----------------------------------------------------------------------------- reference conv

def conv2d_reference(x: np.ndarray, w: np.ndarray, layer: Layer) -> np.ndarray:
    """Straightforward integer convolution (or per-head matmul), one kernel tap at a time."""
    la = layer
    if la.kind == "matmul":
        a = np.asarray(x).astype(np.int64)
        b = np.asarray(w).astype(np.int64)
        out = np.zeros((a.shape[0], a.shape[1], b.shape[2]), dtype=np.int64)
        for k in range(a.shape[2]):  # rank-1 updates, exact in int64
            out += a[:, :, k, None] * b[:, None, k, :]
        return out
    x = np.asarray(x).astype(np.int64)
    w = np.asarray(w).astype(np.int64)
    squeeze = x.ndim == 3
    if squeeze:
        x = x[None]
    n_img, g = x.shape[0], la.groups
    c_g, n_g = la.in_c // g, la.out_c // g
    xp = pad_input(x, la)
    oh, ow = la.out_h, la.out_w
    out = np.zeros((n_img, g, n_g, oh, ow), dtype=np.int64)
    wg = w.reshape(g, n_g, c_g, la.kernel_h, la.kernel_w)
    for r in range(la.kernel_h):
        h0 = r * la.dil_h
        for s in range(la.kernel_w):
            w0 = s * la.dil_w
            patch = xp[:, :, h0:h0 + la.stride_h * (oh - 1) + 1:la.stride_h,
                       w0:w0 + la.stride_w * (ow - 1) + 1:la.stride_w]
            patch = patch.reshape(n_img, g, c_g, oh, ow)
            for c in range(c_g):
                out += wg[None, :, :, c, r, s, None, None] * patch[:, :, None, c]
    out = out.reshape(n_img, la.out_c, oh, ow)
    return out[0] if squeeze else out


# ----------------------------------------------------------------------------- tile execution

def unit_fields(layer: Layer, taps: int) -> np.ndarray:
    """Reduction unit -> (channel in group, kernel row, first kernel column), from the model
    reference: ``unit = (r * n_chunks + chunk) * C_g + c``."""
    c_g = layer.in_c // layer.groups
    n_chunks = _ceil_div(layer.kernel_w, taps)
    u = np.arange(c_g * layer.kernel_h * n_chunks)
    return np.stack([u % c_g, u // c_g // n_chunks, (u // c_g % n_chunks) * taps], axis=1)


def tile_operands(view: ConvView, s: TileSchedule, k: int, xp: np.ndarray,
                  units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tile ``k``'s activations ``(P, used_rows * taps)``, block-diagonal weights
    ``(used_rows * taps, used_cols)`` and the output channel of every used column."""
    la = view.layer
    t = s.taps
    g0, g1 = int(s.g0[k]), int(s.g1[k])
    n0, n1, u0, u1 = int(s.n0[k]), int(s.n1[k]), int(s.u0[k]), int(s.u1[k])
    p0, p1 = int(s.p0[k]), int(s.p1[k])
    nu, nc, npk = u1 - u0, n1 - n0, g1 - g0
    groups = np.arange(g0, g1)
    c, r, s0 = (units[u0:u1, i] for i in range(3))
    tau = np.arange(t)
    col = s0[:, None] + tau[None, :]                        # (nu, t) kernel column
    real = col < la.kernel_w
    colc = np.minimum(col, la.kernel_w - 1)
    # weights: (npk, nu, t, nc) -> block diagonal (npk*nu*t, npk*nc)
    wsel = view.w[(groups[:, None, None, None] * view.n_g + n0
                   + np.arange(nc)[None, None, None, :]),
                  c[None, :, None, None], r[None, :, None, None], colc[None, :, :, None]]
    wsel = np.where(real[None, :, :, None], wsel, 0)
    wt = np.zeros((npk, nu * t, npk, nc), dtype=np.int64)
    for j in range(npk):
        wt[j, :, j, :] = wsel[j].reshape(nu * t, nc)
    wt = wt.reshape(npk * nu * t, npk * nc)
    # activations: pixel p -> (image, oh, ow)
    p = np.arange(p0, p1)
    b, rem = np.divmod(p, la.out_h * la.out_w)
    oh, ow = np.divmod(rem, la.out_w)
    ih = oh[:, None] * la.stride_h + r[None, :] * la.dil_h            # (P, nu), padded coords
    iw = (ow[:, None, None] * la.stride_w + colc[None, :, :] * la.dil_w)  # (P, nu, t)
    ch = groups[:, None] * view.c_g + c[None, :]                     # (npk, nu)
    a = xp[b[:, None, None, None], ch[None, :, :, None], ih[:, None, :, None],
           iw[:, None, :, :]]                                          # (P, npk, nu, t)
    a = np.where(real[None, None], a, 0).reshape(p1 - p0, npk * nu * t)
    och = (groups[:, None] * view.n_g + n0 + np.arange(nc)[None, :]).reshape(-1)
    return a, wt, och


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matmul; through float64 BLAS when the result is provably exact."""
    bound = (int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0)) * max(1, a.shape[1]))
    if bound < 2 ** 52:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def loader_weights(cl: CompressedLayer, loader: WeightLoader | None = None) -> np.ndarray:
    """int64 weights ``(out_c, in_c/groups, kh, kw)`` of a compressed layer as the weight
    loader emits them: every sub-vector through :meth:`WeightLoader.decode` (values and their
    positions), placed at those positions (zeros elsewhere).  A dense (INT8) layer returns its
    INT8 weights; a dbb layer its kept values at their stored positions (:func:`dbb_weights`).
    ``loader`` defaults to ``WeightLoader.for_layer(cl)``."""
    if cl.format.int8:
        return np.asarray(cl.int8_weights).astype(np.int64)
    if cl.format.dbb:
        return dbb_weights(cl)   # no codebook: kept values + positions, read as stored
    if loader is None:
        loader = WeightLoader.for_layer(cl)
    vals, pos = loader.decode(cl, np.arange(cl.n_sub, dtype=np.int64))
    sub = np.zeros((cl.n_sub, cl.format.d), dtype=np.int64)
    np.put_along_axis(sub, pos, vals.astype(np.int64), axis=1)
    return from_subvectors(sub, tuple(cl.weight_shape), cl.format.d)


def dbb_subvectors(cl: CompressedLayer) -> tuple[np.ndarray, np.ndarray]:
    """A pruned dbb layer's blocks as the S2TA weight path reads them from storage: int64
    ``(values, positions)``, each ``(n_sub, N)``, the kept INT8 values and their positions in
    the block (ascending), decoded from the stored mask bits (not the cached mask)."""
    if not (cl.format.dbb and cl.format.pruned):
        raise EwssimError(f"layer '{cl.name}': {cl.format.describe()} is not a pruned dbb "
                          "layer")
    n, m = cl.format.nm
    mask = decode_mask(cl.mask_data, cl.n_sub, cl.format.d, n, m, cl.format.mask_encoding, cl.name)
    pos = np.nonzero(mask)[1].reshape(cl.n_sub, n).astype(np.int64)
    vals = np.asarray(cl.kept_values).astype(np.int64).reshape(cl.n_sub, n)
    return vals, pos


def dbb_weights(cl: CompressedLayer) -> np.ndarray:
    """int64 weights of a dbb layer from its stored form: kept values at their positions, zeros
    elsewhere (an unpruned dbb layer: its values)."""
    if not cl.format.pruned:
        sub = np.asarray(cl.kept_values).astype(np.int64).reshape(cl.n_sub, cl.format.d)
    else:
        vals, pos = dbb_subvectors(cl)
        sub = np.zeros((cl.n_sub, cl.format.d), dtype=np.int64)
        np.put_along_axis(sub, pos, vals, axis=1)
    return from_subvectors(sub, tuple(cl.weight_shape), cl.format.d)


def dbb_prune(blocks: np.ndarray, nnz: int) -> tuple[np.ndarray, np.ndarray]:
    """Activation DBB of blocks along the last axis (length ``BZ``): the ``nnz`` largest
    magnitudes of every block, as ``(values, positions)`` of shape ``(..., nnz)`` with the
    positions ascending.  Ties in magnitude go to the LOWEST position first (so a block with
    fewer than ``nnz`` non-zeros also keeps zeros, from its lowest zero positions up: the
    pruning unit always emits exactly ``nnz`` entries)."""
    b = np.asarray(blocks).astype(np.int64)
    bz = b.shape[-1]
    if not 1 <= nnz <= bz:
        raise EwssimError(f"activation DBB keeps 1..{bz} of a block of {bz}, got {nnz}")
    order = np.argsort(-np.abs(b), axis=-1, kind="stable")   # stable: lower position first
    pos = np.sort(order[..., :nnz], axis=-1)
    return np.take_along_axis(b, pos, axis=-1), pos


def prune_activations(x: np.ndarray, layer: Layer, block: int, nnz: int) -> np.ndarray:
    """``x`` (layout of the module doc) with every block of ``block`` consecutive input channels
    of a group, at every input position, pruned to its top-``nnz`` magnitudes (:func:`dbb_prune`;
    the rest set to 0).  A block is the same vector at every (pixel, kernel tap) that reads
    that input position, so pruning the input once equals pruning every fed block."""
    if layer.kind == "matmul":
        raise EwssimError(f"layer '{layer.name}': activation DBB applies to conv/linear layers")
    x = np.asarray(x).astype(np.int64)
    c_g = layer.in_c // layer.groups
    if c_g % block:
        raise EwssimError(f"layer '{layer.name}': {c_g} channels per group are not a multiple "
                          f"of the activation block {block}")
    ch_axis = x.ndim - 3
    xb = np.moveaxis(x, ch_axis, -1)
    shp = xb.shape
    blocks = xb.reshape(*shp[:-1], shp[-1] // block, block)
    vals, pos = dbb_prune(blocks, nnz)
    out = np.zeros_like(blocks)
    np.put_along_axis(out, pos, vals, axis=-1)
    return np.ascontiguousarray(np.moveaxis(out.reshape(shp), -1, ch_axis))


def _check_compressed(layer: Layer, w: CompressedLayer) -> None:
    if layer.kind == "matmul":
        raise EwssimError(f"layer '{layer.name}': a matmul has no (compressed) weights")
    if tuple(w.weight_shape) != tuple(layer.weight_shape):
        raise EwssimError(f"layer '{layer.name}': compressed weights have shape "
                          f"{tuple(w.weight_shape)}, the layer needs {layer.weight_shape}")


def _weights(layer: Layer, w: np.ndarray | CompressedLayer) -> np.ndarray:
    if not isinstance(w, CompressedLayer):
        return w
    _check_compressed(layer, w)
    return loader_weights(w)


def run_functional(layer: Layer, schedule: TileSchedule, x: np.ndarray,
                   w: np.ndarray | CompressedLayer,
                   act_dbb: tuple[int, int] | None = None) -> np.ndarray:
    """Execute ``schedule`` tile by tile; returns the layer output (layout: module doc).
    ``w``: integer weights, or a compressed layer (decoded by :func:`loader_weights`).
    ``act_dbb = (BZ, NNZ_a)``: activation DBB (S2TA-AW), the input is pruned first
    (:func:`prune_activations`)."""
    if act_dbb is not None:
        x = prune_activations(x, layer, *act_dbb)
    view = conv_view(layer, x, _weights(layer, w))
    xp = view.padded_input()
    units = unit_fields(layer, schedule.taps)
    out = np.zeros((view.pixels, view.blocks * view.n_g), dtype=np.int64)
    for k in range(len(schedule)):
        a, wt, och = tile_operands(view, schedule, k, xp, units)
        out[int(schedule.p0[k]):int(schedule.p1[k]), och] += _exact_matmul(a, wt)
    return view.output_from_pixels(out)


def random_operands(layer: Layer, seed: int, lo: int = -128, hi: int = 127
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random integer operands in ``[lo, hi]`` with the layouts of the module doc."""
    rng = np.random.default_rng(seed)
    if layer.kind == "matmul":
        xs = (layer.batch, layer.in_h * layer.in_w, layer.in_c)
        ws = (layer.batch, layer.in_c, layer.out_c)
    else:
        xs = (layer.in_c, layer.in_h, layer.in_w)
        if layer.batch > 1:
            xs = (layer.batch, *xs)
        ws = layer.weight_shape
    return (rng.integers(lo, hi + 1, size=xs, dtype=np.int64),
            rng.integers(lo, hi + 1, size=ws, dtype=np.int64))


@dataclass
class FunctionalReport:
    layer: str
    tiles: int
    outputs: int
    ok: bool = True

    def __str__(self) -> str:
        return (f"layer '{self.layer}': functional check ok ({self.tiles} tiles, "
                f"{self.outputs} outputs)")


def check_functional(layer: Layer, mapping: Mapping | TileSchedule, seed: int = 0,
                     weights: np.ndarray | CompressedLayer | None = None,
                     act_dbb: tuple[int, int] | None = None) -> FunctionalReport:
    """Run the functional mode on seeded random INT8 activations and compare it exactly with
    :func:`conv2d_reference`.  Raises :class:`EwssimError` naming the layer and the first
    differing element; returns a short report otherwise.

    ``weights``: ``None`` -- seeded random INT8 weights; an integer array -- those weights (e.g.
    the decoded INT8 weights of a codebook layer); a
    :class:`~ewssim.compress.format.CompressedLayer` -- the schedule runs the weights the loader
    model decodes (:func:`loader_weights`; dbb: the stored values and positions) and the
    reference convolution uses ``cl.decode()``.  ``act_dbb = (BZ, NNZ_a)`` (S2TA-AW): the
    activations are DBB-pruned (:func:`prune_activations`) and the reference convolution runs
    on the same pruned input.
    """
    schedule = mapping.schedule if isinstance(mapping, Mapping) else mapping
    x, w = random_operands(layer, seed)
    if isinstance(weights, CompressedLayer):
        _check_compressed(layer, weights)
        w_run, w_ref = weights, weights.decode()[0]
    elif weights is not None:
        w_run = w_ref = weights
    else:
        w_run = w_ref = w
    got = run_functional(layer, schedule, x, w_run, act_dbb)
    x_ref = x if act_dbb is None else prune_activations(x, layer, *act_dbb)
    want = conv2d_reference(x_ref, w_ref, layer)
    if got.shape != want.shape:
        raise EwssimError(f"layer '{layer.name}': functional output shape {got.shape} differs "
                          f"from the reference {want.shape}")
    diff = np.argwhere(got != want)
    if diff.size:
        idx = tuple(int(i) for i in diff[0])
        raise EwssimError(f"layer '{layer.name}': functional mode differs from the reference "
                          f"convolution at output index {idx}: got {int(got[idx])}, expected "
                          f"{int(want[idx])} ({len(diff)} of {got.size} elements differ, "
                          f"seed {seed})")
    return FunctionalReport(layer=layer.name, tiles=len(schedule), outputs=int(got.size))
