"""Masked k-means (MVQ), plain k-means (VQ, case C, SSVQ magnitudes), vectorised numpy.

Data: ``x`` of shape ``(n, d)`` (sub-vectors) and an optional 0/1 ``mask`` of the same shape
(``None`` = every position counts).

* **distance** of sub-vector ``i`` to codeword ``j``: ``sum_p m_ip (x_ip - c_jp)^2``, computed for
  a chunk of rows as one matrix product::

      sum m x^2  -  2 sum (m*x) c  +  sum m c^2   =  a_i + [m*x, m] @ [-2 C ; C*C]^T

  (``a_i`` is constant per row and only added back for the distance value itself).
* **centroid update**: per position ``p``, ``c_jp = sum_{i in j} m_ip x_ip / sum_{i in j} m_ip``;
  a position that no member of cluster ``j`` has unmasked keeps its previous value.
* **init**: k-means++ (D^2 sampling with the masked distance), seeded, on a seeded subsample of at
  most ``init_sample`` rows (default ``max(16 k, 4096)``; all rows when fewer).  When every
  remaining distance is zero (fewer distinct sub-vectors than ``k``) the next seed is drawn
  uniformly.
* **empty clusters**: after an update, each empty cluster is re-seeded with one of the points
  farthest from their current codeword (largest masked distance, distinct points, farthest first).
* **stop**: after ``max_iter`` Lloyd iterations or when at most ``tol * n`` assignments change.

Loops run over iterations, k-means++ seeds, ``d`` positions and row chunks, never over sub-vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class KMeansResult:
    centroids: np.ndarray  # (k, d) float32
    assign: np.ndarray  # (n,) int64
    iterations: int
    reseeded: int  # empty clusters re-seeded in total


def _chunk_rows(k: int) -> int:
    # ~2 M distance entries per chunk (8 MB of float32): stays in cache, measured ~2.5x faster
    # than 64k-row chunks on the target machine.
    return max(256, (1 << 21) // max(k, 1))


def assign_nearest(x: np.ndarray, mask: np.ndarray | None, centroids: np.ndarray,
                   chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest codeword (masked distance) for every row: (assign int64 (n,), dist float32 (n,))."""
    x = np.asarray(x, dtype=np.float32)
    c = np.asarray(centroids, dtype=np.float32)
    n, k = x.shape[0], c.shape[0]
    if mask is None:
        feat = x
        cmat = (-2.0 * c).T
        cnorm = (c * c).sum(axis=1)
        a = (x * x).sum(axis=1)
    else:
        w = np.asarray(mask, dtype=np.float32)
        xm = x * w
        feat = np.concatenate([xm, w], axis=1)
        cmat = np.concatenate([-2.0 * c, c * c], axis=1).T
        cnorm = None
        a = (xm * x).sum(axis=1)
    cmat = np.ascontiguousarray(cmat, dtype=np.float32)
    assign = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float32)
    step = chunk or _chunk_rows(k)
    for s in range(0, n, step):
        e = min(n, s + step)
        dm = feat[s:e] @ cmat
        if cnorm is not None:
            dm += cnorm
        j = dm.argmin(axis=1)
        assign[s:e] = j
        dist[s:e] = dm[np.arange(e - s), j] + a[s:e]
    np.maximum(dist, 0.0, out=dist)  # rounding of the expansion
    return assign, dist


def kmeans_pp(x: np.ndarray, mask: np.ndarray | None, k: int,
              rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds (k, d) drawn from the rows of ``x`` with the masked distance."""
    n, d = x.shape
    w = np.ones_like(x) if mask is None else np.asarray(mask, dtype=np.float32)
    centroids = np.empty((k, d), dtype=np.float32)
    first = int(rng.integers(n))
    centroids[0] = x[first]
    best = (w * (x - centroids[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = float(best.sum())
        if total > 0:
            i = int(rng.choice(n, p=best / total))
        else:
            i = int(rng.integers(n))
        centroids[j] = x[i]
        np.minimum(best, (w * (x - centroids[j]) ** 2).sum(axis=1), out=best)
    return centroids


def _update(x: np.ndarray, w: np.ndarray | None, assign: np.ndarray, old: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    k, d = old.shape
    counts = np.bincount(assign, minlength=k)
    cell = (assign[:, None] * d + np.arange(d)).ravel()  # (cluster, position) cell of each value
    if w is None:
        num = np.bincount(cell, weights=x.ravel(), minlength=k * d).reshape(k, d)
        den = np.broadcast_to(counts[:, None].astype(np.float64), (k, d))
    else:
        num = np.bincount(cell, weights=(x * w).ravel(), minlength=k * d).reshape(k, d)
        den = np.bincount(cell, weights=w.ravel(), minlength=k * d).reshape(k, d)
    new = old.astype(np.float64)
    ok = den > 0
    new[ok] = num[ok] / den[ok]
    return new.astype(np.float32), counts


def kmeans(x: np.ndarray, k: int, *, mask: np.ndarray | None = None, seed: int = 0,
           max_iter: int = 20, tol: float = 0.0, init_sample: int | None = None,
           init: np.ndarray | None = None, reassign: bool = True) -> KMeansResult:
    """(Masked) Lloyd k-means; see the module docstring for every rule.

    With ``reassign`` the returned assignment is recomputed against the final centroids;
    without it, it is the last Lloyd assignment (callers that quantise the codebook re-assign
    against the quantised codewords anyway).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of rows {n}")
    w = None if mask is None else np.ascontiguousarray(mask, dtype=np.float32)
    rng = np.random.default_rng(seed)
    if init is not None:
        c = np.array(init, dtype=np.float32)
    else:
        cap = init_sample if init_sample is not None else max(16 * k, 4096)
        if n > cap:
            sel = np.sort(rng.choice(n, size=cap, replace=False))
            c = kmeans_pp(x[sel], None if w is None else w[sel], k, rng)
        else:
            c = kmeans_pp(x, w, k, rng)
    prev = None
    reseeded = 0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        assign, dist = assign_nearest(x, w, c)
        changed = n if prev is None else int(np.count_nonzero(assign != prev))
        prev = assign
        c, counts = _update(x, w, assign, c)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            far = np.argpartition(-dist, empty.size - 1)[: empty.size]
            far = far[np.argsort(-dist[far], kind="stable")]
            c[empty] = x[far] if w is None else x[far] * w[far]
            reseeded += int(empty.size)
        elif changed <= tol * n:
            break
    assign = assign_nearest(x, w, c)[0] if reassign else prev
    return KMeansResult(centroids=c, assign=assign, iterations=it, reseeded=reseeded)
