"""Why the array waited: every idle cycle of the array gets one cause (docs/model-reference.md
§4.5, "Stall causes").

A cycle of layer ``i`` (from the previous layer's last result to its own last result; the last
layer also waits for its outputs to be written) is *busy* when a tile streams at the array's
left edge.  An idle cycle is attributed by asking what the next tile ``k`` waits for, in this
order:

1. a weight-path action of tile ``k`` (a codebook (re)load, then its load) that has not ended:
   executing -- *compute* for a load, ``loader_crf`` for a codebook load; not started because
   the WRF slot is not released or the previous layer has not finished -- *compute*; because
   its weight block is not in L1 -- the weight block's stage (below);
2. its activation block not in L1 -- that block's stage;
3. its output slot not free -- the stage of the block that holds it;
4. otherwise *compute* (the drain of the last results).

A block's stage at cycle ``c`` is the first of its pipeline's steps not yet done at ``c``:
waiting for the producer layer's writes (``dependency``), for DRAM (queued behind other
transfers or transferring: ``dram_bandwidth``; the read latency: ``dram_latency``), for its L1
slot (``l1_fill``: single buffering), for the L2 port (``l2_port``) and its own L2 -> L1
transfer (``l1_fill``); an output block being drained: ``l2_port``, then ``dram_bandwidth``.
``stall_cycles`` is the number of idle cycles with a memory cause; the rest of the layer's
cycles are ``compute_cycles``.
"""

from __future__ import annotations

CAUSES = ("dram_bandwidth", "dram_latency", "l2_port", "l1_fill", "loader_crf", "dependency")
COMPUTE = "compute"


_NEVER = 1 << 62


def _before(c: int, st: dict, key: str) -> bool:
    """``c`` lies before the cycle recorded as ``key`` (not recorded: it never happened)."""
    return c < st.get(key, _NEVER)


def _weight_stage(f: dict, wgt, wb: int, c: int, dep_done: list[int]) -> str:
    """What weight block ``wb`` waits for at cycle ``c`` (before it is in L1)."""
    _nb, li, from_dram, operand, piece, _ = f["wgt"][wb]
    st = wgt.stages[wb]
    if operand and li and c < dep_done[li - 1]:
        return "dependency"
    if _before(c, st, "in_l2"):
        if from_dram and piece:
            if _before(c, st, "ring") or _before(c, st, "dram_end"):
                return "dram_bandwidth"
            return "dram_latency"
        return "dram_bandwidth"          # behind an earlier block's fetch
    if _before(c, st, "slot"):
        return "l1_fill"
    if _before(c, st, "port_grant"):
        return "l2_port"
    return "l1_fill"


def _act_stage(f: dict, act, ab: int, c: int, dep_done: list[int]) -> str:
    """What activation block ``ab`` waits for at cycle ``c`` (before it is in L1)."""
    _nb, src, li, piece = f["act"][ab]
    st = act.stages[ab]
    if li and c < dep_done[li - 1]:
        return "dependency"
    if piece and _before(c, st, "piece_arrive"):
        return "dram_bandwidth" if _before(c, st, "piece_end") else "dram_latency"
    if _before(c, st, "slot"):
        return "l1_fill"
    if src == "stream":
        if _before(c, st, "dram_end"):
            return "dram_bandwidth"
        if _before(c, st, "dram_arrive"):
            return "dram_latency"
    if _before(c, st, "port_grant"):
        return "l2_port"
    return "l1_fill"


def _drain_stage(st: dict, c: int) -> str:
    """Stage at cycle ``c`` of an output block whose slot is awaited."""
    if _before(c, st, "complete"):
        return COMPUTE
    if _before(c, st, "port_end"):
        return "l2_port"
    return "dram_bandwidth"


