"""Entries and vectors for the store tests."""

from __future__ import annotations

import numpy as np

from stepcache._types import FORMAT_VERSION, Entry, Scope, TokenUsage


def unit(values: list[float] | np.ndarray, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    arr = np.asarray(values, dtype=np.float32)
    v[: arr.size] = arr
    return (v / np.linalg.norm(v)).astype(np.float32)


def make_entry(
    key: str,
    *,
    namespace: str = "tenant-a",
    model: str = "m1",
    family: str = "linear",
    signature: str = "sig",
    vector: np.ndarray | None = None,
    text: str = "x = 5",
    format_version: int = FORMAT_VERSION,
    created_at: float = 0.0,
) -> Entry:
    return Entry(
        key=key,
        scope=Scope(namespace, model, family),
        signature=signature,
        prompt=f"prompt for {key}",
        task={"a": 3, "b": [5, 20], "var": "x", "nested": {"k": None, "ok": True, "f": 1.5}},
        steps=("Step 1: 3x = 15", "Step 2: x = 5"),
        text=text,
        embedding=unit([1.0]) if vector is None else vector,
        prepared={"template": "Step 1: {a}x = {c}"},
        format_version=format_version,
        created_at=created_at,
        cost=TokenUsage(12, 34),
    )
