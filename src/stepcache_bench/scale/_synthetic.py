"""Synthetic entries for the scale measures: clustered unit vectors, the way embeddings of templated
prompts cluster (a few hundred "templates", per-request noise around each), spread over three families
so a family-filtered search is exercised too."""

from __future__ import annotations

import numpy as np

from stepcache import FORMAT_VERSION, Entry, Scope, Store, TokenUsage

__all__ = ["EMBEDDER", "FAMILIES", "centres", "clustered", "synthetic_entry", "number_of", "fill"]

FAMILIES = ("linear", "json", "generic")
#: The embedder name synthetic vectors carry: a store compares vectors of one embedder only.
EMBEDDER = "scale-synthetic"


def centres(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random unit vectors: the clusters' centres."""
    points = rng.standard_normal((count, dim), dtype=np.float32)
    unit: np.ndarray = points / np.linalg.norm(points, axis=1, keepdims=True)
    return unit


def clustered(n: int, rng: np.random.Generator, around: np.ndarray, spread: float = 0.6) -> np.ndarray:
    """``n`` unit vectors, each a random centre of ``around`` plus noise of norm about ``spread``."""
    dim = around.shape[1]
    picks = rng.integers(0, len(around), n)
    points = around[picks] + rng.standard_normal((n, dim), dtype=np.float32) * spread / np.sqrt(dim)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    unit: np.ndarray = points.astype(np.float32)
    return unit


def synthetic_entry(
    i: int, vector: np.ndarray, *, namespace: str = "scale", model: str = "m", embedder: str = EMBEDDER
) -> Entry:
    """Entry number ``i`` (key ``scale-{i}``): a linear equation's steps, in one of :data:`FAMILIES`."""
    return Entry(
        key=f"scale-{namespace}-{model}-{i}",
        scope=Scope(namespace, model, FAMILIES[i % len(FAMILIES)]),
        signature=f"sig-{i % 997}",
        prompt=f"Synthetic prompt number {i}: solve {i % 17}x + {i % 13} = {i % 101}.",
        task={"a": i % 17, "b": i % 13, "c": i % 101, "var": "x"},
        steps=(f"Step 1: {i % 17}x = {i % 101 - i % 13}", "Step 2: x = ..."),
        text="Step 1: ...\nStep 2: ...",
        embedding=vector,
        embedder=embedder,
        prepared={"template": "Step 1: {a}x = {d}"},
        format_version=FORMAT_VERSION,
        cost=TokenUsage(50, 120),
    )


def number_of(entry: Entry) -> int:
    """The ``i`` a :func:`synthetic_entry` was made from."""
    return int(entry.key.rsplit("-", 1)[1])


def fill(
    store: Store, vectors: np.ndarray, *, namespace: str = "scale", model: str = "m", embedder: str = EMBEDDER
) -> None:
    """``store.put`` one :func:`synthetic_entry` per vector."""
    for i, vector in enumerate(vectors):
        store.put(synthetic_entry(i, vector, namespace=namespace, model=model, embedder=embedder))
