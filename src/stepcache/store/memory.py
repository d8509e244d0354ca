"""An in-memory store: the public fake of the Store seam, for tests, docs and one-off scripts.

It keeps the full contract (idempotent ``put``, scoping, format-version filtering, counters) so
code tested against it behaves the same on SQLite or PostgreSQL. Nothing survives the process.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .._exceptions import ConfigurationError
from .._types import FORMAT_VERSION, AuditOutcome, Entry, Path, Scope, StoreStats, TokenUsage, Vector
from ._base import Store, quarantined_key
from ._codec import add_count, dump_json, load_json, stats_from_rows
from ..retrieve.index import DEFAULT_THRESHOLD
from ._vectors import ScopedIndexes

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """``MemoryStore()``, or ``open_store("memory://")``. Thread-safe."""

    def __init__(self, *, index_threshold: int = DEFAULT_THRESHOLD) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        self._by_id: dict[int, Entry] = {}
        self._by_key: dict[str, Entry] = {}
        self._by_signature: dict[tuple[Scope, str], list[int]] = defaultdict(list)
        # (namespace, family, path) -> [requests, tokens spent, tokens saved]
        self._counters: dict[tuple[str, str, str], list[int]] = {}
        # (namespace, family, outcome) -> [audits, prompt tokens, completion tokens]
        self._audits: dict[tuple[str, str, str], list[int]] = {}
        self._quarantined: dict[int, tuple[float, str]] = {}  # row id -> (when, why)
        self._vectors = ScopedIndexes(threshold=index_threshold)

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        if url.rstrip("/") != "memory:":
            raise ConfigurationError(f"the in-memory store takes no location: use 'memory://', not {url!r}")
        return cls()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._by_key.get(key)
        return entry if entry is not None and entry.format_version == FORMAT_VERSION else None

    def put(self, entry: Entry) -> Entry:
        embedding = np.array(entry.embedding, dtype=np.float32).reshape(-1)
        embedding.flags.writeable = False  # entries are shared between callers; keep them frozen
        # The same JSON round trip as the SQL stores, so a task that would not survive them fails here too.
        task = load_json(dump_json(entry.task, "task", entry.key))
        steps = tuple(load_json(dump_json(list(entry.steps), "steps", entry.key)))
        prepared = load_json(dump_json(entry.prepared, "prepared data", entry.key))
        with self._lock:
            existing = self._by_key.get(entry.key)
            if existing is not None:
                return existing
            row_id = self._next_id
            self._next_id += 1
            stored = dataclasses.replace(
                entry,
                id=str(row_id),
                created_at=entry.created_at or time.time(),
                embedding=embedding,
                task=task,
                steps=steps,
                prepared=prepared,
            )
            self._by_id[row_id] = stored
            self._by_key[stored.key] = stored
            self._by_signature[(stored.scope, stored.signature)].append(row_id)
        if stored.format_version == FORMAT_VERSION:
            self._vectors.add(stored.scope.namespace, stored.scope.model, [(row_id, embedding)])
        return stored

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        with self._lock:
            entries = [
                self._by_id[i] for i in self._by_signature.get((scope, signature), ()) if i not in self._quarantined
            ]
        current = [e for e in entries if e.format_version == FORMAT_VERSION]
        current.sort(key=lambda e: (e.created_at, int(e.id)), reverse=True)
        return current[:limit]

    def nearest(
        self,
        namespace: str,
        model: str,
        vector: Vector,
        k: int = 4,
        family: str | None = None,
    ) -> list[tuple[Entry, float]]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        return self._vectors.search(namespace, model, query, k, family, self._resolve)

    def _resolve(self, ids: Sequence[int], family: str | None) -> dict[int, Entry]:
        with self._lock:
            found = {i: self._by_id[i] for i in ids if i in self._by_id and i not in self._quarantined}
        return {i: e for i, e in found.items() if family is None or e.scope.family == family}

    def record(self, namespace: str, family: str, path: Path, spent: TokenUsage, saved: int) -> None:
        with self._lock:
            add_count(self._counters, (namespace, family, Path(path).value), 1, spent.total, saved)

    def record_audit(
        self, namespace: str, family: str, outcome: AuditOutcome, spent: TokenUsage, count: int = 1
    ) -> None:
        with self._lock:
            key = (namespace, family, AuditOutcome(outcome).value)
            add_count(self._audits, key, count, spent.prompt, spent.completion)

    def quarantine(self, entry_id: str, reason: str) -> bool:
        row_id = int(entry_id) if entry_id.isdigit() else 0
        with self._lock:
            entry = self._by_id.get(row_id)
            if entry is None or row_id in self._quarantined:
                return False
            self._quarantined[row_id] = (time.time(), reason)
            moved = dataclasses.replace(entry, key=quarantined_key(entry.id, entry.key))
            self._by_id[row_id] = moved
            if self._by_key.get(entry.key) is entry:
                del self._by_key[entry.key]  # the next identical request stores a fresh answer
        return True

    # -- lifecycle -----------------------------------------------------------------------------
    def _matching(
        self, namespace: str | None, family: str | None, older_than: float | None, ids: Sequence[str] | None
    ) -> list[Entry]:
        cutoff = None if older_than is None else time.time() - older_than
        wanted = None if ids is None else set(ids)
        return [
            e for e in self._by_id.values()
            if (namespace is None or e.scope.namespace == namespace)
            and (family is None or e.scope.family == family)
            and (cutoff is None or e.created_at < cutoff)
            and (wanted is None or e.id in wanted)
        ]

    def entries(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        limit: int = 100,
        ids: Sequence[str] | None = None,
    ) -> list[Entry]:
        with self._lock:
            found = self._matching(namespace, family, None, ids)
        return sorted(found, key=lambda e: (e.created_at, int(e.id)), reverse=True)[:limit]

    def purge(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        older_than: float | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        with self._lock:
            doomed = self._matching(namespace, family, older_than, ids)
            for entry in doomed:
                row_id = int(entry.id)
                del self._by_id[row_id]
                self._quarantined.pop(row_id, None)
                if self._by_key.get(entry.key) is entry:
                    del self._by_key[entry.key]
                same = self._by_signature.get((entry.scope, entry.signature))
                if same is not None and row_id in same:
                    same.remove(row_id)
        return len(doomed)  # the vector index resolves through _by_id: removed rows are never found

    def stats(self, namespace: str | None = None) -> StoreStats:
        with self._lock:
            current = [
                (i, e)
                for i, e in self._by_id.items()
                if e.format_version == FORMAT_VERSION and (namespace is None or e.scope.namespace == namespace)
            ]
            entries = [e for i, e in current if i not in self._quarantined]
            held = [e for i, e in current if i in self._quarantined]
            audits = [
                (family, outcome, n, prompt, completion)
                for (ns, family, outcome), (n, prompt, completion) in self._audits.items()
                if namespace is None or ns == namespace
            ]
            counters = [
                (path, c)
                for (ns, _family, path), c in self._counters.items()
                if namespace is None or ns == namespace
            ]
        by_family: dict[str, int] = defaultdict(int)
        for e in entries:
            by_family[e.scope.family] += 1
        by_path: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for path, counter in counters:
            by_path[path] = [a + b for a, b in zip(by_path[path], counter)]
        by_quarantine: dict[str, int] = defaultdict(int)
        for e in held:
            by_quarantine[e.scope.family] += 1
        paths = [(path, r, s, v) for path, (r, s, v) in by_path.items()]
        return stats_from_rows(by_family.items(), paths, audits, by_quarantine.items())

    def wait_ready(self) -> None:
        """Wait for vector indexes being rebuilt in the background (benchmarks use this)."""
        self._vectors.wait_ready()