def _cause(c: int, k: int, acts: list[int], array, f, act, wgt, out, dep_done) -> str:
    a = f["a"]
    t = f["t"]
    for ai in acts:
        if c >= array.action_end[ai]:
            continue
        wb = a["w_block"][ai]
        if c >= array.action_start[ai]:
            return "loader_crf" if a["kind"][ai] == 0 else COMPUTE
        if a["kind"][ai] == 1 and c < array.load_gate[ai]:
            return COMPUTE
        if c < wgt.ready_at[wb]:
            return _weight_stage(f, wgt, wb, c, dep_done)
        return COMPUTE
    ab = t["act_block"][k]
    if ab >= 0 and c < act.ready_at[ab]:
        return _act_stage(f, act, ab, c, dep_done)
    if t["out_first"][k]:
        ob = t["out_block"][k]
        if ob >= out.halves and c < out.released_at[ob - out.halves]:
            return _drain_stage(out.stages[ob - out.halves], c)
    return COMPUTE


def _times(st: dict) -> list[int]:
    return [v for v in st.values() if isinstance(v, int)]


def _points(k: int, acts: list[int], array, f, act, wgt, out, dep_done) -> set[int]:
    """Every cycle at which the cause for tile ``k`` can change."""
    pts: set[int] = set(dep_done)
    for ai in acts:
        pts.update((array.action_start[ai], array.action_end[ai], array.load_gate[ai]))
        wb = f["a"]["w_block"][ai]
        pts.add(wgt.ready_at[wb])
        pts.update(_times(wgt.stages[wb]))
    ab = f["t"]["act_block"][k]
    if ab >= 0:
        pts.add(act.ready_at[ab])
        pts.update(_times(act.stages[ab]))
    ob = f["t"]["out_block"][k]
    if f["t"]["out_first"][k] and ob >= out.halves:
        pts.add(out.released_at[ob - out.halves])
        pts.update(_times(out.stages[ob - out.halves]))
    return pts


def _split(x0: int, x1: int, pts: set[int], cause) -> dict[str, int]:
    out: dict[str, int] = {}
    edges = sorted({x0, x1} | {p for p in pts if x0 < p < x1})
    for lo, hi in zip(edges, edges[1:], strict=False):
        why = cause(lo)
        if why != COMPUTE:
            out[why] = out.get(why, 0) + hi - lo
    return out


def attribute(array, f, act, wgt, out, ends: list[int], dep_done: list[int]
              ) -> list[dict[str, int]]:
    """Per layer, memory-stall cycles by cause (a simulated network: :class:`GatedArray`, the
    flattened network ``f``, the L1 buffers with their recorded stages, and the cycle each
    layer's outputs were all written, ``dep_done``)."""
    t, a = f["t"], f["a"]
    n_layers = len(ends)
    causes: list[dict[str, int]] = [{} for _ in range(n_layers)]
    kinds, a_tile, load_action = a["kind"], a["tile"], t["load_action"]

    def acts_of(k: int) -> list[int]:
        """Tile ``k``'s weight actions: its codebook loads, then its load."""
        la = load_action[k]
        if la < 0:
            return []
        first = la
        while first > 0 and kinds[first - 1] == 0 and a_tile[first - 1] == k:
            first -= 1
        return list(range(first, la + 1))
    stream = t["stream"]
    for k in sorted(array.mem_tiles):
        li = t["layer"][k]
        if k == f["layer_first"][li]:
            x0 = ends[li - 1] if li else 0
        else:
            x0 = array.base[k - 1] + stream[k - 1]
        x1 = array.base[k]
        if x1 <= x0:
            continue
        acts = acts_of(k)
        pts = _points(k, acts, array, f, act, wgt, out, dep_done)
        got = _split(x0, x1, pts,
                     lambda c, k=k, acts=acts: _cause(c, k, acts, array, f, act, wgt, out,
                                                      dep_done))
        for why, n in got.items():
            causes[li][why] = causes[li].get(why, 0) + n
    # the last layer's outputs after its last result
    li = n_layers - 1
    finish = array.layer_end[li]
    if ends[li] > finish:
        blocks = [b for b, (_, _, lay, _) in enumerate(f["out"]) if lay == li]

        def tail(c: int) -> str:
            for b in blocks:
                if c < out.released_at[b]:
                    return _drain_stage(out.stages[b], c)
            return COMPUTE
        pts = {v for b in blocks for v in _times(out.stages[b])} | \
            {out.released_at[b] for b in blocks}
        for why, n in _split(finish, ends[li], pts, tail).items():
            causes[li][why] = causes[li].get(why, 0) + n
    return causes
