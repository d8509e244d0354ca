"""The SQLite store's file: its two connections, their locks, and SQLite's errors turned into ours.

WAL journaling lets readers proceed while one writer commits, and the store reads through a
connection of its own, so lookups never wait for a writer, in this process or another (a backup
holding the write lock for minutes does not stall cache hits). Writes wait for another writer at
most ``busy_timeout`` (default 0.5 s): then a put raises :class:`StoreError` (the proxy answers
uncached). ``synchronous=NORMAL`` is durable against process crashes (an OS crash may lose the last
commits, which for a cache only means a few extra misses).

Two connections, each guarded by a lock, serve every thread: one reads, one writes (a ``:memory:``
database has one, used for both). Measured (2 cores, 2000 ``get`` per thread): 1 thread 114 ms vs
120 ms with a connection per thread, 2 threads 264 vs 314 ms, 4 threads 582 vs 773 ms; the GIL
serialises the row decoding that dominates anyway.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._exceptions import StoreError, StoreVersionError
from ._migrations import migrate
from ._sqlite_migrations import MIGRATIONS, SQLiteDatabase

__all__ = ["SQLiteFile", "MEMORY"]

logger = logging.getLogger("stepcache.store")

MEMORY = ":memory:"
#: How often (seconds) a store checks that its database file is still the one it opened.
IDENTITY_CHECK_S = 1.0
#: Opening (which may migrate a large file) waits this long for another process's write lock.
OPEN_WAIT_S = 30.0


class SQLiteFile:
    """The database at ``path`` (migrated when opened), for one store."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.where = "the in-memory SQLite store" if path == MEMORY else f"the SQLite store {path}"
        self.busy_timeout = busy_timeout
        self.closed = False
        self._writer = self._connect()
        self._wait = OPEN_WAIT_S  # the busy timeout the writer has now
        self._write_lock = threading.RLock()
        if path == MEMORY:
            self._reader, self._read_lock = self._writer, self._write_lock
        else:
            self._reader, self._read_lock = self._connect(reader=True), threading.RLock()
        self._identity = self._file_identity()
        self._last_identity_check = time.monotonic()

    def _connect(self, *, reader: bool = False) -> sqlite3.Connection:
        """The writing connection (which migrates the file), or with ``reader`` the reading one."""
        if self.path != MEMORY and not reader:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder for {self.where}: {exc}. "
                    "Choose a writable location with --store sqlite:///path/to/cache.db"
                ) from exc
        try:
            conn = sqlite3.connect(self.path, timeout=OPEN_WAIT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self.error("cannot open", exc) from exc
        try:
            if reader:
                # Nothing this connection runs may write, so it never needs the write lock.
                conn.execute("PRAGMA query_only = 1")
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                return conn
            conn.execute(f"PRAGMA busy_timeout = {int(OPEN_WAIT_S * 1000)}")
            if self.path != MEMORY:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                if str(mode).lower() != "wal":
                    logger.warning(
                        "%s cannot use WAL journaling (journal_mode is %s, e.g. on a network file system): "
                        "lookups will wait while another process writes; put the file on a local disk",
                        self.where,
                        mode,
                    )
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(SQLiteDatabase(conn, self.where), MIGRATIONS)
        except StoreVersionError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise self.error("cannot read", exc) from exc
        return conn

    def error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        if "not a database" in str(exc) or "malformed" in str(exc):
            return StoreError(
                f"{doing} {self.where}: {exc}. The file is damaged or is not a StepCache database: "
                "move it aside (a new cache is started in its place) or point StepCache at another file "
                "with --store sqlite:///path/to/cache.db."
            )
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            return self.busy(doing, str(exc))
        return StoreError(f"{doing} {self.where}: {exc}. Check that the file and its folder are readable and writable.")

    def busy(self, doing: str, what: str) -> StoreError:
        err = StoreError(
            f"{doing} {self.where}: {what}. Another process is holding the database's write lock (a long "
            "transaction or a backup); lookups go on, writes resume when it lets go. If this happens under "
            f"ordinary load, raise busy_timeout (now {self.busy_timeout:g} s; ?busy_timeout=2 in the store URL)."
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
                f"{self.where} was {'deleted' if now is None else 'replaced by another file'} while in use; "
                "restart StepCache to open the database again"
            )

    @contextmanager
    def connection(self, doing: str, *, write: bool = False, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        """The reading or (``write``) the writing connection, for one operation. A write waits at most
        ``wait`` seconds (default ``busy_timeout``) for this process's other writers, and as long again
        for SQLite's write lock."""
        lock, conn = (self._write_lock, self._writer) if write else (self._read_lock, self._reader)
        wait = self.busy_timeout if wait is None else wait
        if not lock.acquire(timeout=wait if write else -1):
            raise self.busy(doing, "this process's other writes did not finish in time")
        try:
            if self.closed:
                raise StoreError(f"{self.where} is closed; open a new store to keep using it")
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
                        logger.warning("rolling back a failed transaction on %s failed", self.where, exc_info=True)
                if isinstance(exc, sqlite3.Error):
                    raise self.error(doing, exc) from exc
                raise
        finally:
            lock.release()

    @contextmanager
    def closing(self) -> Iterator[bool]:
        """Both locks held; yields whether the file was already closed. The handles close after."""
        with self._write_lock, self._read_lock:
            if self.closed:
                yield True
                return
            self._identity = None  # closing: flush to the handle we have, whatever became of the file
            try:
                yield False
            finally:
                self.closed = True
                self._writer.close()
                if self._reader is not self._writer:
                    self._reader.close()
