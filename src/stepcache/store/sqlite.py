"""The default store: one SQLite file (stdlib ``sqlite3``), shared safely by threads and processes.

WAL journaling lets readers proceed while one writer commits, and the store reads through a
connection of its own, so lookups never wait for a writer, in this process or another (a backup
holding the write lock for minutes does not stall cache hits). Writes wait for another writer at
most ``busy_timeout`` (default 0.5 s): then a put raises :class:`StoreError` (the proxy answers
uncached), and counters and last-use times stay buffered for the next flush. ``synchronous=NORMAL``
is durable against process crashes (an OS crash may lose the last commits, which for a cache only
means a few extra misses).

Vectors are searched in memory: a :class:`~stepcache.retrieve.VectorIndex` per (namespace, model),
built from the file the first time a scope is searched and kept current by our own ``put`` and by a
cheap ``max(id)`` check before each search, which picks up entries other processes inserted (ids
only grow, and SQLite has one writer at a time, so ids appear in commit order). Rows deleted by any
process are counted in ``deletions``; once they are more than half of what the indexes hold, the
indexes are rebuilt from the file, so a capped store's memory stays bounded.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from .._exceptions import ConfigurationError, StoreError, StoreVersionError
from .._types import FORMAT_VERSION, AuditOutcome, Entry, Route, Scope, StoreStats, TokenUsage, Vector
from ._base import Store, quarantined_key
from ._codec import (
    COLUMNS,
    add_count,
    decode_vector,
    entry_filters,
    entry_values,
    row_to_entry,
    stats_from_rows,
    values_size,
)
from ._lifecycle import (
    BATCH,
    CAPACITY,
    EVICTION_REASONS,
    EXPIRED,
    PURGED,
    CapCheck,
    Limits,
    UseBuffer,
    excess,
    limits_from_query,
    pick,
)
from ._migrations import migrate
from ..retrieve.index import DEFAULT_THRESHOLD
from ._vectors import ScopedIndexes

__all__ = ["SQLiteStore"]

logger = logging.getLogger("stepcache.store")

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM entries"
_INSERT = (
    f"INSERT INTO entries ({', '.join(COLUMNS[1:])}, last_used, size) VALUES ({', '.join('?' * (len(COLUMNS) + 1))}) "
    "ON CONFLICT(key) DO NOTHING"
)
_FLUSH = (
    "INSERT INTO counters (namespace, family, path, requests, tokens_spent, tokens_saved) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(namespace, family, path) DO UPDATE SET requests = requests + excluded.requests, "
    "tokens_spent = tokens_spent + excluded.tokens_spent, tokens_saved = tokens_saved + excluded.tokens_saved"
)
_USED = "UPDATE entries SET last_used = max(last_used, ?) WHERE id = ?"
_AUDIT = (
    "INSERT INTO audits (namespace, family, outcome, audits, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(namespace, family, outcome) DO UPDATE SET audits = audits + excluded.audits, "
    "prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens"
)
_DELETED = (
    "INSERT INTO deletions (namespace, family, reason, entries) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(namespace, family, reason) DO UPDATE SET entries = entries + excluded.entries"
)
#: Quarantined entries are kept for inspection but never served.
_LIVE = "quarantined_at IS NULL"
#: Expired entries are never served (the argument is the time now).
_FRESH = "(expires_at IS NULL OR expires_at > ?)"
#: How often (seconds) a store checks that its database file is still the one it opened.
IDENTITY_CHECK_S = 1.0
#: Opening (which may migrate a large file) waits this long for another process's write lock.
OPEN_WAIT_S = 30.0
#: A counter flush started by ``record`` (on the proxy's event loop for a cache hit) waits this long
#: for the write lock, then leaves the counters buffered and tries again ``flush_interval`` later.
FLUSH_WAIT_S = 0.02
MEMORY = ":memory:"


class SQLiteStore(Store):
    """``SQLiteStore("/path/cache.db")`` (or ``":memory:"``); ``open_store("sqlite:///path/cache.db")``.

    Two connections, each guarded by a lock, serve every thread: one reads, one writes (a
    ``:memory:`` database has one, used for both). Measured (2 cores, 2000 ``get`` per thread): 1
    thread 114 ms vs 120 ms with a connection per thread, 2 threads 264 vs 314 ms, 4 threads 582 vs
    773 ms; the GIL serialises the row decoding that dominates anyway.

    ``index_threshold`` is where a scope's vector search moves from exact numpy to faiss HNSW.
    Counters from :meth:`record` and the last-use times of entries lookups returned are written
    every ``flush_every`` records or ``flush_interval`` seconds, whichever comes first, and on
    :meth:`stats`, :meth:`evict` and :meth:`close`. ``busy_timeout`` (seconds) bounds how long a
    write waits for other writers. ``max_entries``, ``max_bytes`` and ``ttl`` bound the store
    (``stepcache.store._lifecycle``); the URL takes them too:
    ``sqlite:///srv/cache.db?max_entries=100000&max_bytes=500M&ttl=7d&busy_timeout=0.5``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        index_threshold: int = DEFAULT_THRESHOLD,
        flush_interval: float = 1.0,
        flush_every: int = 100,
        busy_timeout: float = 0.5,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        ttl: float | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._where = "the in-memory SQLite store" if self.path == MEMORY else f"the SQLite store {self.path}"
        if not busy_timeout >= 0:
            raise ConfigurationError(f"busy_timeout for {self._where} must be 0 or more seconds, not {busy_timeout!r}")
        self.limits = Limits.of(max_entries=max_entries, max_bytes=max_bytes, ttl=ttl, where=self._where)
        self._check = CapCheck(self.limits)
        self._busy_timeout = busy_timeout
        self._flush_interval = flush_interval
        self._flush_every = flush_every
        self._closed = False
        self._writer = self._connect()
        self._wait = OPEN_WAIT_S  # the busy timeout the writer has now
        self._write_lock = threading.RLock()
        if self.path == MEMORY:
            self._reader, self._read_lock = self._writer, self._write_lock
        else:
            self._reader, self._read_lock = self._connect(reader=True), threading.RLock()
        self._identity = self._file_identity()
        self._last_identity_check = time.monotonic()
        self._counts_lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], list[int]] = {}
        self._pending_records = 0
        self._last_flush = time.monotonic()
        self._flush_after = 0.0  # monotonic time before which record() does not retry a failed flush
        self._uses = UseBuffer()
        self._threshold = index_threshold
        self._vectors = ScopedIndexes(threshold=index_threshold)
        self._sync_lock = threading.Lock()
        self._synced_id = 0  # every current-format row with id <= this is in the built indexes
        self._built: set[tuple[str, str]] = set()
        self._deleted_seen: int | None = None  # rows deleted (by any process) when the indexes were started

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///absolute/path.db`` or ``sqlite:///:memory:``, optionally with ``?max_entries=N``,
        ``max_bytes=N`` (or 500M, 2G), ``ttl=SECONDS`` (or 12h, 7d) and ``busy_timeout=SECONDS``."""
        prefix = "sqlite://"
        if not url.startswith(prefix):
            raise ConfigurationError(f"not a SQLite store URL: {url!r}; use sqlite:///absolute/path/to/cache.db")
        location, _, query = url[len(prefix) :].partition("?")
        options: dict[str, Any] = {}
        if query:
            options, rest = limits_from_query(parse_qsl(query, keep_blank_values=True), f"the SQLite store {url!r}")
            for name, value in rest:
                if name != "busy_timeout":
                    raise ConfigurationError(
                        f"the SQLite store has no option {name!r} (in {url!r}); it takes max_entries, max_bytes, "
                        "ttl and busy_timeout"
                    )
                try:
                    options["busy_timeout"] = float(value)
                except ValueError as exc:
                    raise ConfigurationError(f"busy_timeout={value!r} in {url!r} must be a number of seconds") from exc
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

    # -- connection -------------------------------------------------------------------------

    def _connect(self, *, reader: bool = False) -> sqlite3.Connection:
        """The writing connection (which migrates the file), or with ``reader`` the reading one."""
        if self.path != MEMORY and not reader:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder for {self._where}: {exc}. "
                    "Choose a writable location with --store sqlite:///path/to/cache.db"
                ) from exc
        try:
            conn = sqlite3.connect(self.path, timeout=OPEN_WAIT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        try:
            if reader:
                # Nothing this connection runs may write, so it never needs the write lock.
                conn.execute("PRAGMA query_only = 1")
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                return conn
            conn.execute(f"PRAGMA busy_timeout = {int(OPEN_WAIT_S * 1000)}")
            if self.path != MEMORY:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                if str(mode).lower() != "wal":
                    logger.warning(
                        "%s cannot use WAL journaling (journal_mode is %s, e.g. on a network file system): "
                        "lookups will wait while another process writes; put the file on a local disk",
                        self._where,
                        mode,
                    )
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
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            return self._busy(doing, str(exc))
        return StoreError(f"{doing} {self._where}: {exc}. Check that the file and its folder are readable and writable.")

    def _busy(self, doing: str, what: str) -> StoreError:
        err = StoreError(
            f"{doing} {self._where}: {what}. Another process is holding the database's write lock (a long "
            "transaction or a backup); lookups go on, writes resume when it lets go. If this happens under "
            f"ordinary load, raise busy_timeout (now {self._busy_timeout:g} s; ?busy_timeout=2 in the store URL)."
        )
        err.retryable = True
        return err

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
    def _db(self, doing: str, *, write: bool = False, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        """The reading or (``write``) the writing connection, for one operation. A write waits at most
        ``wait`` seconds (default ``busy_timeout``) for this process's other writers, and as long again
        for SQLite's write lock."""
        lock, conn = (self._write_lock, self._writer) if write else (self._read_lock, self._reader)
        wait = self._busy_timeout if wait is None else wait
        if not lock.acquire(timeout=wait if write else -1):
            raise self._busy(doing, "this process's other writes did not finish in time")
        try:
            if self._closed:
                raise StoreError(f"{self._where} is closed; open a new store to keep using it")
            self._check_file()
            try:
                if write and self._wait != wait:
                    conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
                    self._wait = wait
                yield conn
            except BaseException as exc:
                # Whatever interrupted us (even KeyboardInterrupt), never leave a transaction open:
                # the next BEGIN on this shared connection would fail, and the write lock be held.
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        logger.warning("rolling back a failed transaction on %s failed", self._where, exc_info=True)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(doing, exc) from exc
                raise
        finally:
            lock.release()

    # -- Store --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        with self._db("cannot read from") as conn:
            row = conn.execute(
                f"{_SELECT} WHERE key = ? AND format_version = ? AND {_LIVE} AND {_FRESH}",
                (key, FORMAT_VERSION, time.time()),
            ).fetchone()
        if row is None:
            return None
        entry = row_to_entry(row)
        self._uses.touch([entry.id])
        return entry

    def put(self, entry: Entry) -> Entry:
        created_at = entry.created_at or time.time()
        # JSON errors raise before any write.
        values = entry_values(entry, created_at, self.limits.expiry(created_at, entry.expires_at))
        size = values_size(values)
        now = time.time()
        with self._db("cannot write to", write=True) as conn:
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
            if self._check.stored(size):
                self._maintain()
        return stored

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        with self._db("cannot read from") as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE namespace = ? AND model = ? AND family = ? AND signature = ? AND format_version = ? "
                f"AND {_LIVE} AND {_FRESH} ORDER BY created_at DESC, id DESC LIMIT ?",
                (scope.namespace, scope.model, scope.family, signature, FORMAT_VERSION, time.time(), limit),
            ).fetchall()
        found = [row_to_entry(r) for r in rows]
        self._uses.touch(e.id for e in found)
        return found

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
        found = self._vectors.search(namespace, model, query, k, family, self._resolve)
        self._uses.touch(e.id for e, _ in found)
        return found

    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        with self._counts_lock:
            add_count(self._pending, (namespace, family, Route(path).value), 1, spent.total, saved)
            self._pending_records += 1
            now = time.monotonic()
            due = now >= self._flush_after and (
                self._pending_records >= self._flush_every or now - self._last_flush >= self._flush_interval
            )
        if not due:
            return
        try:
            self._flush(FLUSH_WAIT_S)
        except StoreError as exc:
            with self._counts_lock:
                self._flush_after = time.monotonic() + self._flush_interval
            if not exc.retryable:
                raise
            logger.info("counters stay buffered for the next flush: %s", exc)

    def flush(self) -> None:
        """Write buffered counters and last-use times now, waiting up to ``busy_timeout`` for the
        write lock. On failure they stay buffered for the next flush, and :class:`StoreError` says why."""
        self._flush(self._busy_timeout)

    def _flush(self, wait: float) -> None:
        with self._counts_lock:
            batch, self._pending = self._pending, {}
            records, self._pending_records = self._pending_records, 0
            self._last_flush = time.monotonic()
        used = self._uses.take()
        if not batch and not used:
            return
        try:
            with self._db("cannot write counters to", write=True, wait=wait) as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_FLUSH, [(ns, fam, path, *c) for (ns, fam, path), c in batch.items()])
                conn.executemany(_USED, [(when, row_id) for row_id, when in sorted(used.items())])
                conn.execute("COMMIT")
        except BaseException:
            with self._counts_lock:
                for key, (n, spent, saved) in batch.items():
                    add_count(self._pending, key, n, spent, saved)
                self._pending_records += records
            self._uses.give_back(used)
            raise

    def record_audit(
        self, namespace: str, family: str, outcome: AuditOutcome, spent: TokenUsage, count: int = 1
    ) -> None:
        # Written at once (audits are a sampled few, counted off the request path).
        values = (namespace, family, AuditOutcome(outcome).value, count, spent.prompt, spent.completion)
        with self._db("cannot write audit counts to", write=True) as conn:
            conn.execute(_AUDIT, values)

    def quarantine(self, entry_id: str, reason: str) -> bool:
        if not entry_id.isdigit():
            return False
        with self._db("cannot quarantine an entry in", write=True) as conn:
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
        with self._db("cannot delete from", write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            groups = conn.execute(
                f"SELECT namespace, family, count(*) FROM entries WHERE {where} GROUP BY namespace, family", args
            ).fetchall()
            deleted = conn.execute(f"DELETE FROM entries WHERE {where}", args).rowcount
            conn.executemany(_DELETED, [(ns, fam, PURGED, n) for ns, fam, n in groups])
            conn.execute("COMMIT")
        return int(deleted)  # the vector index resolves ids through the table: deleted rows are never found

    def evict(self, *, max_entries: int | None = None, max_bytes: int | None = None) -> int:
        self.flush()  # this process's last uses first, or a just-served entry could go
        evicted = self._delete_expired()
        if max_entries is not None or max_bytes is not None:
            entries, size = self._count()
            evicted += self._evict_lru(*excess(max_entries, max_bytes, entries, size))[0]
        return evicted

    def _maintain(self) -> None:
        """Run by a put that :class:`CapCheck` says is due: delete expired entries and, over a cap,
        the least recently used down to the low-water mark. Best effort: the put has succeeded."""
        entries: int | None = None
        size: int | None = None
        try:
            self.flush()
            self._delete_expired()
            if self.limits.capped:
                entries, size = self._count()
                if self.limits.over(entries, size):
                    removed, freed = self._evict_lru(*excess(*self.limits.low_water(), entries, size))
                    entries, size = entries - removed, size - freed
        except StoreError as exc:
            entries = size = None
            logger.warning("%s: expired or least recently used entries were not deleted this time: %s", self._where, exc)
        finally:
            self._check.checked(entries, size)

    def _count(self) -> tuple[int, int]:
        """Entries (quarantined and older formats too: they take room) and their payload bytes."""
        with self._db("cannot read from") as conn:
            entries, size = conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM entries").fetchone()
        return int(entries), int(size)

    def _delete_expired(self) -> int:
        now = time.time()
        with self._db("cannot read from") as conn:
            if conn.execute("SELECT 1 FROM entries WHERE expires_at <= ? LIMIT 1", (now,)).fetchone() is None:
                return 0
        deleted = 0
        while True:
            with self._db("cannot delete expired entries from", write=True) as conn:
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
        """Delete the least recently used entries until ``entries`` entries and ``size`` bytes are gone,
        a batch per transaction; returns how many entries and bytes went."""
        removed = freed = 0
        while entries > 0 or size > 0:
            with self._db("cannot evict entries from", write=True) as conn:
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

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]], reason: str) -> None:
        """Delete ``(id, namespace, family)`` rows and count them under ``reason`` (inside a transaction)."""
        conn.executemany("DELETE FROM entries WHERE id = ?", [(r[0],) for r in rows])
        counted = Counter((r[1], r[2]) for r in rows)
        conn.executemany(_DELETED, [(ns, fam, reason, n) for (ns, fam), n in counted.items()])

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
            (evicted,) = conn.execute(
                f"SELECT coalesce(sum(entries), 0) FROM deletions WHERE reason IN (?, ?) {where}",
                (*EVICTION_REASONS, *args),
            ).fetchone()
        live = [(family, n) for family, n, _ in families]
        held = [(family, n) for family, _, n in families]
        return stats_from_rows(live, paths, audits, held, evicted)

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            if self._closed:
                return
            self._identity = None  # closing: flush to the handle we have, whatever became of the file
            try:
                self.flush()
            finally:
                self._closed = True
                self._writer.close()
                if self._reader is not self._writer:
                    self._reader.close()

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
                max_id, deleted = conn.execute(
                    "SELECT (SELECT coalesce(max(id), 0) FROM entries), (SELECT coalesce(sum(entries), 0) FROM deletions)"
                ).fetchone()
                if self._deleted_seen is None:
                    self._deleted_seen = deleted
                elif (deleted - self._deleted_seen) * 2 > len(self._vectors):
                    # Deleted rows stay in the indexes (never served: _resolve skips them) until they
                    # are half of them; then the indexes start afresh and are rebuilt as searched.
                    self._vectors = ScopedIndexes(threshold=self._threshold)
                    self._built.clear()
                    self._deleted_seen = deleted
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
        sql = f"{_SELECT} WHERE id IN ({marks}) AND format_version = ? AND {_LIVE} AND {_FRESH}"
        args: list[Any] = [*ids, FORMAT_VERSION, time.time()]
        if family is not None:
            sql += " AND family = ?"
            args.append(family)
        with self._db("cannot read from") as conn:
            rows = conn.execute(sql, args).fetchall()
        return {int(r[0]): row_to_entry(r) for r in rows}

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

