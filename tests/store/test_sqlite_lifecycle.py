"""SQLite under another process's write lock, last use written in batches, and the lifecycle options of its URL."""

from __future__ import annotations

import pathlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from store_helpers import make_entry, unit

from stepcache._exceptions import ConfigurationError, StoreError
from stepcache._types import Route, Scope, TokenUsage
from stepcache.store import MemoryStore, SQLiteStore, open_store

#: A generous bound for "did not hang": the store's own waits are 0.5 s; the lock is held for 10 s.
HANG = 2.0

_HOLD_THE_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO counters VALUES ('other', 'process', 'miss', 1, 0, 0)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


@pytest.fixture
def hold_lock(tmp_path: pathlib.Route) -> Iterator[object]:
    """``hold_lock(db, seconds)``: another process takes the file's write lock and keeps it that long."""
    started: list[subprocess.Popen[str]] = []

    def hold(db: pathlib.Route, seconds: float) -> subprocess.Popen[str]:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_THE_WRITE_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        started.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        return holder

    yield hold
    for holder in started:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_write_lock_held_for_10_s_by_another_process_never_stalls_lookups(
    tmp_path: pathlib.Route, hold_lock: object
) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db, flush_every=5, flush_interval=3600) as store:
        store.put(make_entry("k", vector=unit([1.0])))
        assert store.nearest("tenant-a", "m1", unit([1.0]), k=1)  # the vector index is built

        holder = hold_lock(db, 10.0)  # type: ignore[operator]
        started = time.monotonic()
        for _ in range(50):  # hits, each counted: every 5th record tries to flush, and leaves them buffered
            assert store.get("k") is not None
            assert store.by_signature(Scope("tenant-a", "m1", "linear"), "sig")
            assert store.nearest("tenant-a", "m1", unit([1.0]), k=1)
            store.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=1)
        assert time.monotonic() - started < HANG

        started = time.monotonic()
        with pytest.raises(StoreError, match="write lock") as refused:
            store.put(make_entry("new"))
        assert time.monotonic() - started < HANG
        assert refused.value.retryable

        started = time.monotonic()
        with pytest.raises(StoreError):  # an explicit flush says so, and keeps the counters
            store.flush()
        assert time.monotonic() - started < HANG

        holder.kill()
        holder.wait()
        store.put(make_entry("new"))
        stats = store.stats("tenant-a")
        assert stats.paths == {"reuse": 50} and stats.tokens_saved == 50  # nothing counted was lost
        assert stats.entries == 2


def test_a_put_waits_out_a_short_write_and_succeeds(tmp_path: pathlib.Route, hold_lock: object) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db, busy_timeout=1.5) as store:
        store.put(make_entry("first"))
        holder = hold_lock(db, 0.2)  # type: ignore[operator]
        started = time.monotonic()
        store.put(make_entry("second"))
        assert time.monotonic() - started < HANG
        holder.wait()
        assert store.stats().entries == 2


def test_reads_use_a_connection_that_cannot_write(tmp_path: pathlib.Route) -> None:
    with SQLiteStore(tmp_path / "cache.db") as store:
        store.put(make_entry("k"))
        with store._file.connection("test") as reader:
            with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
                reader.execute("DELETE FROM entries")
        conn = sqlite3.connect(tmp_path / "cache.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def _last_used(db: pathlib.Route, key: str) -> float:
    conn = sqlite3.connect(db)
    try:
        return float(conn.execute("SELECT last_used FROM entries WHERE key = ?", (key,)).fetchone()[0])
    finally:
        conn.close()


def test_hits_write_nothing_their_last_use_goes_out_with_the_next_flush(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with SQLiteStore(db, flush_every=1000, flush_interval=3600) as store:
        store.put(make_entry("k", vector=unit([1.0])))
        written = _last_used(db, "k")
        statements: list[str] = []
        store._file._writer.set_trace_callback(statements.append)
        time.sleep(0.01)
        for _ in range(100):
            assert store.get("k") is not None
            assert store.nearest("tenant-a", "m1", unit([1.0]), k=1)
            store.record("tenant-a", "linear", Route.REUSE, TokenUsage(), saved=0)
        assert statements == []  # 300 lookups and 100 records: not one write
        assert _last_used(db, "k") == written
        store.flush()
        assert _last_used(db, "k") > written
        assert sum("last_used" in s for s in statements) == 1  # one row, one update, with the counters
        assert any("INSERT INTO counters" in s for s in statements)


def test_migration_3_gives_old_entries_their_stored_time_as_last_use(tmp_path: pathlib.Route) -> None:
    from store_helpers import insert_v1, legacy_sqlite, payload_of

    db = tmp_path / "cache.db"
    conn = legacy_sqlite(db, 2)
    for key, stored_at in [("old-b", 300.0), ("old-a", 100.0), ("old-c", 200.0)]:
        insert_v1(conn, make_entry(key), stored_at)
    conn.close()
    with SQLiteStore(db) as store:
        raw = sqlite3.connect(db)
        rows = raw.execute("SELECT key, created_at, last_used, size, expires_at FROM entries ORDER BY key").fetchall()
        raw.close()
        assert [(k, used, expires) for k, _, used, _, expires in rows] == [
            ("old-a", 100.0, None), ("old-b", 300.0, None), ("old-c", 200.0, None)
        ]  # fmt: skip
        assert all(size == payload_of(make_entry(k)) for k, _, _, size, _ in rows)
        assert store.get("old-a") is not None  # served as before, and now used
        store.flush()
        assert store.evict(max_entries=2) == 1
        assert {e.key for e in store.entries()} == {"old-a", "old-b"}
        assert store.stats().evicted == 1


def test_url_options_bound_the_store(tmp_path: pathlib.Route) -> None:
    db = tmp_path / "cache.db"
    with open_store(f"sqlite:///{str(db).lstrip('/')}?max_entries=5&max_bytes=2M&ttl=7d&busy_timeout=0.25") as store:
        assert isinstance(store, SQLiteStore)
        assert (store.limits.max_entries, store.limits.max_bytes, store.limits.ttl) == (5, 2 * 1024**2, 7 * 86400.0)
        assert store.settings.busy_timeout == 0.25
    memory = open_store("memory://?max_entries=3&ttl=60")
    assert isinstance(memory, MemoryStore) and (memory.limits.max_entries, memory.limits.ttl) == (3, 60.0)


@pytest.mark.parametrize(
    "query, match",
    [
        ("max_entries=0", "max_entries"),
        ("max_entries=lots", "max_entries='lots'"),
        ("ttl=soon", "not a duration"),
        ("max_bytes=-5", "not a size"),
        ("busy_timeout=long", "busy_timeout"),
        ("cache_size=9", "no option 'cache_size'"),
    ],
)
def test_bad_url_options_say_which_and_how(tmp_path: pathlib.Route, query: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        open_store(f"sqlite:///{str(tmp_path / 'c.db').lstrip('/')}?{query}")
    with pytest.raises(ConfigurationError):
        open_store(f"memory://?{query}")
