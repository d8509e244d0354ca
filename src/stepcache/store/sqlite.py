"""The default store: one SQLite file (stdlib ``sqlite3``), shared safely by threads and processes.

How the file is opened, shared and locked is ``_sqlite_file``; the queries both database stores
run are ``_sql``. Counters and last-use times are buffered (``_counters``): when another process
holds the write lock they stay buffered for the next flush.

Vectors are searched in memory: a :class:`~stepcache.retrieve.VectorIndex` per (namespace, model,
embedder), built from the file the first time a scope is searched and kept current by our own
``put`` and by a cheap ``max(id)`` check before each search, which picks up entries other processes
inserted (ids only grow, and SQLite has one writer at a time, so ids appear in commit order). Rows
deleted by any process are counted in ``deletions``; once they are more than half of what the
indexes hold, the indexes are rebuilt from the file, so a capped store's memory stays bounded.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._exceptions import ConfigurationError
from .._types import FORMAT_VERSION, Entry, Vector
from ._base import quarantined_key
from ._codec import COLUMNS, decode_vector, entry_filters, entry_values, row_to_entry, values_size
from ._counters import Batch
from ._lifecycle import BATCH, CAPACITY, EXPIRED, PURGED, pick
from ._settings import SQLiteSettings
from ._sql import LIVE, Query, SQLStore
from ._sqlite_file import MEMORY, SQLiteFile
from ._vectors import ScopedIndexes, embedder_name

__all__ = ["SQLiteStore"]

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM entries"
_INSERT = (
    f"INSERT INTO entries ({', '.join(COLUMNS[1:])}, last_used, size) VALUES ({', '.join('?' * (len(COLUMNS) + 1))}) "
    "ON CONFLICT(key) DO NOTHING"
)
_USED = "UPDATE entries SET last_used = max(last_used, ?) WHERE id = ?"


class SQLiteStore(SQLStore):
    """``SQLiteStore("/path/cache.db")`` (or ``":memory:"``); ``open_store("sqlite:///path/cache.db")``.

    Options (:class:`~stepcache.store._settings.SQLiteSettings`, also taken by the URL:
    ``sqlite:///srv/cache.db?max_entries=100000&max_bytes=500M&ttl=7d&busy_timeout=0.5``):
    ``index_threshold`` is where a scope's vector search moves from exact numpy to faiss HNSW.
    Counters from :meth:`record` and the last-use times of entries lookups returned are written
    every ``flush_every`` records or ``flush_interval`` seconds, whichever comes first, and on
    :meth:`stats`, :meth:`evict` and :meth:`close`. ``busy_timeout`` (seconds) bounds how long a
    write waits for other writers. ``max_entries``, ``max_bytes`` and ``ttl`` bound the store
    (``stepcache.store._lifecycle``).
    """

    in_process = True
    mark = "?"
    columns = ", ".join(COLUMNS)
    #: A flush started by ``record`` (on the proxy's event loop for a cache hit) waits this long for
    #: the write lock, then leaves the counters buffered and tries again ``flush_interval`` later.
    record_wait = 0.02

    settings: SQLiteSettings

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self.path = os.fspath(path)
        where = "the in-memory SQLite store" if self.path == MEMORY else f"the SQLite store {self.path}"
        self._start(SQLiteSettings.parse(options, where), where)
        self._file = SQLiteFile(self.path, self.settings.busy_timeout)
        self._vectors = ScopedIndexes(threshold=self.settings.index_threshold)
        self._sync_lock = threading.Lock()
        self._synced_id = 0  # every current-format row with id <= this is in the built indexes
        self._built: set[tuple[str, str]] = set()
        self._deleted_seen: int | None = None  # rows deleted (by any process) when the indexes were started

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///absolute/path.db`` or ``sqlite:///:memory:``, optionally with the store's
        options as query parameters (``?max_entries=N&max_bytes=500M&ttl=7d&busy_timeout=0.5``)."""
        prefix = "sqlite://"
        if not url.startswith(prefix):
            raise ConfigurationError(f"not a SQLite store URL: {url!r}; use sqlite:///absolute/path/to/cache.db")
        location, _, query = url[len(prefix) :].partition("?")
        settings, _ = SQLiteSettings.from_query(query, f"the SQLite store {url!r}")
        options = settings.model_dump(exclude_unset=True)
        if location in ("", "/"):
            raise ConfigurationError(f"{url!r} names no file; use sqlite:///absolute/path/to/cache.db")
        if location in (MEMORY, "/" + MEMORY):
            return cls(MEMORY, **options)
        if not location.startswith("/"):
            raise ConfigurationError(
                f"{url!r} is not an absolute path: use three slashes and the full path, "
                f"e.g. sqlite:///{os.path.abspath(location).lstrip('/')}"
            )
        if re.match(r"/[A-Za-z]:", location):  # sqlite:///C:/Users/... on Windows
            return cls(location[1:], **options)
        # sqlite:////abs/path (SQLAlchemy's spelling) means the same file as sqlite:///abs/path.
        return cls("/" + location.lstrip("/"), **options)

    # -- SQLStore ---------------------------------------------------------------------------------

    def _reads(self, action: str, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        with self._file.connection("cannot read from") as conn:
            return [conn.execute(sql, params).fetchall() for sql, params in queries]

    def _write(self, action: str, sql: str, params: Sequence[Any]) -> None:
        with self._file.connection("cannot write to", write=True) as conn:
            conn.execute(sql, params)

    def _decode(self, row: tuple[Any, ...]) -> Entry:
        return row_to_entry(row)

    def _write_batch(self, batch: Batch, wait: float | None) -> None:
        with self._file.connection("cannot write counters to", write=True, wait=wait) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(*self.counter_rows(batch))
            conn.executemany(_USED, [(when, row_id) for row_id, when in sorted(batch.uses.items())])
            conn.execute("COMMIT")

    # -- Store ------------------------------------------------------------------------------------

    def put(self, entry: Entry) -> Entry:
        created_at = entry.created_at or time.time()
        name = embedder_name(entry.embedder, int(np.asarray(entry.embedding).size))
        # JSON errors raise before any write.
        values = entry_values(entry, created_at, self.limits.expiry(created_at, entry.expires_at), name)
        size = values_size(values)
        now = time.time()
        with self._file.connection("cannot write to", write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            inserted = conn.execute(_INSERT, (*values, now, size))
            if inserted.rowcount == 0:  # the key is taken; by an expired entry, no longer
                stale = conn.execute(
                    "SELECT id, namespace, family FROM entries WHERE key = ? AND expires_at <= ?", (entry.key, now)
                ).fetchall()
                if stale:
                    self._delete_rows(conn, stale, EXPIRED)
                    inserted = conn.execute(_INSERT, (*values, now, size))
            new_id = inserted.lastrowid if inserted.rowcount == 1 else None
            row = conn.execute(f"{_SELECT} WHERE key = ?", (entry.key,)).fetchone()
            conn.execute("COMMIT")
        stored = row_to_entry(row)
        if new_id is not None:
            self._indexed_own_insert(new_id, stored)
            self._stored(size)
        return stored

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
        self._sync(namespace, model)
        name = embedder_name(embedder, query.shape[0])
        found = self._vectors.search(namespace, model, name, query, k, family, self._resolve)
        self._counts.touch(e.id for e, _ in found)
        return found

    def quarantine(self, entry_id: str, reason: str) -> bool:
        if not entry_id.isdigit():
            return False
        with self._file.connection("cannot quarantine an entry in", write=True) as conn:
            row = conn.execute(f"SELECT key FROM entries WHERE id = ? AND {LIVE}", (int(entry_id),)).fetchone()
            if row is None:
                return False
            changed = conn.execute(
                f"UPDATE entries SET key = ?, quarantined_at = ?, quarantine_reason = ? WHERE id = ? AND {LIVE}",
                (quarantined_key(entry_id, row[0]), time.time(), reason, int(entry_id)),
            ).rowcount
        return changed == 1

    def purge(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        older_than: float | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        where, args = entry_filters("?", namespace, family, older_than, ids)
        with self._file.connection("cannot delete from", write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            groups = conn.execute(
                f"SELECT namespace, family, count(*) FROM entries WHERE {where} GROUP BY namespace, family", args
            ).fetchall()
            deleted = conn.execute(f"DELETE FROM entries WHERE {where}", args).rowcount
            conn.executemany(*self.deletion_rows({(ns, fam): n for ns, fam, n in groups}, PURGED))
            conn.execute("COMMIT")
        return int(deleted)  # the vector index resolves ids through the table: deleted rows are never found

    def close(self) -> None:
        with self._file.closing() as closed:
            if not closed:
                self.flush()

    def wait_ready(self) -> None:
        self._vectors.wait_ready()

    # -- bounds ---------------------------------------------------------------------------------

    def _count(self) -> tuple[int, int]:
        entries, size = self._read("count", "SELECT count(*), coalesce(sum(size), 0) FROM entries")[0]
        return int(entries), int(size)

    def _delete_expired(self) -> int:
        now = time.time()
        if not self._read("find expired", "SELECT 1 FROM entries WHERE expires_at <= ? LIMIT 1", (now,)):
            return 0
        deleted = 0
        while True:
            with self._file.connection("cannot delete expired entries from", write=True) as conn:
                conn.execute("BEGIN IMMEDIATE")
                rows = conn.execute(
                    "SELECT id, namespace, family FROM entries WHERE expires_at <= ? LIMIT ?", (now, BATCH)
                ).fetchall()
                self._delete_rows(conn, rows, EXPIRED)
                conn.execute("COMMIT")
            deleted += len(rows)
            if len(rows) < BATCH:
                return deleted

    def _evict_lru(self, entries: int, size: int) -> tuple[int, int]:
        removed = freed = 0
        while entries > 0 or size > 0:
            with self._file.connection("cannot evict entries from", write=True) as conn:
                conn.execute("BEGIN IMMEDIATE")
                batch = conn.execute(
                    "SELECT id, size, namespace, family FROM entries ORDER BY last_used, id LIMIT ?", (BATCH,)
                ).fetchall()
                chosen = pick(batch, entries, size)
                self._delete_rows(conn, [(r[0], r[2], r[3]) for r in chosen], CAPACITY)
                conn.execute("COMMIT")
            if not chosen:
                break
            gone = sum(int(r[1]) for r in chosen)
            entries, size = entries - len(chosen), size - gone
            removed, freed = removed + len(chosen), freed + gone
        return removed, freed

    def _delete_rows(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]], reason: str) -> None:
        """Delete ``(id, namespace, family)`` rows and count them under ``reason`` (inside a transaction)."""
        conn.executemany("DELETE FROM entries WHERE id = ?", [(r[0],) for r in rows])
        conn.executemany(*self.deletion_rows(Counter((r[1], r[2]) for r in rows), reason))

    # -- vector index upkeep --------------------------------------------------------------------

    def _indexed_own_insert(self, row_id: int, entry: Entry) -> None:
        with self._sync_lock:
            if row_id != self._synced_id + 1:
                return  # another writer's rows came in between: the next search catches up
            self._synced_id = row_id
            scope = (entry.scope.namespace, entry.scope.model)
            if entry.format_version == FORMAT_VERSION and scope in self._built:
                vector = np.asarray(entry.embedding, dtype=np.float32).reshape(1, -1)
                self._vectors.add(*scope, entry.embedder, [row_id], vector)

    def _sync(self, namespace: str, model: str) -> None:
        with self._sync_lock, self._file.connection("cannot read from") as conn:
            max_id, deleted = conn.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM entries), (SELECT coalesce(sum(entries), 0) FROM deletions)"
            ).fetchone()
            if self._deleted_seen is None:
                self._deleted_seen = deleted
            elif (deleted - self._deleted_seen) * 2 > len(self._vectors):
                # Deleted rows stay in the indexes (never served: _resolve skips them) until they
                # are half of them; then the indexes start afresh and are rebuilt as searched.
                self._vectors = ScopedIndexes(threshold=self.settings.index_threshold)
                self._built.clear()
                self._deleted_seen = deleted
            columns = "SELECT id, namespace, model, embedder, embedding FROM entries"
            if max_id > self._synced_id:
                rows = conn.execute(
                    f"{columns} WHERE id > ? AND id <= ? AND format_version = ? AND {LIVE}",
                    (self._synced_id, max_id, FORMAT_VERSION),
                ).fetchall()
                self._add_rows(r for r in rows if (r[1], r[2]) in self._built)
                self._synced_id = max_id
            if (namespace, model) not in self._built:
                cursor = conn.execute(
                    f"{columns} WHERE namespace = ? AND model = ? AND format_version = ? AND id <= ? AND {LIVE}",
                    (namespace, model, FORMAT_VERSION, self._synced_id),
                )
                self._add_rows(cursor)
                self._built.add((namespace, model))

    def _add_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        # Grouped by scope, embedder and vector length, then decoded in one frombuffer per group:
        # building a 100k-entry index this way is several times faster than decoding row by row.
        groups: dict[tuple[str, str, str, int], tuple[list[int], list[bytes]]] = defaultdict(lambda: ([], []))
        for row_id, namespace, model, embedder, blob in rows:
            ids, blobs = groups[(namespace, model, embedder, len(blob))]
            ids.append(row_id)
            blobs.append(blob)
        for (namespace, model, embedder, size), (ids, blobs) in groups.items():
            matrix = decode_vector(b"".join(blobs)).reshape(len(ids), size // 4)
            self._vectors.add(namespace, model, embedder, ids, matrix)

    def _resolve(self, ids: Sequence[int], family: str | None) -> dict[int, Entry]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        sql = f"{_SELECT} WHERE id IN ({marks}) AND format_version = ? AND {LIVE} AND {self._fresh()}"
        args: list[Any] = [*ids, FORMAT_VERSION, time.time()]
        if family is not None:
            sql += " AND family = ?"
            args.append(family)
        return {int(r[0]): row_to_entry(r) for r in self._read("resolve", sql, args)}

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
