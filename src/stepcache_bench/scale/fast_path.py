"""Lookup cost as the cache grows: the engine's in-process fast path with N entries in the store.

:func:`measure_fast_path` fills a fresh SQLite store with ``entries`` synthetic entries
(:mod:`._synthetic`: clustered vectors, three families) in the namespace and model the workload
uses, caches the workload's base prompts through :class:`~stepcache.StepCache`, then times
``cache.complete()`` for requests that never reach the model: the non-semantic variants (adapted and
verified: path reuse) and exact repeats of the bases. The backend is the scripted model, so nothing
but the engine, the store and the index is timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from stepcache import HashedNgramEmbedder, Route, ScriptedBackend, SQLiteStore, StepCache

from ..imperfect import ImperfectModel
from ..workload import generate_workload
from ._result import ScaleResult, Timing
from ._synthetic import centres, clustered, fill

__all__ = ["measure_fast_path", "SCALE_TARGET_P50_MS"]

#: The issue's target: fast-path p50 at 100k entries.
SCALE_TARGET_P50_MS = 2.0
_MODEL = "bench-scale"


def measure_fast_path(entries: int, *, seed: int = 42, workdir: str | Path | None = None) -> ScaleResult:
    """Fill, warm, time. Takes about a minute per 100k entries on 2 cores (the fill dominates)."""
    items = generate_workload(seed)
    bases = [i for i in items if i.perturbation == "base"]
    variants = [i for i in items if i.perturbation != "base" and not i.semantic]
    embedder = HashedNgramEmbedder()
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="stepcache-scale-", dir=workdir) as tmp:
        store = SQLiteStore(Path(tmp) / "scale.db")
        started = time.perf_counter()
        # in the workload's namespace, model and embedder: the index the engine's lookups search
        fill(
            store,
            clustered(entries, rng, centres(500, embedder.dim, rng)),
            namespace="default",
            model=_MODEL,
            embedder=embedder.name,
        )
        fill_s = time.perf_counter() - started
        backend = ScriptedBackend(responder=ImperfectModel(error_rate=0.0, seed=seed))
        with StepCache(backend, store=store, embedder=embedder) as cache:
            for item in bases:  # cache the real entries (these do call the model)
                cache.complete(item.request.chat_request(_MODEL))
            started = time.perf_counter()
            store.wait_ready()
            ready_s = time.perf_counter() - started
            calls = len(backend.calls)
            reuse: list[float] = []
            exact: list[float] = []
            for item, bucket in [(v, reuse) for v in variants] + [(b, exact) for b in bases]:
                request = item.request.chat_request(_MODEL)
                before = len(backend.calls)
                t = time.perf_counter()
                result = cache.complete(request)
                elapsed_ms = (time.perf_counter() - t) * 1e3
                if result.path is Route.REUSE and len(backend.calls) == before:
                    bucket.append(elapsed_ms)
            timed_calls = len(backend.calls) - calls
    timings = {"fast path": Timing.of(reuse + exact), "exact": Timing.of(exact)}
    if reuse:
        timings["reuse"] = Timing.of(reuse)
    return ScaleResult(
        measure="fast path",
        store="sqlite",
        entries=entries,
        dim=embedder.dim,
        fill_s=round(fill_s, 2),
        index_ready_s=round(ready_s, 3),
        timings=timings,
        excluded_model_calls=timed_calls,
    )
