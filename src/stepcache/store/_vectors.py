"""Per-(namespace, model) vector indexes shared by the stores that keep their vectors in memory.

An index holds one namespace and one model, so a tenant's query never even scores another
tenant's entries. Indexes are also split by vector length: a store reopened with a different
embedder (MiniLM's 384 after the n-gram embedder's 512) simply finds nothing instead of failing.
The family filter is applied to the candidates, fetching more when too many are filtered out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .._types import Entry, Vector
from ..retrieve.index import DEFAULT_THRESHOLD, VectorIndex

__all__ = ["ScopedIndexes"]

#: How many candidates to fetch per wanted result when filtering by family.
_OVERFETCH = 4

#: ``resolve(ids, family)`` → the entries among ``ids`` that exist, have the current format and (when
#: ``family`` is not None) belong to ``family``.
Resolver = Callable[[Sequence[int], str | None], dict[int, Entry]]


class ScopedIndexes:
    def __init__(self, *, threshold: int = DEFAULT_THRESHOLD, background: bool = True) -> None:
        self._threshold = threshold
        self._background = background
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, str, int], VectorIndex[int]] = {}

    def add(self, namespace: str, model: str, rows: Iterable[tuple[int, Vector]]) -> None:
        by_dim: dict[int, tuple[list[int], list[Vector]]] = {}
        for row_id, vector in rows:
            ids, vectors = by_dim.setdefault(vector.shape[0], ([], []))
            ids.append(row_id)
            vectors.append(vector)
        for dim, (ids, vectors) in by_dim.items():
            self._index(namespace, model, dim).add(ids, np.stack(vectors))

    def add_matrix(self, namespace: str, model: str, ids: Sequence[int], matrix: np.ndarray) -> None:
        """Add rows of one length at once (``matrix`` is ``len(ids) x dim``)."""
        if len(ids):
            self._index(namespace, model, matrix.shape[1]).add(ids, matrix)

    def search(
        self,
        namespace: str,
        model: str,
        vector: Vector,
        k: int,
        family: str | None,
        resolve: Resolver,
    ) -> list[tuple[Entry, float]]:
        with self._lock:
            index = self._indexes.get((namespace, model, vector.shape[0]))
        if index is None or k <= 0:
            return []
        fetch = k if family is None else k * _OVERFETCH
        while True:
            hits = index.search(vector, fetch)
            entries = resolve([row_id for row_id, _ in hits], family)
            found = [(entries[row_id], score) for row_id, score in hits if row_id in entries]
            if len(found) >= k or fetch >= len(index):
                return found[:k]
            fetch *= _OVERFETCH

    def __len__(self) -> int:
        """Vectors held, the rows since deleted included (a store rebuilds once too many are)."""
        with self._lock:
            return sum(len(index) for index in self._indexes.values())

    def wait_ready(self) -> None:
        with self._lock:
            indexes = list(self._indexes.values())
        for index in indexes:
            index.wait_ready()

    def _index(self, namespace: str, model: str, dim: int) -> VectorIndex[int]:
        with self._lock:
            index = self._indexes.get((namespace, model, dim))
            if index is None:
                index = VectorIndex(dim, threshold=self._threshold, background=self._background)
                self._indexes[(namespace, model, dim)] = index
            return index
