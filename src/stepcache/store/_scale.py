"""Fill a store with synthetic entries and time ``nearest()``: how retrieval scales.

    python -m stepcache.store._scale --entries 100000 --dim 384 --store sqlite:///tmp/scale.db

Vectors are clustered unit vectors (a few hundred "templates" with per-request noise), which is
what embeddings of templated prompts look like; entries are spread over three families so the
family-filtered search is exercised too. Reported: fill time, the first search (which loads the
index from the store), the HNSW build, p50/p99 of ``nearest`` with and without a family, and
recall@k against a brute-force search.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import numpy as np

from .._types import FORMAT_VERSION, Entry, Scope, TokenUsage
from ._base import Store

__all__ = ["ScaleResult", "fill", "measure_nearest", "main"]

FAMILIES = ("linear", "json", "generic")


@dataclass(frozen=True)
class ScaleResult:
    entries: int
    dim: int
    fill_s: float
    first_search_ms: float
    index_ready_s: float
    p50_ms: float
    p99_ms: float
    family_p50_ms: float
    family_p99_ms: float
    recall_at_k: float  # share of the exact top-k (by brute force) that nearest() returned


def synthetic_vectors(n: int, dim: int, seed: int = 0, templates: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((templates, dim)).astype(np.float32)
    x = centres[rng.integers(0, templates, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


def fill(store: Store, vectors: np.ndarray, *, namespace: str = "scale", model: str = "m") -> None:
    for i, vector in enumerate(vectors):
        family = FAMILIES[i % len(FAMILIES)]
        store.put(
            Entry(
                key=f"scale-{namespace}-{model}-{i}",
                scope=Scope(namespace, model, family),
                signature=f"sig-{i % 997}",
                prompt=f"Synthetic prompt number {i}: solve {i % 17}x + {i % 13} = {i % 101}.",
                task={"a": i % 17, "b": i % 13, "c": i % 101, "var": "x"},
                steps=(f"Step 1: {i % 17}x = {i % 101 - i % 13}", "Step 2: x = ..."),
                text="Step 1: ...\nStep 2: ...",
                embedding=vector,
                prepared={"template": "Step 1: {a}x = {d}"},
                format_version=FORMAT_VERSION,
                cost=TokenUsage(50, 120),
            )
        )


def measure_nearest(
    store: Store,
    entries: int,
    *,
    dim: int = 384,
    queries: int = 300,
    k: int = 4,
    seed: int = 0,
) -> ScaleResult:
    """Fill ``store`` with ``entries`` synthetic entries, then time ``queries`` searches."""
    vectors = synthetic_vectors(entries + queries, dim, seed)
    started = time.perf_counter()
    fill(store, vectors[:entries])
    fill_s = time.perf_counter() - started

    probes = vectors[entries:]
    started = time.perf_counter()
    store.nearest("scale", "m", probes[0], k)
    first_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    wait_ready = getattr(store, "wait_ready", None)
    if wait_ready is not None:
        wait_ready()
    ready_s = time.perf_counter() - started

    def timed(family: str | None) -> np.ndarray:
        times = []
        for q in probes:
            t = time.perf_counter()
            store.nearest("scale", "m", q, k, family)
            times.append(time.perf_counter() - t)
        return np.asarray(times) * 1e3

    plain, filtered = timed(None), timed("json")
    truth = np.argsort(-(probes @ vectors[:entries].T), axis=1)[:, :k]
    hits = 0
    for q, expected in zip(probes, truth):
        found = {int(e.key.rsplit("-", 1)[1]) for e, _ in store.nearest("scale", "m", q, k)}
        hits += len(found & set(expected.tolist()))
    return ScaleResult(
        entries=entries,
        dim=dim,
        fill_s=round(fill_s, 2),
        first_search_ms=round(first_ms, 2),
        index_ready_s=round(ready_s, 2),
        p50_ms=round(float(np.percentile(plain, 50)), 3),
        p99_ms=round(float(np.percentile(plain, 99)), 3),
        family_p50_ms=round(float(np.percentile(filtered, 50)), 3),
        family_p99_ms=round(float(np.percentile(filtered, 99)), 3),
        recall_at_k=round(hits / (k * len(probes)), 4),
    )


def main(argv: list[str] | None = None) -> None:
    from ._url import open_store

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--store", default="sqlite:///:memory:", help="store URL (a fresh store per size)")
    args = parser.parse_args(argv)
    for n in args.entries:
        url = args.store.replace("{n}", str(n))
        with open_store(url) as store:
            print(asdict(measure_nearest(store, n, dim=args.dim, queries=args.queries)), flush=True)


if __name__ == "__main__":
    main()
