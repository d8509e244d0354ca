"""How a store's vector search scales: fill it with synthetic entries and time ``nearest()``.

    stepcache bench scale --entries 100000 --dim 384 --store sqlite:///tmp/scale-{n}.db

Reported: fill time, the wait for the index to be ready (the first search loads it from the store),
p50/p99 of ``nearest`` with and without a family filter, and recall@k against a brute-force search.
"""

from __future__ import annotations

import time

import numpy as np

from stepcache import Store

from ._result import ScaleResult, Timing
from ._synthetic import EMBEDDER, centres, clustered, fill, number_of

__all__ = ["measure_nearest"]


def measure_nearest(
    store: Store,
    entries: int,
    *,
    dim: int = 384,
    queries: int = 300,
    k: int = 4,
    seed: int = 0,
    spread: float = 0.6,
    name: str = "",
) -> ScaleResult:
    """Fill ``store`` with ``entries`` synthetic entries, then time ``queries`` searches."""
    rng = np.random.default_rng(seed)
    vectors = clustered(entries + queries, rng, centres(500, dim, rng), spread)
    started = time.perf_counter()
    fill(store, vectors[:entries])
    fill_s = time.perf_counter() - started

    probes = vectors[entries:]
    started = time.perf_counter()
    store.nearest("scale", "m", probes[0], k, embedder=EMBEDDER)
    store.wait_ready()  # memory and SQLite build their index in the background
    ready_s = time.perf_counter() - started

    def timed(family: str | None) -> list[float]:
        times = []
        for q in probes:
            t = time.perf_counter()
            store.nearest("scale", "m", q, k, family, embedder=EMBEDDER)
            times.append((time.perf_counter() - t) * 1e3)
        return times

    plain, filtered = timed(None), timed("json")
    truth = np.argsort(-(probes @ vectors[:entries].T), axis=1)[:, :k]
    hits = 0
    for q, expected in zip(probes, truth):
        found = {number_of(e) for e, _ in store.nearest("scale", "m", q, k, embedder=EMBEDDER)}
        hits += len(found & set(expected.tolist()))
    return ScaleResult(
        measure="nearest",
        store=name or type(store).__name__,
        entries=entries,
        dim=dim,
        fill_s=round(fill_s, 2),
        index_ready_s=round(ready_s, 2),
        timings={"nearest": Timing.of(plain), "nearest (family)": Timing.of(filtered)},
        recall_at_k=round(hits / (k * len(probes)), 4),
        settings={"k": k, "queries": queries, "spread": spread},
    )
