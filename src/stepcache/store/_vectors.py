"""Which vectors may be compared, and the in-memory indexes of the stores that search in process.

A vector is compared only with vectors of the same embedder (``Entry.embedder``): two embedders of
the same length (MiniLM and any other 384-dimension model) place texts differently, so their
cosine means nothing. Entries stored before embedders were recorded have no name; they are given
:func:`legacy_embedder` of their length, which is the built-in embedder that made vectors of that
length (the default hashed n-gram embedder for 512, MiniLM for 384) and ``legacy-<length>``
otherwise. An entry or search that names no embedder gets the same name, so a caller that never
names one keeps finding what it stored.

:class:`ScopedIndexes`: one index per (namespace, model, embedder), so a tenant's query never even
scores another tenant's entries. The family filter is applied to the candidates, fetching more when
too many are filtered out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from .._types import Entry, Vector
from ..retrieve.index import DEFAULT_THRESHOLD, VectorIndex

__all__ = ["ScopedIndexes", "LEGACY_EMBEDDERS", "legacy_embedder", "embedder_name"]

#: Vector length → the embedder that made unnamed vectors of that length. Both were StepCache's
#: only built-in embedder of their length when vectors carried no name (the n-gram one at its
#: defaults is what ``StepCache`` and ``stepcache serve`` use unless told otherwise). Migrations
#: wrote these names into existing rows: never change them (a test pins them to the embedders).
LEGACY_EMBEDDERS = {512: "hashed-ngram-v1-d512-n3-5", 384: "all-minilm-l6-v2-int8"}

#: How many candidates to fetch per wanted result when filtering by family.
_OVERFETCH = 4

#: ``resolve(ids, family)`` → the entries among ``ids`` that exist, have the current format and (when
#: ``family`` is not None) belong to ``family``.
Resolver = Callable[[Sequence[int], str | None], dict[int, Entry]]


def legacy_embedder(dim: int) -> str:
    """The embedder name of an unnamed vector of length ``dim``."""
    return LEGACY_EMBEDDERS.get(dim, f"legacy-{dim}")


def embedder_name(given: str | None, dim: int) -> str:
    """``given``, or when it is empty or ``None`` the name unnamed vectors of length ``dim`` have."""
    return given or legacy_embedder(dim)


class ScopedIndexes:
    def __init__(self, *, threshold: int = DEFAULT_THRESHOLD, background: bool = True) -> None:
        self._threshold = threshold
        self._background = background
        self._lock = threading.Lock()
        # Keyed by length too: a name is the embedder's promise of one length, and a vector that
        # broke it must find nothing rather than break the index.
        self._indexes: dict[tuple[str, str, str, int], VectorIndex[int]] = {}

    def add(self, namespace: str, model: str, embedder: str, ids: Sequence[int], matrix: np.ndarray) -> None:
        """Add vectors of one embedder and length (``matrix`` is ``len(ids) x dim``)."""
        if len(ids):
            self._index(namespace, model, embedder, matrix.shape[1]).add(ids, matrix)

    def search(
        self,
        namespace: str,
        model: str,
        embedder: str,
        vector: Vector,
        k: int,
        family: str | None,
        resolve: Resolver,
    ) -> list[tuple[Entry, float]]:
        with self._lock:
            index = self._indexes.get((namespace, model, embedder, vector.shape[0]))
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

    def _index(self, namespace: str, model: str, embedder: str, dim: int) -> VectorIndex[int]:
        key = (namespace, model, embedder, dim)
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                index = VectorIndex(dim, threshold=self._threshold, background=self._background)
                self._indexes[key] = index
            return index
