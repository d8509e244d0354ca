"""An in-memory store: the public fake of the Store seam, for tests, docs and one-off scripts.

It keeps the full contract (idempotent ``put``, scoping, format-version filtering, counters, size
cap, least-recently-used eviction and expiry) so code tested against it behaves the same on SQLite
or PostgreSQL. Nothing survives the process.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._exceptions import ConfigurationError
from .._types import FORMAT_VERSION, AuditOutcome, Entry, Route, Scope, StoreStats, TokenUsage, Vector
from ._base import Store, quarantined_key
from ._codec import dump_json, encode_vector, load_json, payload_size, stats_from_rows
from ._counters import add_count
from ._lifecycle import CapCheck, excess
from ._settings import MemorySettings
from ._vectors import ScopedIndexes, embedder_name

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """``MemoryStore()``, or ``open_store("memory://")``. Thread-safe.

    Options (:class:`~stepcache.store._settings.MemorySettings`): ``max_entries``, ``max_bytes`` and
    ``ttl`` bound it as they bound the SQL stores (``memory://?max_entries=1000``); last use is kept
    exactly, since it costs nothing here. ``index_threshold``: see ``SQLiteStore``.
    """

    in_process = True

    def __init__(self, **options: Any) -> None:
        self.settings = MemorySettings.parse(options, _WHERE)
        self.limits = self.settings
        self._check = CapCheck(self.limits)
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
        self._used: OrderedDict[int, None] = OrderedDict()  # row ids, least recently used first
        self._sizes: dict[int, int] = {}  # row id -> payload bytes
        self._bytes = 0
        self._evicted: dict[tuple[str, str], int] = defaultdict(int)  # (namespace, family) -> entries
        self._vectors = ScopedIndexes(threshold=self.settings.index_threshold)
        self._dead_vectors = 0  # deleted rows still in self._vectors

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """``memory://``, optionally ``memory://?max_entries=N&max_bytes=N&ttl=SECONDS``."""
        location, _, query = url.partition("?")
        if location.rstrip("/") != "memory:":
            raise ConfigurationError(f"the in-memory store takes no location: use 'memory://', not {url!r}")
        settings, _ = MemorySettings.from_query(query, _WHERE)
        return cls(**settings.model_dump(exclude_unset=True))

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._by_key.get(key)
            if entry is None or entry.format_version != FORMAT_VERSION or _expired(entry, time.time()):
                return None
            self._used.move_to_end(int(entry.id))
        return entry

    def put(self, entry: Entry) -> Entry:
        embedding = np.array(entry.embedding, dtype=np.float32).reshape(-1)
        embedding.flags.writeable = False  # entries are shared between callers; keep them frozen
        # The same JSON round trip as the SQL stores, so a task that would not survive them fails here too.
        task_json = dump_json(entry.task, "task", entry.key)
        steps_json = dump_json(list(entry.steps), "steps", entry.key)
        prepared_json = dump_json(entry.prepared, "prepared data", entry.key)
        size = payload_size(entry.prompt, task_json, steps_json, entry.text, prepared_json, encode_vector(embedding))
        with self._lock:
            existing = self._by_key.get(entry.key)
            if existing is not None:
                if not _expired(existing, time.time()):
                    return existing
                self._remove_locked(existing)  # an expired entry no longer holds its key
                self._evicted[(existing.scope.namespace, existing.scope.family)] += 1
            row_id = self._next_id
            self._next_id += 1
            created_at = entry.created_at or time.time()
            stored = dataclasses.replace(
                entry,
                id=str(row_id),
                created_at=created_at,
                embedding=embedding,
                task=load_json(task_json),
                steps=tuple(load_json(steps_json)),
                prepared=load_json(prepared_json),
                expires_at=self.limits.expiry(created_at, entry.expires_at),
                embedder=embedder_name(entry.embedder, embedding.shape[0]),
            )
            self._by_id[row_id] = stored
            self._by_key[stored.key] = stored
            self._by_signature[(stored.scope, stored.signature)].append(row_id)
            self._used[row_id] = None
            self._sizes[row_id] = size
            self._bytes += size
            if stored.format_version == FORMAT_VERSION:  # under the lock: a rebuild must not add it twice
                self._index([(row_id, stored)], self._vectors)
        if self._check.stored(size):
            entries, total = None, None
            try:
                with self._lock:
                    low_entries, low_bytes = self.limits.low_water()
                    over = self.limits.over(len(self._by_id), self._bytes)
                    self._evict_locked(low_entries if over else None, low_bytes if over else None)
                    entries, total = len(self._by_id), self._bytes
            finally:
                self._check.checked(entries, total)
        return stored

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        now = time.time()
        with self._lock:
            entries = [
                self._by_id[i] for i in self._by_signature.get((scope, signature), ()) if i not in self._quarantined
            ]
            current = [e for e in entries if e.format_version == FORMAT_VERSION and not _expired(e, now)]
            current.sort(key=lambda e: (e.created_at, int(e.id)), reverse=True)
            for e in current[:limit]:
                self._used.move_to_end(int(e.id))
        return current[:limit]

    def nearest(
        self,
        namespace: str,
        model: str,
        vector: Vector,
        k: int = 4,
        family: str | None = None,
        *,
        embedder: str | None = None,
    ) -> list[tuple[Entry, float]]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        name = embedder_name(embedder, query.shape[0])
        found = self._vectors.search(namespace, model, name, query, k, family, self._resolve)
        with self._lock:
            for e, _ in found:
                if int(e.id) in self._used:
                    self._used.move_to_end(int(e.id))
        return found

    def _resolve(self, ids: Sequence[int], family: str | None) -> dict[int, Entry]:
        now = time.time()
        with self._lock:
            found = {i: self._by_id[i] for i in ids if i in self._by_id and i not in self._quarantined}
        return {i: e for i, e in found.items() if (family is None or e.scope.family == family) and not _expired(e, now)}

    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        with self._lock:
            add_count(self._counters, (namespace, family, Route(path).value), 1, spent.total, saved)

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
            e
            for e in self._by_id.values()
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
                self._remove_locked(entry)
            self._compact_locked()
        return len(doomed)

    def evict(self, *, max_entries: int | None = None, max_bytes: int | None = None) -> int:
        with self._lock:
            return self._evict_locked(max_entries, max_bytes)

    def _evict_locked(self, max_entries: int | None, max_bytes: int | None) -> int:
        now = time.time()
        doomed = [e for e in self._by_id.values() if _expired(e, now)]
        for entry in doomed:
            self._remove_locked(entry)
            self._evicted[(entry.scope.namespace, entry.scope.family)] += 1
        entries, size = excess(max_entries, max_bytes, len(self._by_id), self._bytes)
        evicted = len(doomed)
        while (entries > 0 or size > 0) and self._used:
            entry = self._by_id[next(iter(self._used))]
            size -= self._sizes[int(entry.id)]
            entries -= 1
            self._remove_locked(entry)
            self._evicted[(entry.scope.namespace, entry.scope.family)] += 1
            evicted += 1
        self._compact_locked()
        return evicted

    def _remove_locked(self, entry: Entry) -> None:
        row_id = int(entry.id)
        del self._by_id[row_id]
        self._quarantined.pop(row_id, None)
        self._used.pop(row_id, None)
        self._bytes -= self._sizes.pop(row_id, 0)
        if self._by_key.get(entry.key) is entry:
            del self._by_key[entry.key]
        same = self._by_signature.get((entry.scope, entry.signature))
        if same is not None and row_id in same:
            same.remove(row_id)
            if not same:
                del self._by_signature[(entry.scope, entry.signature)]
        # The vector index resolves through _by_id, so the row is never found; its vector is
        # dropped at the next rebuild (_compact_locked).
        self._dead_vectors += entry.format_version == FORMAT_VERSION

    def _compact_locked(self) -> None:
        """Rebuild the vector indexes once deleted rows are more than half of what they hold, so that
        a capped store's memory stays bounded however many entries pass through it."""
        if self._dead_vectors * 2 <= len(self._vectors):
            return
        rebuilt = ScopedIndexes(threshold=self.settings.index_threshold)
        live = [
            (i, e) for i, e in self._by_id.items() if e.format_version == FORMAT_VERSION and i not in self._quarantined
        ]
        self._index(live, rebuilt)
        self._vectors, self._dead_vectors = rebuilt, 0

    @staticmethod
    def _index(rows: list[tuple[int, Entry]], indexes: ScopedIndexes) -> None:
        groups: dict[tuple[str, str, str, int], tuple[list[int], list[Vector]]] = defaultdict(lambda: ([], []))
        for row_id, e in rows:
            ids, vectors = groups[(e.scope.namespace, e.scope.model, e.embedder, e.embedding.shape[0])]
            ids.append(row_id)
            vectors.append(e.embedding)
        for (namespace, model, embedder, _), (ids, vectors) in groups.items():
            indexes.add(namespace, model, embedder, ids, np.stack(vectors))

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
                (path, c) for (ns, _family, path), c in self._counters.items() if namespace is None or ns == namespace
            ]
            evicted = sum(n for (ns, _family), n in self._evicted.items() if namespace is None or ns == namespace)
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
        return stats_from_rows(by_family.items(), paths, audits, by_quarantine.items(), evicted)

    def wait_ready(self) -> None:
        self._vectors.wait_ready()


_WHERE = "the in-memory store"


def _expired(entry: Entry, now: float) -> bool:
    return entry.expires_at is not None and entry.expires_at <= now
