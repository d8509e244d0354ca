"""The default store: one SQLite file (stdlib ``sqlite3``), shared safely by threads and processes.

WAL journaling lets readers proceed while one writer commits; ``busy_timeout`` makes concurrent
writers queue instead of failing; ``synchronous=NORMAL`` is durable against process crashes (an
OS crash may lose the last commits, which for a cache only means a few extra misses).

Vectors are searched in memory: a :class:`~stepcache.retrieve.VectorIndex` per (namespace, model),
built from the file the first time a scope is searched and kept current by our own ``put`` and by a
cheap ``max(id)`` check before each search, which picks up entries other processes inserted (ids
only grow, and SQLite has one writer at a time, so ids appear in commit order).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path as FilePath
from typing import Any

import numpy as np

from .._exceptions import ConfigurationError, StoreError, StoreVersionError
from .._types import FORMAT_VERSION, AuditOutcome, Entry, Path, Scope, StoreStats, TokenUsage, Vector
from ._base import Store, quarantined_key
from ._codec import (
    COLUMNS,
    add_count,
    decode_vector,
    entry_filters,
    entry_values,
    row_to_entry,
    stats_from_rows,
)
from ._migrations import migrate
from ..retrieve.index import DEFAULT_THRESHOLD
from ._vectors import ScopedIndexes

__all__ = ["SQLiteStore"]

logger = logging.getLogger("stepcache.store")

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM entries"
_INSERT = (
    f"INSERT INTO entries ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))}) "
    "ON CONFLICT(key) DO NOTHING"
)
_FLUSH = (
    "INSERT INTO counters (namespace, family, path, requests, tokens_spent, tokens_saved) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(namespace, family, path) DO UPDATE SET requests = requests + excluded.requests, "
    "tokens_spent = tokens_spent + excluded.tokens_spent, tokens_saved = tokens_saved + excluded.tokens_saved"
)
_AUDIT = (
    "INSERT INTO audits (namespace, family, outcome, audits, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(namespace, family, outcome) DO UPDATE SET audits = audits + excluded.audits, "
    "prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens"
)
#: Quarantined entries are kept for inspection but never served.
_LIVE = "quarantined_at IS NULL"
#: How often (seconds) a store checks that its database file is still the one it opened.
IDENTITY_CHECK_S = 1.0
MEMORY = ":memory:"


class SQLiteStore(Store):
    """``SQLiteStore("/path/cache.db")`` (or ``":memory:"``); ``open_store("sqlite:///path/cache.db")``.

    One connection guarded by a lock serves every thread. Measured (2 cores, 2000 ``get`` per
    thread): 1 thread 114 ms vs 120 ms with a connection per thread, 2 threads 264 vs 314 ms,
    4 threads 582 vs 773 ms; the GIL serialises the row decoding that dominates anyway. One
    connection also makes ``:memory:`` databases work across threads.

    ``index_threshold`` is where a scope's vector search moves from exact numpy to faiss HNSW.
    Counters from :meth:`record` are written every ``flush_every`` records or ``flush_interval``
    seconds, whichever comes first, and on :meth:`stats` and :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        index_threshold: int = DEFAULT_THRESHOLD,
        flush_interval: float = 1.0,
        flush_every: int = 100,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = os.fspath(path)
        self._where = "the in-memory SQLite store" if self.path == MEMORY else f"the SQLite store {self.path}"
        self._flush_interval = flush_interval
        self._flush_every = flush_every
        self._lock = threading.RLock()
        self._closed = False
        self._conn = self._connect(busy_timeout)
        self._identity = self._file_identity()
        self._last_identity_check = time.monotonic()
        self._pending: dict[tuple[str, str, str], list[int]] = {}
        self._pending_records = 0
        self._last_flush = time.monotonic()
        self._vectors = ScopedIndexes(threshold=index_threshold)
        self._sync_lock = threading.Lock()
        self._synced_id = 0  # every current-format row with id <= this is in the built indexes
        self._built: set[tuple[str, str]] = set()

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///absolute/path.db`` or ``sqlite:///:memory:``."""
        prefix = "sqlite://"
        if not url.startswith(prefix):
            raise ConfigurationError(f"not a SQLite store URL: {url!r}; use sqlite:///absolute/path/to/cache.db")
        location = url[len(prefix) :].split("?", 1)[0]
        if location in ("", "/"):
            raise ConfigurationError(f"{url!r} names no file; use sqlite:///absolute/path/to/cache.db")
        if location in (MEMORY, "/" + MEMORY):
            return cls(MEMORY)
        if not location.startswith("/"):
            raise ConfigurationError(
                f"{url!r} is not an absolute path: use three slashes and the full path, "
                f"e.g. sqlite:///{os.path.abspath(location).lstrip('/')}"
            )
        if re.match(r"/[A-Za-z]:", location):  # sqlite:///C:/Users/... on Windows
            return cls(location[1:])
        # sqlite:////abs/path (SQLAlchemy's spelling) means the same file as sqlite:///abs/path.
        return cls("/" + location.lstrip("/"))

    # -- connection -------------------------------------------------------------------------

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        if self.path != MEMORY:
            try:
                FilePath(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder for {self._where}: {exc}. "
                    "Choose a writable location with --store sqlite:///path/to/cache.db"
                ) from exc
        try:
            conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self.path != MEMORY:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, self._where)
        except StoreVersionError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("cannot read", exc) from exc
        return conn

    def _error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        if "not a database" in str(exc) or "malformed" in str(exc):
            return StoreError(
                f"{doing} {self._where}: {exc}. The file is damaged or is not a StepCache database: "
                "move it aside (a new cache is started in its place) or point StepCache at another file "
                "with --store sqlite:///path/to/cache.db."
            )
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return StoreError(
                f"{doing} {self._where}: {exc}. Another process held the database too long; "
                "retry, or raise busy_timeout."
            )
        return StoreError(f"{doing} {self._where}: {exc}. Check that the file and its folder are readable and writable.")

    def _file_identity(self) -> tuple[int, int] | None:
        if self.path == MEMORY:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _check_file(self) -> None:
        """A database file deleted or replaced under a running store is reported, not written to
        blindly (the open handle would keep writing to a file no one else can see). Checked at most
        once a second."""
        if self._identity is None or time.monotonic() - self._last_identity_check < IDENTITY_CHECK_S:
            return
        self._last_identity_check = time.monotonic()
        now = self._file_identity()
        if now != self._identity:
            raise StoreError(
                f"{self._where} was {'deleted' if now is None else 'replaced by another file'} while in use; "
                "restart StepCache to open the database again"
            )

    @contextmanager
    def _db(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError(f"{self._where} is closed; open a new store to keep using it")
            self._check_file()
            try:
                yield self._conn
            except BaseException as exc:
                # Whatever interrupted us (even KeyboardInterrupt), never leave a transaction open:
                # the next BEGIN on this shared connection would fail, and the write lock be held.
                if self._conn.in_transaction:
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        logger.warning("rolling back a failed transaction on %s failed", self._where, exc_info=True)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(doing, exc) from exc
                raise

    # -- Store --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        with self._db("cannot read from") as conn:
            row = conn.execute(
                f"{_SELECT} WHERE key = ? AND format_version = ? AND {_LIVE}", (key, FORMAT_VERSION)
            ).fetchone()
        return None if row is None else row_to_entry(row)

    def put(self, entry: Entry) -> Entry:
        values = entry_values(entry, entry.created_at or time.time())  # JSON errors raise before any write
        with self._db("cannot write to") as conn:
            conn.execute("BEGIN IMMEDIATE")
            inserted = conn.execute(_INSERT, values)
            new_id = inserted.lastrowid if inserted.rowcount == 1 else None
            row = conn.execute(f"{_SELECT} WHERE key = ?", (entry.key,)).fetchone()
            conn.execute("COMMIT")
        stored = row_to_entry(row)
        if new_id is not None:
            self._indexed_own_insert(new_id, stored)
        return stored

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        with self._db("cannot read from") as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE namespace = ? AND model = ? AND family = ? AND signature = ? AND format_version = ? "
                f"AND {_LIVE} ORDER BY created_at DESC, id DESC LIMIT ?",
                (scope.namespace, scope.model, scope.family, signature, FORMAT_VERSION, limit),
            ).fetchall()
        return [row_to_entry(r) for r in rows]

    def nearest(
        self,
        namespace: str,
        model: str,
        vector: Vector,
        k: int = 4,
        family: str | None = None,
    ) -> list[tuple[Entry, float]]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        self._sync(namespace, model)
        return self._vectors.search(namespace, model, query, k, family, self._resolve)

    def record(self, namespace: str, family: str, path: Path, spent: TokenUsage, saved: int) -> None:
        with self._lock:
            add_count(self._pending, (namespace, family, Path(path).value), 1, spent.total, saved)
            self._pending_records += 1
            due = (
                self._pending_records >= self._flush_every
                or time.monotonic() - self._last_flush >= self._flush_interval
            )
        if due:
            self.flush()

    def flush(self) -> None:
        """Write buffered counters now."""
        with self._db("cannot write counters to") as conn:
            if self._pending:
                rows = [(ns, fam, path, *c) for (ns, fam, path), c in self._pending.items()]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_FLUSH, rows)
                conn.execute("COMMIT")
                self._pending.clear()
                self._pending_records = 0
            self._last_flush = time.monotonic()

    def record_audit(
        self, namespace: str, family: str, outcome: AuditOutcome, spent: TokenUsage, count: int = 1
    ) -> None:
        # Written at once (audits are a sampled few, counted off the request path).
        values = (namespace, family, AuditOutcome(outcome).value, count, spent.prompt, spent.completion)
        with self._db("cannot write audit counts to") as conn:
            conn.execute(_AUDIT, values)

    def quarantine(self, entry_id: str, reason: str) -> bool:
        if not entry_id.isdigit():
            return False
        with self._db("cannot quarantine an entry in") as conn:
            row = conn.execute(f"SELECT key FROM entries WHERE id = ? AND {_LIVE}", (int(entry_id),)).fetchone()
            if row is None:
                return False
            changed = conn.execute(
                f"UPDATE entries SET key = ?, quarantined_at = ?, quarantine_reason = ? WHERE id = ? AND {_LIVE}",
                (quarantined_key(entry_id, row[0]), time.time(), reason, int(entry_id)),
            ).rowcount
        return changed == 1

    # -- lifecycle -----------------------------------------------------------------------------
    def entries(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        limit: int = 100,
        ids: Sequence[str] | None = None,
    ) -> list[Entry]:
        where, args = entry_filters("?", namespace, family, None, ids)
        with self._db("cannot read from") as conn:
            rows = conn.execute(f"{_SELECT} WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?", [*args, limit])
            return [row_to_entry(r) for r in rows.fetchall()]

    def purge(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        older_than: float | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        where, args = entry_filters("?", namespace, family, older_than, ids)
        with self._db("cannot delete from") as conn:
            conn.execute("BEGIN IMMEDIATE")
            deleted = conn.execute(f"DELETE FROM entries WHERE {where}", args).rowcount
            conn.execute("COMMIT")
        return int(deleted)  # the vector index resolves ids through the table: deleted rows are never found

    def stats(self, namespace: str | None = None) -> StoreStats:
        self.flush()
        where, args = ("AND namespace = ?", (namespace,)) if namespace is not None else ("", ())
        with self._db("cannot read from") as conn:
            families = conn.execute(
                f"SELECT family, count(*) - count(quarantined_at), count(quarantined_at) FROM entries "
                f"WHERE format_version = ? {where} GROUP BY family",
                (FORMAT_VERSION, *args),
            ).fetchall()
            paths = conn.execute(
                f"SELECT path, sum(requests), sum(tokens_spent), sum(tokens_saved) FROM counters "
                f"WHERE 1 = 1 {where} GROUP BY path",
                args,
            ).fetchall()
            audits = conn.execute(
                f"SELECT family, outcome, sum(audits), sum(prompt_tokens), sum(completion_tokens) FROM audits "
                f"WHERE 1 = 1 {where} GROUP BY family, outcome",
                args,
            ).fetchall()
        live = [(family, n) for family, n, _ in families]
        held = [(family, n) for family, _, n in families]
        return stats_from_rows(live, paths, audits, held)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._identity = None  # closing: flush to the handle we have, whatever became of the file
            try:
                self.flush()
            finally:
                self._closed = True
                self._conn.close()

    def wait_ready(self) -> None:
        """Wait for vector indexes being built in the background (benchmarks use this)."""
        self._vectors.wait_ready()

    # -- vector index upkeep --------------------------------------------------------------------

    def _indexed_own_insert(self, row_id: int, entry: Entry) -> None:
        with self._sync_lock:
            if row_id != self._synced_id + 1:
                return  # another writer's rows came in between: the next search catches up
            self._synced_id = row_id
            scope = (entry.scope.namespace, entry.scope.model)
            if entry.format_version == FORMAT_VERSION and scope in self._built:
                self._vectors.add(*scope, [(row_id, entry.embedding)])

    def _sync(self, namespace: str, model: str) -> None:
        with self._sync_lock:
            with self._db("cannot read from") as conn:
                (max_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM entries").fetchone()
                if max_id > self._synced_id:
                    rows = conn.execute(
                        "SELECT id, namespace, model, embedding FROM entries "
                        f"WHERE id > ? AND id <= ? AND format_version = ? AND {_LIVE}",
                        (self._synced_id, max_id, FORMAT_VERSION),
                    ).fetchall()
                    self._add_rows((i, ns, m, blob) for i, ns, m, blob in rows if (ns, m) in self._built)
                    self._synced_id = max_id
                if (namespace, model) not in self._built:
                    cursor = conn.execute(
                        "SELECT id, namespace, model, embedding FROM entries "
                        f"WHERE namespace = ? AND model = ? AND format_version = ? AND id <= ? AND {_LIVE}",
                        (namespace, model, FORMAT_VERSION, self._synced_id),
                    )
                    self._add_rows(cursor)
                    self._built.add((namespace, model))

    def _add_rows(self, rows: Any) -> None:
        # Grouped by scope and vector length, then decoded in one frombuffer per group: building a
        # 100k-entry index this way is several times faster than decoding row by row.
        groups: dict[tuple[str, str, int], tuple[list[int], list[bytes]]] = defaultdict(lambda: ([], []))
        for row_id, namespace, model, blob in rows:
            ids, blobs = groups[(namespace, model, len(blob))]
            ids.append(row_id)
            blobs.append(blob)
        for (namespace, model, size), (ids, blobs) in groups.items():
            matrix = decode_vector(b"".join(blobs)).reshape(len(ids), size // 4)
            self._vectors.add_matrix(namespace, model, ids, matrix)

    def _resolve(self, ids: Sequence[int], family: str | None) -> dict[int, Entry]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        sql = f"{_SELECT} WHERE id IN ({marks}) AND format_version = ? AND {_LIVE}"
        args: list[Any] = [*ids, FORMAT_VERSION]
        if family is not None:
            sql += " AND family = ?"
            args.append(family)
        with self._db("cannot read from") as conn:
            rows = conn.execute(sql, args).fetchall()
        return {int(r[0]): row_to_entry(r) for r in rows}

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

